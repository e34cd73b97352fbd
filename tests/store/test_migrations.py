"""Migrations agree with the models and behave on both databases."""

from __future__ import annotations

import io
import multiprocessing
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from chatbridge.store import (
    SchemaNotCurrentError,
    check,
    current_revision,
    head_revision,
    make_engine,
    metadata,
    pending_differences,
    upgrade,
)
from chatbridge.store.migrate import MIGRATIONS_DIR, alembic_config, downgrade, shipped_head


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _schema(engine: Engine) -> dict[str, list[str]]:
    inspector = inspect(engine)
    return {
        table: sorted(
            [column["name"] for column in inspector.get_columns(table)]
            + [str(index["name"]) for index in inspector.get_indexes(table)]
        )
        for table in sorted(inspector.get_table_names())
    }


def test_models_and_migrations_agree(engine: Engine) -> None:
    upgrade(engine)
    assert pending_differences(engine) == []
    check(engine)


def test_comparison_notices_drift(engine: Engine) -> None:
    """Guard against a vacuous comparison: a dropped index must show up as a difference."""
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_post_thread_id_created_at"))
    differences = pending_differences(engine)
    assert [diff[0] for diff in differences] == ["add_index"]
    with pytest.raises(SchemaNotCurrentError, match="differs"):
        check(engine)


def test_fresh_database_is_not_current(engine: Engine) -> None:
    assert current_revision(engine) is None
    with pytest.raises(SchemaNotCurrentError, match="run upgrade"):
        check(engine)


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    upgrade(engine)
    first = _schema(engine)
    upgrade(engine)
    assert _schema(engine) == first
    assert current_revision(engine) == head_revision()
    assert set(first) == {table.name for table in metadata.sorted_tables} | {"alembic_version"}


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    upgrade(engine)
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert pending_differences(engine) == []


def test_outbox_items_waiting_before_0007_keep_going_and_can_be_set_aside(engine: Engine) -> None:
    """0007 adds the dead-letter columns: rows queued before it stay due, none is set aside."""
    upgrade(engine, "0006")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox_item (platform, kind, payload, dedupe_key, created_at, attempts,"
                " next_attempt_at) VALUES ('discord', 'send', '{}', 'before-0007',"
                " '2025-07-16 09:00:00+00:00', 3, '2025-07-16 09:00:00+00:00')"
            )
        )
    upgrade(engine, "0007")
    assert current_revision(engine) == "0007"
    with engine.begin() as connection:
        row = connection.execute(
            text("SELECT attempts, dead_at, dead_reason FROM outbox_item WHERE dedupe_key = 'before-0007'")
        ).one()
        assert tuple(row) == (3, None, None)
        connection.execute(
            text(
                "UPDATE outbox_item SET dead_at = next_attempt_at, dead_reason = 'NotFound: 404'"
                " WHERE dedupe_key = 'before-0007'"
            )
        )
    downgrade(engine, "0006")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT attempts FROM outbox_item")).scalar_one() == 3
    assert "dead_at" not in {column["name"] for column in inspect(engine).get_columns("outbox_item")}


def test_upgrade_by_url_from_another_directory(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No alembic.ini and no reliance on the working directory."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_sqlite_foreign_keys_are_back_on_after_upgrade(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fk.db'}")
    try:
        with engine.connect() as connection:
            upgrade(engine)
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # The pooled connection that ran the migration is handed out again: still enforcing.
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def _upgrade_when_released(url: str, barrier: Any, errors: Any) -> None:
    try:
        barrier.wait(timeout=60)
        upgrade(url)
    except BaseException as error:
        errors.put(f"{type(error).__name__}: {error}")
        raise


