"""Direct chats with members: where ephemeral answers and direct messages go, since Matrix cannot
show a message to one person in a shared room.
"""

from __future__ import annotations

import logging
from typing import Any

from nio import RoomCreateResponse, RoomGetEventResponse, RoomPreset

from chatbridge.adapters.matrix import translate
from chatbridge.adapters.matrix.errors import HomeserverUnavailable
from chatbridge.adapters.matrix.reports import EVENT_REPORT_PREFIX
from chatbridge.adapters.matrix.requests import Requests
from chatbridge.adapters.matrix.rooms import DIRECT_MARKER
from chatbridge.model import (
    Actor,
    ChatEvent,
    CommandInvoked,
    MessageRef,
    OutgoingMessage,
    PlatformName,
    Room,
)
from chatbridge.render.escape import escape_user_text

log = logging.getLogger(__name__)


class DirectChats(Requests):
    """A member's direct chat with the bot, found again or started (and marked) on first use."""

    async def _direct(self, invocation: CommandInvoked, message: OutgoingMessage, key: str) -> None:
        where = escape_user_text(invocation.room.name) if invocation.room.name else None
        what = "report" if invocation.event_id.startswith(EVENT_REPORT_PREFIX) else "message"
        markdown = f"_About your {what} in {where}:_\n\n{message.markdown}" if where else message.markdown
        await self.send_dm(
            invocation.room.community_id,
            invocation.actor.user_id,
            OutgoingMessage(markdown, mention_user_ids=message.mention_user_ids),
            idempotency_key="direct:" + key,
        )

    async def send_dm(
        self, community_id: str, user_id: str, message: OutgoingMessage, *, idempotency_key: str
    ) -> MessageRef:
        """Write in the member's direct chat with the bot, started (and marked, so it is found
        again after a restart) on first use. A member who cannot be invited is a refusal."""
        lock = self._direct_lock
        if lock is None:
            raise HomeserverUnavailable("the Matrix platform is not running")
        async with lock:
            room_id = self._find_direct(user_id) or await self._create_direct(user_id)
        content = translate.message_content(message.markdown, mention_user_ids=message.mention_user_ids)
        event_id = await self._send_event(
            room_id, "m.room.message", content, translate.txn_id("dm:" + idempotency_key)
        )
        return MessageRef(PlatformName.MATRIX, room_id, event_id, None, community_id)

    def _find_direct(self, user_id: str) -> str | None:
        for room_id, state in self._rooms.items():
            if (
                state.direct_for == user_id
                and state.joined(self.user_id)
                and state.members.get(user_id) in ("join", "invite")
            ):
                return room_id
        made = self._direct_rooms.get(user_id)
        if made is not None and made not in self._rooms:
            return made  # created moments ago; the next sync will bring its state
        return None

    async def _create_direct(self, user_id: str) -> str:
        response = await self._with_rate_limit(
            lambda: self._require_client().room_create(
                is_direct=True,
                invite=[user_id],
                preset=RoomPreset.trusted_private_chat,
                initial_state=[{"type": DIRECT_MARKER, "state_key": "", "content": {"user_id": user_id}}],
            ),
            f"start a direct chat with {user_id}",
        )
        assert isinstance(response, RoomCreateResponse)
        room_id = str(response.room_id)
        self._direct_rooms[user_id] = room_id
        log.info("Matrix: started a direct chat %s with %s", room_id, user_id)
        return room_id

    # -- commands the member writes in the direct chat ------------------------------------------

    async def _direct_command(self, room_id: str, raw: dict[str, Any]) -> list[ChatEvent]:
        """A command the member typed in their direct chat with the bot, run for the community
        they share with it (or the one a pasted message link points into); anything else said
        there is not the forum's business."""
        state = self._rooms[room_id]
        member, event_id, content = state.direct_for, raw.get("event_id"), raw.get("content")
        ts = translate.timestamp_ms(raw)
        if (
            raw.get("type") != "m.room.message"
            or raw.get("sender") != member
            or member is None
            or not isinstance(event_id, str)
            or not isinstance(content, dict)
            or content.get("msgtype") != "m.text"
            or not isinstance(content.get("body"), str)
            or translate.edit_target(raw) is not None
            or (ts is not None and ts < self._floor_ms)
        ):
            return []
        text = translate.strip_reply_fallback(content["body"])
        body = self._strip_prefix(text)
        if body is None:
            return []
        shared = sorted({c for r, c in self._communities.items() if self._rooms[r].joined(member)})
        target: MessageRef | None = None
        target_user: Actor | None = None
        link = translate.find_message_link(body)
        if link is not None:
            linked = self._linked_room(link.room)
            community = self._communities.get(linked) if linked is not None else None
            if linked is None or community is None or not self._rooms[linked].joined(member):
                await self._tell(
                    room_id,
                    event_id,
                    "That link is not to a message in a room of our community that you are in.",
                )
                return []
            fetched = await self._fetch_raw(linked, link.event_id)
            sender = fetched.get("sender") if fetched is not None else None
            if not isinstance(sender, str):
                await self._tell(room_id, event_id, "I can't find the message that link points to.")
                return []
            target = MessageRef(PlatformName.MATRIX, linked, link.event_id, None, community)
            target_user = self._rooms[linked].actor(sender, self._levels, bot_user_id=self.user_id)
            body = link.rest
        elif len(shared) == 1:
            community = shared[0]
        else:
            await self._tell(room_id, event_id, self._no_single_community(shared))
            return []
        return [
            CommandInvoked(
                event_id=event_id,
                at=translate.event_time(raw),
                room=Room(PlatformName.MATRIX, community, room_id, "direct chat"),
                actor=self._community_actor(community, member),
                raw=body,
                target=target,
                target_user=target_user,
                direct=True,
            )
        ]

    def _linked_room(self, room: str) -> str | None:
        """The room a link names, by id or by one of our rooms' aliases."""
        if room.startswith("!"):
            return room
        return next((r for r, s in self._rooms.items() if s.canonical_alias == room), None)

    def _community_actor(self, community_id: str, user_id: str) -> Actor:
        """The member as the community's rooms see them: in the direct chat everyone is at 100."""
        states = [self._rooms[r] for r, c in self._communities.items() if c == community_id]
        if community_id in self._rooms:
            states.append(self._rooms[community_id])
        joined = [s for s in states if s.joined(user_id)] or states
        actors = [s.actor(user_id, self._levels, bot_user_id=self.user_id) for s in joined]
        return max(actors, key=lambda a: a.privilege)

    def _no_single_community(self, shared: list[str]) -> str:
        if not shared:
            return "I answer commands for members of the communities I serve, and we share none yet."
        names = ", ".join(escape_user_text(self._community_label(c)) for c in shared)
        return (
            f"We share more than one community ({names}): type the command in a room of the one you "
            "mean, or paste a link to a message there."
        )

    def _community_label(self, community_id: str) -> str:
        state = self._rooms.get(community_id)
        return state.label if state is not None else community_id

    async def _tell(self, room_id: str, event_id: str, text: str) -> None:
        """A one-line answer in the direct chat, for a command that cannot run at all."""
        content = translate.message_content(text, reply_to=event_id)
        await self._send_event(
            room_id, "m.room.message", content, translate.txn_id(f"direct-refusal:{event_id}")
        )

    async def _fetch_raw(self, room_id: str, event_id: str) -> dict[str, Any] | None:
        response = await self._require_client().room_get_event(room_id, event_id)
        if isinstance(response, RoomGetEventResponse):
            source = getattr(response.event, "source", None)
            return source if isinstance(source, dict) else None
        return None
