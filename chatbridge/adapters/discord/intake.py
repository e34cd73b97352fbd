"""The intake queue: gateway jobs resolved one at a time, their events delivered in order.

A single pump resolves each job in arrival order and submits its events; many deliveries are in
flight at once but they enter the core in the order they were submitted. Corrections read from
the store (likes, deletions) run in the same pump, after everything received before them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

from chatbridge.adapters.discord import failures, likes, translate
from chatbridge.adapters.discord.state import Job, PlatformState
from chatbridge.model import ChatEvent, MessagePosted
from chatbridge.platform import Outcome

log = logging.getLogger(__name__)


class Intake(PlatformState):
    """The intake pump, event delivery, thread positions, and store corrections through the pump."""

    def _enqueue(self, job: Job) -> None:
        if self._closing or self._intake is None:
            return
        self._intake.put_nowait(job)

    async def _pump(self) -> None:
        """Resolve gateway jobs one at a time, in arrival order, and submit their events.

        A job that fails in passing (a 5xx, a 429 discord.py gave up on, a timeout) is asked
        again, with back-off, before any later job: it is never skipped, only delayed; at
        shutdown it is logged (thread messages are read back at the next start).
        """
        assert self._intake is not None
        while True:
            job = await self._intake.get()
            try:
                events = await failures.retrying(
                    job,
                    what="read a gateway event's channel or message",
                    attempts=None,
                    first=self.tuning.retry_first,
                    most=self.tuning.retry_most,
                    keep_going=lambda: not self._closing,
                )
                for event in events:
                    await self._submit(event)
            except Exception as error:
                if failures.is_passing(error):
                    log.warning(
                        "Discord: stopping before an event could be read (%s)", failures.summary(error)
                    )
                else:
                    log.exception("could not read a Discord event")
            finally:
                self._intake.task_done()

    async def _submit(self, event: ChatEvent) -> asyncio.Task[None]:
        """Start delivering `event`; deliveries enter the core in the order they were submitted."""
        assert self._slots is not None
        await self._slots.acquire()
        ticket = self._line.ticket()
        task = self._work.spawn(self._deliver(event, ticket), name=f"{type(event).__name__} {event.event_id}")
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)
        return task

    async def _delivered_so_far(self) -> None:
        """Wait until every event submitted until now has been applied (or has failed)."""
        if self._delivering:
            await asyncio.wait(set(self._delivering))

    async def _deliver(self, event: ChatEvent, ticket: int) -> None:
        """Deliver one event; a thread's position moves past it only once it is stored (or
        refused), and while the store is unavailable it waits in line (see `HoldLine`)."""
        assert self._slots is not None
        try:
            sink = self._sink
            if sink is None:
                return
            outcome = await self._line.deliver(ticket, lambda: sink(event), lambda: self._closing)
            if outcome is Outcome.UNAVAILABLE:
                return
            if self._observer is not None:
                self._observer(event)
            if isinstance(event, MessagePosted) and event.thread_id is not None:
                guild_id = int(event.room.community_id)
                scope = translate.thread_scope(guild_id, int(event.thread_id))
                self._book.applied(guild_id, scope, int(event.message_id))
        finally:
            self._slots.release()

    async def _cursor_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tuning.cursor_interval)
            await self._flush_cursors()

    async def _flush_cursors(self) -> None:
        """Write the positions of threads whose newest messages are applied (after them, in order)."""
        moved = [
            await self._submit(
                translate.cursor_moved(guild_id=guild_id, scope=scope, value=value, at=self.core.clock())
            )
            for guild_id, scope, value in self._book.take()
        ]
        if moved:
            await asyncio.wait(moved)

    async def flush(self) -> None:
        """Wait until every event received so far is applied and positions are written (tests)."""
        assert self._intake is not None
        await self._intake.join()
        await self._work.wait()
        await self._flush_cursors()

    def _likes_job(
        self,
        place: Callable[[], Awaitable[translate.Place | None]],
        observed: Callable[[translate.Place], Sequence[likes.Observed]],
        done: asyncio.Future[None] | None,
    ) -> Job:
        """Make the store's likes match what was observed, after every event received before."""

        async def corrections() -> Sequence[ChatEvent]:
            where = await place()
            seen = observed(where) if where is not None else []
            if not seen:
                return []
            await self._delivered_so_far()
            ids = [s.message_id for s in seen]
            keys = {key for s in seen for key in s.reactors}
            stored = await asyncio.to_thread(likes.stored_likes, self.core.engine, ids, keys)
            observation = f"sync-{uuid.uuid4().hex[:12]}"
            return likes.differences(seen, stored, at=self.core.clock(), observation=observation)

        return self._corrections_job(corrections, done)

    def _corrections_job(
        self, corrections: Callable[[], Awaitable[Sequence[ChatEvent]]], done: asyncio.Future[None] | None
    ) -> Job:
        """Submit corrections read from the store, and wait until they are applied.

        Runs in the intake pump: what came in earlier is applied first (so the store read is
        current), and nothing that comes in later is submitted before these corrections.
        `done` (if given) resolves once the corrections are applied.
        """

        async def apply() -> list[ChatEvent]:
            try:
                submitted = [await self._submit(event) for event in await corrections()]
                if submitted:
                    await asyncio.wait(submitted)
            except Exception as error:
                # A passing failure is asked again by the pump (unless it is stopping).
                final = not failures.is_passing(error) or self._closing
                if final and done is not None and not done.done():
                    done.set_exception(error)
                raise
            if done is not None and not done.done():
                done.set_result(None)
            return []

        return apply
