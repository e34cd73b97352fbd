"""The application: one core, its background workers and the connected platforms, with one owner.

Every background task is started inside a TaskGroup owned by `Application.running()`, so none is
fire-and-forget: on exit (Ctrl-C, SIGTERM, an error) intake stops, the ingest queue is flushed,
the tasks are awaited and a failure of any of them is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field

from chatbridge.core import Core
from chatbridge.dispatch import Dispatcher
from chatbridge.heap import settle_heap
from chatbridge.model import ChatEvent, CommandInvoked, MemberJoined, MessagePosted
from chatbridge.platform import EventSink, Outcome, Platform
from chatbridge.services.credentials import SET_ROLE, credential_reminders, execute_set_role
from chatbridge.services.digest.runner import DigestRunner, digest_executors, trophy_titles
from chatbridge.services.moderation.dead_letters import dead_letter_notices
from chatbridge.services.moderation.executors import moderation_executors
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.moderation.scheduler import SanctionScheduler
from chatbridge.services.outbox import OutboxWorker, default_executors
from chatbridge.services.privacy_guard import privacy_executors
from chatbridge.store.engine import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)


@dataclass
class Application:
    core: Core
    platforms: Sequence[Platform] = ()
    dispatcher: Dispatcher = field(init=False)
    outbox: OutboxWorker = field(init=False)
    sanctions: SanctionScheduler = field(init=False)
    digests: DigestRunner = field(init=False)

    def __post_init__(self) -> None:
        self.dispatcher = Dispatcher(self.core)
        self.outbox = OutboxWorker(
            self.core.engine,
            {p.name: p for p in self.platforms},
            self.core.clock,
            executors={
                **default_executors(),
                **moderation_executors(self.core),
                **digest_executors(),
                SET_ROLE: execute_set_role,
                **privacy_executors(),
            },
            max_attempts=self.core.settings.outbox.max_attempts,
            on_dead=dead_letter_notices(Policy.of(self.core)),
        )
        self.sanctions = SanctionScheduler(
            self.core.engine,
            Policy.of(self.core),
            self.core.clock,
            on_enqueued=self.outbox.notify,
            also=(credential_reminders(self.core),),
        )
        self.digests = DigestRunner(
            self.core.engine,
            self.core.settings,
            trophy_titles(self.core.trophies),
            {p.name: p for p in self.platforms},
            self.core.clock,
            notify=self.outbox.notify,
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Application]:
        """Start the workers and platforms; stop them all, in order, when the block ends."""
        async with asyncio.TaskGroup() as group:
            ingest = group.create_task(_logged(self.core.ingestor.run, "ingest writer"))
            for platform in self.platforms:
                await platform.register_commands(self.core.registry)
                await platform.start(self._sink_for(platform))
            outbox = group.create_task(_logged(self.outbox.run, "outbox worker"))
            sanctions = group.create_task(_logged(self.sanctions.run, "sanction scheduler"))
            digests = group.create_task(_logged(self.digests.run, "digest scheduler"))
            boards = group.create_task(_logged(self.core.leaderboards.run, "leaderboard refresh"))
            try:
                yield self
            finally:
                for platform in reversed(self.platforms):
                    try:
                        await platform.stop()
                    except Exception:
                        log.exception("stopping %s failed", platform.name)
                boards.cancel()
                digests.cancel()
                sanctions.cancel()
                outbox.cancel()
                ingest.cancel()

    def _sink_for(self, platform: Platform) -> EventSink:
        """The dispatcher's sink, waking the outbox after events that may have queued an action
        (a command, a muted member re-joining), so it acts now rather than at its next poll."""
        handle = self.dispatcher.sink_for(platform)
        registry = self.core.registry

        async def sink(event: ChatEvent) -> Outcome:
            outcome = await handle(event)
            if isinstance(event, CommandInvoked | MemberJoined) or (
                isinstance(event, MessagePosted) and registry.is_command(event.text)
            ):
                self.outbox.notify()
            return outcome

        return sink

    async def serve_forever(self, ready: Callable[[], None] | None = None) -> None:
        """Run until SIGINT or SIGTERM, then shut down cleanly; `ready` is called once every
        platform has started (and the start-up heap is set aside, see `settle_heap`)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with self.running():
                settle_heap()
                if ready is not None:
                    ready()
                await stop.wait()
                log.info("shutting down")
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


async def _logged(
    work: Callable[[], Coroutine[object, object, None]],
    name: str,
    *,
    retry_after: float = 1.0,
    retry_at_most: float = 60.0,
) -> None:
    """Run a worker; cancellation is the normal way to stop it, anything else is logged.

    A database that is briefly unavailable (SQLite locked past its busy timeout by another
    process, a PostgreSQL restart or failover) restarts the worker after a growing pause instead
    of taking the whole bot down: the work it owns (outbox rows, due sanctions, digests) is all in
    the store, so a restarted worker picks it up where it stopped. Any other error is a bug:
    logged and raised.

    The worker is started here rather than passed in as a coroutine, so a task cancelled before
    its first step leaves no never-awaited coroutine behind.
    """
    pause = retry_after
    while True:
        try:
            await work()
            return
        except asyncio.CancelledError:
            return
        except DATABASE_UNAVAILABLE as error:
            log.warning("%s: the database is unavailable (%s); restarting in %.0f s", name, error.orig, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, retry_at_most)
        except Exception:
            log.exception("%s failed", name)
            raise
