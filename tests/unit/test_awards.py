"""Judging a batch's trophies from the counters after it and each event's movement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatbridge.forum.ranks import Criterion, Trophy
from chatbridge.model import PlatformName, Room
from chatbridge.services.awards import AwardCache, Checkpoint, earned, judged_slot

ROOM = Room(PlatformName.MEMORY, "forum", "general", "General")
JOINED = datetime(2025, 7, 1, tzinfo=UTC)

FIRST = Trophy("first", "First Message", "d", Criterion.MESSAGES, 1, 1)
THIRTY = Trophy("thirty", "Keeps Coming Back", "d", Criterion.MESSAGES, 30, 5)
LIKED = Trophy("liked", "Somebody Likes You", "d", Criterion.LIKES_RECEIVED, 1, 2)
MONTH = Trophy("month", "A Month In", "d", Criterion.DAYS_SINCE_JOINING, 30, 3)
CHECKS = [(t, judged_slot(t)) for t in (FIRST, THIRTY, LIKED, MONTH)]


def at(index: int, messages: int = 0, likes: int = 0, day: int = 0) -> Checkpoint:
    """The event at `index` had moved messages and likes received this far (threads and replies not)."""
    return Checkpoint(index, (messages, likes, 0, 0), ROOM, "t1", JOINED + timedelta(days=day))


def test_the_event_that_crosses_a_threshold_earns_it() -> None:
    found = earned(
        CHECKS, frozenset({"first"}), [28, 0, 0, 0], JOINED, [at(3, messages=1), at(7, messages=2)]
    )

    assert [(trophy.key, checkpoint.position) for trophy, checkpoint in found] == [("thirty", 7)]


def test_one_event_crossing_several_earns_them_in_the_configured_order() -> None:
    found = earned(CHECKS, frozenset(), [29, 0, 0, 0], JOINED, [at(0, messages=1, day=40)])

    assert [trophy.key for trophy, _ in found] == ["first", "thirty", "month"]


def test_a_trophy_held_already_is_not_earned_again() -> None:
    found = earned(CHECKS, frozenset({"first", "liked"}), [5, 3, 0, 0], JOINED, [at(1, messages=1, likes=1)])

    assert found == []


def test_a_like_taken_back_within_the_batch_counts_where_it_stood_at_each_event() -> None:
    # Liked at event 2 (moved +1), unliked later: the like at event 2 still crossed the threshold.
    found = earned(CHECKS, frozenset({"first"}), [3, 0, 0, 0], JOINED, [at(2, likes=1)])

    assert [(trophy.key, checkpoint.position) for trophy, checkpoint in found] == [("liked", 2)]


def test_days_since_joining_are_counted_at_the_event() -> None:
    held = frozenset({"first"})
    assert earned(CHECKS, held, [1, 0, 0, 0], JOINED, [at(0, day=29)]) == []
    assert [t.key for t, _ in earned(CHECKS, held, [1, 0, 0, 0], JOINED, [at(0, day=30)])] == ["month"]


def test_the_award_cache_forgets_the_least_recently_used_member() -> None:
    cache = AwardCache(capacity=2)
    cache.put_all([(1, frozenset({"first"})), (2, frozenset())])
    assert cache.get(1) == frozenset({"first"})
    cache.put_all([(3, frozenset({"liked"}))])

    assert cache.get(2) is None
    assert cache.get(1) == frozenset({"first"}) and cache.get(3) == frozenset({"liked"})
