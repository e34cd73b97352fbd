"""The ingest's set-based statements, on SQLite (executemany, padded IN lists) and PostgreSQL
(arrays and `unnest`): the two are different SQL, so each behaviour is checked on both."""

from __future__ import annotations

import sqlite3
import struct
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.dialects import sqlite
from sqlmodel import Session, select

from chatbridge.store import Community, Member, NaiveDatetimeError, ProcessedEvent
from chatbridge.store.bulk import SQLITE_CHUNK, Bulk, _pack_int4
from chatbridge.store.types import UTCDateTime, sqlite_utc_text

T0 = datetime(2025, 7, 16, 9, 30, tzinfo=UTC)
PROCESSED = ProcessedEvent.__table__  # type: ignore[attr-defined]
MEMBER = Member.__table__  # type: ignore[attr-defined]
COUNTERS = (
    "message_count",
    "likes_received",
    "likes_given",
    "threads_started",
    "replies_to_others",
    "trophy_points",
)


def general(session: Session) -> int:
    """A community's id, for members to belong to."""
    community = Community(name="General")
    session.add(community)
    session.flush()
    return community.id or 0


def members(session: Session, count: int) -> list[int]:
    community_id = general(session)
    rows = [
        Member(community_id=community_id, display_name=f"member {n}", first_seen_at=T0) for n in range(count)
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


def test_an_update_returns_every_row_as_it_is_after_it_moved_or_not(store: Engine) -> None:
    bulk = Bulk(store.dialect)
    with Session(store) as session:
        ids = members(session, SQLITE_CHUNK + 3)  # past one chunk of the SQLite statement
        bulk.update(session, MEMBER, "id", [(i, 5, 0) for i in ids], add=("message_count", "likes_received"))
        rows = [(i, 1, 0) for i in ids[:-1]] + [(ids[-1], 0, 0)]  # the last one does not move
        after = bulk.update(
            session,
            MEMBER,
            "id",
            rows,
            add=("message_count", "likes_received"),
            returning=("id", "message_count", "first_seen_at"),
        )
        session.commit()
    assert sorted(after) == [(i, 6, T0) for i in ids[:-1]] + [(ids[-1], 5, T0)]


def test_integer_columns_keep_the_extremes_of_their_range(store: Engine) -> None:
    bulk = Bulk(store.dialect)
    low, high = -(2**31), 2**31 - 1
    with Session(store) as session:
        first, second = members(session, 2)
        bulk.update(
            session,
            MEMBER,
            "id",
            [(first, low, high), (second, high, 0)],
            add=("likes_given", "trophy_points"),
        )
        session.commit()
        rows = bulk.select_in(session, MEMBER, ("id", "likes_given", "trophy_points"), "id", [first, second])
    assert sorted(rows) == [(first, low, high), (second, high, 0)]


def test_integer_arrays_that_one_pack_cannot_hold_are_left_to_the_driver() -> None:
    assert _pack_int4([]) is None
    assert _pack_int4([1, None]) is None
    assert _pack_int4([2**31]) is None
    assert _pack_int4([1.0]) is None
    packed = _pack_int4([7, -1])
    assert packed is not None
    assert packed.data == struct.pack(">iiIii", 1, 0, 23, 2, 1) + struct.pack(">iiii", 4, 7, 4, -1)


def test_statements_in_a_pipeline_all_take_effect_in_order(store: Engine) -> None:
    bulk = Bulk(store.dialect)
    columns = ("platform", "event_id", "processed_at")
    with Session(store) as session:
        first, second = members(session, 2)
        session.commit()
        with bulk.pipeline(session):
            bulk.insert(session, PROCESSED, columns, [("discord", "e1", T0), ("discord", "e2", T0)])
            bulk.delete(session, PROCESSED, ("platform", "event_id"), [("discord", "e1")])
            bulk.insert(session, PROCESSED, columns, [("discord", "e1", T0 + timedelta(hours=1))])
            bulk.update(session, MEMBER, "id", [(first, 1), (second, 2)], add=("message_count",))
            bulk.update(session, MEMBER, "id", [(first, 10)], add=("message_count",))
            written = bulk.insert(
                session,
                PROCESSED,
                columns,
                [("discord", "e2", T0), ("discord", "e3", T0)],
                returning=("event_id",),
                skip_conflicts=True,
            )
        session.commit()
        assert written == [("e3",)]
        stored = {row.event_id: row.processed_at for row in session.exec(select(ProcessedEvent)).all()}
        counts = bulk.select_in(session, MEMBER, ("id", "message_count"), "id", [first, second])
    assert stored == {"e1": T0 + timedelta(hours=1), "e2": T0, "e3": T0}
    assert sorted(counts) == [(first, 11), (second, 2)]


def test_a_statement_that_fails_in_a_pipeline_fails_the_transaction(store: Engine) -> None:
    bulk = Bulk(store.dialect)
    columns = ("platform", "event_id", "processed_at")
    with Session(store) as session:
        with (
            pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)),
            bulk.pipeline(session),
        ):
            bulk.insert(session, PROCESSED, columns, [("discord", "e1", T0)])
            bulk.insert(session, PROCESSED, columns, [("discord", "e1", T0)])
        session.rollback()
        bulk.insert(session, PROCESSED, columns, [("discord", "e2", T0)])
        session.commit()
        stored = [row.event_id for row in session.exec(select(ProcessedEvent)).all()]
    assert stored == ["e2"]


def test_reserved_ids_are_fresh_and_never_handed_out_again(store: Engine) -> None:
    bulk = Bulk(store.dialect)
    with Session(store) as session:
        community_id = general(session)
        earlier = Member(community_id=community_id, display_name="earlier", first_seen_at=T0)
        session.add(earlier)
        session.flush()
        earlier_id = earlier.id
        reserved = bulk.reserve_ids(session, MEMBER, 3)
        assert reserved == sorted(set(reserved)) and len(reserved) == 3
        assert earlier_id not in reserved
        columns = ("id", "community_id", "display_name", "first_seen_at", "is_bot", *COUNTERS)
        rows = [
            (member_id, community_id, f"m{member_id}", T0, False, *[0] * len(COUNTERS))
            for member_id in reserved
        ]
        with bulk.pipeline(session):
            bulk.insert(session, MEMBER, columns, rows)
        later = Member(community_id=community_id, display_name="later", first_seen_at=T0)
        session.add(later)
        session.commit()
        names = dict(bulk.select_in(session, MEMBER, ("id", "display_name"), "id", [*reserved, later.id]))
        (after,) = bulk.reserve_ids(session, MEMBER, 1)  # PostgreSQL: the sequence as named the first time
    assert names == {**{member_id: f"m{member_id}" for member_id in reserved}, later.id: "later"}
    assert later.id not in reserved
    assert after > max(names)


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


def test_booleans_are_stored_as_the_orm_stores_them(store: Engine) -> None:
    bulk = Bulk(store.dialect)
    with Session(store) as session:
        community_id = general(session)
        reserved = bulk.reserve_ids(session, MEMBER, 2)
        columns = ("id", "community_id", "display_name", "first_seen_at", "is_bot", *COUNTERS)
        rows = [
            (member_id, community_id, "m", T0, is_bot, *[0] * len(COUNTERS))
            for member_id, is_bot in zip(reserved, (True, False), strict=True)
        ]
        bulk.insert(session, MEMBER, columns, rows)
        session.commit()
        bots = session.exec(select(Member.id).where(Member.is_bot)).all()
        people = session.exec(select(Member.id).where(~Member.is_bot)).all()  # type: ignore[arg-type]
    assert (bots, people) == ([reserved[0]], [reserved[1]])
