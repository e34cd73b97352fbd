"""Asking Discord for a guild's whole member list: at most once per guild every 30 seconds, and
never waiting for it forever.

Discord allows one request for all of a guild's members per guild per bot every 30 seconds and
answers another with a RATE_LIMITED dispatch instead of the member chunks (discord-api-docs
change-log, 2025-08-14). discord.py does not handle that dispatch and waits for the chunks without
a time limit, so an unanswered request would hold its task until the next IDENTIFY.

The dispatch says when to ask again (gateway-events.mdx, Rate Limited: `retry_after`, and
`meta.guild_id` for a member request). discord.py hands a frame's payload to the application only
as `on_socket_raw_receive`, with the client's public `enable_debug_events` option, so the adapter
reads RATE_LIMITED there (`rate_limited_frame`) and asks again once that time has passed.

Asking again needs one private touch: discord.py keeps the refused request pending (it never
learns of the refusal) and `Guild.chunk` only waits on a pending request instead of sending a new
one; no public call sends another request for the whole list (`Guild.query_members` stops at
100). `forget_refused_request` drops that pending request, and does nothing if discord.py changes
shape (the next request then times out, as before, and is logged).
"""

from __future__ import annotations

import asyncio
import json
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
        self._retry_at: dict[int, float] = {}
        self._limited = asyncio.Event()

    def delay(self, guild_id: int) -> float:
        """Seconds to wait before this guild's list may be asked for again (0: now): what Discord
        said in its last RATE_LIMITED for it, else our own 30 seconds since the last request."""
        now = self._clock()
        retry_at = self._retry_at.get(guild_id)
        if retry_at is not None:
            return max(0.0, retry_at - now)
        last = self._asked.get(guild_id)
        return 0.0 if last is None else max(0.0, last + self._interval - now)

    def rate_limited(self, guild_id: int | None = None, retry_after: float | None = None) -> None:
        """Discord sent RATE_LIMITED: the pending waits end (no chunks will come for them), and
        the guild's list may be asked for again after `retry_after` seconds."""
        if guild_id is not None and retry_after is not None:
            self._retry_at[guild_id] = self._clock() + max(0.0, retry_after)
        limited, self._limited = self._limited, asyncio.Event()
        limited.set()

    async def ask(self, guild_id: int, request: Awaitable[Any]) -> Outcome:
        """Send `request` (discord.py's chunking of the guild) and wait for its answer, bounded."""
        self._asked[guild_id] = self._clock()
        self._retry_at.pop(guild_id, None)
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


def rate_limited_frame(raw: object) -> tuple[int | None, float | None] | None:
    """(guild id, retry_after) of a RATE_LIMITED dispatch frame; None for any other frame.

    Every received frame passes here, so anything without the event's name is left unparsed.
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else raw
    if not isinstance(text, str) or "RATE_LIMITED" not in text:
        return None
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    if not isinstance(frame, dict) or frame.get("t") != "RATE_LIMITED":
        return None
    data = frame.get("d")
    if not isinstance(data, dict):
        return None
    meta = data.get("meta")
    guild = meta.get("guild_id") if isinstance(meta, dict) else None
    retry_after = data.get("retry_after")
    return (
        int(guild) if isinstance(guild, str | int) and str(guild).isdigit() else None,
        float(retry_after) if isinstance(retry_after, int | float) else None,
    )


def forget_refused_request(client: object, guild_id: int) -> None:
    """Drop discord.py's pending chunk request for the guild (see the module doc: private API)."""
    state = getattr(client, "_connection", None)
    pending = getattr(state, "_chunk_requests", None)
    if isinstance(pending, dict):
        pending.pop(guild_id, None)
