"""Moderation durations ("10m", "2h", "3d", "1w", "1d12h") parsed strictly, and printed back.

Strict on purpose: a moderator who types "2x" or "1.5h" should be told, not have the mute silently
last some other length. Mutes and bans with a duration always end: "permanent" is refused here, and
permanent bans are a separate command with its own confirmation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType

from chatbridge.forum.text import InputError, quote_input

__all__ = ["MAX_DURATION", "MIN_DURATION", "format_duration", "parse_duration"]

MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(days=365)

_UNIT_SECONDS: Mapping[str, int] = MappingProxyType({"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1})
_UNIT_ORDER = "wdhms"
# Up to 7 digits per part: more than enough (365 days = 525,600 minutes) and keeps the ints small.
_PART = re.compile(r"([0-9]{1,7})([a-z])")
_WHOLE = re.compile(r"(?:[0-9]{1,7}[wdhms] *)+")
_FOREVER = frozenset({"permanent", "perm", "forever", "never", "indefinite", "inf", "infinite", "0"})
_EXAMPLES = "10m, 2h, 3d or 1w"


def parse_duration(
    text: str, *, minimum: timedelta = MIN_DURATION, maximum: timedelta = MAX_DURATION
) -> timedelta:
    """Parse "90s", "10m", "2h", "3d", "1w" or a combination such as "1d12h" / "1w 2d".

    Units: s seconds, m minutes (never months), h hours, d days, w weeks; case and surrounding spaces
    are ignored; each unit at most once, largest first. The result must lie within
    [``minimum``, ``maximum``] (1 minute to 365 days by default). Anything else raises `InputError`
    whose message shows the accepted form.
    """
    raw = text.strip().lower()
    if not raw:
        raise InputError(f"Please give a duration: a number and a unit, like {_EXAMPLES}.")
    shown = quote_input(text.strip())
    if raw in _FOREVER:
        raise InputError(
            f"Mutes must end; give a duration of at most {format_duration(maximum)}, like 30d. "
            "For a permanent ban, use the ban command."
        )
    if _WHOLE.fullmatch(raw) is None:
        if re.search(r"[0-9][.,][0-9]", raw):
            hint = " Use whole numbers: 1h30m rather than 1.5h."
        elif re.search(r"[0-9] *mo|month|year|[0-9] *y\b", raw):
            hint = " Months and years are not units here: use days, like 30d or 365d."
        elif re.search(r"[0-9] +[a-z]|[0-9](?:mins?|minutes?|hours?|hrs?|days?|weeks?|secs?)\b", raw):
            hint = " Write the unit right after the number, as one letter: 2h, not 2 hours."
        else:
            hint = ""
        raise InputError(f"{shown} is not a duration. Use a number and a unit: {_EXAMPLES}.{hint}")
    seconds = 0
    last = -1
    for amount, unit in _PART.findall(raw):
        rank = _UNIT_ORDER.index(unit)
        if rank <= last:
            raise InputError(f"{shown} is not a duration: give each unit once, largest first, like 1d12h.")
        last = rank
        seconds += int(amount) * _UNIT_SECONDS[unit]
    # Compare as integers before building a timedelta: "9999999w" would overflow one.
    if seconds < minimum.total_seconds():
        raise InputError(f"{shown} is too short; the shortest is {format_duration(minimum)}.")
    if seconds > maximum.total_seconds():
        raise InputError(f"{shown} is too long; the longest is {format_duration(maximum)}.")
    return timedelta(seconds=seconds)


def _unit(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def format_duration(td: timedelta) -> str:
    """Readable duration for mod-log lines and "muted for …" replies: "2 h", "1 day 12 h", "2 weeks".

    Whole weeks are shown as weeks, otherwise days (10 days, not 1 week 3 days); then h, min and s,
    skipping zero parts; microseconds are dropped. Same short units as `humanize.ago`.
    """
    total = int(td.total_seconds())
    if total < 0:
        raise ValueError(f"a duration cannot be negative, got {td}")
    if total == 0:
        return "0 s"
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts: list[str] = []
    if days:
        if days % 7 == 0:
            parts.append(_unit(days // 7, "week", "weeks"))
        else:
            parts.append(_unit(days, "day", "days"))
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs:
        parts.append(f"{secs} s")
    return " ".join(parts)
