"""A wire-level Discord double: REST + gateway on 127.0.0.1 for the real discord.py client.

Typical test (fixtures from ``tests/discord/conftest.py``)::

    async def test_reply(discord_py_on_double: DiscordDouble, community: Community) -> None:
        double = discord_py_on_double
        client = MyBot(intents=..., **client_options())
        async with running(client, double):            # login, READY, GUILD_CREATE, on_ready
            waiter = client.wait_for("message")         # registers *now*: no race with the dispatch
            await double.post_message(community.general, community.alice, "hi")
            await waiter
            call = await double.wait_for_rest("POST", "/channels/{channel_id}/messages")
            assert call.json["allowed_mentions"] == {"parse": []}

``double.dispatch(event, data)`` sends any raw event; the builders in ``events``, ``payloads``,
``interactions`` and ``options`` produce documented payloads.  Higher-level actions
(``post_message``, ``add_reaction``, ``run_slash_command``, ``click_button``, ``timeout_by_hand``,
...) update the double's state *and* dispatch, so REST reads stay consistent; most take
``dispatch=False`` to simulate activity while the bot was offline (for backfill tests).

Modules, by what they hold:

- ``server``: :class:`DiscordDouble`, the aiohttp app and the test-facing controls.
- ``actions``: things people do (post, react, join, time out by hand, run commands, click buttons).
- ``state`` / ``guild_state``: the in-memory Discord that REST and the gateway both serve.
- ``gateway`` / ``gateway_session`` / ``transport``: websocket protocol, sessions, compression.
- ``rest_*``: REST routes; ``faults``: injected 429s and error responses.
- ``payloads`` / ``events`` / ``interactions`` / ``options``: documented JSON shapes.
- ``intents`` / ``permissions`` / ``snowflakes``: Discord's rules the double enforces.
- ``*_rules`` and ``deadlines``: limits from discord/discord-api-docs, each citing its doc file
  (commands, components and modals, message bodies, threads, channel access); ``clock``: the
  double's own clock for the interaction deadlines; ``throttle``: every bot route rate-limited.
- ``discordpy``: patching discord.py's endpoints and running a client for a test.
- ``scenario``: a seeded medical community.
"""

from . import events, interactions, options, payloads
from .discordpy import FastReidentify, client_options, pointing_discord_py_at, running
from .faults import discord_error
from .intents import Intent
from .permissions import Permission
from .recording import GatewayFrame, IdentifyRecord, RestCall, ResumeRecord
from .scenario import Community, seed_community
from .server import DiscordDouble
from .snowflakes import SnowflakeGenerator, shard_for, snowflake_time
from .state import DiscordStateError, InteractionState, World

__all__ = [
    "Community",
    "DiscordDouble",
    "DiscordStateError",
    "FastReidentify",
    "GatewayFrame",
    "IdentifyRecord",
    "Intent",
    "InteractionState",
    "Permission",
    "RestCall",
    "ResumeRecord",
    "SnowflakeGenerator",
    "World",
    "client_options",
    "discord_error",
    "events",
    "interactions",
    "options",
    "payloads",
    "pointing_discord_py_at",
    "running",
    "seed_community",
    "shard_for",
    "snowflake_time",
]
