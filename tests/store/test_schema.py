"""The schema on both databases: aware UTC round trips, and idempotency carried by constraints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, select

from chatbridge.store import (
    Community,
    CommunityBinding,
    DigestRun,
    DigestSchedule,
    Identity,
    Like,
    LikeSource,
    Member,
    ModCase,
    NaiveDatetimeError,
    OutboxItem,
    PlatformSession,
    Post,
    ProcessedEvent,
    Report,
    Sanction,
    StoreModel,
    SubForum,
    Thread,
    TrophyAward,
    metadata,
    session_scope,
)
from chatbridge.store.tables import PLATFORMS

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Seed:
    community_id: int
    subforum_id: int
    alice_id: int
    bob_id: int
    thread_id: int
    post_id: int
    case_id: int
    schedule_id: int


def seed(engine: Engine) -> Seed:
    """A minimal forum: one community, sub-forum, two members, a thread with its opening post."""
    with session_scope(engine) as session:
        community = Community(name="Cardiology", created_at=T0)
        session.add(community)
        session.flush()
        assert community.id is not None
        subforum = SubForum(
            community_id=community.id,
            name="general",
            platform="discord",
            platform_room_id="100",
            kind="forum",
        )
        alice = Member(community_id=community.id, display_name="Alice")
        bob = Member(community_id=community.id, display_name="Bob")
        session.add_all([subforum, alice, bob])
        session.flush()
        assert subforum.id is not None and alice.id is not None and bob.id is not None
        thread = Thread(
            community_id=community.id,
            subforum_id=subforum.id,
            platform="discord",
            platform_thread_id="200",
            title="Beta blockers after MI",
            starter_member_id=alice.id,
            created_at=T0,
            last_activity_at=T0,
        )
        session.add(thread)
        session.flush()
        assert thread.id is not None
        post = Post(
            thread_id=thread.id,
            community_id=community.id,
            member_id=alice.id,
            platform="discord",
            platform_message_id="200",
            body="What do you use?",
            is_opening=True,
            created_at=T0,
        )
        session.add(post)
        session.flush()
        assert post.id is not None
        case = ModCase(
            community_id=community.id, subject_member_id=alice.id, post_id=post.id, category="spam"
        )
        schedule = DigestSchedule(community_id=community.id, subforum_id=subforum.id, weekday=0, hour=9)
        session.add_all([case, schedule])
        session.flush()
        assert case.id is not None and schedule.id is not None
        return Seed(community.id, subforum.id, alice.id, bob.id, thread.id, post.id, case.id, schedule.id)


# --------------------------------------------------------------------------- timestamps


def test_datetimes_come_back_aware_utc(store: Engine) -> None:
    paris_summer = timezone(timedelta(hours=2))
    written = datetime(2024, 7, 14, 9, 30, 15, 123456, tzinfo=paris_summer)
    with session_scope(store) as session:
        session.add(Community(name="Neurology", created_at=written))

    with Session(store) as session:
        community = session.exec(select(Community).where(Community.name == "Neurology")).one()
        assert community.created_at == written
        assert community.created_at.tzinfo is UTC
        assert community.created_at.hour == 7
        assert community.created_at.microsecond == 123456
        # Comparisons in SQL use the same UTC representation on both databases.
        earlier = written - timedelta(seconds=1)
        assert session.exec(select(func.count()).where(Community.created_at > earlier)).one() == 1


def test_nullable_datetime_round_trips_none(store: Engine) -> None:
    s = seed(store)
    with Session(store) as session:
        post = session.get_one(Post, s.post_id)
        assert post.edited_at is None and post.deleted_at is None
        assert post.created_at == T0 and post.created_at.tzinfo is UTC


def test_naive_datetime_is_refused_on_write(store: Engine) -> None:
    with pytest.raises(StatementError) as raised, session_scope(store) as session:
        session.add(Community(name="Naive", created_at=datetime(2024, 1, 1, 12, 0)))
    assert isinstance(raised.value.orig, NaiveDatetimeError)
    assert "naive datetime" in str(raised.value.orig)


def test_naive_datetime_is_refused_in_queries(store: Engine) -> None:
    with pytest.raises(StatementError) as raised, Session(store) as session:
        session.exec(select(Community).where(Community.created_at < datetime(2024, 1, 1))).all()
    assert isinstance(raised.value.orig, NaiveDatetimeError)


# --------------------------------------------------------------------------- JSON and secrets


def test_json_columns_round_trip(store: Engine) -> None:
    s = seed(store)
    with session_scope(store) as session:
        thread = session.get_one(Thread, s.thread_id)
        thread.tags = ["cardiology", "pharmacology"]
        session.add(
            OutboxItem(
                platform="matrix",
                kind="send",
                payload={"room": "!abc:example.org", "body": "hello", "n": [1, 2]},
                dedupe_key="k1",
            )
        )
        session.add(
            Sanction(
                community_id=s.community_id,
                member_id=s.bob_id,
                kind="mute",
                previous_state={"!room:example.org": 50},
            )
        )
    with Session(store) as session:
        assert session.get_one(Thread, s.thread_id).tags == ["cardiology", "pharmacology"]
        item = session.exec(select(OutboxItem)).one()
        assert item.payload == {"room": "!abc:example.org", "body": "hello", "n": [1, 2]}
        # none_as_null: an absent result is SQL NULL, so "WHERE result IS NULL" finds pending work.
        assert item.result is None
        assert session.exec(select(func.count()).where(OutboxItem.result.is_(None))).one() == 1  # type: ignore[union-attr]
        assert session.exec(select(Sanction)).one().previous_state == {"!room:example.org": 50}


def test_access_token_is_kept_out_of_repr() -> None:
    session = PlatformSession(
        platform="matrix", account="@bot:example.org", device_id="D", access_token="s3cret"
    )
    assert "s3cret" not in repr(session)


# --------------------------------------------------------------------------- idempotency constraints


@dataclass(frozen=True)
class Duplicate:
    """Build the same row twice: the second insert must violate a unique constraint."""

    make: Callable[[Seed], StoreModel]


DUPLICATES: dict[str, Duplicate] = {
    "post_platform_message_id": Duplicate(
        lambda s: Post(
            thread_id=s.thread_id,
            community_id=s.community_id,
            member_id=s.bob_id,
            platform="discord",
            platform_message_id="300",
        )
    ),
    "like_per_member_per_post": Duplicate(
        lambda s: Like(
            post_id=s.post_id, member_id=s.bob_id, post_author_id=s.alice_id, community_id=s.community_id
        )
    ),
    "like_source_per_member_post_source": Duplicate(
        lambda s: LikeSource(post_id=s.post_id, member_id=s.bob_id, source="👍")
    ),
    "trophy_award_per_member": Duplicate(
        lambda s: TrophyAward(member_id=s.bob_id, trophy_key="first_post", points=1)
    ),
    "report_per_reporter_per_case": Duplicate(
        lambda s: Report(case_id=s.case_id, reporter_member_id=s.bob_id, category="spam")
    ),
    "digest_run_per_schedule_period": Duplicate(
        lambda s: DigestRun(
            schedule_id=s.schedule_id,
            period_start=T0,
            period_end=T0 + timedelta(days=7),
            claimed_by="worker-1",
        )
    ),
    "outbox_dedupe_key": Duplicate(
        lambda s: OutboxItem(platform="discord", kind="send", payload={}, dedupe_key="digest:1:2024-03-01")
    ),
    "processed_event": Duplicate(lambda s: ProcessedEvent(platform="matrix", event_id="$edit:example.org")),
    "thread_platform_id": Duplicate(
        lambda s: Thread(
            community_id=s.community_id,
            subforum_id=s.subforum_id,
            platform="matrix",
            platform_thread_id="$root:example.org",
            title="t",
            starter_member_id=s.bob_id,
        )
    ),
    "identity_per_community_platform_user": Duplicate(
        lambda s: Identity(
            member_id=s.bob_id,
            community_id=s.community_id,
            platform="matrix",
            platform_user_id="@bob:example.org",
            display_name="Bob",
        )
    ),
    "community_binding": Duplicate(
        lambda s: CommunityBinding(community_id=s.community_id, platform="discord", platform_id="guild-1")
    ),
    "subforum_platform_room": Duplicate(
        lambda s: SubForum(
            community_id=s.community_id, name="other", platform="matrix", platform_room_id="!r:x", kind="room"
        )
    ),
}


@pytest.mark.parametrize("case", sorted(DUPLICATES))
def test_duplicate_is_rejected(store: Engine, case: str) -> None:
    s = seed(store)
    make = DUPLICATES[case].make
    with session_scope(store) as session:
        session.add(make(s))
    with pytest.raises(IntegrityError), session_scope(store) as session:
        session.add(make(s))


def test_like_source_event_id_is_unique_when_present(store: Engine) -> None:
    s = seed(store)
    with session_scope(store) as session:
        # NULL event ids (Discord reactions, commands) never collide ...
        session.add(LikeSource(post_id=s.post_id, member_id=s.bob_id, source="👍"))
        session.add(LikeSource(post_id=s.post_id, member_id=s.bob_id, source="command"))
        session.add(LikeSource(post_id=s.post_id, member_id=s.bob_id, source="❤️", platform_event_id="$r1"))
    # ... but a Matrix reaction event maps to exactly one source.
    with pytest.raises(IntegrityError), session_scope(store) as session:
        session.add(LikeSource(post_id=s.post_id, member_id=s.alice_id, source="👍", platform_event_id="$r1"))


def test_savepoint_keeps_outer_work_after_duplicate(store: Engine) -> None:
    """The pattern the forum service uses: try the idempotent insert in a savepoint."""
    s = seed(store)
    with session_scope(store) as session:
        session.add(ProcessedEvent(platform="discord", event_id="1"))
    with session_scope(store) as session:
        session.add(TrophyAward(member_id=s.bob_id, trophy_key="welcome"))
        session.flush()
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(ProcessedEvent(platform="discord", event_id="1"))
    with Session(store) as session:
        assert session.exec(select(TrophyAward)).one().trophy_key == "welcome"


def test_check_constraints_reject_unknown_vocabulary(store: Engine) -> None:
    s = seed(store)
    with pytest.raises(IntegrityError), session_scope(store) as session:
        session.add(ModCase(community_id=s.community_id, category="spam", status="pending"))
    with pytest.raises(IntegrityError), session_scope(store) as session:
        session.add(ProcessedEvent(platform="slack", event_id="1"))
    with pytest.raises(IntegrityError), session_scope(store) as session:
        session.add(DigestSchedule(community_id=s.community_id, subforum_id=s.subforum_id, weekday=7, hour=9))


def test_foreign_keys_are_enforced(store: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(store) as session:
        session.add(Member(community_id=999_999, display_name="Ghost"))


def test_deleting_a_thread_cascades_to_posts_and_likes(store: Engine) -> None:
    s = seed(store)
    with session_scope(store) as session:
        session.add(
            Like(
                post_id=s.post_id, member_id=s.bob_id, post_author_id=s.alice_id, community_id=s.community_id
            )
        )
    with session_scope(store) as session:
        session.delete(session.get_one(Thread, s.thread_id))
    with Session(store) as session:
        assert session.exec(select(func.count()).select_from(Post)).one() == 0
        assert session.exec(select(func.count()).select_from(Like)).one() == 0
        # SET NULL, not cascade: the moderation case outlives the post it was about.
        assert session.get_one(ModCase, s.case_id).post_id is None


# --------------------------------------------------------------------------- static checks (no database)


def test_every_constraint_and_index_name_fits_postgresql() -> None:
    for table in metadata.sorted_tables:
        names = [constraint.name for constraint in table.constraints] + [
            index.name for index in table.indexes
        ]
        for name in names:
            assert isinstance(name, str) and name, f"unnamed constraint on {table.name}"
            assert len(name) <= 63, f"{name} is longer than PostgreSQL's 63-character identifiers"


def test_platform_vocabulary_matches_the_chat_model() -> None:
    model = pytest.importorskip("chatbridge.model")
    assert set(PLATFORMS) == {platform.value for platform in model.PlatformName}
