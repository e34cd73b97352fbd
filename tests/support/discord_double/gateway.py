"""The gateway websocket: HELLO, IDENTIFY/READY, heartbeats, RESUME with replay, and dispatch.

https://discord.com/developers/docs/events/gateway

Each websocket is served by its aiohttp request handler, which aiohttp owns and cancels on
shutdown; the gateway itself starts no tasks.  Test-side operations (dispatch, drop, invalidate)
run in the caller's task and write to the socket under a per-connection lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import WSMsgType, web

from . import events, payloads
from .gateway_session import (
    ALREADY_AUTHENTICATED,
    AUTHENTICATION_FAILED,
    DECODE_ERROR,
    DISALLOWED_INTENTS,
    DISPATCH,
    HEARTBEAT,
    HEARTBEAT_ACK,
    HELLO,
    IDENTIFY,
    INVALID_API_VERSION,
    INVALID_INTENTS,
    INVALID_SEQ,
    INVALID_SESSION,
    INVALID_SHARD,
    NOT_AUTHENTICATED,
    PRESENCE_UPDATE,
    RECONNECT,
    REQUEST_GUILD_MEMBERS,
    REQUEST_SOUNDBOARD_SOUNDS,
    RESUME,
    SESSION_ENDING_CLOSE_CODES,
    UNKNOWN_ERROR,
    UNKNOWN_OPCODE,
    VOICE_STATE_UPDATE,
    Connection,
    Session,
)
from .intents import ALL_KNOWN, PRIVILEGED, Intent, filter_dispatch
from .payloads import JsonObject
from .permissions import Permission
from .recording import ConnectionRecord, GatewayFrame, IdentifyRecord, Journal, ResumeRecord
from .state import World
from .transport import UnsupportedCompressionError, encoder_for

RESUME_PATH = "/resume"
MEMBER_LIST_INTERVAL = 30.0
"""Seconds between two requests for a guild's whole member list (see ``_request_members``)."""
MEMBERS_PER_CHUNK = 1000


class GatewayError(RuntimeError):
    """A test asked for something the current gateway state cannot do (e.g. drop a shard with no socket)."""


def _event_guild_id(event: str, data: Mapping[str, Any]) -> int | None:
    if event.startswith("GUILD_") and "guild_id" not in data and "id" in data:
        return int(data["id"])  # GUILD_CREATE / GUILD_UPDATE / GUILD_DELETE carry the guild as "id"
    raw = data.get("guild_id")
    return int(raw) if raw else None


