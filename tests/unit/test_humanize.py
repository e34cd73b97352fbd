"""Dates, ages and counts as a XenForo forum prints them."""

from __future__ import annotations

import locale
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chatbridge.forum.humanize import ago, forum_date, number, plural

NOW = datetime(2025, 7, 16, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (datetime(2025, 7, 16, 9, 0, tzinfo=UTC), "Jul 16, 2025"),
        (datetime(2024, 1, 1), "Jan 1, 2024"),
        (datetime(1999, 12, 31, 23, 59), "Dec 31, 1999"),
        (datetime(2025, 5, 3, tzinfo=timezone(timedelta(hours=3))), "May 3, 2025"),
    ],
)
def test_forum_date(dt: datetime, expected: str) -> None:
    assert forum_date(dt) == expected


def test_forum_date_ignores_the_process_locale() -> None:
    try:
        previous = locale.setlocale(locale.LC_TIME)
        locale.setlocale(locale.LC_TIME, "C.UTF-8")
    except locale.Error:
        pytest.skip("no alternative locale available")
    try:
        assert forum_date(NOW) == "Jul 16, 2025"
    finally:
        locale.setlocale(locale.LC_TIME, previous)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=-30), "just now"),  # clock skew: slightly in the future
        (timedelta(minutes=1), "1 min ago"),
        (timedelta(minutes=5, seconds=59), "5 min ago"),
        (timedelta(minutes=59), "59 min ago"),
        (timedelta(hours=1), "1 h ago"),
        (timedelta(hours=2, minutes=59), "2 h ago"),
        (timedelta(hours=23, minutes=59), "23 h ago"),
        (timedelta(days=1), "1 day ago"),
        (timedelta(days=3, hours=5), "3 days ago"),
        (timedelta(days=6, hours=23), "6 days ago"),
        (timedelta(days=7), "Jul 9, 2025"),
        (timedelta(days=400), "Jun 11, 2024"),
        (timedelta(minutes=-5), "Jul 16, 2025"),  # really in the future: show the date
    ],
)
def test_ago(delta: timedelta, expected: str) -> None:
    assert ago(NOW - delta, NOW) == expected


def test_ago_works_across_time_zones() -> None:
    cairo = timezone(timedelta(hours=3))
    assert ago(datetime(2025, 7, 16, 16, 30, tzinfo=cairo), NOW) == "2 h ago"


def test_ago_refuses_to_mix_naive_and_aware() -> None:
    with pytest.raises(TypeError):
        ago(datetime(2025, 7, 16), NOW)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0 replies"),
        (1, "1 reply"),
        (2, "2 replies"),
        (14, "14 replies"),
        (1_204, "1,204 replies"),
        (-1, "-1 reply"),
    ],
)
def test_plural(n: int, expected: str) -> None:
    assert plural(n, "reply", "replies") == expected


def test_plural_with_irregular_nouns_and_big_counts() -> None:
    assert plural(1_204, "message", "messages") == "1,204 messages"
    assert plural(2, "person", "people") == "2 people"
    assert plural(1_000_000, "like", "likes") == "1,000,000 likes"


@pytest.mark.parametrize(
    ("n", "expected"), [(0, "0"), (999, "999"), (1_000, "1,000"), (1_204_567, "1,204,567")]
)
def test_number(n: int, expected: str) -> None:
    assert number(n) == expected
