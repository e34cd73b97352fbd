"""Pure translation between Discord and the neutral model: no I/O, no clock, no client.

Functions here read discord.py value objects (channels, members, permissions) or plain values and
return neutral events, and turn neutral `OutgoingMessage`s into what `send` needs. Everything that
decides *meaning* lives here, so it is tested without a network; `shell.py` only fetches what these
functions need and hands the results on.

Event ids, the key of the core's idempotency (`ProcessedEvent`):

* a message is `message:<id>` whether it arrives live, replayed by a RESUME or read back by
  backfill, so it is applied once;
* an edit is `edit:<id>:<edited_timestamp>` (each edit has its own timestamp), a deletion
  `delete:<id>`, a joined member `join:<guild>:<user>:<joined_at>`;
* a reaction has no id and no timestamp on Discord, and the same (message, user, emoji) can
  legitimately be added, removed and added again, so *any* id derived from the payload would
  swallow the re-add. Reactions are therefore state assertions ("alice has 👍 on m") with an
  observation id (`reaction+:<message>:<user>:<emoji>:<nonce>`) that never deduplicates; what
  makes them idempotent is the store's natural key (one `LikeSource` per post, member and emoji:
  a repeated add is a no-op, a removal of an absent source is a no-op) and the order they are
  applied in, which the adapter preserves per guild as the gateway delivers it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote, urlencode

import discord

from chatbridge.model import (
    SUPER_REACTION,
    Action,
    Actor,
    CommandInvoked,
    CursorMoved,
    Form,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
    ModerationObserved,
    OutgoingMessage,
    PlatformName,
    Privilege,
    ReactionAdded,
    ReactionRemoved,
    Room,
    RoomSeen,
    ThreadTagsChanged,
)
from chatbridge.render.escape import escape_markdown

PLATFORM = PlatformName.DISCORD
MAX_CONTENT = 2000
"""Characters in one Discord message."""
MAX_CUSTOM_ID = 100
MAX_THREAD_NAME = 100
MAX_TIMEOUT = timedelta(days=28)
TIMEOUT_MARGIN = timedelta(minutes=5)
"""Kept below Discord's 28-day cap so clock skew between us and Discord never makes it refuse."""
NONCE_CHARS = 25

ACTION_PREFIX = "cb:a:"
FORM_PREFIX = "cb:f:"
ACTION_TEMPLATE = re.escape(ACTION_PREFIX) + r"(?P<payload>.+)"
_TARGET_KEY = "@"
_AUTHOR_KEY = "~"

COUNTED_MESSAGE_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})
"""Member posts; system messages (pins, joins, "started a thread") never count."""


# ---------------------------------------------------------------------------------------- places


@dataclass(frozen=True, slots=True)
class Place:
    """Where something happened: a channel, or a thread and its parent (the sub-forum)."""

    guild_id: int
    channel_id: int
    name: str
    parent_id: int | None = None
    parent_name: str = ""
    parent_is_forum: bool = False
    thread_tags: tuple[str, ...] = ()
    private_thread: bool = False
    """A private thread (only its members and those who manage threads see it), even inside a
    public channel: it is a private place of its own."""

    @property
    def is_thread(self) -> bool:
        return self.parent_id is not None

    @property
    def room(self) -> Room:
        """The sub-forum: a thread's parent channel, or the channel itself. A private thread is
        its own private sub-forum, so the one visibility rule keeps its content to its members."""
        if self.private_thread:
            return Room(PLATFORM, str(self.guild_id), str(self.channel_id), self.name, private=True)
        if self.parent_id is not None:
            return Room(PLATFORM, str(self.guild_id), str(self.parent_id), self.parent_name)
        return Room(PLATFORM, str(self.guild_id), str(self.channel_id), self.name)

    @property
    def thread_id(self) -> str | None:
        return str(self.channel_id) if self.parent_id is not None else None


