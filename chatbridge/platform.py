"""The Platform protocol: the few verbs every adapter implements and the core relies on.

The core speaks only these verbs with neutral values; nothing in `chatbridge` imports an adapter
except the application wiring in `chatbridge.app`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from chatbridge.model import (
    ChatEvent,
    CommandInvoked,
    MessageRef,
    OutgoingMessage,
    PlatformName,
    Privilege,
    Room,
)

if TYPE_CHECKING:
    from chatbridge.registry import Registry


class Outcome(StrEnum):
    """What the core made of one event, so an adapter knows whether its position may move past it."""

    APPLIED = "applied"
    """Stored (or recognised as a redelivery of an event stored before)."""
    REFUSED = "refused"
    """A poison event: applying it failed for a reason retrying will not change. Logged once, by
    its id, and skipped; the position moves past it."""
    UNAVAILABLE = "unavailable"
    """The store could not be reached, or stayed locked, past the ingest retries. Nothing was
    stored: the adapter keeps its position, stops, and delivers the event again later."""

    @property
    def done(self) -> bool:
        """True when the position may move past the event."""
        return self is not Outcome.UNAVAILABLE


STORE_UNAVAILABLE_REPLY = (
    "Sorry, the forum's store is unavailable right now and nothing was changed. Please try again in a minute."
)
"""What an adapter answers a command it cannot deliver again (a Discord interaction) when the
sink says UNAVAILABLE; commands it does deliver again are answered once, when they run."""

EventSink = Callable[[ChatEvent], Awaitable[Outcome]]
"""Where an adapter delivers translated events; returns once the event is durably accepted, or
says why it was not."""


class IdempotencyKey(str):
    """An action's idempotency key, and how long ago an earlier try of it may already have done it.

    A try whose answer was lost (a dropped connection, a 5xx after Discord applied it) leaves the
    outcome unknown. A platform whose own deduplication lasts only a while (Discord's nonce: "the
    past few minutes") looks for what the earlier try did once `unsure_for` exceeds that while,
    instead of doing it again. `unsure_for` is None when no earlier try can have done anything.
    """

    unsure_for: timedelta | None

    def __new__(cls, value: str, unsure_for: timedelta | None = None) -> IdempotencyKey:
        key = super().__new__(cls, value)
        key.unsure_for = unsure_for
        return key


def part_key(key: str, part: str) -> str:
    """The key of one part of an action (`key:part`), as unsure as the action's own key."""
    return IdempotencyKey(f"{key}:{part}", unsure_for(key))


def unsure_for(key: str) -> timedelta | None:
    """How long ago an earlier try with `key` may have done the action (None: it cannot have)."""
    return key.unsure_for if isinstance(key, IdempotencyKey) else None


@dataclass(frozen=True, slots=True)
class ThreadTags:
    """The labels a room offers its new threads (a Discord forum's available tags)."""

    names: tuple[str, ...]
    required: bool = False
    """The room refuses a thread without at least one (Discord's REQUIRE_TAG forum flag)."""


class RetryLater(Exception):
    """A passing failure (a rate limit, a timeout): the outbox retries after `retry_after` seconds.

    Unlike PlatformError, which is a refusal that retrying would not change.
    """

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PlatformError(Exception):
    """A platform refused an action; `message` is safe to show a moderator in chat.

    Moderation treats it as a refusal that retrying will not fix (a missing permission, a member
    who left) and tells the moderators; rate limits and passing failures should raise
    `chatbridge.services.outbox.RetryLater` (or any other exception), which the outbox retries.
    """


@dataclass(frozen=True, slots=True)
class MuteResult:
    """What applying a mute changed, kept so lifting it restores the exact previous state."""

    applied_until: datetime | None
    previous_state: Mapping[str, object]


@runtime_checkable
class Platform(Protocol):
    """One chat network seen through neutral values."""

    name: PlatformName

    async def start(self, sink: EventSink) -> None:
        """Connect and deliver events to `sink` until `stop` is called."""

    async def stop(self) -> None:
        """Stop intake, finish in-flight work, close connections."""

    async def register_commands(self, registry: Registry) -> None:
        """Publish the command declarations in the platform's native form."""

    async def send(
        self, room: Room, message: OutgoingMessage, *, thread_id: str | None = None, idempotency_key: str
    ) -> MessageRef:
        """Post a message; the key makes a retried send land once."""

    async def respond(self, invocation: CommandInvoked, message: OutgoingMessage) -> None:
        """Answer a command where it was asked (ephemerally when the message says so)."""

    async def react(self, ref: MessageRef, emoji: str) -> None:
        """Add the bot's reaction to a message."""

    def permalink(self, ref: MessageRef) -> str:
        """A link that opens the message in context."""

    async def create_thread(
        self, room: Room, title: str, message: OutgoingMessage, *, tags: Sequence[str] = ()
    ) -> MessageRef:
        """Start a thread with an opening post; returns the opening post. `tags` are names from
        `thread_tags(room)` (exactly as it gives them), applied to the new thread."""

    def thread_tags(self, room: Room) -> ThreadTags | None:
        """The tags a thread started in `room` can carry, from the platform's cache; None where
        the platform has no such thing (a Matrix room, a Discord text channel)."""

    async def apply_mute(self, community_id: str, user_id: str, until: datetime, reason: str) -> MuteResult:
        """Silence a member until `until` (or the platform's longest allowed span)."""

    async def lift_mute(self, community_id: str, user_id: str, previous_state: Mapping[str, object]) -> None:
        """Undo `apply_mute`, restoring exactly what it changed."""

    async def edit_message(self, ref: MessageRef, message: OutgoingMessage) -> None:
        """Replace the text of a message the bot sent (a case card that moved on)."""

    async def delete_message(self, ref: MessageRef, reason: str) -> None:
        """Remove a member's message for moderation; `reason` is for the platform's audit log."""

    async def send_dm(
        self, community_id: str, user_id: str, message: OutgoingMessage, *, idempotency_key: str
    ) -> MessageRef:
        """Write to one member privately (why they are muted, what became of their report)."""

    async def set_slowmode(self, room: Room, thread_id: str | None, seconds: int) -> None:
        """Let each member post at most once per `seconds` in a thread (or the room); 0 lifts it.

        Pile-on cases use it ("Slow the thread"). Raises PlatformError where the platform has no
        such setting or the bot lacks the right to change it.
        """

    def can_read(self, room_id: str, user_id: str) -> bool:
        """Whether a member can read a room now, from the adapter's own cache (Discord channel
        permissions, Matrix room membership); False when it does not know.

        Synchronous and without network calls because it is asked inside a store transaction,
        for every private sub-forum an answer might mention.
        """

    async def set_role(self, community_id: str, user_id: str, role_id: str, *, present: bool) -> None:
        """Give a member a role (`present`) or take it away: a verified clinician's badge role.

        Raises PlatformError, in words a moderator can act on, when the platform refuses (the bot's
        role is not above it, a missing permission). A platform without roles (Matrix) does nothing.
        """

    async def member_privilege(self, community_id: str, user_id: str) -> Privilege:
        """The privilege the platform grants a member now (roles, power levels); MEMBER if unknown.

        Moderation asks before sanctioning someone or routing a report about them, because the
        member may not have spoken since their role changed.
        """
