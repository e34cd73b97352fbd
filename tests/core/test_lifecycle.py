"""Shutdown and logging: stop cleanly on SIGTERM, flush what was accepted, never log a secret."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event as sa_event
from sqlmodel import Session, select

from chatbridge.adapters.memory import MemoryPlatform
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.heap import YOUNG_COLLECTION_EVERY
from chatbridge.logs import NOISY_LOGGERS, RedactingFilter, configure_logging
from chatbridge.model import Actor, MessagePosted, PlatformName, Room
from chatbridge.services.ingest import Ingestor
from chatbridge.store.tables import Member, Post


async def test_sigterm_stops_the_application_after_flushing_accepted_events(tmp_path: Path) -> None:
    chat = MemoryPlatform()
    core = Core.build(Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}"), clock=chat.now)
    app = Application(core, [chat])
    thresholds = gc.get_threshold()
    serving = asyncio.create_task(app.serve_forever())
    await asyncio.wait_for(chat.started.wait(), timeout=10)
    await asyncio.sleep(0)  # serve_forever sets the start-up heap aside once the platforms are up
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_EVERY
    thread = await chat.start_thread("Handover", "How do you hand over at 7am?", as_="alice")
    await chat.say("SBAR, always.", as_="bob", thread=thread)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(serving, timeout=10)
    with Session(core.engine) as session:
        assert len(session.exec(select(Post)).all()) == 2
    core.engine.dispose()
    gc.unfreeze()  # the rest of the test session collects as usual
    gc.set_threshold(*thresholds)


@pytest.mark.parametrize(
    "line",
    [
        "connecting with token=MTIzNDU2.abcdef.ghijkl",
        'payload {"access_token": "syt_secret_value"}',
        "Authorization: Bearer syt_secret_value",
        "store at postgresql+psycopg://bot:hunter22@db.internal/forum",
        "store at postgresql://bot:hunter22@db.internal:5432/forum",
        "proxy https://bot:hunter22@proxy.internal:3128 refused",
        "store at sqlite+pysqlcipher://:hunter22@/forum.db",
        "store at postgresql://bot:hun/ter22@db/forum",
        "payload {'password': 'hunter22'}",
        "the configured secret s3cr3t-value leaked",
    ],
)
def test_secrets_never_reach_the_log(line: str, caplog: pytest.LogCaptureFixture) -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, line, None, None)
    RedactingFilter(["s3cr3t-value"]).filter(record)
    message = record.getMessage()
    for secret in ("MTIzNDU2", "syt_secret_value", "hunter22", "ter22", "s3cr3t-value"):
        assert secret not in message
    assert "***" in message


def test_a_url_without_a_password_is_logged_as_it_is() -> None:
    line = "fetched https://matrix.example:8448/_matrix/client/v3/profile/@bot:example.org"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, line, None, None)
    RedactingFilter().filter(record)
    assert record.getMessage() == line


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


def _impatient_core(tmp_path: Path) -> Core:
    """A store whose connections give up on a lock at once (instead of after 10 s)."""
    core = Core.build(Settings(database_url=f"sqlite:///{tmp_path / 'forum.db'}"))

    @sa_event.listens_for(core.engine, "connect")
    def impatient(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    core.engine.dispose()  # connections opened by the migration reconnect with the listener
    return core


def _holding(tmp_path: Path) -> sqlite3.Connection:
    """A long transaction elsewhere that holds the store until it commits."""
    holder = sqlite3.connect(tmp_path / "forum.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def _posted(message_id: str, text: str, author: str, *, thread: str | None = None) -> MessagePosted:
    return MessagePosted(
        event_id=f"e-{message_id}",
        at=datetime(2025, 7, 16, 9, 0, tzinfo=UTC),
        room=Room(PlatformName.MEMORY, "console", "general", "General Discussion"),
        actor=Actor(PlatformName.MEMORY, author, author),
        message_id=message_id,
        text=text,
        thread_id=thread or message_id,
        starts_thread=thread is None,
    )


class _RetryLog(logging.Handler):
    """Sets `retrying` once the ingestor logs that it waits out an unavailable store."""

    def __init__(self) -> None:
        super().__init__()
        self.retrying = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying 1 events" in record.getMessage():
            self.retrying.set()  # logged on the event loop's thread


@contextmanager
def _watching_retries() -> Iterator[_RetryLog]:
    watcher = _RetryLog()
    logging.getLogger("chatbridge.services.ingest").addHandler(watcher)
    try:
        yield watcher
    finally:
        logging.getLogger("chatbridge.services.ingest").removeHandler(watcher)


def _stored_messages(core: Core) -> list[str]:
    with Session(core.engine) as session:
        return sorted(p.platform_message_id for p in session.exec(select(Post)).all())


async def test_events_wait_out_a_locked_database_and_none_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    core = _impatient_core(tmp_path)
    ingestor = Ingestor(core.engine, core.ingestor.rules, core.clock, retry_pause=0.01)
    holder = _holding(tmp_path)

    async def release_after_the_first_retry(watcher: _RetryLog) -> None:
        await watcher.retrying.wait()
        holder.execute("COMMIT")

    with caplog.at_level(logging.WARNING), _watching_retries() as watcher:
        async with asyncio.TaskGroup() as group:
            writer = group.create_task(ingestor.run())
            group.create_task(release_after_the_first_retry(watcher))
            await ingestor.submit(_posted("m1", "Night shifts as a new resident", "alice"))  # once durable
            writer.cancel()
    assert _stored_messages(core) == ["m1"]
    assert "the database is unavailable (database is locked); retrying 1 events" in caplog.text
    holder.close()
    core.engine.dispose()


async def _eventually(check: Callable[[], bool], seconds: float = 30) -> bool:
    """Whether `check` holds within `seconds` (looked at every 10 ms)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if check():
            return True
        await asyncio.sleep(0.01)
    return check()


