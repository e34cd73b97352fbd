"""What the double saw, in order, with awaitable look-ups so tests never sleep.

Every REST call and gateway milestone lands in a :class:`Journal`.  Tests either inspect the
journal after the fact or ``await journal.wait_for(...)``, which returns as soon as a matching
entry exists (already recorded or arriving later) and fails with the journal's contents on timeout.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import unquote

DEFAULT_TIMEOUT = 5.0
"""Generous for a local socket, short enough that a hung test fails fast."""


T = TypeVar("T")


class Journal(Generic[T]):
    """An append-only list that can be awaited for "at least N entries matching P"."""

    def __init__(self, name: str, *, wait_timeout: float = DEFAULT_TIMEOUT) -> None:
        self._name = name
        self.wait_timeout = wait_timeout
        """How long :meth:`wait_for` waits before failing the test."""
        self._items: list[T] = []
        self._waiters: list[tuple[Callable[[T], bool], int, asyncio.Future[list[T]]]] = []

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> T:
        return self._items[index]

    def matching(self, predicate: Callable[[T], bool]) -> list[T]:
        return [item for item in self._items if predicate(item)]

    def append(self, item: T) -> None:
        self._items.append(item)
        still_waiting = []
        for predicate, count, future in self._waiters:
            if future.done():
                continue
            found = self.matching(predicate)
            if len(found) >= count:
                future.set_result(found)
            else:
                still_waiting.append((predicate, count, future))
        self._waiters = still_waiting

    async def wait_for(
        self,
        predicate: Callable[[T], bool] = lambda _item: True,
        *,
        count: int = 1,
        description: str = "",
    ) -> list[T]:
        """All matching entries once there are at least ``count`` of them."""
        found = self.matching(predicate)
        if len(found) >= count:
            return found
        future: asyncio.Future[list[T]] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, count, future))
        try:
            return await asyncio.wait_for(future, self.wait_timeout)
        except TimeoutError:
            recent = "\n  ".join(repr(item) for item in self._items[-15:]) or "(empty)"
            raise AssertionError(
                f"timed out after {self.wait_timeout}s waiting for {count} x {description or 'entry'} "
                f"in {self._name}; {len(self._items)} recorded, last ones:\n  {recent}"
            ) from None


_HEADERS_OF_INTEREST = ("Authorization", "X-Audit-Log-Reason", "Content-Type", "User-Agent")


@dataclass
class RestCall:
    """One HTTP request as the double received it, plus what it answered."""

    method: str
    path: str
    """Percent-decoded path below the API base, e.g. ``/channels/1/messages/2/reactions/👍/@me``."""
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    files: list[str] = field(default_factory=list)
    route: str | None = None
    """The route template that handled the call, e.g. ``/channels/{channel_id}/messages``."""
    status: int = 0
    response: Any = None
    answer_lost: bool = False
    """Carried out, but its answer was dropped on purpose (``DiscordDouble.lose_answer``)."""

    @property
    def audit_log_reason(self) -> str | None:
        """The X-Audit-Log-Reason header, decoded (clients percent-encode it)."""
        raw = self.headers.get("X-Audit-Log-Reason")
        return unquote(raw) if raw is not None else None

    def __repr__(self) -> str:
        return f"<RestCall {self.method} {self.path} -> {self.status} route={self.route}>"


def interesting_headers(headers: Any) -> dict[str, str]:
    return {name: headers[name] for name in _HEADERS_OF_INTEREST if name in headers}


class PathPattern:
    """A concrete path (``/channels/1/messages``) or a template (``/channels/{channel_id}/messages``).

    Templates match any value in the placeholders, so tests can assert on a kind of call without
    knowing every id.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        if "{" in pattern:
            parts = re.split(r"(\{[^}]+\})", pattern)
            regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
            self._regex: re.Pattern[str] | None = re.compile(f"^{regex}$")
        else:
            self._regex = None

    def matches(self, path: str, route: str | None = None) -> bool:
        if self._regex is None:
            return path == self.pattern
        return bool(self._regex.match(path)) or route == self.pattern


def call_matcher(
    method: str, path: str, where: Callable[[RestCall], bool] | None = None
) -> Callable[[RestCall], bool]:
    pattern = PathPattern(path)
    wanted = method.upper()

    def predicate(call: RestCall) -> bool:
        return (
            call.method == wanted
            and pattern.matches(call.path, call.route)
            and (where is None or where(call))
        )

    return predicate


@dataclass(frozen=True)
class GatewayFrame:
    """One gateway payload, sent (``direction="out"``) or received (``"in"``)."""

    direction: str
    connection_id: int
    shard: tuple[int, int] | None
    op: int
    data: Any
    seq: int | None = None
    event: str | None = None

    def __repr__(self) -> str:
        label = self.event or f"op={self.op}"
        return f"<GatewayFrame {self.direction} conn={self.connection_id} {label} s={self.seq}>"


@dataclass(frozen=True)
class IdentifyRecord:
    """A completed IDENTIFY: READY and the shard's GUILD_CREATEs have been written."""

    payload: dict[str, Any]
    session_id: str
    shard: tuple[int, int]
    connection_id: int

    @property
    def intents(self) -> int:
        return int(self.payload.get("intents", 0))


@dataclass(frozen=True)
class ResumeRecord:
    """A completed RESUME: missed dispatches replayed, then RESUMED written."""

    session_id: str
    shard: tuple[int, int]
    client_seq: int | None
    replayed: tuple[str, ...]
    """Event names replayed, in order."""
    connection_id: int


@dataclass(frozen=True)
class ConnectionRecord:
    """A websocket opened by the client, with the query it used."""

    connection_id: int
    path: str
    query: dict[str, str]
