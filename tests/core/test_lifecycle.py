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
