"""When digests are due: local wall-clock slots, both sides of the clock changes, ISO weeks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chatbridge.services.digest.schedule import (
    Period,
    ScheduleError,
    WeeklySlot,
    iso_week_period,
    parse_timezone,
    parse_weekday,
)

LONDON = ZoneInfo("Europe/London")
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
MONDAY_9_LONDON = WeeklySlot.of(0, 9, "Europe/London")


def local(moment: datetime, zone: ZoneInfo = LONDON) -> tuple[str, int, int]:
    at = moment.astimezone(zone)
    return (at.strftime("%A"), at.hour, at.minute)


@pytest.mark.parametrize(
    ("now", "expected_end_utc", "hours"),
    [
        # Spring forward (Sunday 30 March 2025): the week ending Monday 31 March is 167 hours long.
        (datetime(2025, 3, 31, 8, 0, tzinfo=UTC), datetime(2025, 3, 31, 8, 0, tzinfo=UTC), 167),
        # Fall back (Sunday 26 October 2025): the week ending Monday 27 October is 169 hours long.
        (datetime(2025, 10, 27, 9, 0, tzinfo=UTC), datetime(2025, 10, 27, 9, 0, tzinfo=UTC), 169),
        # An ordinary summer week.
        (datetime(2025, 7, 21, 8, 30, tzinfo=UTC), datetime(2025, 7, 21, 8, 0, tzinfo=UTC), 168),
    ],
)
def test_monday_nine_london_is_nine_local_on_both_sides_of_the_clock_change(
    now: datetime, expected_end_utc: datetime, hours: int
) -> None:
    period = MONDAY_9_LONDON.due(now, LONG_AGO)
    assert period is not None
    assert period.end == expected_end_utc
    assert local(period.start) == ("Monday", 9, 0)
    assert local(period.end) == ("Monday", 9, 0)
    assert period.end - period.start == timedelta(hours=hours)


def test_a_slot_is_due_exactly_at_its_local_time_and_not_a_minute_before() -> None:
    fire = datetime(2025, 3, 31, 8, 0, tzinfo=UTC)  # 09:00 BST
    before = MONDAY_9_LONDON.due(fire - timedelta(minutes=1), LONG_AGO)
    at = MONDAY_9_LONDON.due(fire, LONG_AGO)
    assert before is not None and at is not None
    assert before.end == datetime(2025, 3, 24, 9, 0, tzinfo=UTC)  # still last week's (09:00 GMT)
    assert at.end == fire
    assert MONDAY_9_LONDON.next(fire) == datetime(2025, 4, 7, 8, 0, tzinfo=UTC)
    assert MONDAY_9_LONDON.previous(fire) == fire


def test_an_hour_skipped_by_the_clock_change_fires_when_the_gap_ends() -> None:
    sunday_one_am = WeeklySlot.of(6, 1, "Europe/London")
    assert sunday_one_am.on(date(2025, 3, 30)) == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)  # = 02:00 BST
    assert local(sunday_one_am.on(date(2025, 3, 30)))[1:] == (2, 0)
    # An hour that happens twice (autumn) fires the first time: 01:00 BST = 00:00 UTC.
    assert sunday_one_am.on(date(2025, 10, 26)) == datetime(2025, 10, 26, 0, 0, tzinfo=UTC)


def test_other_zones_and_hours() -> None:
    new_york_friday_17 = WeeklySlot.of(4, 17, "America/New_York")
    period = new_york_friday_17.due(datetime(2025, 11, 7, 23, 0, tzinfo=UTC), LONG_AGO)
    assert period is not None
    assert period.end == datetime(2025, 11, 7, 22, 0, tzinfo=UTC)  # 17:00 EST
    assert period.start == datetime(2025, 10, 31, 21, 0, tzinfo=UTC)  # 17:00 EDT
    kolkata = WeeklySlot.of(2, 0, "Asia/Kolkata")
    assert kolkata.on(date(2025, 7, 16)) == datetime(2025, 7, 15, 18, 30, tzinfo=UTC)


def test_a_missed_digest_stays_due_until_the_next_slot_and_an_old_week_is_never_due() -> None:
    fire = datetime(2025, 7, 21, 8, 0, tzinfo=UTC)
    three_days_late = MONDAY_9_LONDON.due(fire + timedelta(days=3), LONG_AGO)
    assert three_days_late is not None and three_days_late.end == fire
    a_week_late = MONDAY_9_LONDON.due(fire + timedelta(days=7), LONG_AGO)
    assert a_week_late is not None and a_week_late.end == fire + timedelta(days=7)


def test_a_slot_before_the_schedule_was_set_is_not_due() -> None:
    set_on_wednesday = datetime(2025, 7, 16, 12, 0, tzinfo=UTC)
    assert MONDAY_9_LONDON.due(set_on_wednesday + timedelta(hours=1), set_on_wednesday) is None
    first = MONDAY_9_LONDON.due(datetime(2025, 7, 21, 8, 0, tzinfo=UTC), set_on_wednesday)
    assert first is not None and first.start < set_on_wednesday < first.end


@pytest.mark.parametrize(
    ("text", "expected"),
    [("monday", 0), ("Mon", 0), ("TUESDAY", 1), ("wed", 2), ("thurs", 3), ("sun", 6)],
)
def test_weekdays(text: str, expected: int) -> None:
    assert parse_weekday(text) == expected


def test_an_unknown_weekday_suggests_one() -> None:
    with pytest.raises(ScheduleError) as error:
        parse_weekday("wensday")
    assert "“wensday” isn't a weekday" in str(error.value)
    assert "Did you mean wednesday?" in str(error.value)
    assert error.value.describe(lambda v: f"<{v}>").startswith("“<wensday>”")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Europe/London", "Europe/London"),
        ("europe/london", "Europe/London"),
        ("America/New York", "America/New_York"),
    ],
)
def test_time_zones_are_canonical(text: str, expected: str) -> None:
    assert parse_timezone(text) == expected


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("Europe/Londn", "Europe/London"), ("London", "Europe/London"), ("new york", "America/New_York")],
)
def test_an_unknown_time_zone_suggests_one(text: str, suggestion: str) -> None:
    with pytest.raises(ScheduleError, match=f"isn't an IANA time zone. Did you mean {suggestion}"):
        parse_timezone(text)


def test_a_zone_with_no_likeness_gets_an_example() -> None:
    with pytest.raises(ScheduleError, match="Use a name such as Europe/London"):
        parse_timezone("Mars/Olympus_Mons_Base")


def test_iso_weeks_run_monday_to_monday_in_the_forum_zone() -> None:
    week = iso_week_period("2025-W29", "Europe/London")
    assert week == Period(datetime(2025, 7, 13, 23, 0, tzinfo=UTC), datetime(2025, 7, 20, 23, 0, tzinfo=UTC))
    assert iso_week_period("2025w29", "UTC").start == datetime(2025, 7, 14, tzinfo=UTC)
    assert iso_week_period("2026-W53", "UTC").start == datetime(2026, 12, 28, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-29", "expected an ISO week like 2025-W29, got “2025-29”"),
        ("last week", "expected an ISO week like 2025-W29"),
        ("2025-W53", "2025 has weeks 1 to 52, so there is no 2025-W53"),
        ("2025-W00", "there is no 2025-W00"),
        ("0000-W01", "expected a year from 0001 to 9998"),
    ],
)
def test_bad_iso_weeks_say_what_would_work(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        iso_week_period(text, "UTC")