def place_of(channel: object) -> Place | None:
    """The place of a guild channel or thread as discord.py knows it; None for DMs and the like."""
    if isinstance(channel, discord.Thread):
        parent = channel.parent
        return Place(
            guild_id=channel.guild.id,
            channel_id=channel.id,
            name=channel.name,
            parent_id=channel.parent_id,
            parent_name=parent.name if parent is not None else "",
            parent_is_forum=isinstance(parent, discord.ForumChannel),
            thread_tags=tuple(tag.name for tag in channel.applied_tags),
            private_thread=channel.type is discord.ChannelType.private_thread,
        )
    if isinstance(channel, discord.TextChannel | discord.ForumChannel):
        return Place(guild_id=channel.guild.id, channel_id=channel.id, name=channel.name)
    return None


def is_subforum(channel: object) -> bool:
    """Text (and announcement) channels and forums become sub-forums; voice, stage, categories don't."""
    return isinstance(channel, discord.TextChannel | discord.ForumChannel)


def is_private(channel: discord.abc.GuildChannel) -> bool:
    """Private means @everyone cannot see it: such sub-forums stay out of digests and suggestions."""
    return not channel.permissions_for(channel.guild.default_role).view_channel


def thread_retagged(
    forum: discord.ForumChannel, thread_id: int, applied: Iterable[int | str], at: datetime
) -> ThreadTagsChanged:
    """A forum post's tags as THREAD_UPDATE gives them (ids), named from the forum's tags."""
    names = {tag.id: tag.name for tag in forum.available_tags}
    tags = tuple(names[int(tag)] for tag in applied if int(tag) in names)
    room = Place(guild_id=forum.guild.id, channel_id=forum.id, name=forum.name).room
    return ThreadTagsChanged(
        event_id=f"tags:{thread_id}", at=at, room=room, thread_id=str(thread_id), tags=tags
    )


def forum_tags_changed(
    before: discord.ForumChannel, after: discord.ForumChannel, at: datetime
) -> ThreadTagsChanged | None:
    """A forum's tags renamed or removed (CHANNEL_UPDATE; a tag keeps its id across a rename)."""
    old = {tag.id: tag.name for tag in before.available_tags}
    new = {tag.id: tag.name for tag in after.available_tags}
    renamed = tuple((name, new[tag]) for tag, name in old.items() if tag in new and new[tag] != name)
    removed = tuple(name for tag, name in old.items() if tag not in new)
    if not renamed and not removed:
        return None
    room = Place(guild_id=after.guild.id, channel_id=after.id, name=after.name).room
    return ThreadTagsChanged(
        event_id=f"forum-tags:{after.id}", at=at, room=room, renamed=renamed, removed=removed
    )


def reads_thread(thread: discord.Thread, member: discord.Member) -> bool:
    """Whether a member who can view a thread's channel reads the thread: anyone for a public
    thread; for a private one its members (discord.py's thread member cache), its owner and those
    who may manage threads, as Discord decides."""
    if thread.type is not discord.ChannelType.private_thread:
        return True
    if thread.owner_id == member.id or thread.permissions_for(member).manage_threads:
        return True
    return any(m.id == member.id for m in thread.members)


def room_seen(channel: discord.TextChannel | discord.ForumChannel, at: datetime) -> RoomSeen:
    place = Place(guild_id=channel.guild.id, channel_id=channel.id, name=channel.name)
    return RoomSeen(
        event_id=f"room:{channel.id}",
        at=at,
        room=place.room,
        private=is_private(channel),
        community_name=channel.guild.name or None,
    )


def rooms_seen(guild: discord.Guild, at: datetime) -> list[RoomSeen]:
    """Every sub-forum of a guild, each carrying the guild's name: announced when the guild becomes
    available and again when it is renamed (GUILD_UPDATE), so the community follows the name."""
    return [
        room_seen(channel, at)
        for channel in guild.channels
        if isinstance(channel, discord.TextChannel | discord.ForumChannel)
    ]


# ---------------------------------------------------------------------------------------- people


