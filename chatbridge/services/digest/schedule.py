"""When digests are due: weekly wall-clock slots in an IANA zone, turned into exact UTC periods.

Pure functions over `zoneinfo`, so the clock changes are tested without a database or a clock. A
slot such as "Monday 09:00 Europe/London" is a *local* time: every fire time is built from a local
date and the hour, then converted, so the digest comes at 09:00 on both sides of a clock change
and the week it covers is 167 or 169 hours long when it spans one. An hour that does not exist on
the day (skipped by a spring-forward change) fires at the instant the gap ends; an hour that
occurs twice (autumn) fires the first time.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

__all__ = [
    "WEEKDAYS",
    "Period",
    "ScheduleError",
    "WeeklySlot",
    "iso_week_period",
    "parse_timezone",
    "parse_weekday",
    "rolling_week",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEK = timedelta(days=7)
_ISO_WEEK = re.compile(r"(\d{4})-?[Ww](\d{1,2})")


class ScheduleError(ValueError):
    """Input that names no weekday, zone or week; the message says what would work.

    The offending input is kept apart (`value`, placed at `{value}` in `template`) so a chat reply
    can escape it while the rest of the message stays as written.
    """

    def __init__(self, template: str, value: str = "") -> None:
        super().__init__(template.format(value=value))
        self.template = template
        self.value = value

    def describe(self, quote: Callable[[str], str]) -> str:
        return self.template.format(value=quote(self.value))


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open UTC window [start, end): what one digest covers, and the key of its claim."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a digest period needs aware datetimes")
        if self.end <= self.start:
            raise ValueError("a digest period must end after it starts")


def parse_weekday(text: str) -> int:
    """0 for Monday … 6 for Sunday, from a name or its first three letters ("mon", "Tuesday")."""
    wanted = text.strip().casefold()
    for number, name in enumerate(WEEKDAYS):
        if wanted == name or (len(wanted) >= 3 and name.startswith(wanted)):
            return number
    close = difflib.get_close_matches(wanted, WEEKDAYS, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise ScheduleError("“{value}” isn't a weekday: use monday … sunday (or mon … sun)." + hint, text.strip())


@cache
def _zone_names() -> dict[str, str]:
    """Every IANA zone this machine knows, by case-folded name (read once; the set never changes)."""
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


def parse_timezone(text: str) -> str:
    """The canonical IANA name ("europe/london" -> "Europe/London"), or an error with a suggestion."""
    wanted = text.strip()
    names = _zone_names()
    canonical = names.get(wanted.casefold()) or names.get(wanted.replace(" ", "_").casefold())
    if canonical is not None:
        return canonical
    folded = wanted.replace(" ", "_").casefold()
    # Compare the city part too, so "London" or "new york" finds Europe/London or America/New_York.
    by_city = {name.rsplit("/", 1)[-1]: name for name in names}
    close = difflib.get_close_matches(folded, list(names), n=1, cutoff=0.6) or [
        by_city[c] for c in difflib.get_close_matches(folded, list(by_city), n=1, cutoff=0.75)
    ]
    hint = f" Did you mean {names[close[0]]}?" if close else " Use a name such as Europe/London."
    raise ScheduleError("“{value}” isn't an IANA time zone." + hint, wanted)


@dataclass(frozen=True, slots=True)
class WeeklySlot:
    """One weekly wall-clock time ("weekday at hour:00 in zone")."""

    weekday: int
    hour: int
    zone: zoneinfo.ZoneInfo

    @classmethod
    def of(cls, weekday: int, hour: int, timezone: str) -> WeeklySlot:
        if not 0 <= weekday <= 6 or not 0 <= hour <= 23:
            raise ValueError(f"no weekly slot for weekday {weekday} at hour {hour}")
        return cls(weekday, hour, zoneinfo.ZoneInfo(timezone))

    def on(self, day: date) -> datetime:
        """The UTC instant this slot's hour falls on `day`, local to the zone (see module doc)."""
        local = datetime.combine(day, time(self.hour), tzinfo=self.zone)
        return local.astimezone(UTC)

    def _last_day(self, now: datetime) -> date:
        """The most recent slot day whose fire time is not after `now`."""
        today = now.astimezone(self.zone).date()
        day = today - timedelta(days=(today.weekday() - self.weekday) % 7)
        return day if self.on(day) <= now else day - _WEEK

    def previous(self, now: datetime) -> datetime:
        """The latest fire time at or before `now`."""
        return self.on(self._last_day(now))

    def next(self, now: datetime) -> datetime:
        """The earliest fire time after `now`."""
        return self.on(self._last_day(now) + _WEEK)

    def period_ending(self, end: datetime) -> Period:
        """The week a digest fired at `end` covers: from the slot a local week earlier."""
        day = self._last_day(end)
        return Period(self.on(day - _WEEK), self.on(day))

    def due(self, now: datetime, effective_from: datetime) -> Period | None:
        """The period whose digest should exist by `now`, or None.

        Only the newest fire time counts: a digest missed while the bot was down is still due until
        the next slot comes, then the newer week replaces it (an old week is never posted late).
        Fire times before `effective_from` (when the schedule was set) are never due.
        """
        end = self.previous(now)
        if end < effective_from:
            return None
        return self.period_ending(end)


def iso_week_period(text: str, timezone: str) -> Period:
    """An ISO week such as "2025-W29": Monday 00:00 to the next Monday 00:00 in `timezone`."""
    match = _ISO_WEEK.fullmatch(text.strip())
    if match is None:
        raise ScheduleError("expected an ISO week like 2025-W29, got “{value}”", text.strip())
    year, week = int(match[1]), int(match[2])
    if not 1 <= year <= 9998:
        raise ScheduleError("expected a year from 0001 to 9998, got {value}", f"{year:04d}")
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        weeks = 53 if date(year, 12, 28).isocalendar().week == 53 else 52
        raise ScheduleError(
            f"{year} has weeks 1 to {weeks}, so there is no {{value}}", f"{year}-W{week:02d}"
        ) from None
    slot = WeeklySlot.of(0, 0, timezone)
    return Period(slot.on(monday), slot.on(monday + _WEEK))


def rolling_week(now: datetime) -> Period:
    """The seven days up to `now`: what `digest now` and a preview without a schedule cover."""
    return Period(now - _WEEK, now)
