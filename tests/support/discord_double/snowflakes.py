"""Snowflake ids shaped like Discord's, so ordering by id means ordering by time.

https://discord.com/developers/docs/reference#snowflakes

Backfill code pages through history with ``before``/``after`` ids and compares message ids to
decide what is new; random ids would make that logic pass or fail by luck.  Every id here carries
a real millisecond timestamp, and ids handed out by one generator strictly increase.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

DISCORD_EPOCH_MS = 1_420_070_400_000
"""First millisecond of 2015, the zero point of every snowflake timestamp."""

_INCREMENT_BITS = 12
_PROCESS_SHIFT = 12
_WORKER_SHIFT = 17
_TIMESTAMP_SHIFT = 22


def snowflake_time(snowflake: int) -> datetime:
    """When the object behind ``snowflake`` was created; tests use it to check backdated ids."""
    return datetime.fromtimestamp(((snowflake >> _TIMESTAMP_SHIFT) + DISCORD_EPOCH_MS) / 1000, tz=UTC)


def shard_for(guild_id: int, shard_count: int) -> int:
    """The shard that receives a guild's events (Discord's sharding formula).

    https://discord.com/developers/docs/events/gateway#sharding
    """
    return (guild_id >> _TIMESTAMP_SHIFT) % shard_count


class SnowflakeGenerator:
    """Hands out strictly increasing, timestamp-based snowflakes.

    One generator belongs to one double, so two doubles in one process never share a counter.
    """

    def __init__(self, *, worker_id: int = 1, process_id: int = 0) -> None:
        self._worker_id = worker_id & 0x1F
        self._process_id = process_id & 0x1F
        self._last_ms = 0
        self._increment = 0

    def _compose(self, millis: int, increment: int) -> int:
        return (
            ((millis - DISCORD_EPOCH_MS) << _TIMESTAMP_SHIFT)
            | (self._worker_id << _WORKER_SHIFT)
            | (self._process_id << _PROCESS_SHIFT)
            | (increment & ((1 << _INCREMENT_BITS) - 1))
        )

    def next(self) -> int:
        """A new id for "now"; if the clock has not moved it borrows the next millisecond slot."""
        now_ms = int(time.time() * 1000)
        if now_ms > self._last_ms:
            self._last_ms = now_ms
            self._increment = 0
        else:
            self._increment += 1
            if self._increment >= 1 << _INCREMENT_BITS:
                self._last_ms += 1
                self._increment = 0
        return self._compose(self._last_ms, self._increment)

    def at(self, moment: datetime) -> int:
        """An id whose timestamp is ``moment``: used for history that "happened" while the bot was down.

        Backdated ids do not advance the live counter, but they never collide with each other
        because the increment still moves.
        """
        millis = int(moment.timestamp() * 1000)
        self._increment += 1
        return self._compose(millis, self._increment)

    def for_shard(self, shard_id: int, shard_count: int) -> int:
        """A fresh id that routes to ``shard_id`` so sharding tests can place guilds deliberately."""
        while True:
            candidate = self.next()
            if shard_for(candidate, shard_count) == shard_id:
                return candidate
            # Jump to the next millisecond; the shard only depends on the timestamp bits.
            self._last_ms += 1
            self._increment = -1
