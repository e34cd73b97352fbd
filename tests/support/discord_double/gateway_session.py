"""Gateway sessions and the websocket connections that carry them.

A *session* (created by IDENTIFY) outlives its *connection*: when a connection drops, dispatches
keep accumulating in the session's buffer with fresh sequence numbers, and a RESUME on a new
connection replays them.  Keeping the two apart is what makes RESUME tests meaningful.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .payloads import JsonObject
from .recording import GatewayFrame, Journal
from .transport import Encoder

# https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-opcodes
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
VOICE_STATE_UPDATE = 4
RESUME = 6
RECONNECT = 7
REQUEST_GUILD_MEMBERS = 8
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11
REQUEST_SOUNDBOARD_SOUNDS = 31

# https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes
UNKNOWN_ERROR = 4000
UNKNOWN_OPCODE = 4001
DECODE_ERROR = 4002
NOT_AUTHENTICATED = 4003
AUTHENTICATION_FAILED = 4004
ALREADY_AUTHENTICATED = 4005
INVALID_SEQ = 4007
INVALID_SHARD = 4010
INVALID_API_VERSION = 4012
INVALID_INTENTS = 4013
DISALLOWED_INTENTS = 4014

SESSION_ENDING_CLOSE_CODES = frozenset({1000, 1001})
"""Closing with these invalidates the session (gateway page, "Initiating a Disconnect")."""


def snapshot(data: Any) -> Any:
    """A deep, JSON-only copy: buffered events must not change when the state they came from does."""
    return json.loads(json.dumps(data))


class Connection:
    """One websocket; serialises writes so the shared compression context sees frames in order."""

    def __init__(
        self, connection_id: int, ws: web.WebSocketResponse, encoder: Encoder, frames: Journal[GatewayFrame]
    ) -> None:
        self.id = connection_id
        self.ws = ws
        self._encoder = encoder
        self._frames = frames
        self._send_lock = asyncio.Lock()
        self.session: Session | None = None
        self.closed_by_server = False

    @property
    def open(self) -> bool:
        return not self.ws.closed

    @property
    def shard(self) -> tuple[int, int] | None:
        return self.session.shard if self.session else None

    def record_inbound(self, payload: JsonObject) -> None:
        self._frames.append(
            GatewayFrame(
                "in",
                self.id,
                self.shard,
                int(payload.get("op", -1)),
                payload.get("d"),
                payload.get("s"),
                payload.get("t"),
            )
        )

    async def send(
        self, op: int, data: Any = None, *, seq: int | None = None, event: str | None = None
    ) -> None:
        """Write one gateway payload; raises ``ConnectionResetError`` if the socket is gone."""
        payload: JsonObject = {"op": op, "d": data, "s": seq, "t": event}
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        async with self._send_lock:
            if self.ws.closed:
                raise ConnectionResetError("gateway connection is closed")
            frame = self._encoder.encode(text)
            if isinstance(frame, bytes):
                await self.ws.send_bytes(frame)
            else:
                await self.ws.send_str(frame)
        self._frames.append(GatewayFrame("out", self.id, self.shard, op, data, seq, event))

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_by_server = True
        await self.ws.close(code=code, message=reason.encode())


@dataclass
class Session:
    """An identified gateway session and every dispatch it has been sent (for replay)."""

    session_id: str
    shard: tuple[int, int]
    intents: int
    large_threshold: int
    identify: JsonObject
    seq: int = 0
    buffer: list[tuple[int, str, Any]] = field(default_factory=list)
    connection: Connection | None = None
    invalidated: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    also_guilds: frozenset[int] = frozenset()
    """Guilds of other shards this session receives too (a reshard overlap, see ``Gateway``)."""

    def routes(self, guild_id: int | None, shard_for: int | None) -> bool:
        """Whether this session receives an event for ``guild_id`` (or for an explicit shard)."""
        if self.invalidated:
            return False
        shard_id, shard_count = self.shard
        if shard_for is not None:
            return shard_id == shard_for
        if guild_id is None:
            return shard_id == 0  # "events that do not contain a guild_id ... only shard 0"
        return (guild_id >> 22) % shard_count == shard_id or guild_id in self.also_guilds

    async def emit(self, event: str, data: Any) -> int:
        """Assign the next sequence number, buffer, and send if connected.  Caller holds ``lock``.

        A failed send leaves the event buffered, exactly like an event lost in flight on Discord:
        the next RESUME replays it.
        """
        self.seq += 1
        frozen = snapshot(data)
        self.buffer.append((self.seq, event, frozen))
        connection = self.connection
        if connection is not None and connection.open:
            with contextlib.suppress(ConnectionError):
                await connection.send(DISPATCH, frozen, seq=self.seq, event=event)
        return self.seq