def privilege_of(permissions: discord.Permissions | None, *, is_owner: bool = False) -> Privilege:
    """Discord permissions as forum privilege: owner, admin, moderator (can moderate or manage)."""
    if is_owner:
        return Privilege.OWNER
    if permissions is None:
        return Privilege.MEMBER
    if permissions.administrator or permissions.manage_guild:
        return Privilege.ADMIN
    if (
        permissions.moderate_members
        or permissions.manage_messages
        or permissions.manage_threads
        or permissions.kick_members
        or permissions.ban_members
    ):
        return Privilege.MODERATOR
    return Privilege.MEMBER


def actor_of(
    user: discord.abc.User,
    *,
    permissions: discord.Permissions | None = None,
    webhook: bool = False,
    named: bool = True,
) -> Actor:
    """A Discord user or member as an actor.

    `permissions` defaults to the member's guild permissions. With `named=False` the display
    name is left empty, which tells the store "keep the name you have": used where only a bare
    user id is known, so a reaction removal cannot rename a member to a number.
    """
    member = user if isinstance(user, discord.Member) else None
    if permissions is None and member is not None:
        permissions = member.guild_permissions
    is_owner = member is not None and member.guild.owner_id == member.id
    return Actor(
        platform=PLATFORM,
        user_id=str(user.id),
        display_name=user.display_name if named else "",
        is_bot=user.bot or webhook,
        privilege=privilege_of(permissions, is_owner=is_owner),
        joined_at=member.joined_at if member is not None else None,
    )


def unnamed_actor(user_id: int) -> Actor:
    """Someone known only by id (a reaction removal on an uncached member)."""
    return Actor(platform=PLATFORM, user_id=str(user_id), display_name="")


# ---------------------------------------------------------------------------------------- events


def message_event_id(message_id: int) -> str:
    return f"message:{message_id}"


def posted(
    *,
    message_id: int,
    place: Place,
    actor: Actor,
    content: str,
    message_type: discord.MessageType,
    at: datetime,
    reply_to: int | None = None,
) -> MessagePosted | None:
    """A member's message; a forum post's starter message (same id as its thread) opens the thread.

    Without the message-content intent `content` is empty: the message still counts as a reply.
    """
    if message_type not in COUNTED_MESSAGE_TYPES:
        return None
    opens = place.is_thread and place.parent_is_forum and message_id == place.channel_id
    return MessagePosted(
        event_id=message_event_id(message_id),
        at=at,
        room=place.room,
        actor=actor,
        message_id=str(message_id),
        text=content,
        thread_id=place.thread_id,
        starts_thread=opens,
        thread_title=place.name if opens else None,
        reply_to=str(reply_to) if reply_to is not None and not opens else None,
        thread_tags=place.thread_tags if opens else (),
    )


def message_posted(message: discord.Message, place: Place) -> MessagePosted | None:
    """`posted` for a message as discord.py hands it over, live or read back from history."""
    return posted(
        message_id=message.id,
        place=place,
        actor=actor_of(message.author, webhook=message.webhook_id is not None),
        content=message.content,
        message_type=message.type,
        at=message.created_at,
        reply_to=message.reference.message_id if message.reference else None,
    )


def thread_opened(*, place: Place, actor: Actor, text: str, at: datetime) -> MessagePosted:
    """A thread in a text channel: its opening post is the message it was started from.

    The thread id is that message's id (Discord's rule), so likes on the message and its deletion
    act on the opening post. A thread started without a message gets a post with no text under
    the same id. The event id differs from the message's own (`thread:` not `message:`) because
    the message was already seen as a plain channel message before the thread existed.
    """
    return MessagePosted(
        event_id=f"thread:{place.channel_id}",
        at=at,
        room=place.room,
        actor=actor,
        message_id=str(place.channel_id),
        text=text,
        thread_id=str(place.channel_id),
        starts_thread=True,
        thread_title=place.name,
        thread_tags=place.thread_tags,
    )


