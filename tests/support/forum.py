"""A forum on the in-memory platform, for transcript-style tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from chatbridge.adapters.memory import MemoryPlatform, Said
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core


@dataclass
class Forum:
    """The chat (to talk in) and the core (to look at the store)."""

    chat: MemoryPlatform
    core: Core

    @contextmanager
    def store(self) -> Iterator[Session]:
        with Session(self.core.engine) as session:
            yield session


@asynccontextmanager
async def running_forum(
    database_url: str, *, chat: MemoryPlatform | None = None, engine: Engine | None = None, **settings: object
) -> AsyncIterator[Forum]:
    """`chat` is the in-memory platform to run (one named otherwise, say); a default one if None.
    `engine` replaces the one `database_url` names (a short SQLite busy timeout, say)."""
    chat = chat or MemoryPlatform()
    core = Core.build(
        Settings(database_url=database_url, **settings),  # type: ignore[arg-type]
        clock=chat.now,
        engine=engine,
    )
    try:
        async with Application(core, [chat]).running():
            yield Forum(chat, core)
    finally:
        core.engine.dispose()


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'forum.db'}"


def texts(replies: list[Said]) -> str:
    """Everything the bot said, as one string, for `in` assertions."""
    return "\n".join(r.text for r in replies)
