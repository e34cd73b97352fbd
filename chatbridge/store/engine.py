"""Engine and session creation for the two supported databases.

SQLite is the single-file default for small communities; PostgreSQL is for anything with several
processes. Both get the same schema (see `migrate`), and the per-connection settings that make
SQLite behave like a real transactional database are applied here, once, for every connection.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlmodel import Session

__all__ = [
    "DATABASE_UNAVAILABLE",
    "SQLITE_BUSY_TIMEOUT_MS",
    "SQLITE_WRITER_CACHE_KIB",
    "begin_if_free",
    "checkpoint",
    "make_engine",
    "normalize_url",
    "reading",
    "redact_url",
    "session_scope",
    "writer_engine",
]

DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
"""What a store that is briefly out of reach raises (SQLite locked past its busy timeout, a
PostgreSQL restart or failover): the work is retried, not dropped."""

BUSY_TIMEOUT = "chatbridge_busy_timeout_ms"
"""Execution option carrying a SQLite engine's busy timeout, so the ingest writer's engine gets
the same one."""

READ_ONLY = "chatbridge_read_only"
"""Execution option marking an engine or connection whose SQLite transactions only read."""

NO_WAIT = "chatbridge_no_wait"
"""Execution option for a SQLite transaction that begins only if the write lock is free now."""

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite connection waits for the write lock before failing with "database is locked"."""

PG_CONNECT_TIMEOUT_S = 10
"""How long a PostgreSQL connection attempt may wait for the server before it fails."""

SQLITE_WRITER_CACHE_KIB = 8_192
"""Page cache of the ingest writer's SQLite connection (others keep SQLite's 2 MiB). A batch
touches index pages all over the posts, likes and members; with 2 MiB they are read again and
again (8 MiB: about a sixth more events/s in `benchmarks/ingest.py`; 16 MiB adds nothing more)."""


def normalize_url(url: str | URL) -> URL:
    """Parse `url` and pin the PostgreSQL driver to psycopg 3.

    `postgresql://` (and the Heroku-style `postgres://`) would make SQLAlchemy look for psycopg2,
    which is not a dependency.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redact_url(url: str | URL) -> str:
    """`url` with its password replaced by `***`, safe for logs and error messages.

    A string that cannot be parsed is not echoed back at all: it might be a password.
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):
        return "<unparseable database URL>"
    return parsed.render_as_string(hide_password=True)


def make_engine(
    url: str | URL, *, echo: bool = False, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> Engine:
    """Create the engine for `url` (`sqlite:///path/chatbridge.db` or `postgresql+psycopg://...`).

    SQLite connections get, on every connect: WAL journal (readers never block the writer),
    `synchronous=NORMAL` (durable at checkpoints, no fsync per commit — safe with WAL),
    `foreign_keys=ON` (SQLite's default is off), and a busy timeout. SQLAlchemy also takes over
    `BEGIN` from the sqlite3 driver and issues `BEGIN IMMEDIATE`, because the driver's legacy mode
    does not begin transactions for SELECT or DDL, which breaks SAVEPOINTs (`begin_nested`) and
    read-then-write atomicity; IMMEDIATE takes the single write lock up front so concurrent
    writers wait for `busy_timeout` instead of failing on a lock upgrade. The price: transactions
    on one SQLite file run one at a time (fine for a bot; use PostgreSQL to scale out).

    PostgreSQL gets a pre-pinged, recycled connection pool and a connect timeout.
    `busy_timeout_ms` is for tests of a locked store, which should not wait ten seconds per try.

    Neither engine puts a statement's parameters in its errors (`hide_parameters`): they hold
    posts, moderation reasons and notes, and errors end up in logs.
    """
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _ensure_sqlite_directory(parsed)
        engine = create_engine(
            parsed, echo=echo, hide_parameters=True, execution_options={BUSY_TIMEOUT: busy_timeout_ms}
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    if backend == "postgresql":
        timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        return create_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            # A server that does not answer (a firewall dropping packets) fails in seconds, not
            # after the operating system's minutes-long TCP timeout; the URL can set its own.
            connect_args=timeout,
            pool_size=5,
            max_overflow=10,
            pool_pre_ping=True,
            pool_recycle=1800,
        )
    raise ValueError(f"unsupported database {redact_url(parsed)!r}: use sqlite:/// or postgresql+psycopg://")


def _ensure_sqlite_directory(url: URL) -> None:
    """Create the database file's directory: SQLite's own error for a missing one is opaque."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _enable_wal(cursor: Any) -> None:
    """Switch to WAL, waiting while another process holds the database.

    Switching the journal mode of a new database needs an exclusive lock, and SQLite reports
    "database is locked" at once (without its busy handler) when two processes create the same
    store together; once the file is in WAL mode the pragma is a cheap no-op.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (the "begin" hook below) decide when transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")  # a WAL reader: never holds up a writer
        elif options.get(NO_WAIT):
            connection.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            finally:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def reading(engine: Engine) -> Engine:
    """The same store for work that only reads (a leaderboard refresh, a digest's counts).

    On SQLite its transactions begin DEFERRED instead of IMMEDIATE: under WAL a reader sees one
    snapshot and never takes the write lock, so a long count does not hold up the ingest writer
    or a command. (A write through it would fail with "database is locked" rather than wait, so
    use it only for reads.) On PostgreSQL it is the engine itself.
    """
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{READ_ONLY: True})


