"""The application: one core, its background workers and the connected platforms, with one owner.

Every background task is started inside a TaskGroup owned by `Application.running()`, so none is
fire-and-forget: on exit (Ctrl-C, SIGTERM, an error) intake stops, the ingest queue is flushed,
the tasks are awaited and a failure of any of them is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field

from chatbridge.core import Core
from chatbridge.dispatch import Dispatcher
from chatbridge.model import ChatEvent, CommandInvoked, MemberJoined, MessagePosted
from chatbridge.platform import EventSink, Platform
from chatbridge.services.digest.runner import DigestRunner, digest_executors, trophy_titles
from chatbridge.services.moderation.executors import moderation_executors
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.moderation.scheduler import SanctionScheduler
from chatbridge.services.outbox import OutboxWorker, default_executors
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
            executors={**default_executors(), **moderation_executors(self.core), **digest_executors()},
        )
        self.sanctions = SanctionScheduler(
            self.core.engine, Policy.of(self.core), self.core.clock, on_enqueued=self.outbox.notify
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

        async def sink(event: ChatEvent) -> None:
            await handle(event)
            if isinstance(event, CommandInvoked | MemberJoined) or (
                isinstance(event, MessagePosted) and registry.is_command(event.text)
            ):
                self.outbox.notify()

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


YOUNG_COLLECTION_EVERY = 10_000
"""Tracked objects allocated (net) between two young collections; Python's default is 700."""


def settle_heap() -> None:
    """Set everything allocated during start-up (modules, SQLAlchemy's mappers and caches, the
    compiled templates) aside from the garbage collector for the life of the process, and
    collect young objects less often.

    Why: the collector's full passes walk every tracked object. Start-up objects never become
    garbage, yet they are most of the heap, so each pass over them stalls whatever is running (a
    1M-post digest took 250 ms with them walked, 210 ms without; command latency tails shrink the
    same way). `gc.freeze` is meant for this.

    A full pass also follows every tenth collection of the middle generation, which follows every
    tenth young one. The ingest keeps a batch's working state (thousands of small objects) alive
    for the batch, so at Python's default of a young collection every 700 allocations that state
    is promoted and full passes come every 70,000: about 80 of them for 200k events in
    `benchmarks/ingest.py`, 56 ms each over the queued events and their producers, 4.5 s of a
    24 s run. Every 10,000 allocations there were 3 (all collections: 1.4 s instead of 5.9 s,
    and 8,300 -> 11,600 events/s). The young generation then holds at most 10,000 objects of
    garbage cycles before they are freed, about a megabyte. The benchmarks call this at the
    same point as `chatbridge run`.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


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
