"""The loop that lifts mutes on time: every few seconds, and at once at start-up.

Mute ends are rows in the store, not timers in memory, so a restart or a day of downtime only
delays a lift until the first sweep after start-up. The loop never dies of a failed sweep (a locked
database, a lost connection): it logs and tries again, because a stopped scheduler would silently
leave members muted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from chatbridge.services.moderation import sanctions
from chatbridge.services.moderation.policy import Policy
from chatbridge.waiting import wait_event

log = logging.getLogger(__name__)


def _nothing() -> None:
    return None


@dataclass
class SanctionScheduler:
    engine: Engine
    policy: Policy
    clock: Callable[[], datetime]
    on_enqueued: Callable[[], None] = _nothing
    """Called when a sweep queued outbox actions, so the worker looks now rather than at its next poll."""
    also: Sequence[Callable[[Session, datetime], int]] = ()
    """Further timed duties swept with the mutes, in the same transaction (credential expiry
    reminders); each returns how many outbox items it queued."""
    sweeps: int = 0
    """Sweeps completed since start, for health checks and for tests that wait on one."""
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        """Sweep now (a test that moved the clock, an operator who changed a mute by hand)."""
        self._wake.set()

    async def run(self) -> None:
        if not self.policy.config.queue_room:
            log.info("moderation.queue_room is not set: cases are kept, but only `queue` lists them")
        while True:
            self._wake.clear()
            try:
                touched = await asyncio.to_thread(self.sweep_once)
            except Exception:
                log.exception("the mute sweep failed; trying again in %s s", self.policy.config.sweep_seconds)
            else:
                self.sweeps += 1
                if touched:
                    self.on_enqueued()
            await wait_event(self._wake, self.policy.config.sweep_seconds)

    def sweep_once(self) -> int:
        with Session(self.engine) as session:
            now = self.clock()
            touched = sanctions.sweep(session, self.policy, now)
            for duty in self.also:
                touched += duty(session, now)
            session.commit()
        return touched
