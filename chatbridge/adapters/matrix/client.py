"""The Matrix platform: a thin matrix-nio shell around the pure `translate` and `rooms` modules.

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
import hashlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    LoginResponse,
    MessageDirection,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomGetStateEventResponse,
    RoomLeaveResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomResolveAliasResponse,
    SyncResponse,
    WhoamiResponse,
)

from chatbridge.adapters.matrix import translate
from chatbridge.adapters.matrix.rooms import (
    DIRECT_MARKER,
    Levels,
    NeedPower,
    RoomState,
    check_power_to_restore,
    community_name,
    muted_power_levels,
    plan_communities,
    restored_power_levels,
    server_of,
)
from chatbridge.adapters.matrix.translate import Malformed, Where
from chatbridge.model import (
    ChatEvent,
    CommandInvoked,
    CursorMoved,
    MessagePosted,
    MessageRef,
    OutgoingMessage,
    PlatformName,
    Privilege,
    Room,
    RoomSeen,
)
from chatbridge.platform import EventSink, MuteResult, PlatformError, RetryLater
from chatbridge.render.escape import escape_user_text

if TYPE_CHECKING:
    from chatbridge.registry import Registry

log = logging.getLogger(__name__)

_TRANSIENT = (aiohttp.ClientError, TimeoutError, OSError)
_SETTLE_ROUNDS = 3


class RateLimited(RetryLater):
    """The homeserver still says 429 after the bounded retries; try again after `retry_after` s."""


class HomeserverUnavailable(ConnectionError):
    """The homeserver cannot be reached or failed (5xx); passing, so callers retry later."""


class MatrixLoginError(PlatformError):
    """The homeserver refuses the bot's login (a wrong password, a token of another account);
    the message names what to fix."""


class _SyncFailed(Exception):
    def __init__(self, errcode: str | None, message: str) -> None:
        super().__init__(f"{errcode or 'error'}: {message}")
        self.errcode = errcode


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A device login kept between runs (the PlatformSession row)."""

    device_id: str
    access_token: str = field(repr=False)


class PlatformState(Protocol):
    """Where the adapter keeps what must survive a restart. The runner implements it over the
    store, so the adapter itself never imports the store. Blocking; called in a worker thread."""

    def load_session(self, account: str) -> StoredSession | None: ...

    def save_session(self, account: str, session: StoredSession) -> None: ...

    def load_cursor(self, scope: str) -> str | None: ...


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


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Lru:
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


