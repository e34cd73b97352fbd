"""Where each thread's message stream was left: read at backfill, moved as messages are applied.

Positions are *written* by the core (a `CursorMoved` event through the same ordered sink as the
messages it covers, so a stored position never runs ahead of the stored messages); this module
decides *when* a position may move and reads stored positions back.

The one rule: while a thread is being backfilled its position is held, because live messages
(newer) may be applied before the backfilled ones (older); moving the position to the newest live
message then crashing would skip the older ones for good. When the backfill finishes the position
jumps to the newest of both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chatbridge.adapters.discord.translate import PLATFORM, guild_scope, thread_scope_prefix
from chatbridge.store.engine import reading
from chatbridge.store.tables import PlatformCursor


@dataclass
class CursorBook:
    """Newest applied message id per scope, and which scopes may be written now."""

    _applied: dict[str, tuple[int, int]] = field(default_factory=dict)
    _held: dict[str, int] = field(default_factory=dict)
    _dirty: set[str] = field(default_factory=set)

    def applied(self, guild_id: int, scope: str, message_id: int) -> None:
        """A message of `scope` is durably applied."""
        _, current = self._applied.get(scope, (guild_id, 0))
        if message_id > current:
            self._applied[scope] = (guild_id, message_id)
            if scope not in self._held:
                self._dirty.add(scope)

    def hold(self, scope: str) -> None:
        self._held[scope] = self._held.get(scope, 0) + 1
        self._dirty.discard(scope)

    def release(self, guild_id: int, scope: str, message_id: int | None) -> None:
        """Backfill of `scope` is applied up to `message_id`; the position may move again."""
        count = self._held.get(scope, 0) - 1
        if count > 0:
            self._held[scope] = count
        else:
            self._held.pop(scope, None)
        if message_id is not None:
            self.applied(guild_id, scope, message_id)
        if scope not in self._held and scope in self._applied:
            self._dirty.add(scope)

    def take(self) -> list[tuple[int, str, int]]:
        """Positions to write now, as (guild id, scope, message id); each is handed out once."""
        out = [(self._applied[scope][0], scope, self._applied[scope][1]) for scope in sorted(self._dirty)]
        self._dirty.clear()
        return out


@dataclass(frozen=True, slots=True)
class GuildCursors:
    """What the store knows of a guild: its watermark and each thread's newest applied message."""

    watermark: int | None
    threads: Mapping[int, int]


def load(engine: Engine, guild_id: int) -> GuildCursors:
    """Read a guild's positions (blocking; run it in a worker thread)."""
    prefix = thread_scope_prefix(guild_id)
    with Session(reading(engine)) as session:
        rows = session.exec(
            select(PlatformCursor).where(
                PlatformCursor.platform == PLATFORM.value,
                col(PlatformCursor.scope).startswith(prefix, autoescape=True),
            )
        ).all()
        mark = session.get(PlatformCursor, (PLATFORM.value, guild_scope(guild_id)))
    threads: dict[int, int] = {}
    for row in rows:
        thread_id, value = row.scope[len(prefix) :], row.value
        if thread_id.isdigit() and value.isdigit():
            threads[int(thread_id)] = int(value)
    watermark = int(mark.value) if mark is not None and mark.value.isdigit() else None
    return GuildCursors(watermark, threads)
