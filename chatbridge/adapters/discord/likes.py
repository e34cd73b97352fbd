"""Likes that changed without a reaction event for each: while we were away, or cleared in bulk.

Discord reports each reaction as it happens, but

* after an IDENTIFY (a restart, a refused RESUME) nothing that happened meanwhile is replayed,
  and Discord has no "reactions changed since" query, so a like added to or taken off an *older*
  post while we were away would never be seen;
* a moderator clearing a message's reactions sends one MESSAGE_REACTION_REMOVE_ALL (or
  _REMOVE_EMOJI) without saying whose reactions went.

Both are handled the same way: an `Observed` says who reacts to a message with each like emoji
*now* (an empty set after a clear), the store says who it has a reaction-like from, and
`differences` turns the gap into the neutral `ReactionAdded` / `ReactionRemoved` events that make
the two agree. Those go through the normal ingest path (so trophies and counts follow), as state
assertions (see `translate`): a repeat or a second process applying the same one changes nothing,
because the store keys a like source by (post, member, emoji). The shell applies them in intake
order, after everything delivered before them, so they never overtake a live reaction.

`LikeSweep` finds the gaps after an IDENTIFY, bounded: the recent messages (`like_window`, at most
`like_messages` per guild, newest first) of threads whose stored position is inside the window,
and the opening post of a text-channel thread (which lives in the parent channel). One history
page per 100 messages gives each message's reaction counts, and only where a like emoji's count
differs from the store are its users listed (`like_pages` pages of 100 per guild). The stretch
of history each thread's listing went through also shows which posts were deleted while we were
away (`deletions`).
discord.py waits out 429s. What the counts cannot show (one member's like replaced by another's
on the same emoji) stays unseen until the counts differ again; a member reacting to their own
post or another bot reacting makes the counts differ for good, which costs a listing each time.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import discord
from discord.utils import time_snowflake
from sqlalchemy import Engine, and_
from sqlmodel import Session, col, select

from chatbridge.adapters.discord import deletions, failures, translate
from chatbridge.adapters.discord.cursors import GuildCursors
from chatbridge.model import SUPER_REACTION, Actor, ReactionAdded, ReactionRemoved
from chatbridge.store.engine import reading
from chatbridge.store.tables import Identity, LikeSource, Post

log = logging.getLogger(__name__)

HISTORY_PAGE = 100
"""Messages per Get Channel Messages call, and users per Get Reactions call (Discord's maximum)."""
_QUERY_CHUNK = 500

StoredLikes = dict[int, dict[str, set[int]]]
"""Message id -> like key -> ids of the users the store has a reaction-like from; every message
that is a live post has an entry (maybe empty), so messages that are not posts can be skipped."""


@dataclass(frozen=True, slots=True)
class Observed:
    """Who reacts to a message with each like key, as Discord shows it now (the keys checked only)."""

    message_id: int
    place: translate.Place
    reactors: Mapping[str, Mapping[int, Actor]]


def stored_likes(engine: Engine, message_ids: Collection[int], keys: Collection[str]) -> StoredLikes:
    """The store's reaction-likes on these Discord messages (blocking; run it in a worker thread)."""
    found: StoredLikes = {}
    wanted = [str(m) for m in message_ids]
    with Session(reading(engine)) as session:
        for start in range(0, len(wanted), _QUERY_CHUNK):
            posts = session.exec(
                select(Post.platform_message_id).where(
                    Post.platform == translate.PLATFORM.value,
                    col(Post.platform_message_id).in_(wanted[start : start + _QUERY_CHUNK]),
                    col(Post.deleted_at).is_(None),
                    col(Post.counted),
                )
            ).all()
            for message_id in posts:
                if message_id.isdigit():
                    found.setdefault(int(message_id), {})
            rows = session.exec(
                select(Post.platform_message_id, LikeSource.source, Identity.platform_user_id)
                .join(LikeSource, col(LikeSource.post_id) == col(Post.id))
                .join(
                    Identity,
                    and_(
                        col(Identity.member_id) == col(LikeSource.member_id),
                        col(Identity.community_id) == col(Post.community_id),
                        col(Identity.platform) == translate.PLATFORM.value,
                    ),
                )
                .where(
                    Post.platform == translate.PLATFORM.value,
                    col(Post.platform_message_id).in_(wanted[start : start + _QUERY_CHUNK]),
                    col(LikeSource.source).in_(list(keys)),
                )
            ).all()
            for message_id, key, user_id in rows:
                if message_id.isdigit() and user_id.isdigit():
                    found.setdefault(int(message_id), {}).setdefault(key, set()).add(int(user_id))
    return found


def differences(
    observed: Iterable[Observed], stored: StoredLikes, *, at: datetime, observation: str
) -> list[ReactionAdded | ReactionRemoved]:
    """The reaction events that make the store agree with what Discord shows (pure)."""
    events: list[ReactionAdded | ReactionRemoved] = []
    for seen in observed:
        have = stored.get(seen.message_id, {})
        for key, reactors in seen.reactors.items():
            present = have.get(key, set())
            for user_id in sorted(set(reactors) - present):
                events.append(_assert(True, seen, reactors[user_id], key, at, observation))
            for user_id in sorted(present - set(reactors)):
                events.append(_assert(False, seen, translate.unnamed_actor(user_id), key, at, observation))
    return events


def _assert(
    added: bool, seen: Observed, actor: Actor, key: str, at: datetime, observation: str
) -> ReactionAdded | ReactionRemoved:
    return translate.reaction(
        added=added,
        message_id=seen.message_id,
        place=seen.place,
        actor=actor,
        emoji=key,
        at=at,
        observation=observation,
    )


def cleared(place: translate.Place, message_id: int, keys: Iterable[str]) -> Observed:
    """A message whose reactions (with these like keys) were all removed at once."""
    return Observed(message_id, place, {key: {} for key in keys})


@dataclass(frozen=True, slots=True)
class SweepLimits:
    """How far back and how much the like sweep reads per guild after an IDENTIFY."""

    like_window: timedelta = timedelta(days=7)
    like_messages: int = 1000
    like_pages: int = 100
    retries: int = 3
    """Tries of one thread's check when Discord fails in passing (5xx, 429); then it is logged."""
    retry_first: float = 1.0


@dataclass
class LikeSweep:
    """One guild's check of recent posts' likes against Discord; the shell provides the plumbing."""

    client: discord.Client
    place: Callable[[int], Awaitable[translate.Place | None]]
    load: Callable[[Collection[int]], Awaitable[StoredLikes]]
    reconcile: Callable[[Sequence[Observed]], Awaitable[None]]
    forget: Callable[[deletions.Covered], Awaitable[None]]
    like_key: Callable[[str], str | None]
    limits: SweepLimits
    gate: asyncio.Semaphore
    _messages: int = 0
    _pages: int = 0
    _skipped: set[int] = field(default_factory=set)

    async def run(self, guild_id: int, stored: GuildCursors, now: datetime) -> None:
        """Check the recent messages of every tracked thread active inside the window."""
        since = time_snowflake(now - self.limits.like_window)
        threads = sorted(
            ((thread_id, position) for thread_id, position in stored.threads.items() if position >= since),
            key=lambda item: item[1],
            reverse=True,
        )
        outcomes = await asyncio.gather(
            *(self._thread(guild_id, thread_id, position, since) for thread_id, position in threads),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                log.error("like sweep of a thread in guild %s failed", guild_id, exc_info=outcome)
        if self._skipped:
            log.warning(
                "guild %s: the like sweep's budget ran out; likes on %d messages were not checked",
                guild_id,
                len(self._skipped),
            )

    async def _thread(self, guild_id: int, thread_id: int, position: int, since: int) -> None:
        """Newest first, from the stored position back to the window's start (or the budget).

        A text-channel thread's opening post is the message it was started from, which lives in
        the parent channel, so it is fetched from there (one more request). What the listing
        went through is then handed on (`forget`) to find posts deleted while we were away.
        """
        first = self.limits.retry_first
        try:
            covered = await failures.retrying(
                lambda: self._read(guild_id, thread_id, position, since),
                what=f"check the likes of thread {thread_id}",
                attempts=self.limits.retries,
                first=first,
                most=first * 16,
            )
        except discord.HTTPException as error:
            log.warning("could not check the likes of thread %s: %s", thread_id, failures.summary(error))
            return
        if covered is not None:
            await self.forget(covered)

    async def _read(
        self, guild_id: int, thread_id: int, position: int, since: int
    ) -> deletions.Covered | None:
        """One try at a thread's check; what the listing went through, None if the thread is gone."""
        place = await self.place(thread_id)
        if place is None:
            return None
        channel = self.client.get_partial_messageable(thread_id, guild_id=guild_id)
        page: list[discord.Message] = []
        seen: set[int] = set()
        oldest = position + 1
        listed = remaining = 0
        ended = True
        opening_gone = False
        async with self.gate:
            if not place.parent_is_forum and place.parent_id is not None and thread_id >= since:
                parent = self.client.get_partial_messageable(place.parent_id, guild_id=guild_id)
                self._messages += 1
                try:
                    page.append(await parent.fetch_message(thread_id))
                except discord.NotFound:  # deleted, or a thread started without a message
                    opening_gone = await _started_from_message(channel, thread_id)
            remaining = self.limits.like_messages - self._messages
            if remaining > 0:
                start = discord.Object(position + 1)
                async for message in channel.history(before=start, limit=remaining):
                    seen.add(message.id)
                    oldest = min(oldest, message.id)
                    listed += 1
                    if message.id < since or self._messages >= self.limits.like_messages:
                        ended = False
                        break
                    self._messages += 1
                    page.append(message)
                    if len(page) == HISTORY_PAGE:
                        await self._check(place, page)
                        page = []
            if page:
                await self._check(place, page)
        # A listing that ran dry before its limit reached the thread's first message.
        after = 0 if remaining > 0 and ended and listed < remaining else oldest
        return deletions.Covered(place, after, position, frozenset(seen), opening_gone)

    async def _check(self, place: translate.Place, messages: Sequence[discord.Message]) -> None:
        """Compare one page's like counts with the store; list the users where they differ.

        Normal and super-reactions are separate sources (`translate.reaction_key`), so each is
        compared with its own count (`count_details`) and listed by its own `type`.
        """
        own = self.client.user.id if self.client.user is not None else None
        by_message: dict[int, dict[str, list[discord.Reaction]]] = {}
        for message in messages:
            for reaction in message.reactions:
                key = self.like_key(translate.emoji_key(reaction.emoji))
                if key is not None:
                    by_message.setdefault(message.id, {}).setdefault(key, []).append(reaction)
        stored = await self.load([m.id for m in messages])
        observed: list[Observed] = []
        for message in messages:
            if message.author.id == own or message.id not in stored:
                continue
            shown = by_message.get(message.id, {})
            have = stored.get(message.id, {})
            reactors: dict[str, dict[int, Actor]] = {}
            like_keys = set(shown) | {key.removesuffix(SUPER_REACTION) for key in have}
            for key in sorted(like_keys):
                for burst in (False, True):
                    source = translate.reaction_key(key, burst=burst)
                    counted = sum(_count(r, burst=burst) for r in shown.get(key, []))
                    if counted == len(have.get(source, ())):
                        continue
                    users = await self._users(message, shown.get(key, []), burst=burst)
                    if users is not None:
                        reactors[source] = users
            if reactors:
                observed.append(Observed(message.id, place, reactors))
        if observed:
            await self.reconcile(observed)

    async def _users(
        self, message: discord.Message, reactions: Sequence[discord.Reaction], *, burst: bool
    ) -> dict[int, Actor] | None:
        """Who reacts with these emojis (one like key, one kind); None when the budget is spent."""
        kind = discord.ReactionType.burst if burst else discord.ReactionType.normal
        needed = sum(
            math.ceil((r.burst_count if burst else r.normal_count) / HISTORY_PAGE) for r in reactions
        )
        if self._pages + needed > self.limits.like_pages:
            self._skipped.add(message.id)
            return None
        self._pages += needed
        users: dict[int, Actor] = {}
        for reaction in reactions:
            shown = reaction.burst_count if burst else reaction.normal_count
            if not shown:
                continue
            async for user in reaction.users(limit=shown, type=kind):
                if not user.bot and user.id != message.author.id:
                    users[user.id] = translate.actor_of(user)
        return users


def _count(reaction: discord.Reaction, *, burst: bool) -> int:
    """Reactions of one kind, the bot's own left out (it never likes)."""
    if burst:
        return reaction.burst_count - (1 if reaction.me_burst else 0)
    return reaction.normal_count - (1 if reaction.me else 0)


async def _started_from_message(thread: discord.PartialMessageable, thread_id: int) -> bool:
    """Whether the thread was started from the message with its id: then its first message is
    Discord's THREAD_STARTER_MESSAGE pointing there (it stays when that message is deleted)."""
    async for first in thread.history(limit=1, oldest_first=True):
        reference = first.reference.message_id if first.reference is not None else None
        return first.type is discord.MessageType.thread_starter_message and reference == thread_id
    return False
