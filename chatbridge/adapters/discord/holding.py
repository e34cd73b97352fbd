"""Events the store could not take (it was unavailable), held and delivered again in order.

The intake delivers many events at once; when the store is down they all come back unavailable.
They are retried one at a time, in the order they were submitted, with a growing pause, and
every event submitted meanwhile queues up behind them: a reply is never applied before its
thread's start, and a thread's position never moves past an event that was not stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chatbridge.platform import Outcome

log = logging.getLogger(__name__)


@dataclass
class HoldLine:
    """Tickets in submission order; while any event is held, deliveries go one by one, in order."""

    first_pause: float = 1.0
    max_pause: float = 60.0
    _next: int = 0
    _held: set[int] = field(default_factory=set)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def ticket(self) -> int:
        """Taken when an event is submitted: its place in the line."""
        self._next += 1
        return self._next

    async def deliver(
        self, ticket: int, attempt: Callable[[], Awaitable[Outcome]], stopping: Callable[[], bool]
    ) -> Outcome:
        """Deliver through `attempt`, waiting in line while earlier events are held; UNAVAILABLE
        only if the platform stops first (the position stays, so the next start fetches it)."""
        if not self._held:
            outcome = await attempt()
            if outcome.done:
                return outcome
            failed = True
        else:
            failed = False
        self._held.add(ticket)
        pause = self.first_pause
        try:
            while True:
                async with self._changed:
                    await self._changed.wait_for(lambda: min(self._held) == ticket)
                if failed:
                    log.warning("the store is unavailable; delivering again in %.0f s", pause)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, self.max_pause)
                    failed = False
                    if min(self._held) != ticket:
                        continue  # an earlier event came back unavailable meanwhile: it goes first
                if stopping():
                    return Outcome.UNAVAILABLE
                outcome = await attempt()
                if outcome.done:
                    return outcome
                failed = True
        finally:
            self._held.discard(ticket)
            async with self._changed:
                self._changed.notify_all()
