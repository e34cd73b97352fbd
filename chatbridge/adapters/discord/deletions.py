"""Messages deleted while we were away, found by the like sweep's reading of recent history.

Discord has no "deleted since" query and replays no MESSAGE_DELETE after an IDENTIFY, so a post
deleted while the bot was down would keep counting for its author, its thread and its likes.
The like sweep (`likes.LikeSweep`) already lists each recent thread newest first from its stored
position; Get Channel Messages with `before` returns *every* message older than `before`, so a
listing shows the whole stretch it went through. A post the store holds as alive in that thread
whose id lies in the stretch (`Covered`) and that did not come back is gone; `vanished` turns
those into the neutral `MessageDeleted` events a live deletion would have produced (same event
id, `delete:<id>`), so a second restart or a second process applying them changes nothing.

What a stretch covers, and what it does not:

* from the stored position down to the oldest message the listing returned, or to the thread's
  very first message when the listing ran out before its limit, the window's start or the
  budget; messages newer than the stored position are backfill's, not the sweep's;
* the opening post of a text-channel thread lives in the parent channel (one fetch, as for its
  likes). A 404 there is only a deletion if the thread's first message is Discord's
  THREAD_STARTER_MESSAGE pointing at it: a thread started without a message has an opening post
  in the store (with no text) but never had a message to fetch;
* a forum post's starter message shares the thread's id and lives in the thread, so it is covered
  like any reply once the listing reaches the thread's start;
* system messages (pins, "started a thread") are listed too, and pinned posts stay in history,
  so neither looks deleted; posts of threads outside the window or past the budget stay counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from discord.utils import snowflake_time
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chatbridge.adapters.discord import translate
from chatbridge.model import MessageDeleted
from chatbridge.store.engine import reading
from chatbridge.store.tables import Post, Thread


@dataclass(frozen=True, slots=True)
class Covered:
    """What one thread's listing showed: every message of the thread channel with an id in
    (`after`, `through`] came back in `seen`; `opening_gone` is a confirmed deleted opening post
    of a text-channel thread (see the module docstring)."""

    place: translate.Place
    after: int
    through: int
    seen: frozenset[int]
    opening_gone: bool = False

    @property
    def thread_id(self) -> int:
        return self.place.channel_id


def alive_posts(engine: Engine, thread_id: int, after: int) -> list[int]:
    """Message ids of the thread's posts the store holds as alive, from about `after` on (blocking).

    The creation-time bound only narrows the read; `vanished` compares ids exactly.
    """
    since = snowflake_time(after) - timedelta(seconds=1) if after > 0 else None
    with Session(reading(engine)) as session:
        query = (
            select(Post.platform_message_id)
            .join(Thread, col(Thread.id) == col(Post.thread_id))
            .where(
                Thread.platform == translate.PLATFORM.value,
                Thread.platform_thread_id == str(thread_id),
                Post.platform == translate.PLATFORM.value,
                col(Post.deleted_at).is_(None),
            )
        )
        if since is not None:
            query = query.where(col(Post.created_at) >= since)
        rows = session.exec(query).all()
    return sorted(int(m) for m in rows if m.isdigit())


def vanished(covered: Covered, alive: Iterable[int], *, at: datetime) -> list[MessageDeleted]:
    """The deletions that make the store agree with what the listing showed (pure)."""
    in_parent = not covered.place.parent_is_forum
    gone: list[int] = []
    for message_id in sorted(set(alive)):
        if message_id == covered.thread_id and in_parent:
            if covered.opening_gone:
                gone.append(message_id)
        elif covered.after < message_id <= covered.through and message_id not in covered.seen:
            gone.append(message_id)
    return [translate.deleted(message_id=m, place=covered.place, at=at) for m in gone]