class Gateway:
    """Serves gateway websockets and routes dispatches to sessions by shard and intents."""

    def __init__(self, world: World, *, token: str, heartbeat_interval_ms: int, wait_timeout: float) -> None:
        self.world = world
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.enforce_intents = True
        self.ws_base = ""
        """``ws://127.0.0.1:port``, set when the server starts."""
        self.sessions: dict[str, Session] = {}
        self.connections: dict[int, Connection] = {}
        self.frames: Journal[GatewayFrame] = Journal("gateway frames", wait_timeout=wait_timeout)
        self.connection_log: Journal[ConnectionRecord] = Journal(
            "gateway connections", wait_timeout=wait_timeout
        )
        self.identifies: Journal[IdentifyRecord] = Journal("IDENTIFYs", wait_timeout=wait_timeout)
        self.resumes: Journal[ResumeRecord] = Journal("RESUMEs", wait_timeout=wait_timeout)
        self._next_connection_id = 0
        self._rejected_resumes = 0
        self._member_lists: dict[int, float] = {}
        self.member_list_refusals: list[float] = []
        """Scripted RATE_LIMITED answers (their ``retry_after``) for the next all-member requests,
        whatever the window says: a test's deterministic stand-in for a request made too soon."""
        self.unavailable: set[int] = set()
        """Guilds in an outage: listed unavailable in READY, no GUILD_CREATE until restored."""
        """When each guild's full member list was last asked for, on the world's clock."""
        self._released = _ReleaseGate()
        self.overlaps: dict[tuple[int, int], set[int]] = {}
        """(shard id, shard count) -> guilds a session identifying as that shard receives too."""

    # -- websocket handler -----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler for ``/`` (initial connections) and ``/resume`` (resume_gateway_url)."""
        ws = web.WebSocketResponse(timeout=5.0, max_msg_size=0)
        await ws.prepare(request)
        self._next_connection_id += 1
        query = dict(request.query)
        self.connection_log.append(ConnectionRecord(self._next_connection_id, request.path, query))
        try:
            encoder = encoder_for(query.get("compress"))
        except UnsupportedCompressionError:
            await ws.close(code=UNKNOWN_ERROR, message=b"unsupported transport compression")
            return ws
        connection = Connection(self._next_connection_id, ws, encoder, self.frames)
        if query.get("v") != str(events.API_VERSION):
            await connection.close(INVALID_API_VERSION, "Invalid API version")
            return ws
        if query.get("encoding", "json") != "json":
            await connection.close(DECODE_ERROR, "the double only speaks encoding=json")
            return ws
        self.connections[connection.id] = connection
        try:
            await self._released.wait()
            await connection.send(HELLO, {"heartbeat_interval": self.heartbeat_interval_ms})
            await self._serve(connection)
        except ConnectionError:
            pass  # the client went away mid-write; the finally block detaches the session
        finally:
            self._forget(connection)
        return ws

    async def _serve(self, connection: Connection) -> None:
        async for message in connection.ws:
            if message.type is not WSMsgType.TEXT:
                await connection.close(DECODE_ERROR, "expected JSON text frames")
                return
            try:
                payload = json.loads(message.data)
                op = payload["op"]
            except (ValueError, KeyError, TypeError):
                await connection.close(DECODE_ERROR, "Decode error")
                return
            connection.record_inbound(payload)
            await self._on_payload(connection, op, payload.get("d"))

    async def _on_payload(self, connection: Connection, op: int, data: Any) -> None:
        if op == HEARTBEAT:
            await connection.send(HEARTBEAT_ACK)
        elif op in (IDENTIFY, RESUME) and not isinstance(data, Mapping):
            await connection.close(DECODE_ERROR, "Decode error")
        elif op == IDENTIFY:
            await self._identify(connection, data)
        elif op == RESUME:
            await self._resume(connection, data)
        elif connection.session is None:
            await connection.close(NOT_AUTHENTICATED, "Not authenticated")
        elif op == REQUEST_GUILD_MEMBERS:
            await self._request_members(connection.session, data)
        elif op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE, REQUEST_SOUNDBOARD_SOUNDS):
            pass  # recorded in frames; nothing the forum layer depends on
        else:
            await connection.close(UNKNOWN_OPCODE, "Unknown opcode")

    def _forget(self, connection: Connection) -> None:
        self.connections.pop(connection.id, None)
        session = connection.session
        if session is None:
            return
        if session.connection is connection:
            session.connection = None
        client_code = connection.ws.close_code
        if not connection.closed_by_server and client_code in SESSION_ENDING_CLOSE_CODES:
            session.invalidated = True

    # -- IDENTIFY / RESUME -----------------------------------------------------------------

    async def _identify(self, connection: Connection, data: Mapping[str, Any]) -> None:
        if connection.session is not None:
            await connection.close(ALREADY_AUTHENTICATED, "Already authenticated")
            return
        if data.get("token") != self.token:
            await connection.close(AUTHENTICATION_FAILED, "Authentication failed")
            return
        shard_id, shard_count = data.get("shard") or (0, 1)
        if not 0 <= shard_id < shard_count:
            await connection.close(INVALID_SHARD, "Invalid shard")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents & ~int(ALL_KNOWN):
            await connection.close(INVALID_INTENTS, "Invalid intent(s)")
            return
        if intents & int(PRIVILEGED) & ~int(self.world.portal_intents):
            await connection.close(DISALLOWED_INTENTS, "Disallowed intent(s)")
            return
        session = Session(
            session_id=secrets.token_hex(16),
            shard=(shard_id, shard_count),
            intents=intents,
            large_threshold=int(data.get("large_threshold", 50)),
            identify=dict(data),
            also_guilds=frozenset(self.overlaps.get((shard_id, shard_count), ())),
        )
        self.sessions[session.session_id] = session
        async with session.lock:
            session.connection = connection
            connection.session = session
            guild_ids = [gid for gid in self.world.guilds if session.routes(gid, None)]
            await session.emit(
                "READY",
                events.ready(
                    bot_user=self.world.bot_user,
                    guild_ids=guild_ids,
                    session_id=session.session_id,
                    resume_gateway_url=self.ws_base + RESUME_PATH,
                    application_id=self.world.application_id,
                    application_flags=self.world.application_flags,
                    shard=(shard_id, shard_count) if "shard" in data else None,
                ),
            )
            if intents & Intent.GUILDS:
                for guild_id in guild_ids:
                    if guild_id not in self.unavailable:
                        await session.emit("GUILD_CREATE", self._guild_create(guild_id, session))
        self.identifies.append(IdentifyRecord(dict(data), session.session_id, session.shard, connection.id))

    def _guild_create(self, guild_id: int, session: Session) -> JsonObject:
        guild = self.world.guilds[guild_id]
        members = list(guild.members.values())
        if not session.intents & Intent.GUILD_PRESENCES:
            # "members and presences returned in this event will only contain your bot"
            members = [guild.members[self.world.bot_id]]
        return events.guild_create(
            guild.guild_payload(),
            channels=list(guild.channels.values()),
            threads=guild.active_threads(),
            members=members,
            member_count=len(guild.members),
            joined_at=guild.members[self.world.bot_id]["joined_at"],
            large=len(guild.members) > session.large_threshold,
        )

    async def _resume(self, connection: Connection, data: Mapping[str, Any]) -> None:
        if data.get("token") != self.token:
            await connection.close(AUTHENTICATION_FAILED, "Authentication failed")
            return
        session = self.sessions.get(str(data.get("session_id")))
        if session is not None and self._rejected_resumes > 0:
            self._rejected_resumes -= 1
            session.invalidated = True
        if session is None or session.invalidated:
            await connection.send(INVALID_SESSION, False)
            return
        client_seq = data.get("seq")
        if client_seq is not None and client_seq > session.seq:
            await connection.close(INVALID_SEQ, "Invalid seq")
            return
        previous = session.connection
        if previous is not None and previous is not connection and previous.open:
            await previous.close(UNKNOWN_ERROR, "session resumed elsewhere")
        async with session.lock:
            session.connection = connection
            connection.session = session
            missed = [entry for entry in session.buffer if client_seq is None or entry[0] > client_seq]
            for seq, event, payload in missed:
                await connection.send(DISPATCH, payload, seq=seq, event=event)
            await session.emit("RESUMED", events.resumed())
        self.resumes.append(
            ResumeRecord(
                session.session_id,
                session.shard,
                client_seq,
                tuple(event for _seq, event, _payload in missed),
                connection.id,
            )
        )

    async def _request_members(self, session: Session, data: Mapping[str, Any]) -> None:
        """Answer op 8 with GUILD_MEMBERS_CHUNKs, applying the documented limits.

        gateway-events.mdx (Request Guild Members, Guild Members Chunk): the intent limits, 100
        members for a prefix or ids; chunks of at most 1,000 members with index and count.
        change-log.mdx (Introducing Rate Limit When Requesting All Guild Members, 2025-08-14): one
        request for ALL members (``query=""``, ``limit=0``) per guild per bot every 30 seconds;
        another one is answered by a RATE_LIMITED dispatch instead of chunks.
        """
        guild = self.world.guilds.get(int(data["guild_id"]))
        if guild is None:
            return
        raw_ids = data.get("user_ids")
        query = data.get("query")
        limit = int(data.get("limit") or 0)
        nonce = data.get("nonce")
        not_found: list[str] = []
        if raw_ids is None and query == "" and limit == 0:
            now = self.world.clock.now()
            last = self._member_lists.get(guild.id)
            scripted = self.member_list_refusals.pop(0) if self.member_list_refusals else None
            if scripted is not None or (last is not None and now - last < MEMBER_LIST_INTERVAL):
                wait = scripted if scripted is not None else MEMBER_LIST_INTERVAL - (now - (last or now))
                limited: JsonObject = {
                    "opcode": REQUEST_GUILD_MEMBERS,
                    "retry_after": round(wait, 3),
                    "meta": {"guild_id": str(guild.id), **({"nonce": nonce} if nonce is not None else {})},
                }
                async with session.lock:
                    await session.emit("RATE_LIMITED", limited)
                return
            self._member_lists[guild.id] = now
        if raw_ids is not None:
            wanted = [int(raw_ids)] if isinstance(raw_ids, int | str) else [int(u) for u in raw_ids]
            members = [guild.members[u] for u in wanted if u in guild.members]
            not_found = [str(u) for u in wanted if u not in guild.members]
        elif query == "" and not session.intents & Intent.GUILD_MEMBERS:
            members = []  # "GUILD_MEMBERS intent is required to request the entire member list"
        else:
            prefix = (query or "").lower()
            members = [
                m
                for m in guild.members.values()
                if m["user"]["username"].lower().startswith(prefix)
                or (m.get("nick") or "").lower().startswith(prefix)
            ]
            if prefix:
                members = members[: min(limit or 100, 100)]
            elif limit:
                members = members[:limit]
        chunks = [members[i : i + MEMBERS_PER_CHUNK] for i in range(0, len(members), MEMBERS_PER_CHUNK)] or [
            []
        ]
        async with session.lock:
            for index, chunk in enumerate(chunks):
                await session.emit(
                    "GUILD_MEMBERS_CHUNK",
                    events.guild_members_chunk(
                        guild.id,
                        chunk,
                        chunk_index=index,
                        chunk_count=len(chunks),
                        not_found=not_found if index == 0 else (),
                        nonce=nonce,
                    ),
                )

    # -- test controls ---------------------------------------------------------------------

    async def guild_outage(self, guild_id: int) -> None:
        """GUILD_DELETE with ``unavailable: true``: "a guild becomes ... unavailable due to an
        outage" (gateway-events.mdx, Guild Delete); the guild stays unavailable until restored."""
        self.unavailable.add(guild_id)
        await self.dispatch("GUILD_DELETE", payloads.unavailable_guild(guild_id))

    async def guild_restored(self, guild_id: int) -> None:
        """GUILD_CREATE "when a guild becomes available again to the client" (Guild Create), to
        each session that routes the guild, with the members its intents allow."""
        self.unavailable.discard(guild_id)
        for session in self.live_sessions():
            if session.routes(guild_id, None) and session.intents & Intent.GUILDS:
                async with session.lock:
                    await session.emit("GUILD_CREATE", self._guild_create(guild_id, session))

    async def bot_removed(self, guild_id: int) -> None:
        """GUILD_DELETE without ``unavailable``: the bot was removed from the guild."""
        await self.dispatch("GUILD_DELETE", {"id": str(guild_id)})

    def live_sessions(self, shard_id: int | None = None) -> list[Session]:
        return [
            s
            for s in self.sessions.values()
            if not s.invalidated and (shard_id is None or s.shard[0] == shard_id)
        ]

    async def dispatch(
        self, event: str, data: Mapping[str, Any], *, shard_id: int | None = None
    ) -> list[str]:
        """Send a dispatch to every session that would receive it; returns their session ids.

        Sessions whose socket is down buffer the event for replay on RESUME.  Intent filtering
        (including MESSAGE_CONTENT stripping) happens per session unless ``enforce_intents`` is off.
        """
        guild_id = _event_guild_id(event, data)
        if self.enforce_intents and not self._may_receive(event, guild_id):
            return []
        delivered = []
        for session in list(self.sessions.values()):
            if not session.routes(guild_id, shard_id):
                continue
            payload: Any = dict(data)
            if self.enforce_intents:
                payload = filter_dispatch(
                    event, payload, intents=session.intents, bot_id=str(self.world.bot_id)
                )
                if payload is None:
                    continue
            async with session.lock:
                await session.emit(event, payload)
            delivered.append(session.session_id)
        return delivered

    def _may_receive(self, event: str, guild_id: int | None) -> bool:
        """Events Discord sends only to a bot holding a permission in the guild.

        https://discord.com/developers/docs/events/gateway-events#guild-audit-log-entry-create
        ("only sent to bots with the VIEW_AUDIT_LOG permission")
        """
        if event != "GUILD_AUDIT_LOG_ENTRY_CREATE" or guild_id not in self.world.guilds:
            return True
        return bool(self.world.guilds[guild_id].bot_permissions & Permission.VIEW_AUDIT_LOG)

    def _connections_for(self, shard_id: int | None) -> list[Connection]:
        found = [
            connection
            for session in self.live_sessions(shard_id)
            if (connection := session.connection) is not None and connection.open
        ]
        if not found:
            raise GatewayError(f"no open gateway connection for shard {shard_id!r}")
        return found

    async def drop(self, *, shard_id: int | None = None, code: int = UNKNOWN_ERROR) -> None:
        """Close the socket(s) with a resumable code; the session stays valid for RESUME."""
        for connection in self._connections_for(shard_id):
            session = connection.session
            if session is not None:
                async with session.lock:
                    session.connection = None
            await connection.close(code, "dropped by test")

    async def invalidate(self, *, shard_id: int | None = None, resumable: bool = False) -> None:
        """Send INVALID_SESSION; ``resumable=False`` forces the client to IDENTIFY afresh."""
        for connection in self._connections_for(shard_id):
            session = connection.session
            if session is not None and not resumable:
                session.invalidated = True
            await connection.send(INVALID_SESSION, resumable)

    async def request_reconnect(self, *, shard_id: int | None = None) -> None:
        """Send op 7 RECONNECT; the client should close and RESUME."""
        for connection in self._connections_for(shard_id):
            await connection.send(RECONNECT, None)

    async def request_heartbeat(self, *, shard_id: int | None = None) -> None:
        """Send op 1; the client must answer with a heartbeat immediately."""
        for connection in self._connections_for(shard_id):
            await connection.send(HEARTBEAT, None)

    def reject_next_resumes(self, count: int = 1) -> None:
        """Answer the next ``count`` RESUMEs with INVALID_SESSION(false), as after a session timeout."""
        self._rejected_resumes += count

    @contextlib.asynccontextmanager
    async def holding_connections(self) -> AsyncIterator[None]:
        """New sockets wait before HELLO until the block exits: dispatches made inside are missed
        by the client for certain and must come back through RESUME replay."""
        self._released.hold()
        try:
            yield
        finally:
            self._released.release()

    async def close_all(self) -> None:
        """Going-away close for any socket still open at shutdown."""
        self._released.release_all()
        for connection in list(self.connections.values()):
            if connection.open:
                with contextlib.suppress(ConnectionError):
                    await connection.close(1001, "double shutting down")


class _ReleaseGate:
    """A counted "hold": waiters block while at least one holder is active."""

    def __init__(self) -> None:
        self._holders = 0
        self._open = asyncio.Event()
        self._open.set()

    def hold(self) -> None:
        self._holders += 1
        self._open.clear()

    def release(self) -> None:
        self._holders = max(0, self._holders - 1)
        if self._holders == 0:
            self._open.set()

    def release_all(self) -> None:
        self._holders = 0
        self._open.set()

    async def wait(self) -> None:
        await self._open.wait()
