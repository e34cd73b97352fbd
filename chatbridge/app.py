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
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field

from chatbridge.core import Core
from chatbridge.dispatch import Dispatcher
from chatbridge.platform import Platform
from chatbridge.services.outbox import OutboxWorker

log = logging.getLogger(__name__)


@dataclass
class Application:
    core: Core
    platforms: Sequence[Platform] = ()
    dispatcher: Dispatcher = field(init=False)
    outbox: OutboxWorker = field(init=False)

    def __post_init__(self) -> None:
        self.dispatcher = Dispatcher(self.core)
        self.outbox = OutboxWorker(self.core.engine, {p.name: p for p in self.platforms}, self.core.clock)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Application]:
        """Start the workers and platforms; stop them all, in order, when the block ends."""
        async with asyncio.TaskGroup() as group:
            ingest = group.create_task(_logged(self.core.ingestor.run(), "ingest writer"))
            for platform in self.platforms:
                await platform.register_commands(self.core.registry)
                await platform.start(self.dispatcher.sink_for(platform))
            outbox = group.create_task(_logged(self.outbox.run(), "outbox worker"))
            try:
                yield self
            finally:
                for platform in reversed(self.platforms):
                    try:
                        await platform.stop()
                    except Exception:
                        log.exception("stopping %s failed", platform.name)
                outbox.cancel()
                ingest.cancel()

    async def serve_forever(self) -> None:
        """Run until SIGINT or SIGTERM, then shut down cleanly."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with self.running():
                await stop.wait()
                log.info("shutting down")
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


async def _logged(work: Coroutine[object, object, None], name: str) -> None:
    """Await a worker; cancellation is the normal way to stop it, anything else is logged."""
    try:
        await work
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("%s failed", name)
        raise