def edited(
    *, message_id: int, place: Place, actor: Actor | None, content: str, edited_at: datetime | None
) -> MessageEdited | None:
    """An edit of the text; None for updates that are not edits (link embeds resolving)."""
    if edited_at is None:
        return None
    return MessageEdited(
        event_id=f"edit:{message_id}:{edited_at.isoformat()}",
        at=edited_at,
        room=place.room,
        actor=actor,
        message_id=str(message_id),
        text=content,
    )


def deleted(*, message_id: int, place: Place, at: datetime) -> MessageDeleted:
    return MessageDeleted(event_id=f"delete:{message_id}", at=at, room=place.room, message_id=str(message_id))


def emoji_key(emoji: discord.PartialEmoji | discord.Emoji | str) -> str:
    """A unicode emoji as itself, a custom one as `name:id` (the form Discord's REST paths use)."""
    if isinstance(emoji, str):
        return emoji
    if emoji.id is None:
        return emoji.name or ""
    return f"{emoji.name}:{emoji.id}"


def reaction_key(emoji: discord.PartialEmoji | discord.Emoji | str, *, burst: bool) -> str:
    """A reaction's `emoji` for the core: a super-reaction is marked (`SUPER_REACTION`), a like
    source of its own beside the member's normal reaction with the same emoji."""
    return emoji_key(emoji) + (SUPER_REACTION if burst else "")


def with_super_reactions(keys: Iterable[str]) -> set[str]:
    """Like keys and their super-reaction sources: what a message's reactions can store."""
    return {variant for key in keys for variant in (key, key + SUPER_REACTION)}


def reaction(
    *,
    added: bool,
    message_id: int,
    place: Place,
    actor: Actor,
    emoji: str,
    at: datetime,
    observation: str,
) -> ReactionAdded | ReactionRemoved:
    """A reaction state assertion; `observation` makes its id unique (see the module docstring)."""
    sign = "+" if added else "-"
    kind = ReactionAdded if added else ReactionRemoved
    return kind(
        event_id=f"reaction{sign}:{message_id}:{actor.user_id}:{emoji}:{observation}",
        at=at,
        room=place.room,
        actor=actor,
        message_id=str(message_id),
        emoji=emoji,
    )


def member_joined(*, room: Room, actor: Actor, at: datetime) -> MemberJoined:
    joined = actor.joined_at.isoformat() if actor.joined_at else at.isoformat()
    return MemberJoined(
        event_id=f"join:{room.community_id}:{actor.user_id}:{joined}", at=at, room=room, actor=actor
    )


def member_left(*, room: Room, actor: Actor, at: datetime, observation: str) -> MemberLeft:
    return MemberLeft(
        event_id=f"leave:{room.community_id}:{actor.user_id}:{observation}", at=at, room=room, actor=actor
    )


def message_ref(place: Place, message_id: int) -> MessageRef:
    return MessageRef(PLATFORM, place.room.room_id, str(message_id), place.thread_id, str(place.guild_id))


def interaction_event_id(interaction_id: int) -> str:
    """The event id of the invocation an interaction becomes (one per interaction)."""
    return f"interaction:{interaction_id}"


def invocation(
    *,
    interaction_id: int,
    at: datetime,
    place: Place,
    actor: Actor,
    path: tuple[str, ...],
    options: Mapping[str, object],
    target: MessageRef | None = None,
    target_user: Actor | None = None,
) -> CommandInvoked:
    """An interaction as a structured command; the interaction id is Discord's unique event id."""
    return CommandInvoked(
        event_id=interaction_event_id(interaction_id),
        at=at,
        room=place.room,
        actor=actor,
        path=path,
        options=dict(options),
        thread_id=place.thread_id,
        target=target,
        target_user=target_user,
    )


def member_option(user_id: int) -> str:
    """How a picked user reaches a member parameter: a mention, which every member lookup accepts."""
    return f"<@{user_id}>"


def permalink(guild_id: int | str, channel_id: int | str, message_id: int | str) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


# ---------------------------------------------------------------------------------------- cursors


