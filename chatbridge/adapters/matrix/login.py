"""Logging in (a password or an access token) and adopting a stored session, so a restart is not
a new device; then the stored sync position and the configured rooms.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Protocol

from nio import LoginResponse, RoomResolveAliasResponse, WhoamiResponse

from chatbridge.adapters.matrix.delivery import Delivery
from chatbridge.adapters.matrix.errors import TRANSIENT, HomeserverUnavailable, MatrixLoginError, describe
from chatbridge.adapters.matrix.requests import Requests

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A device login kept between runs (the PlatformSession row)."""

    device_id: str
    access_token: str = field(repr=False)


class PlatformState(Protocol):
    """Where the adapter keeps what must survive a restart. The runner implements it over the
    store, so the adapter itself never imports the store. Blocking; called in a worker thread."""

    def load_session(self, account: str) -> StoredSession | None: ...

    def save_session(self, account: str, session: StoredSession) -> None: ...

    def load_cursor(self, scope: str) -> str | None: ...


class Login(Delivery, Requests):
    """The login, the stored position and the configured rooms, read once at start."""

    async def _login(self) -> None:
        client = self._require_client()
        try:
            if self._access_token:
                if not await self._adopt(self._access_token, None):
                    raise MatrixLoginError(
                        f"the homeserver refused CHATBRIDGE_MATRIX_ACCESS_TOKEN for {self.user_id}"
                    )
                return
            stored = await asyncio.to_thread(self._state.load_session, self.user_id)
            if stored is not None and await self._adopt(stored.access_token, stored.device_id):
                log.info("Matrix: resumed device %s of %s", stored.device_id, self.user_id)
                return
            if not self._password:
                raise MatrixLoginError(
                    f"no login for {self.user_id}: set CHATBRIDGE_MATRIX_PASSWORD or "
                    "CHATBRIDGE_MATRIX_ACCESS_TOKEN"
                )
            client.device_id = stored.device_id if stored is not None else None  # same device again
            response = await client.login(self._password, device_name=self._device_name)
        except TRANSIENT as error:
            raise HomeserverUnavailable(
                f"cannot reach the Matrix homeserver at {self.homeserver}: {error}"
            ) from None
        if not isinstance(response, LoginResponse):
            raise MatrixLoginError(
                f"the homeserver refused the login for {self.user_id}: {describe(response)}"
            )
        saved = StoredSession(str(response.device_id), str(response.access_token))
        await asyncio.to_thread(self._state.save_session, self.user_id, saved)
        log.info("Matrix: logged in as %s (device %s)", self.user_id, saved.device_id)

    async def _adopt(self, token: str, device_id: str | None) -> bool:
        """Use a token if the server still accepts it; False when it is unknown or expired."""
        client = self._require_client()
        client.access_token = token
        client.user_id = self.user_id
        response = await client.whoami()
        if isinstance(response, WhoamiResponse):
            if response.user_id != self.user_id:
                raise MatrixLoginError(
                    f"the access token belongs to {response.user_id}, not to matrix.user_id {self.user_id}"
                )
            client.device_id = response.device_id or device_id
            return True
        if getattr(response, "status_code", None) in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
            client.access_token = ""
            return False
        raise MatrixLoginError(f"the homeserver could not check the login: {describe(response)}")

    async def _load_position(self) -> None:
        """The stored sync token, and the history floor set at the very first start."""
        self._since = await asyncio.to_thread(self._state.load_cursor, self._scope("sync"))
        floor = await asyncio.to_thread(self._state.load_cursor, self._scope("floor"))
        if floor is not None and floor.isdigit():
            self._floor_ms = int(floor)
            return
        if self._since is not None:
            self._floor_ms = 0
            return
        self._floor_ms = int((self._clock() - self._backfill).timestamp() * 1000)
        await self._deliver_one(self._cursor("floor", str(self._floor_ms)))

    async def _resolve_configured(self) -> tuple[str, ...]:
        client = self._require_client()
        resolved: list[str] = []
        for entry in self._configured_entries:
            if entry.startswith("#"):
                response = await client.room_resolve_alias(entry)
                if not isinstance(response, RoomResolveAliasResponse):
                    raise MatrixLoginError(
                        f"matrix.community_rooms: {entry} does not resolve: {describe(response)}"
                    )
                resolved.append(str(response.room_id))
            else:
                resolved.append(entry)
        return tuple(resolved)
