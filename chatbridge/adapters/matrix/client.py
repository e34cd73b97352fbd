"""The Matrix platform: a thin matrix-nio shell around the pure `translate` and `rooms` modules.

`MatrixPlatform` is assembled from mixins over the shared `state.MatrixState`: `login` (login, the
stored position, the configured rooms), `sync` (the sync loop), `invites` (invites and joins),
`verbs` (the Platform verbs), `direct` (direct chats and the commands written there), `reports`
(reports made with a client's Report action), `delivery` (events and cursors into the sink)
and `requests` (requests and rate limits); `errors` classifies failures. This module keeps the
options, the client and the lifecycle.

What the shell adds is I/O and ordering:

* Login with a password or an access token; the device id and token are kept (through
  `PlatformState`, i.e. the PlatformSession table) and reused, so a restart is not a new device.
* Its own sync loop (nio's ``sync_forever`` saves the token before the callbacks run, which loses
  events on a crash): each batch is translated and delivered in order, and only then a
  ``CursorMoved`` with the batch's ``next_batch`` goes through the same sink, so the store writes
  the position after the events it covers. A limited timeline is filled from /messages back to the
  previous position; the first start applies no history older than ``matrix.backfill_hours``.
* Sends with transaction ids derived from idempotency keys, and 429s honoured (Retry-After, then
  ``retry_after_ms``) a bounded number of times before `RateLimited` hands the wait to the caller.

Failures follow `chatbridge.platform.PlatformError`: a refusal retrying cannot fix (no permission,
no such member) is a `PlatformError`; a rate limit is `RateLimited` (the outbox's `RetryLater`) and
an unreachable or failing homeserver is `HomeserverUnavailable`, both of which the outbox retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from nio import AsyncClient, AsyncClientConfig

from chatbridge.adapters.matrix.delivery import Held
from chatbridge.adapters.matrix.login import PlatformState
from chatbridge.adapters.matrix.reports import EventReports
from chatbridge.adapters.matrix.rooms import Levels, RoomState
from chatbridge.adapters.matrix.state import Lru
from chatbridge.adapters.matrix.sync import SyncLoop
from chatbridge.adapters.matrix.verbs import Verbs
from chatbridge.model import PlatformName
from chatbridge.platform import EventSink

if TYPE_CHECKING:
    from chatbridge.registry import Registry

__all__ = ["MatrixOptions", "MatrixPlatform", "utc_now"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MatrixOptions:
    """Tunables, with production defaults; tests shorten a few."""

    timeline_limit: int = 50
    poll_timeout_ms: int = 30_000
    request_timeout: float = 60.0
    rate_limit_retries: int = 3
    max_rate_limit_wait: float = 30.0
    gap_page_size: int = 100
    max_gap_pages: int = 200
    max_backoff: float = 60.0
    remembered_events: int = 10_000
    remembered_roots: int = 256
    report_poll_seconds: float = 30.0
    """How often the homeserver's event reports are read (when the bot may read them)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class MatrixPlatform(SyncLoop, Verbs, EventReports):
    """One Matrix account serving the communities it is in."""

    name: PlatformName = PlatformName.MATRIX

    def __init__(
        self,
        *,
        homeserver: str,
        user_id: str,
        state: PlatformState,
        password: str | None = None,
        access_token: str | None = None,
        device_name: str = "chatbridge",
        allowed_inviters: Sequence[str] = (),
        community_rooms: Sequence[str] = (),
        backfill_hours: int = 0,
        levels: Levels | None = None,
        options: MatrixOptions | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self._state = state
        self._password = password
        self._access_token = access_token
        self._device_name = device_name
        self._allowed_inviters = tuple(allowed_inviters)
        self._configured_entries = tuple(community_rooms)
        self._configured: tuple[str, ...] = ()
        self._backfill = timedelta(hours=backfill_hours)
        self._levels = levels or Levels()
        self._options = options = options or MatrixOptions()
        self._clock = clock
        self._client: AsyncClient | None = None
        self._sink: EventSink | None = None
        self._is_command: Callable[[str], bool] = lambda text: text.startswith(("!", "/"))
        self._strip_prefix: Callable[[str], str | None] = lambda text: (
            text.lstrip()[1:] if text.lstrip().startswith("!") else None
        )
        self._rooms: dict[str, RoomState] = {}
        self._communities: Mapping[str, str] = {}
        self._wanted: tuple[str, ...] = ()
        self._order: tuple[str, ...] = ()
        self._announced: dict[str, tuple[str, str, bool, str | None]] = {}
        self._join_attempted: set[str] = set()
        self._invites_handled: set[str] = set()
        self._since: str | None = None
        self._floor_ms = 0
        self._senders = Lru(options.remembered_events)
        self._roots = Lru(options.remembered_roots)
        self._threads_started = Lru(options.remembered_events)
        self._seen = Lru(options.remembered_events)
        self._seen_changed: asyncio.Condition | None = None
        self._direct_rooms: dict[str, str] = {}
        self._direct_lock: asyncio.Lock | None = None
        self._stopping: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._reports_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        """Log in, catch up (RoomSeen for every sub-forum, then what happened while away), and
        start the sync loop, which `stop` ends."""
        if self._task is not None:
            raise RuntimeError("the Matrix platform is already started")
        self._sink = sink
        self._stopping = asyncio.Event()
        self._seen_changed = asyncio.Condition()
        self._direct_lock = asyncio.Lock()
        self._client = AsyncClient(
            self.homeserver,
            self.user_id,
            config=AsyncClientConfig(
                encryption_enabled=False,
                store_sync_tokens=False,
                max_limit_exceeded=0,  # 429s are ours to handle (Retry-After, bounded)
                max_timeouts=0,  # connection errors too (nio would retry forever)
                request_timeout=self._options.request_timeout,
            ),
        )
        try:
            await self._login()
            await self._load_position()
            self._configured = await self._resolve_configured()
            try:
                await self._handle(await self._settle())
            except Held as held:
                log.warning("Matrix: %s; the sync loop takes the first batch again", held)
        except BaseException:
            await self._client.close()
            self._client = None
            raise
        self._task = asyncio.create_task(self._run(), name="matrix sync")
        self._reports_task = await self._start_reading_reports()

    async def stop(self) -> None:
        """Stop after the batch in hand is delivered (an idle long-poll is abandoned)."""
        if self._stopping is not None:
            self._stopping.set()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await task
            except Exception:
                log.exception("the Matrix sync loop failed")
        if self._reports_task is not None:
            reports, self._reports_task = self._reports_task, None
            try:
                await reports
            except Exception:
                log.exception("reading the Matrix event reports failed")
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
        self._sink = None

    async def register_commands(self, registry: Registry) -> None:
        """Matrix has no command registry; keep the prefixes to recognise commands in a batch."""
        self._is_command = lambda text: registry.strip_prefix(text) is not None
        self._strip_prefix = registry.strip_prefix

    async def caught_up(self, event_id: str) -> None:
        """Return once the sync batch that holds `event_id` is applied, its position included.

        For tests and the sandbox, which wrap it in a timeout; the sync loop itself never waits.
        """
        assert self._seen_changed is not None, "not started"
        async with self._seen_changed:
            await self._seen_changed.wait_for(lambda: event_id in self._seen)
