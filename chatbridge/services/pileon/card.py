"""What a pile-on case card shows and offers: the target, the thread, each participant with their
message links, a timeline, and who is new; buttons for the pile-on actions.

Kept apart from `detector` so the moderators' queue can ask for it without importing the detector
(which imports the queue).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatbridge.model import ASK_OPTION, Action, MessageRef, PlatformName
from chatbridge.store.tables import ModCase, ModLogEntry

CATEGORY = "pile_on"


@dataclass(frozen=True, slots=True)
class Participant:
    name: str
    new_to_community: bool
    new_to_thread: bool
    links: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Moment:
    at: datetime
    name: str
    how: str
    link: str


@dataclass(frozen=True, slots=True)
class PileOnView:
    thread_title: str | None
    participants: tuple[Participant, ...]
    timeline: tuple[Moment, ...]
    window_start: datetime
    alerted_at: datetime


def view(opening: ModLogEntry | None, permalink: Callable[[MessageRef], str]) -> PileOnView | None:
    """The card's pile-on section, from the case's opening entry (None if it has none)."""
    data: dict[str, Any] | None = opening.detail.get("pileon") if opening is not None else None
    if not data:
        return None
    participants = []
    moments = []
    for person in data["participants"]:
        links = []
        for message in person["messages"]:
            link = permalink(
                MessageRef(
                    PlatformName(message["platform"]),
                    message["room_id"],
                    message["message_id"],
                    message.get("thread_id"),
                )
            )
            links.append(link)
            moments.append(
                Moment(datetime.fromisoformat(message["at"]), person["name"], message["how"], link)
            )
        participants.append(
            Participant(person["name"], person["new_to_community"], person["new_to_thread"], tuple(links))
        )
    return PileOnView(
        data.get("thread_title"),
        tuple(participants),
        tuple(sorted(moments, key=lambda m: m.at)),
        datetime.fromisoformat(data["window_start"]),
        datetime.fromisoformat(data["alerted_at"]),
    )


def buttons(case: ModCase) -> tuple[Action, ...]:
    """The pile-on actions; each runs a `case ...` command a moderator can also type."""
    ref = {"case": f"#{case.id}"}
    return (
        Action("Claim", ("case", "claim"), ref, "primary"),
        Action("Slow the thread", ("case", "slow"), ref, "primary"),
        Action("Lock the thread", ("case", "lock"), ref, "danger"),
        Action("Mute participants", ("case", "mute-all"), {**ref, ASK_OPTION: "duration,reason"}, "danger"),
        Action("Resolve", ("case", "resolve"), {**ref, ASK_OPTION: "outcome"}, "success"),
        Action("Not a pile-on", ("case", "not-pileon"), ref, "secondary"),
    )
