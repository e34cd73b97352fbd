"""The sync loop: each batch absorbed (invites, room state), translated and delivered in order,
gaps in a limited timeline filled, and only then its position; the core of the shell's ordering.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from nio import MessageDirection, RoomGetEventResponse, RoomMessagesResponse, SyncResponse

from chatbridge.adapters.matrix import translate
from chatbridge.adapters.matrix.delivery import Held
from chatbridge.adapters.matrix.direct import DirectChats
from chatbridge.adapters.matrix.errors import TRANSIENT, HomeserverUnavailable, describe
from chatbridge.adapters.matrix.invites import Invites
from chatbridge.adapters.matrix.login import Login
from chatbridge.adapters.matrix.rooms import RoomState, community_name, plan_communities
from chatbridge.adapters.matrix.translate import Malformed, Where
from chatbridge.model import ChatEvent, PlatformName, Room, RoomSeen
from chatbridge.platform import PlatformError

log = logging.getLogger(__name__)


_SETTLE_ROUNDS = 3

_ROOT_GONE = frozenset({"M_NOT_FOUND", "M_FORBIDDEN", "404", "403"})
"""Answers to a root fetch that no retry changes (the root is gone, or hidden from the bot); any
other error answer (a 429, a 5xx) holds the batch until the root can be fetched."""


class _SyncFailed(Exception):
    def __init__(self, errcode: str | None, message: str) -> None:
        super().__init__(f"{errcode or 'error'}: {message}")
        self.errcode = errcode


class SyncLoop(Login, DirectChats, Invites):
    """Our own sync loop (not nio's ``sync_forever``), so a position is stored after its events."""

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
            except Held as held:
                log.warning("Matrix: %s; holding the sync position and retrying in %.0f s", held, delay)
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
            except TRANSIENT as error:
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
        """Translate and deliver one sync batch, in order, then its position.

        If the batch is held (`Held`: the store is unavailable, a root could not be fetched), its
        position is not stored and the threads it started are forgotten again, so taking the
        batch again from the previous position delivers their starts once more."""
        since = self._since
        rooms = response.rooms
        await self._absorb(response)
        events: list[ChatEvent] = self._announcements(self._order)
        announced = [event.room.room_id for event in events]
        seen: list[str] = []
        started: list[str] = []
        try:
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
                        events.extend(await self._translate(raw, where, started))
                elif self._rooms[room_id].direct_for is not None:
                    for raw in raws:  # the member's direct chat: their commands, answered there
                        events.extend(await self._direct_command(room_id, raw))
                seen.extend(e for e in (raw.get("event_id") for raw in raws) if isinstance(e, str))
            await self._deliver(events)
            await self._deliver_one(self._cursor("sync", str(response.next_batch)))
        except BaseException:
            for root in started:
                self._threads_started.pop(root)
            for room_id in announced:  # announced again when the batch is taken again
                self._announced.pop(room_id, None)
            raise
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
                raise _SyncFailed(getattr(response, "status_code", None), f"/messages: {describe(response)}")
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

    async def _translate(self, raw: dict[str, Any], where: Where, started: list[str]) -> list[ChatEvent]:
        """One timeline event -> neutral events, with the thread start of a new thread first
        (a new thread's root is added to `started`)."""
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
                root_event = self._roots.get(root) or await self._fetch_root(where.room.room_id, root)
                if root_event is not None:
                    start = translate.thread_start(root_event, where, self._is_command)
                    if start is not None:
                        out.append(start)
                self._threads_started.put(root, True)
                started.append(root)
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

    async def _fetch_root(self, room_id: str, event_id: str) -> dict[str, Any] | None:
        """A thread's root; None if it is gone or hidden from the bot for good. Any other failure
        (a 429, a 5xx, no answer) holds the batch: recording the thread as started without its
        root would drop its replies as replies to an unknown thread."""
        response = await self._require_client().room_get_event(room_id, event_id)
        if isinstance(response, RoomGetEventResponse):
            return _source(response.event)
        code = str(getattr(response, "status_code", None))
        if code in _ROOT_GONE:
            log.info(
                "Matrix: the thread root %s in %s is not visible: %s", event_id, room_id, describe(response)
            )
            return None
        raise Held(f"could not fetch the thread root {event_id} in {room_id}: {describe(response)}")

    async def _fetch_event(self, room_id: str, event_id: str) -> dict[str, Any] | None:
        response = await self._require_client().room_get_event(room_id, event_id)
        if isinstance(response, RoomGetEventResponse):
            return _source(response.event)
        log.info("Matrix: could not fetch %s in %s: %s", event_id, room_id, describe(response))
        return None


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
