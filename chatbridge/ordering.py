"""Locks by key, so that work on one thing runs in order while work on others runs alongside.

The dispatcher runs commands concurrently but keeps one member's commands in order (their
answers too), and one thread's moderation in order: each command holds the locks of its keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager

Key = tuple[str, ...]


class KeyedLocks:
    """Asyncio locks made on first use and dropped once nobody holds or waits for them, so a
    long-running bot keeps no lock per member it ever heard from."""

    def __init__(self) -> None:
        self._locks: dict[Key, asyncio.Lock] = {}
        self._users: dict[Key, int] = {}

    @asynccontextmanager
    async def holding(self, keys: Iterable[Key]) -> AsyncIterator[None]:
        """Hold every lock of `keys`, taken in one global order (sorted) so that two holders of
        overlapping keys never wait for each other in a circle."""
        async with AsyncExitStack() as stack:
            for key in sorted(set(keys)):
                await stack.enter_async_context(self._one(key))
            yield

    def __len__(self) -> int:
        """How many keys are held or waited for right now."""
        return len(self._locks)

    @asynccontextmanager
    async def _one(self, key: Key) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]
