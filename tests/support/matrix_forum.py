"""A forum on a real Synapse, for end-to-end tests of the Matrix adapter.

`MatrixBot` is the bot under test (a Core on its own SQLite store, the Matrix platform, the
Application), started and stopped like the real thing. `Member` drives a separate nio client the
way a person uses Element, so tests read like a transcript:

    root = await alice.say(general, "Night shifts: any tips?")
    await bob.say(general, "Sleep in blocks.", thread=root)
    await bot.caught_up(await bob.react(general, root, "👍"))

Waits are on conditions (the adapter's `caught_up`, a member's next sync), each bounded by a
timeout that only turns a missing event into a failure instead of a hang.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    JoinResponse,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomPreset,
    RoomPutStateResponse,
    RoomRedactResponse,
    RoomSendResponse,
    SyncResponse,
)
from sqlmodel import Session, select

from chatbridge.adapters.matrix import MatrixOptions, MatrixPlatform
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core, utc_now
from chatbridge.runner import StorePlatformState
from chatbridge.sandbox import Homeserver, RegisteredUser
from chatbridge.store.engine import make_engine
from chatbridge.store.tables import Identity, Post, Thread
from chatbridge.store.tables import Member as MemberRow

WAIT = 20.0
"""Seconds a condition may take before the test fails (never reached when things work)."""

FAST = MatrixOptions(poll_timeout_ms=10_000, max_rate_limit_wait=5.0)


@dataclass
class Community:
    """A space with sub-forum rooms, created by its owner (power 100); the bot gets `bot_level`."""

    owner: AsyncClient
    space_id: str
    rooms: dict[str, str]

    def room(self, name: str) -> str:
        return self.rooms[name]


async def create_community(
    owner: AsyncClient,
    bot_user_id: str,
    names: Sequence[str] = ("General Discussion", "Clinical Questions"),
    *,
    bot_level: int = 100,
    invite: Sequence[str] = (),
) -> Community:
    """What a community admin does in Element: a public space, public rooms in it, the bot invited."""
    server = owner.user_id.split(":", 1)[1]
    space = await owner.room_create(name="Medical Forum", space=True, preset=RoomPreset.public_chat)
    assert isinstance(space, RoomCreateResponse), space
    rooms: dict[str, str] = {}
    for position, name in enumerate(names):
        room = await owner.room_create(name=name, preset=RoomPreset.public_chat, invite=list(invite))
        assert isinstance(room, RoomCreateResponse), room
        await set_power(owner, room.room_id, bot_user_id, bot_level)
        linked = await owner.room_put_state(
            space.room_id,
            "m.space.child",
            {"via": [server], "order": f"{position:02d}"},
            state_key=room.room_id,
        )
        assert isinstance(linked, RoomPutStateResponse), linked
        rooms[name] = room.room_id
    return Community(owner, space.room_id, rooms)


@dataclass
class MatrixBot:
    """The bot under test. `running()` may be entered several times (a restart keeps the store)."""

    homeserver: Homeserver
    account: RegisteredUser
    store_dir: Path
    community: Community | None = None
    options: MatrixOptions = FAST
    allowed_inviters: tuple[str, ...] = ()
    settings_extra: dict[str, Any] = field(default_factory=dict)
    platform: MatrixPlatform | None = None
    core: Core | None = None
    clock: Callable[[], datetime] = utc_now
    """The core's clock (the digest scheduler, mutes, ...); a test may pass one it moves on."""
    app: Application | None = None
    homeserver_url: str | None = None
    """Where the bot reaches its homeserver, if not directly (a proxy in front of it)."""
    busy_timeout_ms: int | None = None
    """The store's SQLite busy timeout, if shorter than the real one (outage tests)."""
    ingest_retries: int | None = None
    """The ingestor's retries while the store is unavailable, if fewer than the real ones."""

    @property
    def user_id(self) -> str:
        return self.account.user_id

    @asynccontextmanager
    async def running(self) -> AsyncIterator[MatrixPlatform]:
        settings = Settings(database_url=f"sqlite:///{self.store_dir / 'forum.db'}", **self.settings_extra)
        engine = None
        if self.busy_timeout_ms is not None:
            engine = make_engine(settings.database_url, busy_timeout_ms=self.busy_timeout_ms)
        core = Core.build(settings, clock=self.clock, engine=engine)
        if self.ingest_retries is not None:
            core.ingestor.unavailable_retries = self.ingest_retries
            core.ingestor.retry_pause = 0.01
        platform = MatrixPlatform(
            homeserver=self.homeserver_url or self.homeserver.base_url,
            user_id=self.account.user_id,
            password=self.account.password,
            state=StorePlatformState(core.engine),
            allowed_inviters=self.allowed_inviters,
            community_rooms=(self.community.space_id,) if self.community else (),
            options=self.options,
        )
        self.platform, self.core = platform, core
        try:
            async with Application(core, [platform]).running() as app:
                self.app = app
                yield platform
        finally:
            core.engine.dispose()

    async def caught_up(self, *event_ids: str) -> None:
        """Wait until the bot has applied the sync batches holding these events."""
        assert self.platform is not None
        async with asyncio.timeout(WAIT):
            for event_id in event_ids:
                await self.platform.caught_up(event_id)

    @contextmanager
    def store(self) -> Iterator[Session]:
        assert self.core is not None
        with Session(self.core.engine) as session:
            yield session

    def member_row(self, user_id: str) -> MemberRow:
        with self.store() as session:
            identity = session.exec(select(Identity).where(Identity.platform_user_id == user_id)).one()
            member = session.get(MemberRow, identity.member_id)
            assert member is not None
            return member

    def thread_row(self, root: str) -> Thread:
        with self.store() as session:
            return session.exec(select(Thread).where(Thread.platform_thread_id == root)).one()

    def post_row(self, event_id: str) -> Post | None:
        with self.store() as session:
            return session.exec(select(Post).where(Post.platform_message_id == event_id)).first()