class _MovableClock(asyncio.SelectorEventLoop):
    """An event loop whose clock the test moves forward: timers fire as if that time had passed."""

    ahead = 0.0

    def time(self) -> float:
        return super().time() + self.ahead


def test_events_that_queued_behind_a_slow_batch_are_written_without_waiting_again(tmp_path: Path) -> None:
    """`max_delay` bounds an event's wait from its arrival. An event that queued while the batch
    before it waited out a locked store has waited already: it goes as soon as the writer is free,
    not `max_delay` after. With an hour's `max_delay`, the old rule would hang here."""
    core = _impatient_core(tmp_path)
    ingestor = Ingestor(core.engine, core.ingestor.rules, core.clock, max_delay=3600, retry_pause=0.01)
    holder = _holding(tmp_path)

    async def conversation(loop: _MovableClock) -> None:
        with _watching_retries() as watcher:
            async with asyncio.TaskGroup() as group:
                writer = group.create_task(ingestor.run())
                opening = group.create_task(ingestor.submit(_posted("m1", "Handover at 7am?", "alice")))
                await asyncio.sleep(0)
                loop.ahead += 3600  # the opening's batch has waited its hour: it is written...
                await asyncio.wait_for(watcher.retrying.wait(), timeout=60)  # ...and waits out the lock
                reply = group.create_task(ingestor.submit(_posted("m2", "SBAR.", "bob", thread="m1")))
                await asyncio.sleep(0)
                loop.ahead += 3600  # the reply has waited its hour behind it
                holder.execute("COMMIT")
                await asyncio.wait_for(asyncio.gather(opening, reply), timeout=60)  # (after the move)
                writer.cancel()

    with asyncio.Runner(loop_factory=_MovableClock) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, _MovableClock)
        runner.run(conversation(loop))
    assert _stored_messages(core) == ["m1", "m2"]
    holder.close()
    core.engine.dispose()


