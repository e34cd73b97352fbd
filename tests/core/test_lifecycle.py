"""Shutdown and logging: stop cleanly on SIGTERM, flush what was accepted, never log a secret."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest
from sqlmodel import Session, select

from chatbridge.adapters.memory import MemoryPlatform
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.logs import RedactingFilter
from chatbridge.store.tables import Post


async def test_sigterm_stops_the_application_after_flushing_accepted_events(tmp_path: Path) -> None:
    chat = MemoryPlatform()
    core = Core.build(Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}"), clock=chat.now)
    app = Application(core, [chat])
    serving = asyncio.create_task(app.serve_forever())
    await asyncio.wait_for(chat.started.wait(), timeout=10)
    thread = await chat.start_thread("Handover", "How do you hand over at 7am?", as_="alice")
    await chat.say("SBAR, always.", as_="bob", thread=thread)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(serving, timeout=10)
    with Session(core.engine) as session:
        assert len(session.exec(select(Post)).all()) == 2
    core.engine.dispose()


@pytest.mark.parametrize(
    "line",
    [
        "connecting with token=MTIzNDU2.abcdef.ghijkl",
        'payload {"access_token": "syt_secret_value"}',
        "Authorization: Bearer syt_secret_value",
        "store at postgresql+psycopg://bot:hunter22@db.internal/forum",
        "the configured secret s3cr3t-value leaked",
    ],
)
def test_secrets_never_reach_the_log(line: str, caplog: pytest.LogCaptureFixture) -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, line, None, None)
    RedactingFilter(["s3cr3t-value"]).filter(record)
    message = record.getMessage()
    for secret in ("MTIzNDU2", "syt_secret_value", "hunter22", "s3cr3t-value"):
        assert secret not in message
    assert "***" in message


async def test_a_worker_outlives_a_locked_database_and_a_bug_still_stops_the_bot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    from sqlalchemy import create_engine, text

    from chatbridge.app import _logged

    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY)")
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    attempts: list[str] = []

    async def worker() -> None:
        attempts.append("start")
        if len(attempts) == 2:
            holder.execute("COMMIT")  # the other process lets go while we wait
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO outbox DEFAULT VALUES"))

    with caplog.at_level(logging.WARNING):
        await _logged(worker, "outbox worker", retry_after=0.01)
    assert len(attempts) == 2
    assert "outbox worker: the database is unavailable (database is locked); restarting" in caplog.text

    async def buggy() -> None:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        await _logged(buggy, "digest scheduler", retry_after=0.01)
    engine.dispose()
    holder.close()