class Member:
    """A person in Element, as a transcript driver over a logged-in nio client."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self._synced = False

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    async def join(self, room_id: str) -> None:
        response = await self.client.join(room_id)
        assert isinstance(response, JoinResponse), response

    async def say(
        self,
        room_id: str,
        text: str,
        *,
        thread: str | None = None,
        reply_to: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text, **(extra or {})}
        if thread is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread,
                "is_falling_back": reply_to is None,
                "m.in_reply_to": {"event_id": reply_to or thread},
            }
        elif reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self.send(room_id, "m.room.message", content)

    async def send(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        response = await self.client.room_send(room_id, event_type, content)
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        return await self.send(
            room_id,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
        )

    async def edit(self, room_id: str, event_id: str, text: str) -> str:
        return await self.send(
            room_id,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": f"* {text}",
                "m.new_content": {"msgtype": "m.text", "body": text},
                "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
            },
        )

    async def redact(self, room_id: str, event_id: str) -> str:
        response = await self.client.room_redact(room_id, event_id)
        assert isinstance(response, RoomRedactResponse), response
        return str(response.event_id)

    async def catch_up(self) -> None:
        """Sync once so that later waits see only what is new."""
        response = await self.client.sync(timeout=0, sync_filter=_FILTER)
        assert isinstance(response, SyncResponse), response
        self._synced = True

    async def next_event(
        self, wanted: Callable[[str, dict[str, Any]], bool], *, accept_invites: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """The first event after the last `catch_up` (room id, raw event) that `wanted` accepts."""
        assert self._synced, "call catch_up() before the action whose outcome you wait for"
        async with asyncio.timeout(WAIT):
            while True:
                response = await self.client.sync(timeout=5_000, sync_filter=_FILTER)
                assert isinstance(response, SyncResponse), response
                if accept_invites:
                    for room_id in response.rooms.invite:
                        await self.join(room_id)
                for room_id, info in response.rooms.join.items():
                    for event in info.timeline.events:
                        source = getattr(event, "source", {})
                        if wanted(room_id, source):
                            return room_id, source

    async def hears_from(
        self,
        bot_user_id: str,
        *,
        room_id: str | None = None,
        replying_to: str | None = None,
        saying: str | None = None,
        accept_invites: bool = False,
    ) -> dict[str, Any]:
        """The bot's next message (in one room, answering one message, containing some text)."""

        def from_bot(where: str, event: dict[str, Any]) -> bool:
            relates = event.get("content", {}).get("m.relates_to", {})
            return (
                event.get("sender") == bot_user_id
                and event.get("type") == "m.room.message"
                and (room_id is None or where == room_id)
                and (replying_to is None or relates.get("m.in_reply_to", {}).get("event_id") == replying_to)
                and (saying is None or saying in body(event))
            )

        _, event = await self.next_event(from_bot, accept_invites=accept_invites)
        return event


_FILTER = {
    "room": {"timeline": {"limit": 50}, "state": {"lazy_load_members": True}},
    "presence": {"types": []},
}


async def set_power(owner: AsyncClient, room_id: str, user_id: str, level: int | None) -> None:
    """Give `user_id` a power level (None: back to the default), as a room admin does in Element."""
    current = await owner.room_get_state_event(room_id, "m.room.power_levels")
    assert isinstance(current, RoomGetStateEventResponse), current
    users = dict(current.content.get("users", {}))
    if level is None:
        users.pop(user_id, None)
    else:
        users[user_id] = level
    changed = await owner.room_put_state(room_id, "m.room.power_levels", {**current.content, "users": users})
    assert isinstance(changed, RoomPutStateResponse), changed


@dataclass
class Forum:
    """A community (dana owns it), two members in all its rooms, and the bot (not started)."""

    bot: MatrixBot
    community: Community
    dana: Member
    alice: Member
    bob: Member

    @property
    def general(self) -> str:
        return self.community.room("General Discussion")

    @property
    def clinical(self) -> str:
        return self.community.room("Clinical Questions")


async def open_forum(
    homeserver: Homeserver,
    make_member: Callable[[str], Awaitable[AsyncClient]],
    store_dir: Path,
    *,
    bot_level: int = 100,
    server_admin: bool = False,
    **bot: Any,
) -> Forum:
    account = await register_bot(homeserver, admin=server_admin)
    owner = await make_member("dana")
    community = await create_community(owner, account.user_id, bot_level=bot_level)
    alice, bob = Member(await make_member("alice")), Member(await make_member("bob"))
    dana = Member(owner)
    for member in (alice, bob):
        for room_id in (community.space_id, *community.rooms.values()):
            await member.join(room_id)
    for member in (dana, alice, bob):
        await member.catch_up()  # from now on, waits see only what happens next
    return Forum(MatrixBot(homeserver, account, store_dir, community, **bot), community, dana, alice, bob)


async def register_bot(homeserver: Homeserver, *, admin: bool = False) -> RegisteredUser:
    """The bot's account; `admin` makes it a Synapse server admin (it may read event reports)."""
    return await homeserver.register_user(
        f"chatbridge-{secrets.token_hex(4)}", secrets.token_urlsafe(16), displayname="chatbridge", admin=admin
    )


def body(event: dict[str, Any]) -> str:
    content = event.get("content", {})
    return str(content.get("body", ""))
