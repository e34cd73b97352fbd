"""`python -m support.matrix_bot_process CONFIG`: the Matrix bot as a process of its own.

Fault tests kill the bot with SIGKILL, which only a separate process can survive honestly. The bot
is built the way `chatbridge run` builds it (a Core on the configured store, the Matrix platform
over `StorePlatformState`, the Application serving until SIGTERM); the JSON config names the
homeserver, the bot's account, the store and the community space. It prints `ready` once started.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

from chatbridge.adapters.matrix import MatrixOptions, MatrixPlatform
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.runner import StorePlatformState


async def serve(config: dict[str, str]) -> None:
    core = Core.build(Settings(database_url=config["database_url"]))
    platform = MatrixPlatform(
        homeserver=config["homeserver"],
        user_id=config["user_id"],
        password=config["password"],
        state=StorePlatformState(core.engine),
        community_rooms=(config["space_id"],),
        options=MatrixOptions(poll_timeout_ms=10_000, max_rate_limit_wait=5.0),
    )
    try:
        await Application(core, [platform]).serve_forever(ready=lambda: print("ready", flush=True))
    finally:
        core.engine.dispose()


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(json.loads(Path(argv[1]).read_text())))


if __name__ == "__main__":
    main(sys.argv)
