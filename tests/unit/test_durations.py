"""Moderation durations: strict parsing with helpful refusals, and readable printing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chatbridge.forum.durations import MAX_DURATION, MIN_DURATION, format_duration, parse_duration
from chatbridge.forum.text import InputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("60s", timedelta(minutes=1)),
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("3d", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("1d 12h", timedelta(days=1, hours=12)),
        ("  2H ", timedelta(hours=2)),
        ("10M", timedelta(minutes=10)),  # m is always minutes, never months
        ("365d", timedelta(days=365)),
        ("52w1d", timedelta(days=365)),
        ("1m", timedelta(minutes=1)),
    ],
)
def test_parses(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2x", "'2x' is not a duration. Use a number and a unit: 10m, 2h, 3d or 1w."),
        ("h", "'h' is not a duration. Use a number and a unit: 10m, 2h, 3d or 1w."),
        ("10", "'10' is not a duration. Use a number and a unit: 10m, 2h, 3d or 1w."),
        ("-5m", "'-5m' is not a duration. Use a number and a unit: 10m, 2h, 3d or 1w."),
        (
            "1.5h",
            "'1.5h' is not a duration. Use a number and a unit: 10m, 2h, 3d or 1w. "
            "Use whole numbers: 1h30m rather than 1.5h.",
        ),
        (
            "2 hours",
            "'2 hours' is not a duration. Use a number and a unit: 10m, 2h, 3d or 1w. "
            "Write the unit right after the number, as one letter: 2h, not 2 hours.",
        ),
        (
            "10min",
            "'10min' is not a duration. Use a number and a unit: 10m, 2h, 3d or 1w. "
            "Write the unit right after the number, as one letter: 2h, not 2 hours.",
        ),
        (
            "1mo",
            "'1mo' is not a duration. Use a number and a unit: 10m, 2h, 3d or 1w. "
            "Months and years are not units here: use days, like 30d or 365d.",
        ),
        ("12h1d", "'12h1d' is not a duration: give each unit once, largest first, like 1d12h."),
        ("1h1h", "'1h1h' is not a duration: give each unit once, largest first, like 1d12h."),
        ("30s", "'30s' is too short; the shortest is 1 min."),
        ("0m", "'0m' is too short; the shortest is 1 min."),
        ("366d", "'366d' is too long; the longest is 365 days."),
        ("53w", "'53w' is too long; the longest is 365 days."),
        ("9999999w", "'9999999w' is too long; the longest is 365 days."),  # no timedelta overflow
        ("", "Please give a duration: a number and a unit, like 10m, 2h, 3d or 1w."),
        ("   ", "Please give a duration: a number and a unit, like 10m, 2h, 3d or 1w."),
    ],
)
def test_refuses_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("text", ["permanent", "Permanent", "forever", "perm", "never", "0"])
def test_mutes_must_end(text: str) -> None:
    with pytest.raises(InputError, match=r"^Mutes must end; give a duration of at most 365 days, like 30d\."):
        parse_duration(text)


def test_user_input_in_messages_is_inert() -> None:
    with pytest.raises(InputError) as caught:
        parse_duration("@everyone [x](https://evil)")
    assert "@\u200beveryone" in caught.value.message
    assert "\\[x\\]" in caught.value.message


def test_custom_bounds() -> None:
    assert parse_duration("30s", minimum=timedelta(seconds=10)) == timedelta(seconds=30)
    with pytest.raises(InputError, match="the longest is 1 day"):
        parse_duration("2d", maximum=timedelta(days=1))


def test_default_bounds() -> None:
    assert MIN_DURATION.total_seconds() == 60
    assert MAX_DURATION.days == 365
    assert parse_duration("1m") == MIN_DURATION
    assert parse_duration("365d") == MAX_DURATION
    with pytest.raises(InputError, match="too long"):
        parse_duration("365d1s")


@pytest.mark.parametrize(
    ("td", "expected"),
    [
        (timedelta(0), "0 s"),
        (timedelta(seconds=45), "45 s"),
        (timedelta(seconds=90), "1 min 30 s"),
        (timedelta(minutes=10), "10 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(hours=2, minutes=30), "2 h 30 min"),
        (timedelta(days=1), "1 day"),
        (timedelta(days=1, hours=12), "1 day 12 h"),
        (timedelta(days=3), "3 days"),
        (timedelta(weeks=1), "1 week"),
        (timedelta(weeks=2), "2 weeks"),
        (timedelta(days=10), "10 days"),
        (timedelta(days=365), "365 days"),
        (timedelta(minutes=5, microseconds=999), "5 min"),
    ],
)
def test_format_duration(td: timedelta, expected: str) -> None:
    assert format_duration(td) == expected


def test_format_duration_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


@pytest.mark.parametrize("text", ["90s", "10m", "2h", "1d12h", "1w", "2w3d", "365d"])
def test_formatted_durations_describe_the_same_length(text: str) -> None:
    parsed = parse_duration(text)
    spelled = format_duration(parsed).replace(" weeks", "w").replace(" week", "w").replace(" days", "d")
    spelled = spelled.replace(" day", "d").replace(" min", "m").replace(" h", "h").replace(" s", "s")
    assert parse_duration(spelled.replace(" ", "")) == parsed
