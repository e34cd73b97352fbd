"""A forum on the Discord adapter, for transcript-style tests against the wire-level double.

`discord_forum(double, database_url)` runs the real application (core, dispatcher, ingest, the
Discord platform with the real discord.py client) against the double; tests act as members through
the double's actions and look at what the bot sent (REST calls, interaction callbacks) and at the
store. Waiting is event-driven: the platform reports every event the core has applied.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from chatbridge.adapters.discord import DiscordPlatform, DiscordTuning
from chatbridge.adapters.discord.backfill import BackfillLimits
from chatbridge.adapters.discord.likes import SweepLimits
from chatbridge.app import Application
from chatbridge.config import DiscordConfig, ForumConfig, Settings
from chatbridge.core import Core, utc_now
from chatbridge.model import ChatEvent, MessagePosted
from chatbridge.store.tables import Member, Post, Thread
from support.discord_double import DiscordDouble

TEST_TUNING = DiscordTuning(
    guild_ready_timeout=0.2,
    identify_pause=False,
    cursor_interval=0.1,
    retry_first=0.05,
    retry_most=0.2,
    backfill=BackfillLimits(retry_first=0.05, likes=SweepLimits(retry_first=0.05)),
    defer_after=1.5,
)
"""`defer_after` is longer than in production so that tests reading a command's first answer see
the answer itself, not a deferral, on a busy machine; still inside the double's 3-s deadline."""


@dataclass
class Applied:
    """Every event the core has applied, with a bounded wait for the one a test expects."""

    timeout: float
    events: list[ChatEvent] = field(default_factory=list)
    _tick: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, event: ChatEvent) -> None:
        self.events.append(event)
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def wait(self, predicate: Callable[[ChatEvent], bool], *, count: int = 1) -> list[ChatEvent]:
        """The first `count` applied events matching `predicate` (already applied or still to come)."""
        async with asyncio.timeout(self.timeout):
            while len(found := [e for e in self.events if predicate(e)]) < count:
                await self._tick.wait()
        return found[:count]


@dataclass
class DiscordForum:
    double: DiscordDouble
    core: Core
    platform: DiscordPlatform
    applied: Applied
    app: Application | None = None
    """The running application (its outbox and digest scheduler), for tests that drive them."""

    @contextlib.contextmanager
    def store(self) -> Iterator[Session]:
        with Session(self.core.engine, expire_on_commit=False) as session:
            yield session

    def member(self, user_id: int) -> Member:
        from chatbridge.store.tables import Identity

        with self.store() as session:
            identity = session.exec(select(Identity).where(Identity.platform_user_id == str(user_id))).one()
            member = session.get(Member, identity.member_id)
            assert member is not None
            return member

    def thread(self, thread_id: int) -> Thread:
        with self.store() as session:
            return session.exec(select(Thread).where(Thread.platform_thread_id == str(thread_id))).one()

    def post(self, message_id: int | str) -> Post:
        with self.store() as session:
            return session.exec(select(Post).where(Post.platform_message_id == str(message_id))).one()

    async def settle(self) -> None:
        """Everything the platform has received so far is applied and positions are written."""
        await self.platform.flush()


def discord_settings(
    double: DiscordDouble,
    database_url: str,
    *,
    announce_trophies: bool = True,
    settings_extra: Mapping[str, Any] | None = None,
    **discord: Any,
) -> Settings:
    """`settings_extra` adds other sections (`digest`, `moderation`, ...) as Settings keywords."""
    config = DiscordConfig(enabled=True, **discord)
    return Settings(
        database_url=database_url,
        discord=config,
        forum=ForumConfig(announce_trophies=announce_trophies),
        discord_token=double.token,
        **dict(settings_extra or {}),
    )


@contextlib.asynccontextmanager
async def discord_forum(
    double: DiscordDouble,
    database_url: str,
    *,
    tuning: DiscordTuning = TEST_TUNING,
    commands: tuple[ModuleType, ...] = (),
    clock: Callable[[], datetime] = utc_now,
    settings_extra: Mapping[str, Any] | None = None,
    engine: Engine | None = None,
    **discord: Any,
) -> AsyncIterator[DiscordForum]:
    """The application with the Discord platform, connected and ready, for the block.

    `clock` is the core's clock (the digest scheduler, mutes, ...); pass one to move time on.
    `engine` replaces the one `database_url` names (a short SQLite busy timeout, say).
    """
    settings = discord_settings(double, database_url, settings_extra=settings_extra, **discord)
    core = Core.build(settings, clock=clock, engine=engine)
    for module in commands:
        core.registry.add_module(module)
    applied = Applied(double.wait_timeout)
    platform = DiscordPlatform(core, tuning=tuning, observer=applied)
    try:
        async with Application(core, [platform]).running() as app:
            yield DiscordForum(double, core, platform, applied, app)
    finally:
        core.engine.dispose()


async def forum_post(
    forum: DiscordForum,
    channel_id: int,
    author: int,
    title: str,
    body: str = "Go",
    *,
    tags: Iterable[str] = (),
    at: datetime | None = None,
) -> int:
    """`author` opens a post in the forum channel; returns its thread id once the forum has applied
    its opening (the starter message shares the thread's id)."""
    thread_id, _ = await forum.double.create_forum_post(channel_id, author, title, body, tags=tags, at=at)
    await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.message_id == str(thread_id))
    return thread_id


async def reply(forum: DiscordForum, thread_id: int, author: int, text: str) -> int:
    """`author` posts `text` in a thread; returns the message id once the forum has applied it."""
    posted = await forum.double.post_message(thread_id, author, text)
    await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.message_id == posted["id"])
    return int(posted["id"])
