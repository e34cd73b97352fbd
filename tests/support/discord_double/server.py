"""``DiscordDouble``: the aiohttp server tying state, REST, gateway and test controls together.

Usage (see ``tests/discord/conftest.py`` for fixtures)::

    async with DiscordDouble() as double:
        guild = double.world.add_guild("Cardiology")
        general = guild.add_text_channel("general")
        with pointing_discord_py_at(double):
            async with running(client, double):
                waiter = client.wait_for("message")
                await double.post_message(general, alice, "hello")
                message = await waiter

Everything listens on 127.0.0.1 and a free port chosen by the OS.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from .actions import UserActions
from .faults import Fault, FaultPlan, discord_error, rate_limit_response
from .gateway import RESUME_PATH, Gateway
from .intents import PRIVILEGED
from .recording import (
    DEFAULT_TIMEOUT,
    GatewayFrame,
    IdentifyRecord,
    Journal,
    PathPattern,
    RestCall,
    ResumeRecord,
    call_matcher,
)
from .rest_app import API_PREFIX, RestApi, Router
from .rest_channels import ChannelRoutes
from .rest_guilds import GuildRoutes
from .rest_interactions import InteractionRoutes
from .rest_messages import MessageRoutes
from .snowflakes import SnowflakeGenerator
from .state import InteractionState, World
from .throttle import Throttle

DEFAULT_TOKEN = "MTA.double.token-for-tests"
DEFAULT_HEARTBEAT_MS = 2_500
"""Short enough that a test lasting a few seconds heartbeats for real, long enough to stay quiet."""


class DiscordDouble(UserActions):
    """A fake Discord (REST + gateway) for the real discord.py client."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        heartbeat_interval_ms: int = DEFAULT_HEARTBEAT_MS,
        recommended_shards: int = 1,
        portal_intents: int = PRIVILEGED,
        bot_name: str = "chatbridge-test",
        wait_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.token = token
        self.wait_timeout = wait_timeout
        """How long every ``wait_*`` helper (and :func:`running`) waits before failing the test."""
        self.snowflakes = SnowflakeGenerator()
        self.world = World(self.snowflakes, bot_name=bot_name, portal_intents=portal_intents)
        self.gateway = Gateway(
            self.world, token=token, heartbeat_interval_ms=heartbeat_interval_ms, wait_timeout=wait_timeout
        )
        self.rest_calls: Journal[RestCall] = Journal("REST calls", wait_timeout=wait_timeout)
        self.faults = FaultPlan()
        self.throttle = Throttle(self.world.clock)
        self.recommended_shards = recommended_shards
        """What GET /gateway/bot recommends; AutoShardedClient without ``shard_count`` obeys it."""
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        router = Router()
        for routes in (
            MessageRoutes(self.world, self._echo),
            ChannelRoutes(self.world, self._echo),
            InteractionRoutes(self.world, self._echo),
            GuildRoutes(
                self.world, self._echo, gateway_info=lambda: (self.gateway_url, self.recommended_shards)
            ),
        ):
            routes.register(router)
        api = RestApi(
            token=self.token,
            router=router,
            faults=self.faults,
            calls=self.rest_calls,
            throttle=self.throttle,
        )
        app = web.Application()
        app.router.add_get("/", self.gateway.handle)
        app.router.add_get(RESUME_PATH, self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_attachment)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", api.handle)
        # Bind the socket ourselves: the OS picks a free port and we learn it without private API.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        self.world.http_base = self.http_base
        self.gateway.ws_base = f"ws://127.0.0.1:{self.port}"
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.SockSite(self._runner, listener).start()

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self.gateway.close_all()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> DiscordDouble:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return self.http_base + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be set to (also returned by /gateway/bot)."""
        return f"ws://127.0.0.1:{self.port}/"

    async def _serve_attachment(self, request: web.Request) -> web.Response:
        stored = self.world.attachments.get(int(request.match_info["attachment_id"]))
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored[1])

    async def _echo(self, event: str, data: Mapping[str, Any]) -> list[str]:
        return await self.gateway.dispatch(event, data)

    # -- REST observation ------------------------------------------------------------------

    def calls(self, method: str | None = None, path: str | None = None) -> list[RestCall]:
        """Recorded REST calls, optionally filtered (``path`` may be a ``{placeholder}`` template)."""
        pattern = PathPattern(path) if path else None
        return [
            call
            for call in self.rest_calls
            if (method is None or call.method == method.upper())
            and (pattern is None or pattern.matches(call.path, call.route))
        ]

    async def wait_for_rest(
        self,
        method: str,
        path: str,
        *,
        where: Callable[[RestCall], bool] | None = None,
        count: int = 1,
    ) -> RestCall:
        """The ``count``-th matching call (already made or still to come), once it has been answered."""
        found = await self.rest_calls.wait_for(
            call_matcher(method, path, where), count=count, description=f"{method} {path}"
        )
        return found[count - 1]

    def unmatched_calls(self) -> list[RestCall]:
        """Calls no route handled: each is a route the double (or the bot) got wrong."""
        return [call for call in self.rest_calls if call.route is None]

    # -- REST faults -----------------------------------------------------------------------

    def fail_route(
        self,
        method: str,
        path: str,
        *,
        status: int,
        code: int,
        message: str,
        times: int | None = 1,
        errors: dict[str, Any] | None = None,
        while_: Callable[[], bool] | None = None,
    ) -> Fault:
        """Answer matching calls with Discord's error JSON instead of handling them (``times``
        times, and only while ``while_()`` holds when given)."""
        return self.faults.add(
            Fault(
                method.upper(),
                PathPattern(path),
                status,
                discord_error(code, message, errors),
                times=times,
                while_=while_,
            )
        )

    def lose_answer(self, method: str, path: str, *, times: int | None = 1) -> Fault:
        """Carry out the next ``times`` matching calls, then drop the connection before answering:
        the change is made (events dispatched), the client is told nothing."""
        return self.faults.add(
            Fault(method.upper(), PathPattern(path), 0, None, times=times, after_applying=True)
        )

    def deny_permission(self, method: str, path: str, *, times: int | None = 1) -> Fault:
        """403 ``{"code": 50013, "message": "Missing Permissions"}``, what Discord answers when the
        bot's role is too low or lacks the permission."""
        return self.fail_route(
            method, path, status=403, code=50013, message="Missing Permissions", times=times
        )

    def rate_limit(
        self,
        method: str,
        path: str,
        *,
        retry_after: float = 0.25,
        times: int | None = 1,
        is_global: bool = False,
        scope: str = "user",
        while_: Callable[[], bool] | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching calls (``None``: all, while ``while_()`` holds) with
        a 429 that discord.py will wait out and retry."""
        headers, body = rate_limit_response(
            retry_after=retry_after, is_global=is_global, scope=scope, bucket="double-injected"
        )
        return self.faults.add(
            Fault(method.upper(), PathPattern(path), 429, body, headers=headers, times=times, while_=while_)
        )

    def rate_limit_everything(self, seconds: float) -> None:
        """Every bot route answers 429 until ``seconds`` from now (interaction routes excepted)."""
        self.throttle.limit_everything(seconds)

    # -- gateway ---------------------------------------------------------------------------

    async def dispatch(
        self, event: str, data: Mapping[str, Any], *, shard_id: int | None = None
    ) -> list[str]:
        """Send a raw dispatch (routed by guild and filtered by intents); returns receiving sessions."""
        return await self.gateway.dispatch(event, data, shard_id=shard_id)

    @property
    def identifies(self) -> list[IdentifyRecord]:
        return list(self.gateway.identifies)

    @property
    def resumes(self) -> list[ResumeRecord]:
        return list(self.gateway.resumes)

    async def wait_identified(self, count: int = 1, *, shard_id: int | None = None) -> IdentifyRecord:
        """The ``count``-th IDENTIFY (for ``shard_id``), once READY and its GUILD_CREATEs are sent."""
        found = await self.gateway.identifies.wait_for(
            lambda record: shard_id is None or record.shard[0] == shard_id,
            count=count,
            description=f"IDENTIFY (shard {shard_id})",
        )
        return found[count - 1]

    async def wait_resumed(self, count: int = 1) -> ResumeRecord:
        """The ``count``-th successful RESUME, once the replay and RESUMED are sent."""
        found = await self.gateway.resumes.wait_for(count=count, description="RESUME")
        return found[count - 1]

    async def wait_for_frame(
        self,
        predicate: Callable[[GatewayFrame], bool],
        *,
        count: int = 1,
        description: str = "gateway frame",
    ) -> GatewayFrame:
        found = await self.gateway.frames.wait_for(predicate, count=count, description=description)
        return found[count - 1]

    async def wait_heartbeat(self, count: int = 1) -> GatewayFrame:
        """The ``count``-th heartbeat (op 1) received from a client."""
        return await self.wait_for_frame(
            lambda f: f.direction == "in" and f.op == 1, count=count, description="heartbeat"
        )

    async def drop_connection(self, *, shard_id: int | None = None, code: int = 4000) -> None:
        """Close the gateway socket with a resumable close code; the client should RESUME."""
        await self.gateway.drop(shard_id=shard_id, code=code)

    def refuse_member_list(self, *, retry_after: float, times: int = 1) -> None:
        """Answer the next ``times`` requests for a whole member list with RATE_LIMITED carrying
        ``retry_after``, as Discord answers one made within its 30 seconds."""
        self.gateway.member_list_refusals.extend([retry_after] * times)

    async def invalidate_session(self, *, shard_id: int | None = None, resumable: bool = False) -> None:
        """INVALID_SESSION; with ``resumable=False`` the client must IDENTIFY again."""
        await self.gateway.invalidate(shard_id=shard_id, resumable=resumable)

    async def guild_outage(self, guild_id: int) -> None:
        """The guild becomes unavailable (GUILD_DELETE, ``unavailable: true``) until restored."""
        await self.gateway.guild_outage(guild_id)

    async def guild_restored(self, guild_id: int) -> None:
        """The guild is available again: a GUILD_CREATE to every session that routes it."""
        await self.gateway.guild_restored(guild_id)

    async def request_reconnect(self, *, shard_id: int | None = None) -> None:
        await self.gateway.request_reconnect(shard_id=shard_id)

    async def request_heartbeat(self, *, shard_id: int | None = None) -> None:
        await self.gateway.request_heartbeat(shard_id=shard_id)

    def reject_next_resumes(self, count: int = 1) -> None:
        self.gateway.reject_next_resumes(count)

    def overlap_shards(self, guild_id: int, *, shard: tuple[int, int]) -> None:
        """Deliver ``guild_id`` also to sessions that IDENTIFY later as ``shard`` (id, count).

        While a bot reshards, the old and the new shard sets run side by side, so one guild's
        events reach two sessions (its GUILD_CREATE included) for a while. Discord's sharding
        formula alone (https://discord.com/developers/docs/events/gateway#sharding) never does.
        """
        self.gateway.overlaps.setdefault(shard, set()).add(guild_id)

    @contextlib.asynccontextmanager
    async def holding_reconnects(self) -> AsyncIterator[None]:
        """Inside the block, new gateway sockets wait before HELLO (see ``Gateway.holding_connections``)."""
        async with self.gateway.holding_connections():
            yield

    # -- interactions ----------------------------------------------------------------------

    async def wait_for_interaction_response(
        self, interaction: InteractionState, *, count: int = 1
    ) -> dict[str, Any]:
        """The bot's ``count``-th callback for ``interaction`` (``{"type": ..., "data": ...}``)."""
        await self.wait_for_rest(
            "POST",
            f"/interactions/{interaction.id}/{interaction.token}/callback",
            where=lambda call: call.status < 300,
            count=count,
        )
        return interaction.responses[count - 1]
