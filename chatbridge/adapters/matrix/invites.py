"""Invites and joins: which invitations the bot accepts, and joining the configured and community
rooms it is not in yet.
"""

from __future__ import annotations

import logging
from typing import Any

from nio import JoinResponse, RoomLeaveResponse

from chatbridge.adapters.matrix import translate
from chatbridge.adapters.matrix.errors import describe
from chatbridge.adapters.matrix.requests import Requests

log = logging.getLogger(__name__)


class Invites(Requests):
    """Invitations accepted or refused, and rooms joined once each per run."""

    async def _consider_invite(self, room_id: str, invite_state: list[dict[str, Any]]) -> bool:
        """Join when the inviter is allowed (True), else refuse the invitation."""
        if room_id in self._invites_handled:
            return False
        self._invites_handled.add(room_id)
        client = self._require_client()
        who = translate.inviter(invite_state, self.user_id)
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