def thread_scope(guild_id: int, thread_id: int) -> str:
    """PlatformCursor scope of one thread's message stream: the newest applied message id."""
    return f"thread:{guild_id}/{thread_id}"


def thread_scope_prefix(guild_id: int) -> str:
    return f"thread:{guild_id}/"


def guild_scope(guild_id: int) -> str:
    """A guild's watermark: a snowflake time before which every new thread has been taken in."""
    return f"guild:{guild_id}"


def cursor_moved(*, guild_id: int, scope: str, value: int, at: datetime) -> CursorMoved:
    room = Room(PLATFORM, str(guild_id), scope, "")
    return CursorMoved(event_id=f"cursor:{scope}:{value}", at=at, room=room, scope=scope, value=str(value))


# ---------------------------------------------------------------------------------------- outgoing


@dataclass(frozen=True, slots=True)
class Rendered:
    """An `OutgoingMessage` as Discord message contents: one or more chunks of at most 2000 chars."""

    chunks: tuple[str, ...]
    allowed_mentions: discord.AllowedMentions
    ephemeral: bool
    actions: tuple[Action, ...]


def render(message: OutgoingMessage) -> Rendered:
    """Content chunks and the mention allow-list: nobody is pinged but `mention_user_ids`."""
    text = message.markdown
    if message.title:
        text = f"**{escape_markdown(message.title)}**\n{text}"
    return Rendered(
        chunks=tuple(split_content(text)),
        allowed_mentions=allowed_mentions(message.mention_user_ids),
        ephemeral=message.ephemeral,
        actions=message.actions,
    )


def allowed_mentions(user_ids: Sequence[str] = ()) -> discord.AllowedMentions:
    """Never @everyone, @here or a role; users only when named."""
    users = [discord.Object(int(uid)) for uid in user_ids if uid.isdigit()]
    return discord.AllowedMentions(everyone=False, roles=False, replied_user=False, users=users or False)