class MatrixPlatform:
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
        self._rooms: dict[str, RoomState] = {}
        self._communities: Mapping[str, str] = {}
        self._wanted: tuple[str, ...] = ()
        self._order: tuple[str, ...] = ()
        self._announced: dict[str, tuple[str, str, bool, str | None]] = {}
        self._join_attempted: set[str] = set()
        self._invites_handled: set[str] = set()
        self._since: str | None = None
        self._floor_ms = 0
        self._senders = _Lru(options.remembered_events)
        self._roots = _Lru(options.remembered_roots)
        self._threads_started = _Lru(options.remembered_events)
        self._seen = _Lru(options.remembered_events)
        self._seen_changed: asyncio.Condition | None = None
        self._direct_rooms: dict[str, str] = {}
        self._direct_lock: asyncio.Lock | None = None
        self._stopping: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

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
            await self._handle(await self._settle())
        except BaseException:
            await self._client.close()
            self._client = None
            raise
        self._task = asyncio.create_task(self._run(), name="matrix sync")

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
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
        self._sink = None

    async def register_commands(self, registry: Registry) -> None:
        """Matrix has no command registry; keep the prefixes to recognise commands in a batch."""
        self._is_command = lambda text: registry.strip_prefix(text) is not None

    async def caught_up(self, event_id: str) -> None:
        """Return once the sync batch that holds `event_id` is applied, its position included.

        For tests and the sandbox, which wrap it in a timeout; the sync loop itself never waits.
        """
        assert self._seen_changed is not None, "not started"
        async with self._seen_changed:
            await self._seen_changed.wait_for(lambda: event_id in self._seen)

    # -- login -----------------------------------------------------------------------------------

    async def _login(self) -> None:
        client = self._require_client()
        try:
            if self._access_token:
                if not await self._adopt(self._access_token, None):
                    raise MatrixLoginError(
                        f"the homeserver refused CHATBRIDGE_MATRIX_ACCESS_TOKEN for {self.user_id}"
                    )
                return
            stored = await asyncio.to_thread(self._state.load_session, self.user_id)
            if stored is not None and await self._adopt(stored.access_token, stored.device_id):
                log.info("Matrix: resumed device %s of %s", stored.device_id, self.user_id)
                return
            if not self._password:
                raise MatrixLoginError(
                    f"no login for {self.user_id}: set CHATBRIDGE_MATRIX_PASSWORD or "
                    "CHATBRIDGE_MATRIX_ACCESS_TOKEN"
                )
            client.device_id = stored.device_id if stored is not None else None  # same device again
            response = await client.login(self._password, device_name=self._device_name)
        except _TRANSIENT as error:
            raise HomeserverUnavailable(
                f"cannot reach the Matrix homeserver at {self.homeserver}: {error}"
            ) from None
        if not isinstance(response, LoginResponse):
            raise MatrixLoginError(
                f"the homeserver refused the login for {self.user_id}: {_describe(response)}"
            )
        saved = StoredSession(str(response.device_id), str(response.access_token))
        await asyncio.to_thread(self._state.save_session, self.user_id, saved)
        log.info("Matrix: logged in as %s (device %s)", self.user_id, saved.device_id)

    async def _adopt(self, token: str, device_id: str | None) -> bool:
        """Use a token if the server still accepts it; False when it is unknown or expired."""
        client = self._require_client()
        client.access_token = token
        client.user_id = self.user_id
        response = await client.whoami()
        if isinstance(response, WhoamiResponse):
            if response.user_id != self.user_id:
                raise MatrixLoginError(
                    f"the access token belongs to {response.user_id}, not to matrix.user_id {self.user_id}"
                )
            client.device_id = response.device_id or device_id
            return True
        if getattr(response, "status_code", None) in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
            client.access_token = ""
            return False
        raise MatrixLoginError(f"the homeserver could not check the login: {_describe(response)}")

    async def _load_position(self) -> None:
        """The stored sync token, and the history floor set at the very first start."""
        self._since = await asyncio.to_thread(self._state.load_cursor, self._scope("sync"))
        floor = await asyncio.to_thread(self._state.load_cursor, self._scope("floor"))
        if floor is not None and floor.isdigit():
            self._floor_ms = int(floor)
            return
        if self._since is not None:
            self._floor_ms = 0
            return
        self._floor_ms = int((self._clock() - self._backfill).timestamp() * 1000)
        await self._deliver_one(self._cursor("floor", str(self._floor_ms)))

    async def _resolve_configured(self) -> tuple[str, ...]:
        client = self._require_client()
        resolved: list[str] = []
        for entry in self._configured_entries:
            if entry.startswith("#"):
                response = await client.room_resolve_alias(entry)
                if not isinstance(response, RoomResolveAliasResponse):
                    raise MatrixLoginError(
                        f"matrix.community_rooms: {entry} does not resolve: {_describe(response)}"
                    )
                resolved.append(str(response.room_id))
            else:
                resolved.append(entry)
        return tuple(resolved)

    # -- the sync loop ---------------------------------------------------------------------------

    async def _settle(self) -> SyncResponse:
        """The first sync after start, taken again (from the same position, so nothing is skipped)
        after joining the community rooms it revealed: a configured space shows its children only
        once joined. Bounded: a space inside a space needs a round per level.

        Synapse answers a repeated identical /sync (same device, position and filter) from a
        two-minute cache, so a quick restart may see an older response: harmless, the position it
        gives is older, and the events after it are applied (once) by the next syncs.
        """
        response = await self._sync(full_state=True, wait_ms=0)
        for _ in range(_SETTLE_ROUNDS):
            joined = await self._absorb(response)
            if not (await self._join_wanted() or joined):
                break
            response = await self._sync(full_state=True, wait_ms=0)
        return response

    async def _run(self) -> None:
        delay = 1.0
        stopping = self._require_stopping()
        while not stopping.is_set():
            try:
                response = await self._next_sync()
                if response is None:
                    return
                await self._handle(response)
                await self._join_wanted()
                delay = 1.0
                continue
            except _SyncFailed as failure:
                if failure.errcode not in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
                    log.warning("Matrix sync refused (%s); retrying in %.0f s", failure, delay)
                elif not self._password:
                    log.error("Matrix: the homeserver no longer accepts the bot's token; sync stopped")
                    return
                else:
                    log.warning("Matrix: the bot's token was revoked; logging in again")
                    self._access_token = None
                    try:
                        await self._login()
                        continue
                    except PlatformError as error:
                        log.error("Matrix: %s; sync stopped", error)
                        return
                    except HomeserverUnavailable as error:
                        log.warning("Matrix: %s; retrying in %.0f s", error, delay)
            except _TRANSIENT as error:
                log.warning("Matrix homeserver unreachable (%s); retrying in %.0f s", error, delay)
            except Exception:
                log.exception("Matrix sync batch failed; retrying in %.0f s", delay)
            if await self._stop_within(delay):
                return
            delay = min(delay * 2, self._options.max_backoff)

    async def _stop_within(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self._require_stopping().wait()
            return True
        except TimeoutError:
            return False

    async def _next_sync(self) -> SyncResponse | None:
        """One long-poll, abandoned (None) as soon as `stop` is called."""
        poll = asyncio.create_task(self._sync(wait_ms=self._options.poll_timeout_ms))
        stop = asyncio.create_task(self._require_stopping().wait())
        try:
            await asyncio.wait((poll, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (poll, stop):
                task.cancel()
            await asyncio.gather(poll, stop, return_exceptions=True)
        if self._require_stopping().is_set():
            return None
        return poll.result()

    def _filter(self) -> dict[str, Any]:
        return {
            "presence": {"types": []},
            "account_data": {"types": []},
            "room": {
                "timeline": {"limit": self._options.timeline_limit},
                "ephemeral": {"types": []},
                "account_data": {"types": []},
                "state": {"lazy_load_members": False},
            },
        }

    async def _sync(self, *, wait_ms: int, full_state: bool = False) -> SyncResponse:
        client = self._require_client()
        response = await client.sync(
            timeout=wait_ms, sync_filter=self._filter(), since=self._since, full_state=full_state or None
        )
        if not isinstance(response, SyncResponse):
            raise _SyncFailed(getattr(response, "status_code", None), getattr(response, "message", ""))
        return response

    async def _absorb(self, response: SyncResponse) -> bool:
        """Take in a batch's invites, departures and room state; True if an invite was accepted."""
        rooms = response.rooms
        accepted = False
        for room_id, info in rooms.invite.items():
            accepted = (
                await self._consider_invite(room_id, [_source(e) for e in info.invite_state]) or accepted
            )
        for room_id in rooms.leave:
            self._invites_handled.discard(room_id)
            self._rooms.pop(room_id, None)
            self._announced.pop(room_id, None)
        for room_id, info in rooms.join.items():
            state = self._rooms.setdefault(room_id, RoomState(room_id))
            state.apply_all(_source(e) for e in info.state)
            state.apply_all(s for s in (_source(e) for e in info.timeline.events) if translate.is_state(s))
        plan = plan_communities(self._rooms, self._configured, bot_user_id=self.user_id)
        self._communities, self._wanted, self._order = plan.communities, plan.wanted, plan.order
        return accepted

    async def _handle(self, response: SyncResponse) -> None:
        """Translate and deliver one sync batch, in order, then its position."""
        since = self._since
        rooms = response.rooms
        await self._absorb(response)
        events: list[ChatEvent] = self._announcements(self._order)
        seen: list[str] = []
        for room_id, info in rooms.join.items():
            raws = [_source(e) for e in info.timeline.events]
            community = self._communities.get(room_id)
            if community is not None:
                if info.timeline.limited and info.timeline.prev_batch and self._gap_matters(raws, since):
                    raws = await self._fill_gap(room_id, info.timeline.prev_batch, since) + raws
                state = self._rooms[room_id]
                where = Where(
                    Room(PlatformName.MATRIX, community, room_id, state.label),
                    state,
                    self._levels,
                    self.user_id,
                )
                for raw in raws:
                    events.extend(await self._translate(raw, where))
            seen.extend(e for e in (raw.get("event_id") for raw in raws) if isinstance(e, str))
        await self._deliver(events)
        await self._deliver_one(self._cursor("sync", str(response.next_batch)))
        self._since = str(response.next_batch)
        await self._mark_seen(seen)

    async def _mark_seen(self, event_ids: Iterable[str]) -> None:
        condition = self._seen_changed
        assert condition is not None
        async with condition:
            for event_id in event_ids:
                self._seen.put(event_id, True)
            condition.notify_all()

    def _announcements(self, order: Sequence[str]) -> list[ChatEvent]:
        """RoomSeen for each sub-forum first seen, renamed, moved or made (non-)private, or whose
        space was renamed (each carries the space's name, which the community follows)."""
        out: list[ChatEvent] = []
        now = self._clock()
        for room_id in order:
            state = self._rooms[room_id]
            community = self._communities[room_id]
            named = community_name(self._rooms, community)
            key = (community, state.label, state.private, named)
            if self._announced.get(room_id) == key:
                continue
            self._announced[room_id] = key
            room = Room(PlatformName.MATRIX, community, room_id, state.label)
            out.append(
                RoomSeen(
                    event_id=f"room:{room_id}",
                    at=now,
                    room=room,
                    private=state.private,
                    community_name=named,
                )
            )
        return out

    def _gap_matters(self, timeline: Sequence[dict[str, Any]], since: str | None) -> bool:
        """Always after a stored position; on a first start only if the history floor (the
        backfill window) reaches further back than the timeline does."""
        if since is not None:
            return True
        stamps = [t for t in (translate.timestamp_ms(e) for e in timeline) if t is not None]
        return not stamps or min(stamps) >= self._floor_ms

    async def _fill_gap(self, room_id: str, prev_batch: str, since: str | None) -> list[dict[str, Any]]:
        """Events a limited timeline left out, oldest first: back from `prev_batch` to `since`
        (the last stored position), or on a first start back to the history floor."""
        client = self._require_client()
        collected: list[dict[str, Any]] = []
        token: str | None = prev_batch
        for _ in range(self._options.max_gap_pages):
            if token is None:
                break
            response = await client.room_messages(
                room_id,
                start=token,
                end=since,
                direction=MessageDirection.back,
                limit=self._options.gap_page_size,
            )
            if not isinstance(response, RoomMessagesResponse):
                raise _SyncFailed(getattr(response, "status_code", None), f"/messages: {_describe(response)}")
            chunk = [_source(e) for e in response.chunk]
            collected.extend(chunk)
            older = [t for t in (translate.timestamp_ms(e) for e in chunk) if t is not None]
            if not chunk or response.end in (None, token) or (older and min(older) < self._floor_ms):
                break
            token = response.end
        else:
            log.warning(
                "Matrix: stopped filling a gap in %s after %d pages", room_id, self._options.max_gap_pages
            )
        collected.reverse()
        if collected:
            log.info("Matrix: filled a gap of %d events in %s", len(collected), room_id)
        return collected

    async def _translate(self, raw: dict[str, Any], where: Where) -> list[ChatEvent]:
        """One timeline event -> neutral events, with the thread start of a new thread first."""
        ts = translate.timestamp_ms(raw)
        if ts is not None and ts < self._floor_ms:
            return []  # history from before the first start (outside matrix.backfill_hours)
        event_id, sender = raw.get("event_id"), raw.get("sender")
        out: list[ChatEvent] = []
        try:
            if isinstance(event_id, str) and isinstance(sender, str):
                self._senders.put(event_id, sender)
                if raw.get("type") == "m.room.message" and translate.thread_root(raw) is None:
                    target = translate.edit_target(raw)
                    if target is not None:
                        self._roots.pop(target)  # fetch the edited version if it becomes a root
                    else:
                        self._roots.put(event_id, raw)
            root = translate.thread_root(raw)
            if root is not None and root not in self._threads_started:
                root_event = self._roots.get(root) or await self._fetch_event(where.room.room_id, root)
                if root_event is not None:
                    start = translate.thread_start(root_event, where, self._is_command)
                    if start is not None:
                        out.append(start)
                self._threads_started.put(root, True)
            acted_on = translate.is_action_reaction(raw, self.user_id)
            if acted_on is not None and self._senders.get(acted_on) in (self.user_id, None):
                message = await self._fetch_event(where.room.room_id, acted_on)
                invoked = translate.action_invocation(raw, message, where) if message else None
                if invoked is not None:
                    return [*out, invoked]  # a 1️⃣ on a case card runs its action, nothing else
            target = translate.edit_target(raw)
            if target is not None and not await self._edited_by_author(where.room.room_id, target, sender):
                log.info("Matrix: ignored an edit of %s by someone other than its author", target)
                return out
            out.extend(translate.to_events(raw, where))
        except Malformed as problem:
            log.warning(
                "Matrix: ignored a malformed %s event %s in %s: %s",
                raw.get("type"),
                event_id,
                where.room.room_id,
                problem,
            )
        return out

    async def _edited_by_author(self, room_id: str, target: str, sender: object) -> bool:
        """Clients show an edit only from the original sender; the forum does the same."""
        author = self._senders.get(target)
        if author is None:
            original = await self._fetch_event(room_id, target)
            author = original.get("sender") if original is not None else None
        return author is not None and author == sender

    async def _fetch_event(self, room_id: str, event_id: str) -> dict[str, Any] | None:
        response = await self._require_client().room_get_event(room_id, event_id)
        if isinstance(response, RoomGetEventResponse):
            return _source(response.event)
        log.info("Matrix: could not fetch %s in %s: %s", event_id, room_id, _describe(response))
        return None

    async def _deliver(self, events: Sequence[ChatEvent]) -> None:
        """Deliver in order. Runs of plain events go concurrently: each one's submission enters the
        ingest queue before the next one's starts (FIFO), and waiting on them together lets one
        group commit cover the run. A command goes alone, after what precedes it is durable."""
        run: list[ChatEvent] = []
        for event in events:
            if isinstance(event, MessagePosted) and not event.actor.is_bot and self._is_command(event.text):
                await self._deliver_many(run)
                run = []
                await self._deliver_one(event)
            else:
                run.append(event)
        await self._deliver_many(run)

    async def _deliver_many(self, events: Sequence[ChatEvent]) -> None:
        if len(events) == 1:
            await self._deliver_one(events[0])
        elif events:
            await asyncio.gather(*(self._deliver_one(e) for e in events))

    async def _deliver_one(self, event: ChatEvent) -> None:
        if self._sink is None:
            raise RuntimeError("the Matrix platform is not started")
        await self._sink(event)

    def _scope(self, stream: str) -> str:
        return f"{stream}:{self.user_id}"

    def _cursor(self, stream: str, value: str) -> CursorMoved:
        room = Room(PlatformName.MATRIX, "", self._scope(stream), "")
        return CursorMoved(
            event_id=f"cursor:{self._scope(stream)}",
            at=self._clock(),
            room=room,
            scope=self._scope(stream),
            value=value,
        )

    # -- invites and joins -----------------------------------------------------------------------

    async def _consider_invite(self, room_id: str, invite_state: list[dict[str, Any]]) -> bool:
        """Join when the inviter is allowed (True), else refuse the invitation."""
        if room_id in self._invites_handled:
            return False
        self._invites_handled.add(room_id)
        client = self._require_client()
        who = translate.inviter(invite_state, self.user_id)
        if translate.invite_allowed(who, self._allowed_inviters) or room_id in self._configured:
            response = await client.join(room_id)
            if isinstance(response, JoinResponse):
                log.info("Matrix: joined %s on the invitation of %s", room_id, who)
                return True
            log.warning("Matrix: could not join %s: %s", room_id, _describe(response))
            return False
        response = await client.room_leave(room_id)
        outcome = "refused" if isinstance(response, RoomLeaveResponse) else "could not refuse"
        log.info(
            "Matrix: %s an invitation to %s from %s (not in matrix.allowed_inviters)", outcome, room_id, who
        )
        return False

    async def _join_wanted(self) -> bool:
        """Join configured rooms and community rooms not joined yet, once each per run."""
        client = self._require_client()
        joined_any = False
        wanted = [r for r in (*self._configured, *self._wanted) if not self._is_joined(r)]
        for room_id in dict.fromkeys(wanted):
            if room_id in self._join_attempted:
                continue
            self._join_attempted.add(room_id)
            response = await client.join(room_id)
            if isinstance(response, JoinResponse):
                log.info("Matrix: joined community room %s", room_id)
                joined_any = True
            else:
                log.warning(
                    "Matrix: could not join %s (%s); invite the bot to it", room_id, _describe(response)
                )
        return joined_any

    def _is_joined(self, room_id: str) -> bool:
        state = self._rooms.get(room_id)
        return state is not None and state.joined(self.user_id)

    # -- the Platform verbs ----------------------------------------------------------------------

    async def send(
        self, room: Room, message: OutgoingMessage, *, thread_id: str | None = None, idempotency_key: str
    ) -> MessageRef:
        """Post in a room or thread. Matrix has no ephemeral messages; notices sent this way are
        about the room (a locked thread), so they are posted there for everyone."""
        content = translate.message_content(
            message.markdown,
            mention_user_ids=message.mention_user_ids,
            thread_id=thread_id,
            actions=message.actions,
        )
        event_id = await self._send_event(
            room.room_id, "m.room.message", content, translate.txn_id(idempotency_key)
        )
        return MessageRef(PlatformName.MATRIX, room.room_id, event_id, thread_id, room.community_id)

    async def respond(self, invocation: CommandInvoked, message: OutgoingMessage) -> None:
        """Answer in the thread (or room) where the command was typed, as a reply to it. An
        ephemeral answer goes to a direct chat with the member instead: Matrix cannot show a
        message to one person in a shared room, and private answers (a profile change, a report
        receipt) must not be posted for everyone."""
        digest = hashlib.sha256(message.markdown.encode()).hexdigest()[:16]
        key = f"respond:{invocation.event_id}:{digest}"
        if message.ephemeral:
            await self._direct(invocation, message, key)
            return
        content = translate.message_content(
            message.markdown,
            mention_user_ids=message.mention_user_ids,
            thread_id=invocation.thread_id,
            reply_to=invocation.event_id,
        )
        await self._send_event(invocation.room.room_id, "m.room.message", content, translate.txn_id(key))

    async def react(self, ref: MessageRef, emoji: str) -> None:
        content = translate.reaction_content(ref.message_id, emoji)
        key = translate.txn_id(f"react:{ref.room_id}:{ref.message_id}:{emoji}")
        try:
            await self._send_event(ref.room_id, "m.reaction", content, key)
        except PlatformError as error:
            if "M_DUPLICATE_ANNOTATION" not in str(error):
                raise

    def permalink(self, ref: MessageRef) -> str:
        state = self._rooms.get(ref.room_id)
        via = state.via_servers() if state is not None else []
        if not via and server_of(ref.room_id):
            via = [server_of(ref.room_id)]
        return translate.permalink(ref.room_id, ref.message_id, via)

    async def create_thread(self, room: Room, title: str, message: OutgoingMessage) -> MessageRef:
        """Post the opening message; it is the thread's root, and replies to it form the thread."""
        content = translate.message_content(message.markdown, msgtype="m.text")
        root = await self._send_event(room.room_id, "m.room.message", content, f"cb.{uuid.uuid4().hex}")
        self._threads_started.put(root, True)
        return MessageRef(PlatformName.MATRIX, room.room_id, root, root, room.community_id)

    async def apply_mute(self, community_id: str, user_id: str, until: datetime, reason: str) -> MuteResult:
        """Lower the member's power level below `events_default` in every room of the community.

        Every room is checked before any is changed, and a failure half-way restores the rooms
        already changed, so a refused mute leaves nothing behind. The mute holds until lifted
        (`applied_until` is None: Matrix does not end it by itself).
        """
        rooms = self._rooms_of(community_id)
        changes: dict[str, tuple[dict[str, Any], int | None]] = {}
        for room_id in rooms:
            state = await self._fresh_power(room_id)
            try:
                change = muted_power_levels(state, user_id, bot_user_id=self.user_id)
            except NeedPower as error:
                raise PlatformError(str(error)) from None
            if change is not None:
                changes[room_id] = change
        done: dict[str, int | None] = {}
        try:
            for room_id, (content, previous) in changes.items():
                await self._put_state(room_id, "m.room.power_levels", content)
                done[room_id] = previous
        except PlatformError:
            await self._restore(user_id, done)
            raise
        log.info("Matrix: muted %s in %d rooms (%s)", user_id, len(done), reason)
        return MuteResult(applied_until=None, previous_state=dict(done))

    async def lift_mute(self, community_id: str, user_id: str, previous_state: Mapping[str, object]) -> None:
        """Restore exactly the levels `apply_mute` replaced (no explicit level where there was none)."""
        levels: dict[str, int | None] = {}
        for room_id, previous in previous_state.items():
            if previous is not None and (not isinstance(previous, int) or isinstance(previous, bool)):
                raise PlatformError(f"the saved power level for {room_id} is not a number: {previous!r}")
            levels[room_id] = previous
        await self._restore(user_id, levels, strict=True)

    async def edit_message(self, ref: MessageRef, message: OutgoingMessage) -> None:
        """Replace the text of a message the bot sent (``m.replace``; clients show the new text)."""
        content = translate.edit_content(
            ref.message_id,
            message.markdown,
            mention_user_ids=message.mention_user_ids,
            actions=message.actions,
        )
        digest = hashlib.sha256(message.markdown.encode()).hexdigest()[:16]
        await self._send_event(
            ref.room_id, "m.room.message", content, translate.txn_id(f"edit:{ref.message_id}:{digest}")
        )

    async def delete_message(self, ref: MessageRef, reason: str) -> None:
        """Redact a message for moderation; the reason is kept in the redaction event."""
        state = self._rooms.get(ref.room_id)
        if state is not None:
            level, needed = state.power_level(self.user_id), state.redact_level
            if level is not None and level < needed:
                raise PlatformError(f"I need power level {needed} in {state.label} to remove messages.")
        await self._with_rate_limit(
            lambda: self._require_client().room_redact(
                ref.room_id,
                ref.message_id,
                reason=reason or None,
                tx_id=translate.txn_id(f"redact:{ref.message_id}"),
            ),
            f"remove a message in {state.label if state else ref.room_id}",
        )

    async def member_privilege(self, community_id: str, user_id: str) -> Privilege:
        """The highest privilege the member's power levels give them in the community's rooms."""
        rooms = [self._rooms[r] for r, c in self._communities.items() if c == community_id]
        if community_id in self._rooms:
            rooms.append(self._rooms[community_id])  # the space itself
        return max((state.privilege(user_id, self._levels) for state in rooms), default=Privilege.MEMBER)

    async def _restore(self, user_id: str, levels: Mapping[str, int | None], *, strict: bool = False) -> None:
        for room_id, previous in levels.items():
            if not self._is_joined(room_id):
                log.warning(
                    "Matrix: cannot restore %s's power level in %s: not in that room", user_id, room_id
                )
                continue
            try:
                state = await self._fresh_power(room_id)
                check_power_to_restore(state, bot_user_id=self.user_id)
                await self._put_state(
                    room_id, "m.room.power_levels", restored_power_levels(state, user_id, previous)
                )
            except NeedPower as error:
                if strict:
                    raise PlatformError(str(error)) from None
                log.error("Matrix: could not undo a partial mute of %s in %s: %s", user_id, room_id, error)
            except PlatformError as error:
                if strict:
                    raise
                log.error("Matrix: could not undo a partial mute of %s in %s: %s", user_id, room_id, error)

    def _rooms_of(self, community_id: str) -> list[str]:
        rooms = [r for r, c in self._communities.items() if c == community_id and self._is_joined(r)]
        if not rooms:
            raise PlatformError(f"I am not in any room of the community {community_id}.")
        return rooms

    async def _fresh_power(self, room_id: str) -> RoomState:
        """The room's state with power levels read now (a moderator may have changed them)."""
        state = self._rooms[room_id]
        response = await self._require_client().room_get_state_event(room_id, "m.room.power_levels")
        if isinstance(response, RoomGetStateEventResponse) and isinstance(response.content, dict):
            state.power = response.content
        elif isinstance(response, ErrorResponse) and response.status_code != "M_NOT_FOUND":
            raise PlatformError(f"could not read the power levels of {state.label}: {_describe(response)}")
        return state

    # -- direct chats ----------------------------------------------------------------------------

    async def _direct(self, invocation: CommandInvoked, message: OutgoingMessage, key: str) -> None:
        where = escape_user_text(invocation.room.name) if invocation.room.name else None
        markdown = f"_About your message in {where}:_\n\n{message.markdown}" if where else message.markdown
        await self.send_dm(
            invocation.room.community_id,
            invocation.actor.user_id,
            OutgoingMessage(markdown, mention_user_ids=message.mention_user_ids),
            idempotency_key="direct:" + key,
        )

    async def send_dm(
        self, community_id: str, user_id: str, message: OutgoingMessage, *, idempotency_key: str
    ) -> MessageRef:
        """Write in the member's direct chat with the bot, started (and marked, so it is found
        again after a restart) on first use. A member who cannot be invited is a refusal."""
        lock = self._direct_lock
        if lock is None:
            raise HomeserverUnavailable("the Matrix platform is not running")
        async with lock:
            room_id = self._find_direct(user_id) or await self._create_direct(user_id)
        content = translate.message_content(message.markdown, mention_user_ids=message.mention_user_ids)
        event_id = await self._send_event(
            room_id, "m.room.message", content, translate.txn_id("dm:" + idempotency_key)
        )
        return MessageRef(PlatformName.MATRIX, room_id, event_id, None, community_id)

    def _find_direct(self, user_id: str) -> str | None:
        for room_id, state in self._rooms.items():
            if (
                state.direct_for == user_id
                and state.joined(self.user_id)
                and state.members.get(user_id) in ("join", "invite")
            ):
                return room_id
        made = self._direct_rooms.get(user_id)
        if made is not None and made not in self._rooms:
            return made  # created moments ago; the next sync will bring its state
        return None

    async def _create_direct(self, user_id: str) -> str:
        response = await self._with_rate_limit(
            lambda: self._require_client().room_create(
                is_direct=True,
                invite=[user_id],
                preset=RoomPreset.trusted_private_chat,
                initial_state=[{"type": DIRECT_MARKER, "state_key": "", "content": {"user_id": user_id}}],
            ),
            f"start a direct chat with {user_id}",
        )
        assert isinstance(response, RoomCreateResponse)
        room_id = str(response.room_id)
        self._direct_rooms[user_id] = room_id
        log.info("Matrix: started a direct chat %s with %s", room_id, user_id)
        return room_id

    # -- requests --------------------------------------------------------------------------------

    async def _send_event(self, room_id: str, event_type: str, content: dict[str, Any], txn: str) -> str:
        response = await self._with_rate_limit(
            lambda: self._require_client().room_send(room_id, event_type, content, tx_id=txn),
            f"send to {room_id}",
        )
        return str(response.event_id)

    async def _put_state(self, room_id: str, event_type: str, content: dict[str, Any]) -> None:
        await self._with_rate_limit(
            lambda: self._require_client().room_put_state(room_id, event_type, content),
            f"change {event_type} in {room_id}",
        )

    async def _with_rate_limit(self, call: Callable[[], Awaitable[Any]], what: str) -> Any:
        """Run a request, waiting out 429s (Retry-After, then retry_after_ms) a bounded number of
        times; raise RateLimited when the server still refuses or asks for a longer wait than we
        hold a caller for, and PlatformError for any other refusal."""
        options = self._options
        for attempt in range(options.rate_limit_retries + 1):
            try:
                response = await call()
            except _TRANSIENT as error:
                raise HomeserverUnavailable(
                    f"could not {what}: the homeserver is unreachable ({error})"
                ) from None
            if not isinstance(response, ErrorResponse):
                return response
            wait = self._rate_limit_wait(response)
            if wait is None:
                status = getattr(getattr(response, "transport_response", None), "status", None)
                if isinstance(status, int) and status >= 500:
                    raise HomeserverUnavailable(f"could not {what}: the homeserver answered {status}")
                raise PlatformError(f"could not {what}: {_describe(response)}")
            if attempt == options.rate_limit_retries or wait > options.max_rate_limit_wait:
                raise RateLimited(f"could not {what}: rate limited, retry in {wait:.1f} s", wait)
            log.info("Matrix: rate limited while trying to %s; waiting %.1f s", what, wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    def _rate_limit_wait(self, response: ErrorResponse) -> float | None:
        transport = getattr(response, "transport_response", None)
        status = getattr(transport, "status", None)
        if response.status_code != "M_LIMIT_EXCEEDED" and status != 429:
            return None
        headers = dict(transport.headers) if transport is not None else {}
        body = {"retry_after_ms": response.retry_after_ms} if response.retry_after_ms is not None else None
        wait = translate.retry_after_seconds(headers, body, self._clock())
        return 5.0 if wait is None else wait

    def _require_client(self) -> AsyncClient:
        if self._client is None:
            raise PlatformError("the Matrix platform is not running")
        return self._client

    def _require_stopping(self) -> asyncio.Event:
        assert self._stopping is not None, "not started"
        return self._stopping


def _source(event: Any) -> dict[str, Any]:
    """The raw event a nio event was parsed from. nio's invite member events pop `content` out
    of their source while parsing, so it is put back from the parsed event."""
    source = getattr(event, "source", None)
    if not isinstance(source, dict):
        return {}
    content = getattr(event, "content", None)
    if "content" not in source and isinstance(content, dict):
        return {**source, "content": content}
    return source


def _describe(response: Any) -> str:
    code = getattr(response, "status_code", None)
    message = getattr(response, "message", None)
    if code or message:
        return f"{code or 'error'} {message or ''}".strip()
    return type(response).__name__
