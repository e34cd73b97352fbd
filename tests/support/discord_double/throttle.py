"""Every bot route rate-limited for a while: the REST latency an interaction must survive.

The interaction callback and webhook routes are left alone: they are not bound to the bot's
rate limits (developers/interactions/receiving-and-responding.mdx, "Endpoints": "not bound to
the application's Global Rate Limit"), so a bot that answers first is never held up.
"""

from __future__ import annotations

from typing import Any

from .clock import DoubleClock
from .faults import rate_limit_response


class Throttle:
    """Until a moment on the double's clock, authenticated calls get a 429 lasting until then."""

    def __init__(self, clock: DoubleClock) -> None:
        self._clock = clock
        self._until: float | None = None

    def limit_everything(self, seconds: float) -> None:
        self._until = self._clock.now() + seconds

    def answer(self, *, authenticated: bool) -> tuple[int, Any, dict[str, str]] | None:
        """The 429 to serve now, or None when the call may go through."""
        if not authenticated or self._until is None:
            return None
        remaining = self._until - self._clock.now()
        if remaining <= 0:
            return None
        headers, body = rate_limit_response(
            retry_after=remaining, is_global=False, scope="user", bucket="double-throttle"
        )
        return 429, body, headers
