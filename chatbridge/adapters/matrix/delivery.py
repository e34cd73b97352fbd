"""Handing events to the sink in order, and the cursors that record the sync position; both the
login (the history floor) and the sync loop (each batch) deliver this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chatbridge.adapters.matrix.state import MatrixState
from chatbridge.model import ChatEvent, CursorMoved, MessagePosted, PlatformName, Room
from chatbridge.platform import Outcome


class Held(Exception):
    """The batch in hand cannot be applied now (the store is unavailable, a thread's root could
    not be fetched): its position is not stored, and the sync loop takes it again from the
    position before it after a pause. What was applied of it meanwhile is skipped as a redelivery."""


class Delivery(MatrixState):
    """Events and positions into the sink: commands alone, plain events in concurrent runs."""

    async def _deliver(self, events: Sequence[ChatEvent]) -> None:
        """Deliver in order. Runs of plain events go concurrently: each one's submission enters the
        ingest queue before the next one's starts (FIFO), and waiting on them together lets one
        group commit cover the run. A command goes alone, after what precedes it is durable.

        Raises `Held` at the first run the store did not take, delivering nothing after it."""
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
            results = await asyncio.gather(*(self._deliver_one(e) for e in events), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def _deliver_one(self, event: ChatEvent) -> None:
        if self._sink is None:
            raise RuntimeError("the Matrix platform is not started")
        if await self._sink(event) is Outcome.UNAVAILABLE:
            raise Held(f"the store is unavailable ({type(event).__name__} {event.event_id})")

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
