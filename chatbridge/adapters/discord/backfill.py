"""Catching up after a restart or a failed resume: what was posted and liked while we were away.

When a guild becomes available after an IDENTIFY (a fresh start, or a resume Discord refused),
the gateway does not replay what we missed, so each thread is read back from where its stored
position left off. Only threads are read: posts outside threads count for nothing.

Which threads:

* every thread with a stored position whose newest message is past it (active threads come with
  the guild; threads archived while we were away come from one listing per sub-forum);
* threads with no position that were created after the guild's watermark (the moment we last
  took the guild in): new forum posts and threads started while we were away, read from their
  first message.

Archived threads are listed per sub-forum the bot can read (a private staff room included when
its role may see it): public ones, and in text channels private ones too, which Discord lists
only to a bot with Manage Threads; without it (403) the guild's private archived threads are
skipped with a logged note, and those still active are read as usual.

Bounded: at most `max_threads` threads per guild (most recently active first), `max_messages`
messages per thread, `max_reaction_pages` reaction listings per guild, and `concurrency` threads
at a time across guilds; discord.py waits out 429s. Reactions are read for the backfilled
messages (a message's reaction counts, then the users of each like emoji); likes added or taken
back on *older* messages while we were away are found afterwards by the bounded like sweep
(`likes.LikeSweep`). Commands typed while we were away are not run hours later.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import discord
from discord.utils import snowflake_time, time_snowflake

from chatbridge.adapters.discord import failures, translate
from chatbridge.adapters.discord.cursors import CursorBook, GuildCursors
from chatbridge.adapters.discord.likes import LikeSweep, SweepLimits
from chatbridge.model import ChatEvent, MessagePosted

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BackfillLimits:
    max_threads: int = 200
    max_messages: int = 500
    max_reaction_pages: int = 200
    concurrency: int = 2
    archived_page: int = 50
    retries: int = 5
    """Tries of one thread's (or listing's) reading when Discord fails in passing (5xx, 429)."""
    retry_first: float = 1.0
    """Seconds before the second try; each later pause doubles."""
    likes: SweepLimits = field(default_factory=SweepLimits)
    """The like sweep after an IDENTIFY: how far back and how much (see `likes`)."""


@dataclass
class Backfill:
    """The catching-up of one guild; the shell provides the plumbing."""

    client: discord.Client
    book: CursorBook
    load: Callable[[int], Awaitable[GuildCursors]]
    submit: Callable[[ChatEvent], Awaitable[asyncio.Task[None]]]
    opening: Callable[[discord.Thread], Awaitable[MessagePosted | None]]
    is_command: Callable[[str], bool]
    is_like: Callable[[str], bool]
    deleted: Callable[[int], bool]
    limits: BackfillLimits
    gate: asyncio.Semaphore
    sweep: LikeSweep | None = None
    _reaction_pages: int = 0
    _private_refused: bool = False

    async def run(self, guild: discord.Guild, available_at: datetime) -> None:
        """Read back every thread that needs it, then move the guild's watermark to `available_at`."""
        stored = await self.load(guild.id)
        threads = await self._candidates(guild, stored)
        if threads:
            log.info("backfilling %d threads of guild %s", len(threads), guild.id)
        outcomes = await asyncio.gather(
            *(self._thread(guild, thread, stored) for thread in threads), return_exceptions=True
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        for failure in failures:
            log.error("backfill of a thread in guild %s failed", guild.id, exc_info=failure)
        if any(isinstance(f, asyncio.CancelledError) for f in failures):
            raise asyncio.CancelledError
        if self.sweep is not None:
            try:
                await self.sweep.run(guild.id, stored, available_at)
            except Exception:
                log.exception("the like sweep of guild %s failed", guild.id)
        mark = time_snowflake(available_at)
        # A thread that failed keeps its position; only a fully read guild moves its watermark,
        # so a new thread that could not be read is looked for again next time.
        if not failures and (stored.watermark is None or mark > stored.watermark):
            scope = translate.guild_scope(guild.id)
            await (
                await self.submit(
                    translate.cursor_moved(guild_id=guild.id, scope=scope, value=mark, at=available_at)
                )
            )

    async def _candidates(self, guild: discord.Guild, stored: GuildCursors) -> list[discord.Thread]:
        found: dict[int, discord.Thread] = {t.id: t for t in guild.threads if self._wanted(t, stored)}
        if stored.watermark is not None or stored.threads:
            since = snowflake_time(stored.watermark) if stored.watermark is not None else None
            for channel in guild.channels:
                if translate.is_subforum(channel) and _readable(guild, channel):
                    assert isinstance(channel, discord.TextChannel | discord.ForumChannel)
                    for thread in await self._archived(channel, since):
                        if thread.id not in found and self._wanted(thread, stored):
                            found[thread.id] = thread
        ordered = sorted(found.values(), key=lambda t: t.last_message_id or t.id, reverse=True)
        if len(ordered) > self.limits.max_threads:
            log.warning(
                "guild %s: %d threads changed while away; reading the %d most recent",
                guild.id,
                len(ordered),
                self.limits.max_threads,
            )
        return ordered[: self.limits.max_threads]

    async def _archived(
        self, channel: discord.TextChannel | discord.ForumChannel, since: datetime | None
    ) -> list[discord.Thread]:
        """Threads archived since `since` (newest archive first, one page each): public ones, and
        private ones in a text channel unless Discord has refused us those in this guild."""
        out = await self._archived_page(channel, since, private=False)
        if isinstance(channel, discord.TextChannel) and not self._private_refused:
            out += await self._archived_page(channel, since, private=True)
        return out

    async def _archived_page(
        self, channel: discord.TextChannel | discord.ForumChannel, since: datetime | None, *, private: bool
    ) -> list[discord.Thread]:
        """One listing; a passing failure is asked again and, if it lasts, raised, so the guild's
        watermark stays where it was and the threads it would have found are looked for again."""

        async def listing() -> list[discord.Thread]:
            found: list[discord.Thread] = []
            async with self.gate:
                if isinstance(channel, discord.TextChannel):
                    pages = channel.archived_threads(limit=self.limits.archived_page, private=private)
                else:
                    pages = channel.archived_threads(limit=self.limits.archived_page)
                async for thread in pages:
                    if since is not None and thread.archive_timestamp < since:
                        break
                    found.append(thread)
            return found

        out: list[discord.Thread] = []
        try:
            out = await self._retrying(listing, f"list the archived threads of {channel.id}")
        except discord.Forbidden as error:
            if not private:
                log.warning("could not list archived threads of %s: %s", channel.id, error)
            else:
                self._private_refused = True
                log.info(
                    "guild %s: Discord lists private archived threads only to a bot with the Manage "
                    "Threads permission; private threads archived while we were away are not read back",
                    channel.guild.id,
                )
        except discord.HTTPException as error:
            if failures.is_passing(error):
                raise
            log.warning("could not list archived threads of %s: %s", channel.id, failures.summary(error))
        return out

    async def _retrying(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        first = self.limits.retry_first
        return await failures.retrying(
            call, what=what, attempts=self.limits.retries, first=first, most=first * 32
        )

    def _wanted(self, thread: discord.Thread, stored: GuildCursors) -> bool:
        if not translate.is_subforum(thread.parent):
            return False
        position = stored.threads.get(thread.id)
        if position is None:
            return stored.watermark is not None and thread.id > stored.watermark
        return thread.last_message_id is None or thread.last_message_id > position

    async def _thread(self, guild: discord.Guild, thread: discord.Thread, stored: GuildCursors) -> None:
        scope = translate.thread_scope(guild.id, thread.id)
        position = stored.threads.get(thread.id)
        last: int | None = None
        self.book.hold(scope)

        async def read() -> int | None:
            async with self.gate:
                return await self._read(thread, position)

        try:
            last = await self._retrying(read, f"read back thread {thread.id}")
        except discord.HTTPException as error:
            if failures.is_passing(error):
                raise  # the thread keeps its position, the guild its watermark: read again next time
            log.warning(
                "thread %s of guild %s is gone or out of reach (%s); not read back",
                thread.id,
                guild.id,
                failures.summary(error),
            )
        finally:
            self.book.release(guild.id, scope, last)

    async def _read(self, thread: discord.Thread, position: int | None) -> int | None:
        """Submit the thread's messages after `position`, in order; returns the newest applied id."""
        place = translate.place_of(thread)
        assert place is not None
        submitted: list[asyncio.Task[None]] = []
        last: int | None = None
        if position is None and not place.parent_is_forum:
            opening = await self.opening(thread)
            if opening is not None:
                submitted.append(await self.submit(opening))
                last = thread.id
        after = discord.Object(position if position is not None else thread.id - 1)
        own = self.client.user.id if self.client.user is not None else None
        async for message in thread.history(after=after, limit=self.limits.max_messages, oldest_first=True):
            last = message.id
            if message.author.id == own or self.deleted(message.id):
                continue
            if not message.author.bot and self.is_command(message.content):
                continue
            event = translate.message_posted(message, place)
            if event is None:
                continue
            submitted.append(await self.submit(event))
            for reaction in await self._likes(message, place):
                submitted.append(await self.submit(reaction))
        if submitted:
            await asyncio.wait(submitted)
        return last

    async def _likes(self, message: discord.Message, place: translate.Place) -> list[ChatEvent]:
        """Reactions with a like emoji on a backfilled message, one event per member who gave one."""
        events: list[ChatEvent] = []
        for reaction in message.reactions:
            emoji = translate.emoji_key(reaction.emoji)
            if not self.is_like(emoji) or reaction.count == 0:
                continue
            if self._reaction_pages >= self.limits.max_reaction_pages:
                log.warning("reaction listing budget spent; likes on %s are not read back", message.id)
                break
            self._reaction_pages += math.ceil(reaction.count / 100)  # one listing per 100 users
            async for user in reaction.users(limit=None):
                if user.bot:
                    continue
                events.append(
                    translate.reaction(
                        added=True,
                        message_id=message.id,
                        place=place,
                        actor=translate.actor_of(user),
                        emoji=emoji,
                        at=message.created_at,
                        observation=f"backfill-{uuid.uuid4().hex[:12]}",
                    )
                )
        return events


def _readable(guild: discord.Guild, channel: discord.abc.GuildChannel) -> bool:
    """Whether we may read the channel's history: a private sub-forum (a staff room) is listed
    too when the bot's role can see it, and a channel it cannot see costs no refused request."""
    me = guild.me
    return me is not None and channel.permissions_for(me).read_message_history
