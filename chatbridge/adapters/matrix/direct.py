"""Direct chats with members: where ephemeral answers and direct messages go, since Matrix cannot
show a message to one person in a shared room.
"""

from __future__ import annotations

import logging

from nio import RoomCreateResponse, RoomPreset

from chatbridge.adapters.matrix import translate
from chatbridge.adapters.matrix.errors import HomeserverUnavailable
from chatbridge.adapters.matrix.requests import Requests
from chatbridge.adapters.matrix.rooms import DIRECT_MARKER
from chatbridge.model import CommandInvoked, MessageRef, OutgoingMessage, PlatformName
from chatbridge.render.escape import escape_user_text

log = logging.getLogger(__name__)


class DirectChats(Requests):
    """A member's direct chat with the bot, found again or started (and marked) on first use."""

    async def _direct(self, invocation: CommandInvoked, message: OutgoingMessage, key: str) -> None:
        where = escape_user_text(invocation.room.name) if invocation.room.name else None
        markdown = f"_About your message in {where}:_\n\n{message.markdown}" if where else message.markdown
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
