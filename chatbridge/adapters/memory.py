"""An in-memory platform: the console's chat and the test suite's.

It implements the same Platform protocol as Discord and Matrix, and adds a transcript-style driver
(`say`, `react`, `edit`, `delete`) so a test reads like a conversation and asserts on what the bot
said. Everything it does is deterministic: message ids count up from m1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chatbridge.model import (
    Actor,
    ChatEvent,
    CommandInvoked,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
    OutgoingMessage,
    PlatformName,
    Privilege,
    ReactionAdded,
    ReactionRemoved,
    Room,
    RoomSeen,
)
from chatbridge.platform import EventSink, MuteResult, Outcome, PlatformError, ThreadTags
from chatbridge.registry import Registry

DEFAULT_SUBFORUMS = ("General Discussion", "Clinical Questions", "Careers & Training")


@dataclass(frozen=True, slots=True)
class Said:
    """One message in the transcript, by a member or by the bot."""

    message_id: str
    room: Room
    author: str
    text: str
    thread_id: str | None = None
    ephemeral_for: str | None = None
    mentions: tuple[str, ...] = ()


@dataclass
class MemoryPlatform:
    """A chat held in memory, with sub-forums as rooms and threads as message ids."""

    community_id: str = "console"
    community_name: str | None = "console"
    """What the community is called, as a guild's or a space's name is on the real platforms."""
    subforums: tuple[str, ...] = DEFAULT_SUBFORUMS
    start_time: datetime = datetime(2025, 7, 16, 9, 0, tzinfo=UTC)
    name: PlatformName = PlatformName.MEMORY
    transcript: list[Said] = field(default_factory=list)
    members: dict[str, Actor] = field(default_factory=dict)
    mutes: dict[str, datetime] = field(default_factory=dict)
    refuse_mutes: bool = False
    roles: dict[str, set[str]] = field(default_factory=dict)
    """Roles given by the bot, by user id (a badge's role)."""
    roles_above_bot: set[str] = field(default_factory=set)
    """Role ids placed above the bot's own role, which it may therefore not give or take."""
    removed: dict[str, str] = field(default_factory=dict)
    """Messages the bot deleted for moderation, with the reason it gave."""
    concealed: list[str] = field(default_factory=list)
    """Command messages the bot hid from others after answering them (a typed report), by id;
    `refuse_deletes` refuses these too, as a Matrix room without the power to redact would."""
    refuse_deletes: bool = False
    slowmodes: dict[str, int] = field(default_factory=dict)
    """The slow mode the bot set, in seconds, by thread id (or room id outside threads)."""
    refuse_posts_in: set[str] = field(default_factory=set)
    """Room ids where the bot may not post (a deleted channel, a missing permission)."""
    id_prefix: str = ""
    readers: dict[str, frozenset[str]] = field(default_factory=dict)
    """Private sub-forums (room id) and who can read them (user ids); every other room is public."""
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    """Platform verbs that wait, by name (`create_thread`, `member_privilege`, `respond`, `send`),
    until their event is set: a stalled or rate-limited call, as a real platform has them."""
    started: asyncio.Event = field(default_factory=asyncio.Event)
    registry: Registry | None = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    """What the core made of each event delivered, by event id (the last delivery's)."""
    held: list[ChatEvent] = field(default_factory=list)
    """Events the store could not take yet, oldest first: they wait, in order, for `redeliver`,
    as a real adapter keeps its position; events that arrive meanwhile queue up behind them."""
    _sink: EventSink | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _event_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _sent_keys: dict[str, MessageRef] = field(default_factory=dict)
    _threads: dict[str, str] = field(default_factory=dict)
    _messages: dict[str, Said] = field(default_factory=dict)
    _message_of_event: dict[str, str] = field(default_factory=dict)
    _offset: timedelta = timedelta(0)

    # -- the Platform protocol -------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        for name in self.subforums:
            await self._deliver(
                RoomSeen(
                    event_id=f"room:{_slug(name)}",
                    at=self.now(),
                    room=self.room(name),
                    private=_slug(name) in self.readers,
                    community_name=self.community_name,
                )
            )
        self.started.set()

    async def stop(self) -> None:
        self._sink = None

    async def register_commands(self, registry: Registry) -> None:
        self.registry = registry

    async def send(
        self, room: Room, message: OutgoingMessage, *, thread_id: str | None = None, idempotency_key: str
    ) -> MessageRef:
        await self._passing("send")
        if idempotency_key in self._sent_keys:
            return self._sent_keys[idempotency_key]
        if room.room_id in self.refuse_posts_in:
            raise PlatformError(f"I'm not allowed to post in {room.name or room.room_id}.")
        said = self._record(room, "bot", message.markdown, thread_id, mentions=message.mention_user_ids)
        ref = MessageRef(self.name, room.room_id, said.message_id, thread_id, self.community_id)
        self._sent_keys[idempotency_key] = ref
        return ref

    async def respond(self, invocation: CommandInvoked, message: OutgoingMessage) -> None:
        await self._passing("respond")
        if invocation.direct:
            self._record(
                invocation.room, "bot", message.markdown, None, ephemeral_for=invocation.actor.user_id
            )
            return
        typed = self._message_of_event.get(invocation.event_id)
        if message.conceal_invocation and invocation.raw is not None and typed is not None:
            if self.refuse_deletes:
                note = "I could not hide your command from the others here; you can delete it yourself."
                message = message.with_private_note(note)
            else:
                self.concealed.append(typed)
        self._record(
            invocation.room,
            "bot",
            message.markdown,
            invocation.thread_id,
            ephemeral_for=invocation.actor.display_name if message.ephemeral else None,
            mentions=message.mention_user_ids,
        )

    async def react(self, ref: MessageRef, emoji: str) -> None:
        self._record(
            self.room_for_id(ref.room_id), "bot", f"(reacted {emoji} to {ref.message_id})", ref.thread_id
        )

    def permalink(self, ref: MessageRef) -> str:
        return f"https://chat.example/{self.community_id}/{ref.room_id}/{ref.message_id}"

    def thread_tags(self, room: Room) -> ThreadTags | None:
        """Rooms here have no thread tags (the `tags` option of `thread new` is Discord's only)."""
        return None

    async def create_thread(
        self, room: Room, title: str, message: OutgoingMessage, *, tags: Sequence[str] = ()
    ) -> MessageRef:
        await self._passing("create_thread")
        said = self._record(room, "bot", message.markdown, None)
        self._threads[said.message_id] = title
        return MessageRef(self.name, room.room_id, said.message_id, said.message_id, self.community_id)

    async def apply_mute(self, community_id: str, user_id: str, until: datetime, reason: str) -> MuteResult:
        if self.refuse_mutes:
            raise PlatformError("I don't have permission to mute members here.")
        previous = self.mutes.get(user_id)
        self.mutes[user_id] = until
        return MuteResult(until, {"muted_until": previous.isoformat() if previous else None})

    async def lift_mute(self, community_id: str, user_id: str, previous_state: Mapping[str, object]) -> None:
        if self.refuse_mutes:
            raise PlatformError("I don't have permission to unmute members here.")
        self.mutes.pop(user_id, None)

    async def edit_message(self, ref: MessageRef, message: OutgoingMessage) -> None:
        said = self._messages.get(ref.message_id)
        if said is None or said.author != "bot":
            raise PlatformError("I can only edit my own messages.")
        edited = dataclasses.replace(said, text=message.markdown, mentions=message.mention_user_ids)
        self._messages[said.message_id] = edited
        self.transcript[self.transcript.index(said)] = edited

    async def delete_message(self, ref: MessageRef, reason: str) -> None:
        if self.refuse_deletes:
            raise PlatformError("I don't have permission to delete messages here.")
        self.removed[ref.message_id] = reason

    async def send_dm(
        self, community_id: str, user_id: str, message: OutgoingMessage, *, idempotency_key: str
    ) -> MessageRef:
        if idempotency_key in self._sent_keys:
            return self._sent_keys[idempotency_key]
        room = Room(self.name, self.community_id, f"dm-{user_id}", f"DM with {user_id}")
        said = self._record(room, "bot", message.markdown, None, ephemeral_for=user_id)
        ref = MessageRef(self.name, room.room_id, said.message_id, None, self.community_id)
        self._sent_keys[idempotency_key] = ref
        return ref

    async def set_slowmode(self, room: Room, thread_id: str | None, seconds: int) -> None:
        if self.refuse_deletes:  # a room where the bot lacks moderation rights refuses both
            raise PlatformError("I don't have permission to change slow mode here.")
        self.slowmodes[thread_id or room.room_id] = seconds

    def can_read(self, room_id: str, user_id: str) -> bool:
        readers = self.readers.get(room_id)
        return readers is None or user_id in readers

    async def set_role(self, community_id: str, user_id: str, role_id: str, *, present: bool) -> None:
        if role_id in self.roles_above_bot:
            raise PlatformError(
                f"My role is not above the role {role_id}, so I can't give or take it: "
                "move my role above it in the server's role settings."
            )
        held = self.roles.setdefault(user_id, set())
        if present:
            held.add(role_id)
        else:
            held.discard(role_id)

    async def member_privilege(self, community_id: str, user_id: str) -> Privilege:
        await self._passing("member_privilege")
        actor = self.members.get(user_id)
        return actor.privilege if actor is not None else Privilege.MEMBER

    async def _passing(self, verb: str) -> None:
        gate = self.gates.get(verb)
        if gate is not None:
            await gate.wait()

    # -- the transcript driver --------------------------------------------------------------------

    def member(self, name: str, privilege: Privilege = Privilege.MEMBER) -> Actor:
        """The actor called `name`, created on first use; a new privilege replaces the old one."""
        actor = self.members.get(name)
        if actor is None or actor.privilege != privilege:
            actor = Actor(self.name, user_id=name, display_name=name, privilege=privilege)
            self.members[name] = actor
        return actor

    def room(self, name: str | None = None) -> Room:
        """A sub-forum by (loose) name; the first one by default."""
        wanted = (name or self.subforums[0]).casefold()
        for subforum in self.subforums:
            if subforum.casefold() == wanted or _slug(subforum) == _slug(wanted):
                return Room(self.name, self.community_id, _slug(subforum), subforum)
        raise KeyError(name)

    async def make_private(self, name: str, readers: Iterable[str]) -> None:
        """Make a sub-forum private (a channel @everyone cannot see, an invite-only room) that only
        `readers` (user ids) can read, and announce it as the platforms do when a room changes."""
        room = self.room(name)
        self.readers[room.room_id] = frozenset(readers)
        if self._sink is not None:
            await self._sink(
                RoomSeen(
                    event_id=f"room:{room.room_id}:private",
                    at=self.now(),
                    room=room,
                    private=True,
                    community_name=self.community_name,
                )
            )

    def speakers(self, name: str) -> set[str]:
        """Who has posted in a sub-forum so far (its threads included), by user id."""
        room = self.room(name)
        names = {s.author for s in self.transcript if s.room.room_id == room.room_id and s.author != "bot"}
        return {a.user_id for a in self.members.values() if a.display_name in names}

    def room_for_id(self, room_id: str) -> Room:
        for subforum in self.subforums:
            if _slug(subforum) == room_id:
                return Room(self.name, self.community_id, room_id, subforum)
        return Room(self.name, self.community_id, room_id, room_id)

    def thread(self, title: str) -> str:
        """The thread id of the newest thread with this title."""
        for thread_id, thread_title in reversed(self._threads.items()):
            if thread_title.casefold() == title.casefold():
                return thread_id
        raise KeyError(title)

    def newest_thread(self) -> str | None:
        return next(reversed(self._threads), None)

    def advance(self, delta: timedelta) -> None:
        """Move the chat's clock, for tests about time ("2 h ago", mutes ending)."""
        self._offset += delta

    def now(self) -> datetime:
        return self.start_time + self._offset

    async def say(
        self,
        text: str,
        *,
        as_: Actor | str,
        in_: str | None = None,
        thread: str | None = None,
        reply_to: str | None = None,
    ) -> list[Said]:
        """Post a message as a member; returns what the bot said in response."""
        actor = self._actor(as_)
        room = self.room_for_thread(thread) if thread and in_ is None else self.room(in_)
        said = self._record(room, actor.display_name, text, thread)
        return await self._deliver(
            MessagePosted(
                event_id=self._event_id(said.message_id),
                at=self.now(),
                room=room,
                actor=actor,
                message_id=said.message_id,
                text=text,
                thread_id=thread,
                reply_to=reply_to,
            )
        )

    async def say_direct(self, text: str, *, as_: Actor | str) -> list[Said]:
        """Write to the bot in a direct chat; returns what the bot said (there, privately)."""
        actor = self._actor(as_)
        room = Room(self.name, self.community_id, f"dm-{actor.user_id}", f"DM with {actor.user_id}")
        said = self._record(room, actor.display_name, text, None)
        registry = self.registry
        body = registry.strip_prefix(text) if registry is not None else None
        if body is None:
            return []
        return await self._deliver(
            CommandInvoked(
                event_id=self._event_id(said.message_id),
                at=self.now(),
                room=room,
                actor=actor,
                raw=body,
                direct=True,
            )
        )

    async def start_thread(self, title: str, text: str, *, as_: Actor | str, in_: str | None = None) -> str:
        """A member opens a thread natively (a Discord forum post); returns its thread id."""
        actor = self._actor(as_)
        room = self.room(in_)
        said = self._record(room, actor.display_name, text, None)
        self._threads[said.message_id] = title
        await self._deliver(
            MessagePosted(
                event_id=self._event_id(),
                at=self.now(),
                room=room,
                actor=actor,
                message_id=said.message_id,
                text=text,
                thread_id=said.message_id,
                starts_thread=True,
                thread_title=title,
            )
        )
        return said.message_id

    async def add_reaction(self, message_id: str, emoji: str, *, as_: Actor | str) -> list[Said]:
        return await self._reaction(message_id, emoji, self._actor(as_), added=True)

    async def remove_reaction(self, message_id: str, emoji: str, *, as_: Actor | str) -> list[Said]:
        return await self._reaction(message_id, emoji, self._actor(as_), added=False)

    async def edit(self, message_id: str, text: str, *, as_: Actor | str) -> list[Said]:
        said = self._messages[message_id]
        return await self._deliver(
            MessageEdited(
                event_id=self._event_id(),
                at=self.now(),
                room=said.room,
                actor=self._actor(as_),
                message_id=message_id,
                text=text,
            )
        )

    async def delete(self, message_id: str) -> list[Said]:
        said = self._messages[message_id]
        return await self._deliver(
            MessageDeleted(event_id=self._event_id(), at=self.now(), room=said.room, message_id=message_id)
        )

    async def join(self, name: str) -> list[Said]:
        actor = self._actor(name)
        return await self._deliver(
            MemberJoined(event_id=self._event_id(), at=self.now(), room=self.room(), actor=actor)
        )

    async def leave(self, name: str) -> list[Said]:
        actor = self._actor(name)
        return await self._deliver(
            MemberLeft(event_id=self._event_id(), at=self.now(), room=self.room(), actor=actor)
        )

    def dms(self, user_id: str) -> list[Said]:
        """What the bot wrote to one member privately, oldest first."""
        return [s for s in self.transcript if s.room.room_id == f"dm-{user_id}"]

    def message(self, message_id: str) -> Said:
        """A message as it reads now (edits included)."""
        return self._messages[message_id]

    def last_message_id(self, author: str | None = None) -> str:
        for said in reversed(self.transcript):
            if author is None or said.author == author:
                return said.message_id
        raise LookupError(author)

    def room_for_thread(self, thread_id: str) -> Room:
        return self._messages[thread_id].room

    async def _reaction(self, message_id: str, emoji: str, actor: Actor, *, added: bool) -> list[Said]:
        said = self._messages[message_id]
        kind = ReactionAdded if added else ReactionRemoved
        return await self._deliver(
            kind(
                event_id=self._event_id(),
                at=self.now(),
                room=said.room,
                actor=actor,
                message_id=message_id,
                emoji=emoji,
            )
        )

    async def redeliver(self) -> list[Said]:
        """Deliver the held events again, in order, stopping at the first the store still cannot
        take; returns what the bot said meanwhile. `held` is empty once the store is back."""
        before = len(self.transcript)
        while self.held:
            if await self._offer(self.held[0]) is Outcome.UNAVAILABLE:
                break
            self.held.pop(0)
        return [s for s in self.transcript[before:] if s.author == "bot"]

    async def _deliver(self, event: ChatEvent) -> list[Said]:
        before = len(self.transcript)
        if self.held or await self._offer(event) is Outcome.UNAVAILABLE:
            self.held.append(event)
        return [s for s in self.transcript[before:] if s.author == "bot"]

    async def _offer(self, event: ChatEvent) -> Outcome:
        if self._sink is None:
            raise RuntimeError("the memory platform is not started")
        outcome = await self._sink(event)
        self.outcomes[event.event_id] = outcome
        return outcome

    def _actor(self, who: Actor | str) -> Actor:
        return who if isinstance(who, Actor) else self.members.get(who) or self.member(who)

    def _event_id(self, message_id: str | None = None) -> str:
        event_id = f"{self.id_prefix}e{next(self._event_ids)}"
        if message_id is not None:
            self._message_of_event[event_id] = message_id
        return event_id

    def _record(
        self,
        room: Room,
        author: str,
        text: str,
        thread_id: str | None,
        *,
        ephemeral_for: str | None = None,
        mentions: tuple[str, ...] = (),
    ) -> Said:
        said = Said(
            f"{self.id_prefix}m{next(self._ids)}", room, author, text, thread_id, ephemeral_for, mentions
        )
        self.transcript.append(said)
        self._messages[said.message_id] = said
        return said


def _slug(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.casefold()).split())
