"""The `chatbridge.platform.Platform` verbs on Matrix: send, respond, react, permalink, threads,
mutes (power levels, restored exactly), edits, deletions and privileges.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from nio import ErrorResponse, RoomGetStateEventResponse

from chatbridge.adapters.matrix import translate
from chatbridge.adapters.matrix.direct import DirectChats
from chatbridge.adapters.matrix.errors import HomeserverUnavailable, RateLimited, describe
from chatbridge.adapters.matrix.invites import Invites
from chatbridge.adapters.matrix.rooms import (
    NeedPower,
    RoomState,
    check_power_to_restore,
    muted_power_levels,
    restored_power_levels,
    server_of,
)
from chatbridge.model import CommandInvoked, MessageRef, OutgoingMessage, PlatformName, Privilege, Room
from chatbridge.platform import MuteResult, PlatformError, ThreadTags
from chatbridge.render.escape import escape_user_text

log = logging.getLogger(__name__)

ANSWERED_IN_DIRECT = "✉️"
"""The bot's reaction on a command typed in a room whose answer went to the direct chat."""


class Verbs(DirectChats, Invites):
    """The Platform verbs, as Matrix events and power-level changes."""

    async def send(
        self, room: Room, message: OutgoingMessage, *, thread_id: str | None = None, idempotency_key: str
    ) -> MessageRef:
        """Post in a room or thread. Matrix has no ephemeral messages; notices sent this way are
        about the room (a locked thread), so they are posted there for everyone."""
        content = translate.message_content(
            message.markdown,
            mention_user_ids=message.mention_user_ids,
            thread_id=thread_id,
            actions=message.actions,
        )
        event_id = await self._send_event(
            room.room_id, "m.room.message", content, translate.txn_id(idempotency_key)
        )
        return MessageRef(PlatformName.MATRIX, room.room_id, event_id, thread_id, room.community_id)

    async def respond(self, invocation: CommandInvoked, message: OutgoingMessage) -> None:
        """Answer in the thread (or room) where the command was typed, as a reply to it. An
        ephemeral answer goes to a direct chat with the member instead: Matrix cannot show a
        message to one person in a shared room, and private answers (a profile change, a report
        receipt) must not be posted for everyone; the command gets a ✉️ so the member knows where
        to look. A command asked in the direct chat is answered there. A command whose words or
        sender are private (a report, a call-in) is redacted once answered."""
        digest = hashlib.sha256(message.markdown.encode()).hexdigest()[:16]
        key = f"respond:{invocation.event_id}:{digest}"
        if invocation.direct:
            content = translate.message_content(message.markdown, reply_to=invocation.event_id)
            await self._send_event(invocation.room.room_id, "m.room.message", content, translate.txn_id(key))
            return
        typed = invocation.raw is not None  # a reaction or a client's report is not a message to hide
        hidden = False
        if message.conceal_invocation and typed:
            refusal = await self._conceal(invocation)
            hidden = refusal is None
            if refusal is not None:
                message = message.with_private_note(refusal)
        if message.ephemeral:
            await self._direct(invocation, message, key)
            if typed and not hidden:
                await self._mark_answered_in_direct(invocation)
            return
        content = translate.message_content(
            message.markdown,
            mention_user_ids=message.mention_user_ids,
            thread_id=invocation.thread_id,
            reply_to=None if hidden else invocation.event_id,
        )
        await self._send_event(invocation.room.room_id, "m.room.message", content, translate.txn_id(key))

    async def _conceal(self, invocation: CommandInvoked) -> str | None:
        """Redact the command's event; None when done, else what to tell the member privately."""
        room_id = invocation.room.room_id
        state = self._rooms.get(room_id)
        where = escape_user_text(state.label if state is not None else invocation.room.name or room_id)
        refused = (
            f"I could not hide your command in {where}, so the others there can still read it; "
            "you can delete (remove) it yourself."
        )
        if state is not None:
            level, needed = state.power_level(self.user_id), state.redact_level
            if level is not None and level < needed:
                log.warning(
                    "Matrix: cannot redact command %s in %s: need power level %d",
                    invocation.event_id,
                    room_id,
                    needed,
                )
                return f"{refused} (I need power level {needed} there to remove messages.)"
        try:
            await self._with_rate_limit(
                lambda: self._require_client().room_redact(
                    room_id, invocation.event_id, tx_id=translate.txn_id(f"conceal:{invocation.event_id}")
                ),
                f"hide command {invocation.event_id}",
            )
        except (PlatformError, HomeserverUnavailable, RateLimited) as error:
            log.warning("Matrix: could not redact command %s in %s: %s", invocation.event_id, room_id, error)
            return refused
        return None

    async def _mark_answered_in_direct(self, invocation: CommandInvoked) -> None:
        """A ✉️ on the command: the answer is in the direct chat (a reply there would be public)."""
        ref = MessageRef(PlatformName.MATRIX, invocation.room.room_id, invocation.event_id)
        try:
            await self.react(ref, ANSWERED_IN_DIRECT)
        except (PlatformError, HomeserverUnavailable, RateLimited) as error:
            log.info(
                "Matrix: could not mark command %s as answered privately: %s", invocation.event_id, error
            )

    async def react(self, ref: MessageRef, emoji: str) -> None:
        content = translate.reaction_content(ref.message_id, emoji)
        key = translate.txn_id(f"react:{ref.room_id}:{ref.message_id}:{emoji}")
        try:
            await self._send_event(ref.room_id, "m.reaction", content, key)
        except PlatformError as error:
            if "M_DUPLICATE_ANNOTATION" not in str(error):
                raise

    def permalink(self, ref: MessageRef) -> str:
        state = self._rooms.get(ref.room_id)
        via = state.via_servers() if state is not None else []
        if not via and server_of(ref.room_id):
            via = [server_of(ref.room_id)]
        return translate.permalink(ref.room_id, ref.message_id, via)

    def thread_tags(self, room: Room) -> ThreadTags | None:
        """Rooms here have no thread tags (the `tags` option of `thread new` is Discord's only)."""
        return None

    async def create_thread(
        self, room: Room, title: str, message: OutgoingMessage, *, tags: Sequence[str] = ()
    ) -> MessageRef:
        """Post the opening message; it is the thread's root, and replies to it form the thread."""
        content = translate.message_content(message.markdown, msgtype="m.text")
        root = await self._send_event(room.room_id, "m.room.message", content, f"cb.{uuid.uuid4().hex}")
        self._threads_started.put(root, True)
        return MessageRef(PlatformName.MATRIX, room.room_id, root, root, room.community_id)

    async def apply_mute(self, community_id: str, user_id: str, until: datetime, reason: str) -> MuteResult:
        """Lower the member's power level below `events_default` in every room of the community.

        Every room is checked before any is changed, and a failure half-way restores the rooms
        already changed, so a refused mute leaves nothing behind. The mute holds until lifted
        (`applied_until` is None: Matrix does not end it by itself).
        """
        rooms = self._rooms_of(community_id)
        changes: dict[str, tuple[dict[str, Any], int | None]] = {}
        for room_id in rooms:
            state = await self._fresh_power(room_id)
            try:
                change = muted_power_levels(state, user_id, bot_user_id=self.user_id)
            except NeedPower as error:
                raise PlatformError(str(error)) from None
            if change is not None:
                changes[room_id] = change
        done: dict[str, int | None] = {}
        try:
            for room_id, (content, previous) in changes.items():
                await self._put_state(room_id, "m.room.power_levels", content)
                done[room_id] = previous
        except PlatformError:
            await self._restore(user_id, done)
            raise
        # Ids only: moderators quote patient details in reasons, and logs leave their hands.
        log.info("Matrix: muted %s in %d rooms", user_id, len(done))
        return MuteResult(applied_until=None, previous_state=dict(done))

    async def lift_mute(self, community_id: str, user_id: str, previous_state: Mapping[str, object]) -> None:
        """Restore exactly the levels `apply_mute` replaced (no explicit level where there was none)."""
        levels: dict[str, int | None] = {}
        for room_id, previous in previous_state.items():
            if previous is not None and (not isinstance(previous, int) or isinstance(previous, bool)):
                raise PlatformError(f"the saved power level for {room_id} is not a number: {previous!r}")
            levels[room_id] = previous
        await self._restore(user_id, levels, strict=True)

    async def edit_message(self, ref: MessageRef, message: OutgoingMessage) -> None:
        """Replace the text of a message the bot sent (``m.replace``; clients show the new text)."""
        content = translate.edit_content(
            ref.message_id,
            message.markdown,
            mention_user_ids=message.mention_user_ids,
            actions=message.actions,
        )
        digest = hashlib.sha256(message.markdown.encode()).hexdigest()[:16]
        await self._send_event(
            ref.room_id, "m.room.message", content, translate.txn_id(f"edit:{ref.message_id}:{digest}")
        )

    async def delete_message(self, ref: MessageRef, reason: str) -> None:
        """Redact a message for moderation; the reason is kept in the redaction event."""
        state = self._rooms.get(ref.room_id)
        if state is not None:
            level, needed = state.power_level(self.user_id), state.redact_level
            if level is not None and level < needed:
                raise PlatformError(f"I need power level {needed} in {state.label} to remove messages.")
        await self._with_rate_limit(
            lambda: self._require_client().room_redact(
                ref.room_id,
                ref.message_id,
                reason=reason or None,
                tx_id=translate.txn_id(f"redact:{ref.message_id}"),
            ),
            f"remove a message in {state.label if state else ref.room_id}",
        )

    async def set_slowmode(self, room: Room, thread_id: str | None, seconds: int) -> None:
        """Matrix has no slow mode: the bot enforces the pace itself (the pile-on watch removes
        posts that come too soon) and says so once, in the thread."""
        text = (
            f"This thread is slowed down by the moderators: one post per {seconds} seconds per member. "
            "Posts that come sooner are removed."
        )
        await self.send(
            room,
            OutgoingMessage(text),
            thread_id=thread_id,
            idempotency_key=f"slowmode:{thread_id or room.room_id}:{seconds}",
        )

    def can_read(self, room_id: str, user_id: str) -> bool:
        """Whether the member has joined the room, from the room state the sync keeps current
        (membership events); a private room's readers are exactly its joined members."""
        state = self._rooms.get(room_id)
        return state is not None and state.joined(user_id)

    async def set_role(self, community_id: str, user_id: str, role_id: str, *, present: bool) -> None:
        """Matrix has no roles (power levels are privileges, not badges): nothing to add or remove;
        the badge is shown wherever the bot renders the member instead."""
        return None

    async def member_privilege(self, community_id: str, user_id: str) -> Privilege:
        """The highest privilege the member's power levels give them in the community's rooms."""
        rooms = [self._rooms[r] for r, c in self._communities.items() if c == community_id]
        if community_id in self._rooms:
            rooms.append(self._rooms[community_id])  # the space itself
        return max((state.privilege(user_id, self._levels) for state in rooms), default=Privilege.MEMBER)

    async def _restore(self, user_id: str, levels: Mapping[str, int | None], *, strict: bool = False) -> None:
        for room_id, previous in levels.items():
            if not self._is_joined(room_id):
                log.warning(
                    "Matrix: cannot restore %s's power level in %s: not in that room", user_id, room_id
                )
                continue
            try:
                state = await self._fresh_power(room_id)
                check_power_to_restore(state, bot_user_id=self.user_id)
                await self._put_state(
                    room_id, "m.room.power_levels", restored_power_levels(state, user_id, previous)
                )
            except NeedPower as error:
                if strict:
                    raise PlatformError(str(error)) from None
                log.error("Matrix: could not undo a partial mute of %s in %s: %s", user_id, room_id, error)
            except PlatformError as error:
                if strict:
                    raise
                log.error("Matrix: could not undo a partial mute of %s in %s: %s", user_id, room_id, error)

    def _rooms_of(self, community_id: str) -> list[str]:
        rooms = [r for r, c in self._communities.items() if c == community_id and self._is_joined(r)]
        if not rooms:
            raise PlatformError(f"I am not in any room of the community {community_id}.")
        return rooms

    async def _fresh_power(self, room_id: str) -> RoomState:
        """The room's state with power levels read now (a moderator may have changed them)."""
        state = self._rooms[room_id]
        response = await self._require_client().room_get_state_event(room_id, "m.room.power_levels")
        if isinstance(response, RoomGetStateEventResponse) and isinstance(response.content, dict):
            state.power = response.content
        elif isinstance(response, ErrorResponse) and response.status_code != "M_NOT_FOUND":
            raise PlatformError(f"could not read the power levels of {state.label}: {describe(response)}")
        return state
