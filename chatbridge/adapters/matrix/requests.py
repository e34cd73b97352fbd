"""Requests that change something on the homeserver (sending events, putting state), with 429s
waited out a bounded number of times, and the guards that reach the running client; kept in one
place so every part sends, and fails, the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nio import AsyncClient, ErrorResponse

from chatbridge.adapters.matrix import translate
from chatbridge.adapters.matrix.errors import TRANSIENT, HomeserverUnavailable, RateLimited, describe
from chatbridge.adapters.matrix.state import MatrixState
from chatbridge.platform import PlatformError

log = logging.getLogger(__name__)


class Requests(MatrixState):
    """Requests through the client, 429s honoured, failures classified (see `errors`)."""

    async def _send_event(self, room_id: str, event_type: str, content: dict[str, Any], txn: str) -> str:
        response = await self._with_rate_limit(
            lambda: self._require_client().room_send(room_id, event_type, content, tx_id=txn),
            f"send to {room_id}",
        )
        return str(response.event_id)

    async def _put_state(self, room_id: str, event_type: str, content: dict[str, Any]) -> None:
        await self._with_rate_limit(
            lambda: self._require_client().room_put_state(room_id, event_type, content),
            f"change {event_type} in {room_id}",
        )

    async def _with_rate_limit(self, call: Callable[[], Awaitable[Any]], what: str) -> Any:
        """Run a request, waiting out 429s (Retry-After, then retry_after_ms) a bounded number of
        times; raise RateLimited when the server still refuses or asks for a longer wait than we
        hold a caller for, and PlatformError for any other refusal."""
        options = self._options
        for attempt in range(options.rate_limit_retries + 1):
            try:
                response = await call()
            except TRANSIENT as error:
                raise HomeserverUnavailable(
                    f"could not {what}: the homeserver is unreachable ({error})"
                ) from None
            if not isinstance(response, ErrorResponse):
                return response
            wait = self._rate_limit_wait(response)
            if wait is None:
                status = getattr(getattr(response, "transport_response", None), "status", None)
                if isinstance(status, int) and status >= 500:
                    raise HomeserverUnavailable(f"could not {what}: the homeserver answered {status}")
                raise PlatformError(f"could not {what}: {describe(response)}")
            if attempt == options.rate_limit_retries or wait > options.max_rate_limit_wait:
                raise RateLimited(f"could not {what}: rate limited, retry in {wait:.1f} s", wait)
            log.info("Matrix: rate limited while trying to %s; waiting %.1f s", what, wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    def _rate_limit_wait(self, response: ErrorResponse) -> float | None:
        transport = getattr(response, "transport_response", None)
        status = getattr(transport, "status", None)
        if response.status_code != "M_LIMIT_EXCEEDED" and status != 429:
            return None
        headers = dict(transport.headers) if transport is not None else {}
        body = {"retry_after_ms": response.retry_after_ms} if response.retry_after_ms is not None else None
        wait = translate.retry_after_seconds(headers, body, self._clock())
        return 5.0 if wait is None else wait

    def _require_client(self) -> AsyncClient:
        if self._client is None:
            # Passing (a stop or a restart in progress), not a refusal: the outbox tries again.
            raise HomeserverUnavailable("the Matrix platform is not running")
        return self._client

    def _require_stopping(self) -> asyncio.Event:
        assert self._stopping is not None, "not started"
        return self._stopping
