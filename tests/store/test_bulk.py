"""The ingest's set-based statements, on SQLite (executemany, padded IN lists) and PostgreSQL
(arrays and `unnest`): the two are different SQL, so each behaviour is checked on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlalchemy.dialects import sqlite
from sqlmodel import Session, select

from chatbridge.store import Community, Member, NaiveDatetimeError, ProcessedEvent
from chatbridge.store.bulk import SQLITE_CHUNK, Bulk
from chatbridge.store.types import UTCDateTime, sqlite_utc_text

T0 = datetime(2025, 7, 16, 9, 30, tzinfo=UTC)
PROCESSED = ProcessedEvent.__table__  # type: ignore[attr-defined]
MEMBER = Member.__table__  # type: ignore[attr-defined]


def members(session: Session, count: int) -> list[int]:
    community = Community(name="General")
    session.add(community)
    session.flush()
    rows = [
        Member(community_id=community.id or 0, display_name=f"member {n}", first_seen_at=T0)
        for n in range(count)
    ]
    session.add_all(rows)
    session.flush()
    return [m.id or 0 for m in rows]


def test_an_insert_that_skips_conflicts_returns_only_what_it_wrote(store: Engine) -> None:
    bulk = Bulk(store.dialect)
    columns = ("platform", "event_id", "processed_at")
    with Session(store) as session:
        bulk.insert(session, PROCESSED, columns, [("discord", "e1", T0)])
        written = bulk.insert(
            session,
            PROCESSED,
            columns,
            [("discord", "e1", T0), ("discord", "e2", T0), ("discord", "e2", T0), ("matrix", "e1", T0)],
            returning=("platform", "event_id"),
            skip_conflicts=True,
        )
        session.commit()
        assert sorted(written) == [("discord", "e2"), ("matrix", "e1")]
        stored = session.exec(select(ProcessedEvent)).all()
    assert len(stored) == 3
    assert {row.processed_at for row in stored} == {T0}


def test_updates_add_assign_and_keep_what_is_not_given(store: Engine) -> None:
    bulk = Bulk(store.dialect)
    with Session(store) as session:
        first, second = members(session, 2)
        later = T0 + timedelta(days=3)
        bulk.update(
            session,
            MEMBER,
            "id",
            [(first, 2, 1, "Dr First", None), (second, -1, 0, "Dr Second", later)],
            add=("message_count", "likes_received"),
            assign=("display_name",),
            assign_given=("joined_at",),
        )
        session.commit()
        session.expire_all()
        one, two = session.get(Member, first), session.get(Member, second)
    assert one is not None and two is not None
    assert (one.message_count, one.likes_received, one.display_name, one.joined_at) == (
        2,
        1,
        "Dr First",
        None,
    )
    assert (two.message_count, two.display_name, two.joined_at) == (-1, "Dr Second", later)


def test_select_in_reads_through_the_column_types_past_one_chunk(store: Engine) -> None:
    bulk = Bulk(store.dialect)
    with Session(store) as session:
        ids = members(session, SQLITE_CHUNK + 7)
        session.commit()
        rows = bulk.select_in(session, MEMBER, ("id", "first_seen_at", "is_bot"), "id", [*ids, *ids[:3], 0])
    assert sorted(r[0] for r in rows) == ids
    assert {(r[1], r[2]) for r in rows} == {(T0, False)}


def test_select_pairs_and_delete_by_pairs(store: Engine) -> None:
    bulk = Bulk(store.dialect)
    columns = ("platform", "event_id", "processed_at")
    rows = [("discord", f"e{n}", T0) for n in range(SQLITE_CHUNK + 2)]
    with Session(store) as session:
        bulk.insert(session, PROCESSED, columns, rows)
        asked = [("discord", "e0"), ("discord", "e501"), ("matrix", "e0"), ("discord", "nope")]
        assert bulk.select_pairs(session, PROCESSED, ("platform", "event_id"), asked) == {
            ("discord", "e0"),
            ("discord", "e501"),
        }
        bulk.delete(session, PROCESSED, ("platform", "event_id"), [("discord", "e0"), ("matrix", "e0")])
        session.commit()
        left = {row.event_id for row in session.exec(select(ProcessedEvent)).all()}
    assert "e0" not in left and len(left) == SQLITE_CHUNK + 1


@pytest.mark.parametrize(
    "value",
    [
        T0,
        datetime(2025, 7, 16, 9, 30, 0, 5, tzinfo=UTC),
        datetime(2025, 3, 30, 3, 15, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_the_fast_sqlite_timestamp_is_the_column_type_s_own_text(value: datetime) -> None:
    dialect = sqlite.dialect()
    generic = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert generic is not None
    assert sqlite_utc_text(value) == generic(value)


def test_the_fast_sqlite_timestamp_refuses_naive_values() -> None:
    with pytest.raises(NaiveDatetimeError):
        sqlite_utc_text(datetime(2025, 7, 16, 9, 30))