def split_content(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """Split at line breaks (at a space, at worst mid-word) so each piece fits one message."""
    text = text.strip("\n") or "\u200b"
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n")
    pieces.append(text)
    return [piece for piece in pieces if piece] or ["\u200b"]


def nonce_for(idempotency_key: str) -> str:
    """Discord deduplicates sends that carry the same nonce (at most 25 characters) for a while."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:NONCE_CHARS]


def thread_name(title: str) -> str:
    title = " ".join(title.split()) or "Untitled"
    return title if len(title) <= MAX_THREAD_NAME else title[: MAX_THREAD_NAME - 1] + "…"


# ---------------------------------------------------------------------------------------- custom ids


def encode_action(action: Action) -> str:
    """A button's custom_id: the command path and its options, so a click needs no stored state."""
    return _checked(ACTION_PREFIX + _encode(action.path, action.options))


def decode_action(custom_id: str) -> tuple[tuple[str, ...], dict[str, str]] | None:
    if not custom_id.startswith(ACTION_PREFIX):
        return None
    path, options = _decode(custom_id[len(ACTION_PREFIX) :])
    options.pop(_TARGET_KEY, None)
    return (path, options) if path else None


def encode_form(form: Form, target_message_id: str | None, target_user_id: str | None = None) -> str:
    """A modal's custom_id: the command to run on submit, fixed options, and the target message.

    Only the target's message id travels: a modal is submitted in the channel it was opened in,
    which is the channel of the message a context menu pointed at. Its author's id travels too,
    so a report of a message the forum does not store still knows whom it is about.
    """
    options = dict(form.options)
    if target_message_id is not None:
        options[_TARGET_KEY] = target_message_id
    if target_user_id is not None:
        options[_AUTHOR_KEY] = target_user_id
    return _checked(FORM_PREFIX + _encode(form.path, options))


@dataclass(frozen=True, slots=True)
class FormSubmission:
    path: tuple[str, ...]
    options: dict[str, str]
    target_message_id: int | None = None
    target_user_id: int | None = None


def decode_form(custom_id: str) -> FormSubmission | None:
    if not custom_id.startswith(FORM_PREFIX):
        return None
    path, options = _decode(custom_id[len(FORM_PREFIX) :])
    if not path:
        return None
    target = options.pop(_TARGET_KEY, "")
    author = options.pop(_AUTHOR_KEY, "")
    return FormSubmission(
        path, options, int(target) if target.isdigit() else None, int(author) if author.isdigit() else None
    )


def form_values(components: object) -> dict[str, str]:
    """Text inputs of a submitted modal by custom_id, from action rows or labels; empty ones dropped."""
    values: dict[str, str] = {}
    stack = [c for c in components if isinstance(c, Mapping)] if isinstance(components, list) else []
    while stack:
        component = stack.pop()
        children = component.get("components")
        if isinstance(children, list):
            stack.extend(c for c in children if isinstance(c, Mapping))
        child = component.get("component")
        if isinstance(child, Mapping):
            stack.append(child)
        custom_id, value = component.get("custom_id"), component.get("value")
        if isinstance(custom_id, str) and isinstance(value, str) and value.strip():
            values[custom_id] = value.strip()
    return values


def _encode(path: tuple[str, ...], options: Mapping[str, str]) -> str:
    encoded = "/".join(quote(word, safe="") for word in path)
    return f"{encoded}?{urlencode(sorted(options.items()))}" if options else encoded


def _decode(payload: str) -> tuple[tuple[str, ...], dict[str, str]]:
    head, _, query = payload.partition("?")
    path = tuple(unquote(word) for word in head.split("/") if word)
    return path, dict(parse_qsl(query, keep_blank_values=True))


def _checked(custom_id: str) -> str:
    if len(custom_id) > MAX_CUSTOM_ID:
        raise ValueError(f"a Discord custom_id holds {MAX_CUSTOM_ID} characters; {custom_id!r} is longer")
    return custom_id


# ---------------------------------------------------------------------------------------- mutes


def timeout_until(until: datetime, now: datetime) -> datetime:
    """How far a timeout can reach: Discord refuses more than 28 days ahead.

    A longer mute is applied up to this point and must be renewed before it lapses; the caller
    stores the returned time (`Sanction.platform_applied_until`) to schedule the renewal.
    """
    return min(until, now + MAX_TIMEOUT - TIMEOUT_MARGIN)


def hand_timeout(
    *,
    room: Room,
    target_id: int,
    actor_id: int | None,
    before: datetime | None,
    after: datetime | None,
    reason: str | None,
    at: datetime,
) -> ModerationObserved | None:
    """A timeout given or lifted in the Discord client, not through the bot; None when nothing
    about the timeout changed.

    Two sources report one: its audit-log entry (MEMBER_UPDATE with a `communication_disabled_until`
    change; it names the moderator and the reason, and needs VIEW_AUDIT_LOG) and, without that
    permission, GUILD_MEMBER_UPDATE (no moderator: `actor_id` None). Both give it the same event
    id, per member and timeout end (for a lift, the end it cut short), so whichever arrives second
    is a redelivery and the case log has it once.
    """
    running = before if before is not None and before > at else None  # an ended timeout is none
    until = after if after is not None and after > at else None
    if running == until:
        return None
    if until is not None:
        key = f"timeout:{room.community_id}:{target_id}:{until.isoformat()}"
    else:
        assert running is not None
        key = f"timeout-lifted:{room.community_id}:{target_id}:{running.isoformat()}"
    return ModerationObserved(
        event_id=key,
        at=at,
        room=room,
        action="hand_mute" if until is not None else "hand_unmute",
        subject_user_id=str(target_id),
        actor_user_id=str(actor_id) if actor_id is not None else None,
        until=until,
        reason=reason,
    )


def timeout_refused(name: str, *, lifting: bool = False) -> str:
    """What a moderator reads when Discord says 50013 (missing permission or role hierarchy)."""
    what = f"lift the timeout of {name}" if lifting else f"time out {name}"
    return f"I can't {what}: my role must be above theirs and I need the Moderate Members permission."
