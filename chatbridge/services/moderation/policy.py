"""What every moderation service needs to know about the community's settings, in one value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from chatbridge.config import ModerationConfig, Settings
from chatbridge.forum.durations import format_duration, parse_duration
from chatbridge.forum.humanize import forum_date
from chatbridge.render.templates import Renderer, Trusted

if TYPE_CHECKING:
    from chatbridge.core import Core


CATEGORY_LABELS = {
    "harassment": "Harassment",
    "misinformation": "Misinformation",
    "patient_privacy": "Patient privacy",
    "spam": "Spam",
    "other": "Other",
    "pile_on": "Pile-on",
}


@dataclass(frozen=True, slots=True)
class Threshold:
    points: int
    mute: timedelta


@dataclass(frozen=True)
class Policy:
    """Moderation settings plus the renderer, passed explicitly instead of reaching for the core.

    Services receive it rather than the `Core` so they can run in the outbox worker and the
    scheduler (threads with their own sessions) as well as inside a command.
    """

    config: ModerationConfig
    renderer: Renderer
    zone: ZoneInfo
    prefix: str

    @classmethod
    def of(cls, core: Core) -> Policy:
        return cls.from_settings(core.settings, core.renderer, core.registry.prefixes[0])

    @classmethod
    def from_settings(cls, settings: Settings, renderer: Renderer, prefix: str = "!") -> Policy:
        return cls(settings.moderation, renderer, ZoneInfo(settings.forum.timezone), prefix)

    @property
    def thresholds(self) -> tuple[Threshold, ...]:
        """Warning thresholds, lowest first (durations were validated with the config)."""
        found = (Threshold(t.points, parse_duration(t.mute)) for t in self.config.warning_thresholds)
        return tuple(sorted(found, key=lambda t: t.points))

    @property
    def warning_expiry(self) -> timedelta:
        return timedelta(days=self.config.warning_expiry_days)

    @property
    def report_window(self) -> timedelta:
        return timedelta(minutes=self.config.report_window_minutes)

    def when(self, at: datetime) -> Trusted:
        """A moment as members read it: "Jul 16, 2025 10:00 UTC", in the forum's time zone."""
        local = at.astimezone(self.zone)
        return Trusted(f"{forum_date(local)} {local:%H:%M} {local.tzname() or ''}".rstrip())

    def span(self, duration: timedelta) -> Trusted:
        return Trusted(format_duration(duration))

    def render(self, template: str, /, **values: object) -> str:
        """Render `templates/moderation/<template>.md.j2` with the helpers every one of them uses."""
        values.setdefault("when", self.when)
        values.setdefault("seconds", lambda n: self.span(timedelta(seconds=int(n))))
        values.setdefault("moment", lambda iso: self.when(datetime.fromisoformat(str(iso))))
        values.setdefault("label", lambda category: CATEGORY_LABELS.get(category, category))
        return self.renderer.render(f"moderation/{template}.md.j2", **values)
