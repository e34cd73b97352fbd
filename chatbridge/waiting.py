"""Waiting with a time limit, without losing a cancellation.

On Python 3.11, `asyncio.wait_for` can turn a cancellation that arrives as its timeout fires into
a TimeoutError (gh-86296); a worker loop that treats TimeoutError as "nothing happened" then never
stops, and the application hangs on shutdown. `asyncio.timeout` tells the two apart, so every
timed wait in chatbridge goes through these helpers.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` seconds pass; True if it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def get_within(queue: asyncio.Queue[T], seconds: float) -> T | None:
    """The next item of `queue`, or None when none arrives within `seconds` seconds."""
    if seconds <= 0:
        return queue.get_nowait() if not queue.empty() else None
    try:
        async with asyncio.timeout(seconds):
            return await queue.get()
    except TimeoutError:
        return None
