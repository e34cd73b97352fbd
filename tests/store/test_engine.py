"""Engine set-up: SQLite pragmas and transactions, PostgreSQL driver, URL redaction, sessions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text
from sqlmodel import Session, select

import support.postgres
from chatbridge.store import Community, make_engine, normalize_url, redact_url, session_scope, upgrade
from chatbridge.store.engine import SQLITE_BUSY_TIMEOUT_MS, SQLITE_WRITER_CACHE_KIB, reading, writer_engine
from support.postgres import BINARIES_MISSING, PostgresCluster, require_postgres_bindir


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'chatbridge.db'}")
    yield engine
    engine.dispose()


def test_sqlite_connections_use_wal_and_enforce_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS


def test_the_ingest_writer_has_connections_of_its_own_with_a_larger_cache(sqlite_engine: Engine) -> None:
    upgrade(sqlite_engine)
    writer = writer_engine(sqlite_engine)
    try:
        assert writer is not sqlite_engine
        with session_scope(writer) as session:
            session.add(Community(name="General"))
        with writer.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_WRITER_CACHE_KIB
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with Session(sqlite_engine) as session:
            assert [c.name for c in session.exec(select(Community)).all()] == ["General"]
        with sqlite_engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -2000  # SQLite's own
    finally:
        writer.dispose()


def test_an_in_memory_store_is_written_through_its_own_engine() -> None:
    engine = make_engine("sqlite://")
    assert writer_engine(engine) is engine


def test_sqlite_savepoints_roll_back_only_the_inner_block(sqlite_engine: Engine) -> None:
    """The sqlite3 driver's legacy mode breaks SAVEPOINT; make_engine takes over BEGIN to fix it."""
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        nested = connection.begin_nested()
        connection.exec_driver_sql("INSERT INTO t VALUES (2)")
        nested.rollback()
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT x FROM t").scalars().all() == [1]


def test_a_reading_transaction_never_holds_up_a_writer(sqlite_engine: Engine, tmp_path: Path) -> None:
    """A long count through `reading(engine)` sees one snapshot and takes no write lock."""
    import sqlite3

    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE post (id INTEGER PRIMARY KEY)")
        connection.exec_driver_sql("INSERT INTO post DEFAULT VALUES")
    writer = sqlite3.connect(tmp_path / "chatbridge.db", timeout=0, isolation_level=None)
    with reading(sqlite_engine).begin() as reader:
        assert reader.exec_driver_sql("SELECT count(*) FROM post").scalar() == 1
        writer.execute("BEGIN IMMEDIATE")  # would fail at once if the reader held the lock
        writer.execute("INSERT INTO post DEFAULT VALUES")
        writer.execute("COMMIT")
        assert reader.exec_driver_sql("SELECT count(*) FROM post").scalar() == 1, "its snapshot"
    with sqlite_engine.begin() as connection:  # ordinary transactions still take the lock up front
        connection.exec_driver_sql("SELECT 1")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            writer.execute("BEGIN IMMEDIATE")
    writer.close()


def test_sqlite_writers_wait_for_each_other_instead_of_failing(sqlite_engine: Engine) -> None:
    """BEGIN IMMEDIATE: a second read-then-write transaction waits on busy_timeout, no lock error."""
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counter (n INTEGER)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (0)")

    def increment(hold: float) -> None:
        with sqlite_engine.begin() as connection:
            n = connection.exec_driver_sql("SELECT n FROM counter").scalar_one()
            time.sleep(hold)
            connection.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    errors: list[BaseException] = []

    def run(hold: float) -> None:
        try:
            increment(hold)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(0.05,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sqlite_engine.connect() as connection:
        # No lost update: each transaction saw the previous one's write.
        assert connection.exec_driver_sql("SELECT n FROM counter").scalar_one() == 4


@pytest.mark.postgres
def test_plain_postgresql_urls_use_psycopg(postgres_cluster: PostgresCluster) -> None:
    plain = make_url(postgres_cluster.url()).set(drivername="postgresql")
    engine = make_engine(plain)
    try:
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_normalize_url_pins_psycopg() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_redact_url_hides_the_password() -> None:
    url = "postgresql+psycopg://forum:hunter2@db.example.org:5432/chatbridge"
    redacted = redact_url(url)
    assert "hunter2" not in redacted
    assert redacted == "postgresql+psycopg://forum:***@db.example.org:5432/chatbridge"
    assert "hunter2" not in redact_url(make_url(url))
    assert (
        redact_url("sqlite:////var/lib/chatbridge/chatbridge.db")
        == "sqlite:////var/lib/chatbridge/chatbridge.db"
    )


def test_redact_url_does_not_echo_garbage() -> None:
    assert redact_url("not a url but maybe a password") == "<unparseable database URL>"


def test_unsupported_database_error_hides_the_password() -> None:
    with pytest.raises(ValueError, match="unsupported database") as raised:
        make_engine("mysql://forum:hunter2@db/chatbridge")
    assert "hunter2" not in str(raised.value)


def test_session_scope_commits_on_success_and_rolls_back_on_error(store: Engine) -> None:
    with session_scope(store) as session:
        session.add(Community(name="Kept"))
    with pytest.raises(RuntimeError), session_scope(store) as session:
        session.add(Community(name="Dropped"))
        session.flush()
        raise RuntimeError("boom")
    with Session(store) as session:
        assert session.exec(select(Community.name)).all() == ["Kept"]


def test_session_scope_objects_stay_readable_after_commit(store: Engine) -> None:
    with session_scope(store) as session:
        community = Community(name="Readable")
        session.add(community)
    assert community.id is not None
    assert community.name == "Readable"


def test_sqlite_database_directory_is_created(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'data' / 'chatbridge.db'}")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        assert (tmp_path / "var" / "data" / "chatbridge.db").is_file()
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the test database fixtures


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_postgres_fails_under_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setattr(support.postgres, "find_postgres_bindir", lambda: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="apt-get install postgresql"):
        require_postgres_bindir()


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_missing_postgres_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    monkeypatch.setattr(support.postgres, "find_postgres_bindir", lambda: None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception) as raised:
        require_postgres_bindir()
    assert str(raised.value) == BINARIES_MISSING
