"""Moving the bot's clock to a digest's fire time, for the end-to-end digest tests of both
platforms (they run the real scheduler against real time, shifted rather than slept)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chatbridge.services.digest.schedule import WeeklySlot

ZONE = "Europe/London"


@dataclass
class ShiftedClock:
    """Real time plus an offset: the bot's clock, moved to a fire time instead of sleeping to it."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def move_to(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)


def coming_slot(now: datetime) -> tuple[WeeklySlot, datetime]:
    """A weekly slot a couple of hours from now (London time), and its fire time."""
    local = (now + timedelta(hours=2)).astimezone(WeeklySlot.of(0, 0, ZONE).zone)
    slot = WeeklySlot.of(local.weekday(), local.hour, ZONE)
    return slot, slot.next(now)
