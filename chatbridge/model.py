"""The neutral chat model: the only types that cross the adapter boundary.

Adapters translate platform payloads into these frozen values and back, so the forum core, the
commands and the store never see a discord.py or matrix-nio object, and tests can build every
situation from plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Literal


class PlatformName(StrEnum):
    """Where an event came from; also the `platform` column of every platform id in the store."""

    DISCORD = "discord"
    MATRIX = "matrix"
    MEMORY = "memory"


class Privilege(IntEnum):
    """Ordered privilege levels, so a check is one comparison (member < moderator < admin < owner)."""

    MEMBER = 0
    MODERATOR = 1
    ADMIN = 2
    OWNER = 3


@dataclass(frozen=True, slots=True)
class Actor:
    """A person (or bot) as the platform sees them, with the privilege the platform grants them."""

    platform: PlatformName
    user_id: str
    display_name: str
    is_bot: bool = False
    privilege: Privilege = Privilege.MEMBER
    joined_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Room:
    """A place messages are posted: a Discord channel or thread parent, a Matrix room.

    `community_id` is the Discord guild or the Matrix space the room belongs to.
    """

    platform: PlatformName
    community_id: str
    room_id: str
    name: str
    private: bool = field(default=False, compare=False)
    """The adapter knows the room is private from its first event on (a Discord private thread,
    which no RoomSeen announces before its messages): its sub-forum is private from the start."""


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Points at one message; enough for an adapter to build a permalink or react to it."""

    platform: PlatformName
    room_id: str
    message_id: str
    thread_id: str | None = None
    community_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatEvent:
    """Base of every incoming event. `event_id` is the platform's id, the key of idempotency."""

    event_id: str
    at: datetime
    room: Room


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagePosted(ChatEvent):
    """A message: a thread's opening post when `starts_thread`, else a reply when in a thread."""

    actor: Actor
    message_id: str
    text: str
    thread_id: str | None = None
    starts_thread: bool = False
    thread_title: str | None = None
    reply_to: str | None = None
    thread_tags: tuple[str, ...] = ()
    """Labels the platform put on a new thread (Discord forum tags), for `Thread.tags`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEdited(ChatEvent):
    actor: Actor | None
    message_id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeleted(ChatEvent):
    """A deletion or a Matrix redaction; the target may be a message or a reaction event."""

    message_id: str
    actor: Actor | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionAdded(ChatEvent):
    actor: Actor
    message_id: str
    emoji: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionRemoved(ChatEvent):
    actor: Actor
    message_id: str
    emoji: str


SUPER_REACTION = "+super"
"""Ends a reaction's `emoji` when it is a super-reaction (Discord). It is a like source of its own,
so a member who reacts both ways likes the post once, and still does after taking one back."""


def like_source(emoji: str, like_keys: frozenset[str] | set[str]) -> str | None:
    """The like source a reaction is (its emoji without VS16, `SUPER_REACTION` kept), or None
    when the emoji is not a like emoji."""
    base = emoji.removesuffix(SUPER_REACTION)
    key = base.replace("\ufe0f", "")
    if key not in like_keys:
        return None
    return key + SUPER_REACTION if base != emoji else key


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberJoined(ChatEvent):
    actor: Actor


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberLeft(ChatEvent):
    actor: Actor


@dataclass(frozen=True, slots=True, kw_only=True)
class ModerationObserved(ChatEvent):
    """A moderator silenced or un-silenced a member by hand on the platform (a Discord timeout
    from the member menu, a Matrix power level set below `events_default`), not through the bot.

    Adapters report only changes someone other than the bot made, so the bot's own actions (logged
    when it decided them) are not logged twice; the case log records it, keyed on `event_id`.
    `room.community_id` is the guild or space.
    """

    action: Literal["hand_mute", "hand_unmute"]
    subject_user_id: str
    actor_user_id: str | None
    until: datetime | None = None
    reason: str | None = None
    where: str | None = None
    """The room it happened in, where the platform's change is per room (Matrix)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomSeen(ChatEvent):
    """A platform announces a room (at start-up or when it appears): it becomes a sub-forum.

    Idempotent by nature (the room's id is its key), so it is applied every time it is seen and a
    renamed room is renamed in the store too.
    """

    private: bool = False
    community_name: str | None = None
    """The guild's or space's display name, where the adapter knows it: the community is named
    after it (members read it in digests), and a rename on the platform renames the community."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadTagsChanged(ChatEvent):
    """Tags changed on the platform, for `Thread.tags`: one thread's (`thread_id`, with `tags` all it
    carries now), or a room's own tags (no `thread_id`): `renamed` (old name, new name) and
    `removed` names, for every thread of the room. Idempotent by nature, so applied every time."""

    thread_id: str | None = None
    tags: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CursorMoved(ChatEvent):
    """An adapter has delivered everything before position `value` of its stream `scope`.

    It travels through the same ordered sink as the events it follows, so the store writes the
    position (PlatformCursor: `room.platform`, `scope`) only after those events are applied: a crash
    before then replays them (deduplicated by event id) instead of skipping them. `room` is the
    adapter's placeholder for the stream; only its platform matters.
    """

    scope: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandInvoked(ChatEvent):
    """A command, typed as text (`raw`) or already structured by the platform (`path` + `options`).

    Text platforms fill `raw` ("!thread new ..."); Discord fills `path` and `options` from the
    interaction. `target` is the message a context-menu or reply-form command points at.
    """

    actor: Actor
    raw: str | None = None
    path: tuple[str, ...] = ()
    options: Mapping[str, object] = field(default_factory=dict)
    thread_id: str | None = None
    target: MessageRef | None = None
    target_user: Actor | None = None
    direct: bool = False
    """Asked in the member's direct chat with the bot: `room` is that chat (no sub-forum; its
    `community_id` is the community the adapter matched the member to), and every answer is
    private and goes there."""


ActionStyle = Literal["primary", "secondary", "success", "danger"]

ASK_OPTION = "_ask"
"""An `Action` option naming (comma-separated) the command options the press should ask for first:
"Mute author" needs a duration and a reason. Discord opens a modal for them; the key never reaches
the command."""


@dataclass(frozen=True, slots=True)
class Action:
    """A button under a message: pressing it runs the command `path` with `options`, as the presser.

    Everything the press needs travels in the button itself (no state in the bot), so a button
    keeps working after a restart: the moderation queue's "Claim" or "Dismiss" on a case card.
    Platforms without buttons show the message without them. Keep `options` short: Discord
    carries a button's identity in at most 100 characters.
    """

    label: str
    path: tuple[str, ...]
    options: Mapping[str, str] = field(default_factory=dict)
    style: ActionStyle = "secondary"


@dataclass(frozen=True, slots=True)
class FormField:
    """One text box of a `Form`; submitting fills the command option called `name`."""

    name: str
    label: str
    value: str = ""
    required: bool = False
    multiline: bool = False
    max_length: int | None = None
    placeholder: str | None = None


@dataclass(frozen=True, slots=True)
class Form:
    """A handler asks for several values at once: submitting runs `path` with the fields as options.

    Discord shows it as a modal (only as the first answer to an interaction); text platforms show
    the message's Markdown instead, which should say how to type the command. `options` are fixed
    values carried through (say, a case number); the message a context menu pointed at is kept
    as the submitted command's target.
    """

    title: str
    path: tuple[str, ...]
    fields: tuple[FormField, ...]
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What the bot says, as Markdown; the adapter renders it for its platform.

    Mentions are disabled unless `mention_user_ids` names the one user a command targets.
    `actions` become buttons and `form` a modal where the platform has them.
    """

    markdown: str
    ephemeral: bool = False
    mention_user_ids: tuple[str, ...] = ()
    title: str | None = None
    actions: tuple[Action, ...] = ()
    form: Form | None = None
    conceal_invocation: bool = False
    """Hide the command's own message from everyone else once it is answered: a typed report names
    who reported whom and why. The adapter removes it where the platform shows it to others (a
    Matrix redaction) and tells the asker privately when it could not; slash commands and menus
    are never shown to others, so nothing is needed there."""

    def with_private_note(self, note: str) -> OutgoingMessage:
        """This answer with a note added, for the asker's eyes only (an adapter's word on what it
        could not do, such as hiding the command)."""
        return replace(self, markdown=f"{self.markdown}\n\n{note}", ephemeral=True)
