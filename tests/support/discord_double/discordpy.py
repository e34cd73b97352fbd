"""Pointing the real discord.py at the double, and running a client for the length of a test.

discord.py builds every REST URL from ``discord.http.Route.BASE`` and connects the gateway to
``DiscordWebSocket.DEFAULT_GATEWAY`` (a plain ``Client`` never uses the URL from /gateway/bot;
``AutoShardedClient`` without an explicit ``shard_count`` does).  Both are class attributes, so
pointing the library at the double means patching exactly those two, and restoring them after.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from .server import DiscordDouble

ClientT = TypeVar("ClientT", bound=discord.Client)

GUILD_READY_TIMEOUT = 0.2
"""discord.py fires on_ready this long after the last GUILD_CREATE (default 2 s).  The double sends
READY and every GUILD_CREATE back to back, so a short quiet period is enough."""


@contextlib.contextmanager
def pointing_discord_py_at(double: DiscordDouble) -> Iterator[None]:
    """Patch Route.BASE and DEFAULT_GATEWAY for the block; the fixture uses monkeypatch instead."""
    previous_base, previous_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = double.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(double.gateway_url)
    try:
        yield
    finally:
        Route.BASE = previous_base
        DiscordWebSocket.DEFAULT_GATEWAY = previous_gateway


def client_options(**overrides: Any) -> dict[str, Any]:
    """Constructor keywords that keep discord.py fast against a local server."""
    return {"guild_ready_timeout": GUILD_READY_TIMEOUT, **overrides}


class FastReidentify:
    """Mixin: skip discord.py's 5 s sleep before every IDENTIFY but the first.

    ``Client.before_identify_hook`` is discord.py's documented extension point for this; the pause
    protects Discord's identify rate limit, which the double does not have.  Put it first in the
    bases: ``class Bot(FastReidentify, discord.Client)``.
    """

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


@contextlib.asynccontextmanager
async def running(
    client: ClientT, double: DiscordDouble, *, wait_ready: bool = True, expect_guilds: bool = True
) -> AsyncIterator[ClientT]:
    """Run ``client.start()`` for the block, ready and with every guild available; then close it.

    The start task belongs to this context: it is awaited on exit, and an exception it raised
    (bad token, disallowed intents, ...) propagates into the test.
    """
    start = asyncio.create_task(client.start(double.token), name="discord.py client")
    try:
        if wait_ready:
            await _until_ready(client, start, double)
            if expect_guilds:
                _assert_guilds_available(client, double)
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(start, double.wait_timeout)


async def _until_ready(client: discord.Client, start: asyncio.Task[None], double: DiscordDouble) -> None:
    timeout = double.wait_timeout
    ready = asyncio.create_task(client.wait_until_ready(), name="wait_until_ready")
    try:
        done, _pending = await asyncio.wait(
            {ready, start}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if start in done:
            start.result()  # re-raise why the client stopped
            raise AssertionError("discord.py client stopped before becoming ready")
        if ready not in done:
            raise AssertionError(
                f"discord.py client not ready after {timeout}s; identifies: {double.identifies}"
            )
    finally:
        ready.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ready


def _assert_guilds_available(client: discord.Client, double: DiscordDouble) -> None:
    missing = [gid for gid in double.world.guilds if _guild_unavailable(client, gid)]
    if missing:
        raise AssertionError(f"client became ready without guilds {missing}; raise guild_ready_timeout?")


def _guild_unavailable(client: discord.Client, guild_id: int) -> bool:
    guild = client.get_guild(guild_id)
    return guild is None or guild.unavailable