async def test_the_writer_copies_its_wal_into_the_database_file_after_handing_batches_back(
    tmp_path: Path,
) -> None:
    """The ingest checkpoints SQLite's WAL itself, after a batch's producers are answered (not
    inside the commit, where every event of a busy batch would wait for it)."""
    core = Core.build(Settings(database_url=f"sqlite:///{tmp_path / 'forum.db'}"))
    watcher = sqlite3.connect(tmp_path / "forum.db")  # open throughout: no last-close checkpoint
    watcher.execute("PRAGMA wal_checkpoint")  # the schema, written by the migration, is in the file

    def in_the_database_file() -> list[str]:
        file_only = sqlite3.connect(f"file:{tmp_path / 'forum.db'}?immutable=1", uri=True)  # skips the WAL
        try:
            return sorted(row[0] for row in file_only.execute("SELECT platform_message_id FROM post"))
        finally:
            file_only.close()

    ingestor = Ingestor(core.engine, core.ingestor.rules, core.clock, checkpoint_every=2)
    async with asyncio.TaskGroup() as group:
        writer = group.create_task(ingestor.run())
        await ingestor.submit(_posted("m1", "Handover at 7am?", "alice"))  # once durable (in the WAL)
        await ingestor.submit(_posted("m2", "SBAR.", "bob", thread="m1"))
        # The checkpoint follows the answer, on the writer's thread.
        assert await _eventually(lambda: in_the_database_file() == ["m1", "m2"])
        writer.cancel()
    watcher.close()
    core.engine.dispose()


async def test_the_writer_applies_batches_without_the_garbage_collector(tmp_path: Path) -> None:
    """A batch's working state is freed by reference counting; no collection walks it meanwhile.
    Young collections are asked for after every allocation here, so one started by anything the
    writer does while it applies a batch would be seen (in the stack of the code that made it)."""
    core = Core.build(Settings(database_url=f"sqlite:///{tmp_path / 'forum.db'}"))
    ingestor = Ingestor(core.engine, core.ingestor.rules, core.clock)
    during_batches: list[str] = []

    def seen(phase: str, _info: dict[str, int]) -> None:
        frame = sys._getframe(1)
        while phase == "start" and frame is not None:
            if frame.f_code is Ingestor._apply_batch_now.__code__:
                during_batches.append(threading.current_thread().name)
                return
            frame = frame.f_back

    thresholds = gc.get_threshold()
    gc.callbacks.append(seen)
    gc.set_threshold(1)
    try:
        async with asyncio.TaskGroup() as group:
            writer = group.create_task(ingestor.run())
            await ingestor.submit(_posted("m1", "Handover at 7am?", "alice"))
            await asyncio.gather(
                *(ingestor.submit(_posted(f"m{n}", "SBAR.", f"member{n}", thread="m1")) for n in range(2, 40))
            )
            writer.cancel()
    finally:
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(seen)
    assert during_batches == []
    assert gc.isenabled()
    assert len(_stored_messages(core)) == 39
    core.engine.dispose()


async def test_a_member_renamed_within_a_batch_keeps_the_newest_name(tmp_path: Path) -> None:
    core = Core.build(Settings(database_url=f"sqlite:///{tmp_path / 'forum.db'}"))
    ingestor = Ingestor(core.engine, core.ingestor.rules, core.clock)
    opening = _posted("m1", "Handover at 7am?", "alice")
    names = ["Dr B", "Dr Bee", "Dr Beatrice"]
    replies = [
        replace(_posted(f"m{n}", "SBAR.", "bob", thread="m1"), actor=Actor(PlatformName.MEMORY, "bob", name))
        for n, name in enumerate(names, start=2)
    ]
    async with asyncio.TaskGroup() as group:
        writer = group.create_task(ingestor.run())
        await ingestor.submit(opening)
        await asyncio.gather(*(ingestor.submit(reply) for reply in replies))  # one batch
        writer.cancel()
    with Session(core.engine) as session:
        bob = session.exec(select(Member).where(Member.display_name.startswith("Dr"))).one()  # type: ignore[attr-defined]
    assert (bob.display_name, bob.message_count) == ("Dr Beatrice", 3)
    core.engine.dispose()


def test_libraries_that_log_whole_payloads_stay_quiet_even_at_debug() -> None:
    """discord.py and matrix-nio log every message sent or received at DEBUG: members' words,
    moderation notices with their reasons. Our DEBUG does not turn that on."""
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    handler = configure_logging("DEBUG")
    try:
        assert logging.getLogger("chatbridge.dispatch").isEnabledFor(logging.DEBUG)
        for name in ("discord.http", "discord.webhook.async_", "nio.responses", "nio.client.async_client"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)