def writer_engine(engine: Engine) -> Engine:
    """The same store for the one long-lived writer (the ingest), with connections of its own.

    On a SQLite file they get a larger page cache (`SQLITE_WRITER_CACHE_KIB`), which the
    connections that serve commands and reads do not need, and they never checkpoint the WAL on
    commit: the writer calls `checkpoint` itself once it has handed a batch back. SQLite's
    automatic checkpoint runs inside the commit that crosses 1,000 WAL pages, and a busy batch
    crosses it every time (copying about 8,000 pages and syncing the file: a tenth of the
    ingest's time, with every event of the batch waiting for it). Otherwise (PostgreSQL, an
    in-memory SQLite database that another engine could not see) it is `engine` itself. Whoever
    asked for it disposes of it when done, if it is not `engine`.
    """
    database = engine.url.database
    if (
        engine.dialect.name != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        return engine
    writer = make_engine(
        engine.url, busy_timeout_ms=engine.get_execution_options().get(BUSY_TIMEOUT, SQLITE_BUSY_TIMEOUT_MS)
    )

    @event.listens_for(writer, "connect")
    def _writer_connection(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB:d}")
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        finally:
            cursor.close()

    return writer


def checkpoint(writer: Engine) -> None:
    """Copy the pages committed to a SQLite store's WAL into its database file.

    PASSIVE: it waits for no one, and copies what no reader still needs (the rest goes next
    time). Outside any transaction, on a connection of `writer` (see `writer_engine`).
    """
    connection = writer.raw_connection()
    try:
        driver = connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        connection.close()


def begin_if_free(session: Session) -> bool:
    """Begin `session`'s transaction now if that takes no waiting, and say whether it did.

    On SQLite a writing transaction waits for the one write lock (up to the busy timeout), and a
    wait on the event loop's thread would freeze the loop: where this says False, nothing was
    begun, and the caller begins it in a worker thread instead. Elsewhere a transaction begins
    without waiting for anyone, so this is always True.
    """
    if session.get_bind().dialect.name != "sqlite":
        return True
    try:
        session.connection(execution_options={NO_WAIT: True})
    except OperationalError as error:
        session.rollback()
        if "locked" in str(error) or "busy" in str(error):
            return False
        raise
    return True


@contextmanager
def session_scope(engine: Engine, *, expire_on_commit: bool = False) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back if it raises.

    `expire_on_commit` defaults to False so objects stay readable after the block (the forum code
    hands them to renderers after committing) without a surprise lazy reload.
    """
    session = Session(engine, expire_on_commit=expire_on_commit)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
