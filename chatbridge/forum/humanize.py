"""Dates, ages and counts the way a XenForo forum shows them ("Jul 16, 2025", "5 min ago", "1,204 messages").

Formatting is fixed English and does not depend on the process locale (``strftime("%b")`` would),
so the Discord and Matrix sides of the same forum always print the same thing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["ago", "forum_date", "number", "plural"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)


def forum_date(dt: datetime) -> str:
    """ "Jul 16, 2025": the date line of a post or a member card's "Joined".

    The date is taken in ``dt``'s own time zone; convert to the community's zone first.
    """
    return f"{_MONTHS[dt.month - 1]} {dt.day}, {dt.year}"


def ago(then: datetime, now: datetime) -> str:
    """How long ago ``then`` was, as XenForo shows it next to posts.

    "just now" (under a minute, or up to a minute in the future, which is clock skew between the
    chat platform and us), "5 min ago", "2 h ago", "3 days ago"; from a week on, or for anything
    further in the future, the plain date ("Jul 16, 2025"), which stays meaningful in old messages
    that are never re-rendered. ``now`` is passed in so callers (and tests) control the clock; both
    must be time-zone aware, or both naive.
    """
    delta = now - then
    if -_MINUTE < delta < _MINUTE:
        return "just now"
    if delta < timedelta(0) or delta >= _WEEK:
        return forum_date(then)
    if delta < _HOUR:
        return f"{delta // _MINUTE} min ago"
    if delta < _DAY:
        return f"{delta // _HOUR} h ago"
    days = delta // _DAY
    return "1 day ago" if days == 1 else f"{days} days ago"


def number(n: int) -> str:
    """A count with thousands separators: 1204 -> "1,204" (member cards, thread lists)."""
    return f"{n:,}"


def plural(n: int, singular: str, plural: str) -> str:
    """ "1 reply", "14 replies", "1,204 messages": the count with the right noun form.

    Both forms are passed explicitly because English plurals are irregular (reply/replies,
    person/people) and guessing them on a hot path is neither cheap nor reliable.
    """
    return f"{n:,} {singular if n == 1 or n == -1 else plural}"
