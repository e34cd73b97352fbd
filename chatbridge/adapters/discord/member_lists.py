"""Asking Discord for a guild's whole member list: at most once per guild every 30 seconds, and
never waiting for it forever.

Discord allows one request for all of a guild's members per guild per bot every 30 seconds and
answers another with a RATE_LIMITED dispatch instead of the member chunks (discord-api-docs
change-log, 2025-08-14). discord.py does not handle that dispatch and waits for the chunks without
a time limit, so an unanswered request would hold its task until the next IDENTIFY.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    RECEIVED = "received"
    RATE_LIMITED = "rate limited"
    TIMED_OUT = "timed out"


class MemberLists:
    """When each guild's member list was asked for, and the wait for an answer."""

    def __init__(
        self, *, interval: float, timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._timeout = timeout
        self._clock = clock
        self._asked: dict[int, float] = {}
        self._limited = asyncio.Event()

    def delay(self, guild_id: int) -> float:
        """Seconds to wait before this guild's list may be asked for again (0: now)."""
        last = self._asked.get(guild_id)
        return 0.0 if last is None else max(0.0, last + self._interval - self._clock())

    def rate_limited(self) -> None:
        """Discord sent RATE_LIMITED: the pending waits end (no chunks will come for them)."""
        limited, self._limited = self._limited, asyncio.Event()
        limited.set()

    async def ask(self, guild_id: int, request: Awaitable[Any]) -> Outcome:
        """Send `request` (discord.py's chunking of the guild) and wait for its answer, bounded."""
        self._asked[guild_id] = self._clock()
        limited = self._limited
        answer = asyncio.ensure_future(request)
        refused = asyncio.ensure_future(limited.wait())
        try:
            done, _ = await asyncio.wait(
                {answer, refused}, timeout=self._timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiting in (answer, refused):
                waiting.cancel()
        if answer in done:
            answer.result()  # a failed request raises here
            return Outcome.RECEIVED
        return Outcome.RATE_LIMITED if refused in done else Outcome.TIMED_OUT
