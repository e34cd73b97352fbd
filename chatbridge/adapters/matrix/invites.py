"""Invites and joins: which invitations the bot accepts, and joining the configured and community
rooms it is not in yet.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from nio import JoinResponse, RoomLeaveResponse

from chatbridge.adapters.matrix import translate
from chatbridge.adapters.matrix.errors import HomeserverUnavailable, RateLimited, describe
from chatbridge.adapters.matrix.requests import Requests
from chatbridge.adapters.matrix.rooms import DIRECT_MARKER, RoomState
from chatbridge.platform import PlatformError

log = logging.getLogger(__name__)


class Invites(Requests):
    """Invitations accepted or refused, and rooms joined once each per run."""

    async def _consider_invite(self, room_id: str, invite_state: list[dict[str, Any]]) -> bool:
        """Join when the inviter is allowed (True), or a member of a community the bot serves
        opens a direct chat with it; else refuse the invitation."""
        if room_id in self._invites_handled:
            return False
        self._invites_handled.add(room_id)
        client = self._require_client()
        who = translate.inviter(invite_state, self.user_id)
        if (
            who is not None
            and translate.invited_to_direct_chat(invite_state, self.user_id)
            and any(self._rooms[r].joined(who) for r in self._communities if r in self._rooms)
        ):
            return await self._accept_direct_chat(room_id, who)
        if translate.invite_allowed(who, self._allowed_inviters) or room_id in self._configured:
            response = await client.join(room_id)
            if isinstance(response, JoinResponse):
                log.info("Matrix: joined %s on the invitation of %s", room_id, who)
                return True
            log.warning("Matrix: could not join %s: %s", room_id, describe(response))
            return False
        response = await client.room_leave(room_id)
        outcome = "refused" if isinstance(response, RoomLeaveResponse) else "could not refuse"
        log.info(
            "Matrix: %s an invitation to %s from %s (not in matrix.allowed_inviters)", outcome, room_id, who
        )
        return False

    async def _accept_direct_chat(self, room_id: str, who: str) -> bool:
        """A member of a community the bot serves opened a direct chat with it: join, and mark the
        room (as the chats the bot opens are) so it is found again after a restart. A room the bot
        may not mark is left, with a word on where to reach it instead."""
        client = self._require_client()
        response = await client.join(room_id)
        if not isinstance(response, JoinResponse):
            log.warning("Matrix: could not join the direct chat %s: %s", room_id, describe(response))
            return False
        try:
            await self._put_state(room_id, DIRECT_MARKER, {"user_id": who})
        except (PlatformError, HomeserverUnavailable, RateLimited) as error:
            log.info("Matrix: could not mark the direct chat %s (%s); leaving it", room_id, error)
            content = translate.message_content(
                "I can't take commands in this chat (I may not set it up). Type `!help` in a room of "
                "the community and I'll open a direct chat with you."
            )
            with contextlib.suppress(PlatformError, HomeserverUnavailable, RateLimited):
                await self._send_event(
                    room_id, "m.room.message", content, translate.txn_id(f"unmarked:{room_id}")
                )
            await client.room_leave(room_id)
            return False
        self._rooms.setdefault(room_id, RoomState(room_id)).direct_for = who
        log.info("Matrix: joined a direct chat %s opened by %s", room_id, who)
        return True

    async def _join_wanted(self) -> bool:
        """Join configured rooms and community rooms not joined yet, once each per run."""
        client = self._require_client()
        joined_any = False
        wanted = [r for r in (*self._configured, *self._wanted) if not self._is_joined(r)]
        for room_id in dict.fromkeys(wanted):
            if room_id in self._join_attempted:
                continue
            self._join_attempted.add(room_id)
            response = await client.join(room_id)
            if isinstance(response, JoinResponse):
                log.info("Matrix: joined community room %s", room_id)
                joined_any = True
            else:
                log.warning(
                    "Matrix: could not join %s (%s); invite the bot to it", room_id, describe(response)
                )
        return joined_any

    def _is_joined(self, room_id: str) -> bool:
        state = self._rooms.get(room_id)
        return state is not None and state.joined(self.user_id)
