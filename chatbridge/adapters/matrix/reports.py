"""Reports made with a client's own Report action (Element's "Report", the spec's
``POST /rooms/{roomId}/report/{eventId}``) into the moderators' queue.

The homeserver keeps them; a bot whose account is a Synapse server admin can read them with the
admin API ``GET /_synapse/admin/v1/event_reports`` (as Draupnir and Mjolnir do). Each one becomes
the same `report` command a member types, as the reporter, so it gets the same dedupe, anonymity
and receipt. The position (an offset into the homeserver's list, oldest first) travels through
the sink as a cursor, after the reports it covers; each report's own id is also the event id the
dispatcher records, so one read twice is still filed once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from chatbridge.adapters.matrix.delivery import Delivery
from chatbridge.adapters.matrix.errors import TRANSIENT
from chatbridge.adapters.matrix.requests import Requests
from chatbridge.adapters.matrix.translate import event_time
from chatbridge.model import CommandInvoked, MessageRef, PlatformName, Room

log = logging.getLogger(__name__)

_PAGE = 100
_REASON_MAX = 1000  # as a typed report's reason; a longer one is cut, not refused
_PATH = "/_synapse/admin/v1/event_reports"
EVENT_REPORT_PREFIX = "event-report:"
"""Begins the event id under which a client's report is filed (never a Matrix event id)."""


class _NotAllowed(Exception):
    """The homeserver will not show the bot its event reports (not an admin, or not Synapse)."""


class EventReports(Delivery, Requests):
    """Polls the homeserver's event reports and files each one once."""

    async def _start_reading_reports(self) -> asyncio.Task[None] | None:
        """A first round now, so start-up says at once (one log line) when the bot's account may
        not read the reports; then a task polling every `report_poll_seconds` until `stop`."""
        if not await self._report_round():
            return None
        return asyncio.create_task(self._poll_reports_forever(), name="matrix event reports")

    async def _poll_reports_forever(self) -> None:
        stopping = self._require_stopping()
        while not stopping.is_set():
            try:
                async with asyncio.timeout(self._options.report_poll_seconds):
                    await stopping.wait()
                return
            except TimeoutError:
                pass
            if not await self._report_round():
                return

    async def _report_round(self) -> bool:
        """One poll; False when the reports are not ours to read (logged once, then left alone)."""
        try:
            await self._poll_reports()
        except _NotAllowed as why:
            log.info(
                "Matrix: not reading the homeserver's event reports (%s): reports made with a "
                "client's Report action stay with the homeserver's admins",
                why,
            )
            return False
        except TRANSIENT as error:
            log.warning("Matrix: could not read event reports (%s); trying again later", error)
        except Exception:
            log.exception("Matrix: reading event reports failed; trying again later")
        return True

    async def _poll_reports(self) -> None:
        """Every report after the stored position, oldest first, then the new position."""
        stored = await asyncio.to_thread(self._state.load_cursor, self._scope("event_reports"))
        start = int(stored) if stored is not None and stored.isdigit() else 0
        while True:
            page = await self._report_page(start)
            reports = page.get("event_reports")
            if not isinstance(reports, list) or not reports:
                return
            for report in reports:
                if isinstance(report, Mapping):
                    invocation = self._report_invocation(report)
                    if invocation is not None:
                        await self._deliver_one(invocation)
            start += len(reports)
            await self._deliver_one(self._cursor("event_reports", str(start)))
            if page.get("next_token") is None:
                return

    async def _report_page(self, start: int) -> dict[str, Any]:
        client = self._require_client()
        response = await client.send(
            "GET",
            f"{_PATH}?dir=f&from={start}&limit={_PAGE}",
            headers={"Authorization": f"Bearer {client.access_token}"},
        )
        async with response:
            if response.status in (401, 403, 404):
                raise _NotAllowed(f"the homeserver answered {response.status}")
            if response.status != 200:
                raise ConnectionError(f"the homeserver answered {response.status}")
            body = json.loads(await response.read())
        return body if isinstance(body, dict) else {}

    def _report_invocation(self, report: Mapping[str, Any]) -> CommandInvoked | None:
        """The `report` command as the reporter would type it, about the reported message; None
        for a room that is no sub-forum of ours (the homeserver serves other rooms too)."""
        report_id, room_id, event_id = report.get("id"), report.get("room_id"), report.get("event_id")
        reporter, sender = report.get("user_id"), report.get("sender")
        if not (
            isinstance(report_id, int)
            and isinstance(room_id, str)
            and isinstance(event_id, str)
            and isinstance(reporter, str)
        ):
            return None
        community = self._communities.get(room_id)
        state = self._rooms.get(room_id)
        if community is None or state is None or reporter == self.user_id:
            return None
        reason = report.get("reason")
        options: dict[str, object] = {"category": "other"}
        if isinstance(reason, str) and reason.strip():
            options["reason"] = reason.strip()[:_REASON_MAX]
        ts = report.get("received_ts")
        return CommandInvoked(
            event_id=f"{EVENT_REPORT_PREFIX}{report_id}:{hashlib.sha256(self.user_id.encode()).hexdigest()[:16]}",
            at=event_time({"origin_server_ts": ts}) if isinstance(ts, int) else self._clock(),
            room=Room(PlatformName.MATRIX, community, room_id, state.label),
            actor=state.actor(reporter, self._levels, bot_user_id=self.user_id),
            path=("report",),
            options=options,
            target=MessageRef(PlatformName.MATRIX, room_id, event_id, None, community),
            target_user=(
                state.actor(sender, self._levels, bot_user_id=self.user_id)
                if isinstance(sender, str)
                else None
            ),
        )
