"""Threads: finding, listing and describing them the way the forum did."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import Select

from chatbridge.errors import NotFound
from chatbridge.forum.text import quote_input
from chatbridge.services import credentials, evidence
from chatbridge.services.evidence import NoteView
from chatbridge.store.tables import Community, Member, Post, SubForum, Thread

ThreadOrder = Literal["latest", "replies", "likes"]
_NUMBER = re.compile("#?([0-9]+)")
"""A thread number: ASCII digits only ("#²" and "#١٢" are titles to look for, not numbers)."""
_NUMBER_DIGITS = 18
"""Longer numbers name no thread (and would overflow the id column), so none is looked up."""
_STARTER = aliased(Member, name="starter")
_LAST = aliased(Member, name="last_reply")
"""The thread's starter and last replier, joined for their names. Made once: building an alias
costs about a millisecond (SQLAlchemy proxies every column), more than the query it serves."""

_ORDER = {
    "latest": (col(Thread.last_activity_at).desc(), col(Thread.id).desc()),
    "replies": (col(Thread.reply_count).desc(), col(Thread.last_activity_at).desc(), col(Thread.id).desc()),
    "likes": (col(Thread.like_count).desc(), col(Thread.last_activity_at).desc(), col(Thread.id).desc()),
}


@dataclass(frozen=True, slots=True)
class ThreadCard:
    """A thread with the names its card shows, read in one query."""

    thread: Thread
    subforum_name: str
    starter_name: str
    last_reply_name: str | None
    starter_badge: str | None = None
    """The starter's verified credential, shown next to their name."""
    notes: tuple[NoteView, ...] = ()
    """The latest cited notes under the thread's posts."""
    source_requests: int = 0
    """Members waiting for a source on the thread's posts (requests no note answers yet)."""


def find(session: Session, community: Community, text: str, *, hidden: Collection[int] = ()) -> Thread:
    """A thread named by its number ("#12") or by (the start of) its title.

    Threads in the `hidden` sub-forums (private ones the asker may not see) are not there at all:
    the answer reads exactly as for a thread that does not exist, and no list of matches names one.
    """
    wanted = text.strip()
    numbered = _NUMBER.fullmatch(wanted)
    if numbered is not None:
        number = numbered[1]
        thread = session.get(Thread, int(number)) if len(number) <= _NUMBER_DIGITS else None
        if (
            thread is not None
            and thread.community_id == community.id
            and not thread.removed
            and thread.subforum_id not in hidden
        ):
            return thread
        shown = f"#{number}" if len(number) <= _NUMBER_DIGITS else quote_input(f"#{number}", limit=20)
        raise NotFound(f"There is no thread {shown} here.")
    base = select(Thread).where(Thread.community_id == community.id, col(Thread.removed).is_(False))
    if hidden:
        base = base.where(col(Thread.subforum_id).not_in(hidden))
    exact = session.exec(base.where(func.lower(Thread.title) == wanted.lower())).first()
    if exact is not None:
        return exact
    pattern = _like_pattern(wanted.lower())
    matches = session.exec(
        base.where(func.lower(Thread.title).like(pattern, escape="\\"))
        .order_by(col(Thread.last_activity_at).desc())
        .limit(6)
    ).all()
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"I can't find a thread called {quote_input(wanted)}.")
    options = "; ".join(f"#{t.id} {quote_input(t.title, limit=60)}" for t in matches[:5])
    raise NotFound(
        f"Several threads match {quote_input(wanted)}: {options}. Use the number, like #{matches[0].id}."
    )


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def card(session: Session, thread: Thread, now: datetime | None = None) -> ThreadCard:
    """The thread's card; with `now`, also the starter's badge (a credential in force then), the
    latest cited notes and the count of open source requests."""
    row = session.exec(
        select(SubForum.name, _STARTER.display_name, _LAST.display_name)
        .select_from(Thread)
        .join(SubForum, col(SubForum.id) == Thread.subforum_id)
        .join(_STARTER, col(_STARTER.id) == Thread.starter_member_id)
        .outerjoin(_LAST, col(_LAST.id) == Thread.last_reply_member_id)
        .where(Thread.id == thread.id)
    ).one()
    if now is None or thread.id is None:
        return ThreadCard(thread, row[0], row[1], row[2])
    badge = credentials.active_title(session, thread.starter_member_id, now)
    notes, waiting = evidence.for_thread(session, thread.id, now)
    return ThreadCard(thread, row[0], row[1], row[2], badge, tuple(notes), waiting)


@dataclass(frozen=True, slots=True)
class Page:
    cards: list[ThreadCard]
    has_more: bool


def listing(
    session: Session,
    subforum: SubForum,
    order: ThreadOrder,
    page: int,
    page_size: int,
    now: datetime | None = None,
) -> Page:
    """One page of a sub-forum's threads, pinned ones first.

    Pinned threads are few and read on their own; the rest are read along the (sub-forum, order)
    index and stop after the page, so a page costs the same in a sub-forum of 30 threads or 30,000.
    There is no total count for the same reason: a page says whether another follows.
    """
    live = (Thread.subforum_id == subforum.id, col(Thread.removed).is_(False))
    pinned = session.exec(
        _with_names().where(*live, col(Thread.pinned).is_(True)).order_by(*_ORDER[order])
    ).all()
    start, end = (page - 1) * page_size, page * page_size + 1
    rows = list(pinned[start:end])
    if len(rows) < end - start:
        rows += session.exec(
            _with_names()
            .where(*live, col(Thread.pinned).is_(False))
            .order_by(*_ORDER[order])
            .offset(max(0, start - len(pinned)))
            .limit(end - start - len(rows))
        ).all()
    shown = rows[:page_size]
    found = credentials.badges(session, [t.starter_member_id for t, _, _ in shown], now) if now else {}
    cards = [
        ThreadCard(t, subforum.name, starter, last, found.get(t.starter_member_id))
        for t, starter, last in shown
    ]
    return Page(cards, has_more=len(rows) > page_size)


def count(session: Session, subforum: SubForum) -> int:
    """How many threads a sub-forum has (a scan: only for the rare "no such page" answer)."""
    return session.exec(
        select(func.count()).where(Thread.subforum_id == subforum.id, col(Thread.removed).is_(False))
    ).one()


def _with_names() -> Select[Thread, str, str]:
    return (
        select(Thread, _STARTER.display_name, _LAST.display_name)
        .join(_STARTER, col(_STARTER.id) == Thread.starter_member_id)
        .outerjoin(_LAST, col(_LAST.id) == Thread.last_reply_member_id)
    )


def opening_post(session: Session, thread: Thread) -> Post | None:
    return session.exec(select(Post).where(Post.thread_id == thread.id, col(Post.is_opening))).first()


def touch(thread: Thread, at: datetime) -> None:
    thread.last_activity_at = max(thread.last_activity_at, at)
