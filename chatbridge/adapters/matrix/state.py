"""What the parts of `MatrixPlatform` share: the client, the configuration and the state of one run.

`MatrixPlatform` is assembled from mixins, one per module (`requests`, `delivery`, `login`,
`invites`, `sync`, `direct`, `verbs`); each reads and writes these attributes, which
`MatrixPlatform.__init__` sets up. (Not to be confused with `login.PlatformState`, where the
adapter keeps what must survive a restart.)
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from nio import AsyncClient

from chatbridge.adapters.matrix.rooms import Levels, RoomState
from chatbridge.platform import EventSink

if TYPE_CHECKING:
    from chatbridge.adapters.matrix.client import MatrixOptions
    from chatbridge.adapters.matrix.login import PlatformState


class Lru:
    """A bounded mapping (oldest entries fall out), so long runs do not grow memory."""

    def __init__(self, capacity: int) -> None:
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._capacity = capacity

    def get(self, key: str) -> Any:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def pop(self, key: str) -> None:
        self._items.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._items


class MatrixState:
    """The attributes every part of the platform may use (declared here, set in `__init__`)."""

    homeserver: str
    user_id: str
    _state: PlatformState
    _password: str | None
    _access_token: str | None
    _device_name: str
    _allowed_inviters: tuple[str, ...]
    _configured_entries: tuple[str, ...]
    _configured: tuple[str, ...]
    _backfill: timedelta
    _levels: Levels
    _options: MatrixOptions
    _clock: Callable[[], datetime]
    _client: AsyncClient | None
    _sink: EventSink | None
    _is_command: Callable[[str], bool]
    _strip_prefix: Callable[[str], str | None]
    _rooms: dict[str, RoomState]
    _communities: Mapping[str, str]
    _wanted: tuple[str, ...]
    _order: tuple[str, ...]
    _announced: dict[str, tuple[str, str, bool, str | None]]
    _join_attempted: set[str]
    _invites_handled: set[str]
    _since: str | None
    _floor_ms: int
    _senders: Lru
    _roots: Lru
    _threads_started: Lru
    _seen: Lru
    _seen_changed: asyncio.Condition | None
    _direct_rooms: dict[str, str]
    _direct_lock: asyncio.Lock | None
    _stopping: asyncio.Event | None