def test_concurrent_upgrades_from_separate_processes(database_url: str) -> None:
    """Processes starting together: one migrates, the others wait for it and find nothing to do.

    The processes are forked (cheap: nothing to re-import) and released together by a barrier, so
    the upgrades really overlap; without the advisory lock PostgreSQL fails on duplicate tables.
    """
    context = multiprocessing.get_context("fork")
    workers = 3
    barrier = context.Barrier(workers)
    errors = context.Queue()
    processes = [
        context.Process(target=_upgrade_when_released, args=(database_url, barrier, errors))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert [process.exitcode for process in processes] == [0] * workers, failures
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
        assert pending_differences(engine) == []
    finally:
        engine.dispose()


def test_single_linear_history() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    assert head_revision() == "0011"


def test_the_head_read_from_the_migration_files_is_alembic_s() -> None:
    assert shipped_head() == head_revision()


def test_a_bot_starting_on_a_current_store_never_loads_alembic(tmp_path: Path) -> None:
    """Alembic is 12 MB of a process's memory, needed only when the schema is behind."""
    url = f"sqlite:///{tmp_path / 'chatbridge.db'}"
    upgrade(url)
    starting = (
        "import sys; from chatbridge.config import Settings; from chatbridge.core import Core; "
        f"Core.build(Settings(database_url={url!r})); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    result = subprocess.run([sys.executable, "-c", starting], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_packaged_migration_files_exist() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()


def test_offline_sql_for_review() -> None:
    """`--sql` mode renders the DDL without a database (for a DBA to review)."""
    config = alembic_config()
    config.output_buffer = io.StringIO()
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg://reviewer@localhost/chatbridge")
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    assert "CREATE TABLE post (" in sql
    assert "TIMESTAMP WITH TIME ZONE" in sql
    assert "CONSTRAINT uq_post_platform_platform_message_id UNIQUE" in sql


def test_members_who_wrote_only_in_private_sub_forums_are_not_marked_public(engine: Engine) -> None:
    """Migration 0008: existing members count as seen in public unless every post of theirs is
    in a private sub-forum."""
    from datetime import UTC, datetime

    from sqlmodel import Session

    from chatbridge.store.tables import Community, SubForum, Thread

    upgrade(engine, "0007")
    at = datetime(2025, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        session.add(Community(id=1, name="c"))
        session.add(
            SubForum(
                id=1, community_id=1, name="Lounge", platform="memory", platform_room_id="l", kind="memory"
            )
        )
        session.add(
            SubForum(
                id=2,
                community_id=1,
                name="Staff",
                platform="memory",
                platform_room_id="s",
                kind="memory",
                private=True,
            )
        )
        session.commit()
    with engine.begin() as connection:
        for member_id, name in ((1, "staffer"), (2, "both"), (3, "lurker")):
            connection.execute(
                text(
                    "INSERT INTO member (id, community_id, display_name, first_seen_at, message_count,"
                    " likes_received, likes_given, threads_started, replies_to_others, trophy_points, is_bot)"
                    " VALUES (:id, 1, :name, :at, 0, 0, 0, 0, 0, 0, false)"
                ),
                {"id": member_id, "name": name, "at": at},
            )
    with Session(engine) as session:
        for thread_id, subforum_id in ((1, 1), (2, 2)):
            session.add(
                Thread(
                    id=thread_id,
                    community_id=1,
                    subforum_id=subforum_id,
                    platform="memory",
                    platform_thread_id=f"t{thread_id}",
                    title="T",
                    starter_member_id=1,
                    created_at=at,
                    last_activity_at=at,
                )
            )
        session.commit()
    with engine.begin() as connection:  # raw SQL: today's Post has columns 0007 does not
        for post_id, thread_id, member_id in ((1, 2, 1), (2, 1, 2), (3, 2, 2)):
            connection.execute(
                text(
                    "INSERT INTO post (id, thread_id, community_id, member_id, platform, platform_message_id,"
                    " body, created_at, is_opening, counted, like_count, hidden)"
                    " VALUES (:id, :thread, 1, :member, 'memory', :message, 'x', :at, false, true, 0, false)"
                ),
                {"id": post_id, "thread": thread_id, "member": member_id, "message": f"m{post_id}", "at": at},
            )
    upgrade(engine)
    with engine.connect() as connection:
        marked = dict(connection.execute(text("SELECT display_name, seen_in_public FROM member")).all())
    assert {name: bool(seen) for name, seen in marked.items()} == {
        "staffer": False,
        "both": True,
        "lurker": True,
    }
