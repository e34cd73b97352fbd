"""The sandbox homeserver, exercised the way members use it: real Synapse, real nio clients."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from nio import (
    AsyncClient,
    Event,
    JoinedRoomsResponse,
    JoinResponse,
    ProfileGetDisplayNameResponse,
    ReactionEvent,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendError,
    RoomSendResponse,
    SyncResponse,
    WhoamiResponse,
)

from chatbridge.sandbox import (
    Homeserver,
    HomeserverError,
    HomeserverStartError,
    RateLimits,
    UserExistsError,
)
from chatbridge.sandbox.config import SandboxState, homeserver_config

synapse = pytest.mark.synapse

# The `make_member` fixture from tests/matrix/conftest.py (conftest modules are not importable).
MakeMember = Callable[[str], Awaitable[AsyncClient]]


def text(body: str, **extra: Any) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": body, **extra}


def in_thread(root_event_id: str) -> dict[str, Any]:
    return {
        "rel_type": "m.thread",
        "event_id": root_event_id,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": root_event_id},
    }


async def sync_until(client: AsyncClient, room_id: str, wanted: Callable[[Event], bool]) -> Event:
    """Long-polls /sync until ``wanted`` matches an event of ``room_id``'s timeline. The timeout
    only turns a missing event into a failure instead of a hang; it asserts nothing about speed."""
    timeline_filter = {"room": {"timeline": {"limit": 100}}}
    async with asyncio.timeout(30):
        while True:
            response = await client.sync(timeout=1000, sync_filter=timeline_filter)
            assert isinstance(response, SyncResponse), response
            room = response.rooms.join.get(room_id)
            for event in room.timeline.events if room else []:
                if wanted(event):
                    return event


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def synapse_pids(data_dir: Path) -> list[int]:
    """Every process (launcher or Synapse) started for ``data_dir``, found via /proc."""
    config = str(data_dir / "homeserver.yaml").encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if config in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


# --- conversations ------------------------------------------------------------------------------


@synapse
async def test_alice_starts_a_thread_and_bob_gives_it_a_thumbs_up(make_member: MakeMember) -> None:
    alice = await make_member("alice")
    bob = await make_member("bob")

    # alice: creates "Night shift" and invites bob
    room = await alice.room_create(name="Night shift", invite=[bob.user_id])
    assert isinstance(room, RoomCreateResponse), room

    # bob: joins, and catches up so that his next sync brings only what is new
    assert isinstance(await bob.join(room.room_id), JoinResponse)
    assert isinstance(await bob.sync(timeout=0), SyncResponse)

    # alice: "Handover at 7?"
    root = await alice.room_send(room.room_id, "m.room.message", text("Handover at 7?"))
    assert isinstance(root, RoomSendResponse), root

    # alice, in the thread: "Bed 12 needs a recheck before then."
    reply = await alice.room_send(
        room.room_id,
        "m.room.message",
        text("Bed 12 needs a recheck before then.", **{"m.relates_to": in_thread(root.event_id)}),
    )
    assert isinstance(reply, RoomSendResponse), reply

    # bob: 👍 on alice's thread message
    thumbs = await bob.room_send(
        room.room_id,
        "m.reaction",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": reply.event_id, "key": "👍"}},
    )
    assert isinstance(thumbs, RoomSendResponse), thumbs

    # bob's sync: alice's message, in alice's thread
    seen = await sync_until(bob, room.room_id, lambda e: e.event_id == reply.event_id)
    assert isinstance(seen, RoomMessageText)
    assert seen.sender == alice.user_id
    assert seen.body == "Bed 12 needs a recheck before then."
    relation = seen.source["content"]["m.relates_to"]
    assert (relation["rel_type"], relation["event_id"]) == ("m.thread", root.event_id)

    # alice's sync: bob's 👍 on her message
    reaction = await sync_until(alice, room.room_id, lambda e: isinstance(e, ReactionEvent))
    assert isinstance(reaction, ReactionEvent)
    assert (reaction.sender, reaction.reacts_to, reaction.key) == (bob.user_id, reply.event_id, "👍")


@synapse
async def test_a_second_member_registers_next_to_the_first(
    make_member: MakeMember, homeserver: Homeserver
) -> None:
    alice = await make_member("alice")
    bob = await make_member("bob")

    assert alice.user_id != bob.user_id
    for member, name in ((alice, "alice"), (bob, "bob")):
        assert member.user_id.endswith(f":{homeserver.server_name}")
        whoami = await member.whoami()
        assert isinstance(whoami, WhoamiResponse), whoami
        assert whoami.user_id == member.user_id
        profile = await member.get_displayname()
        assert isinstance(profile, ProfileGetDisplayNameResponse), profile
        assert profile.displayname == name


@synapse
async def test_a_member_arrives_logged_in(matrix_user: AsyncClient) -> None:
    whoami = await matrix_user.whoami()

    assert isinstance(whoami, WhoamiResponse), whoami
    assert (whoami.user_id, whoami.device_id) == (matrix_user.user_id, matrix_user.device_id)


@synapse
async def test_registering_a_taken_name_logs_in_instead(homeserver: Homeserver) -> None:
    localpart = f"carol-{secrets.token_hex(4)}"

    first = await homeserver.register_user(localpart, "carols-password")
    again = await homeserver.register_user(localpart, "carols-password")

    assert first.created
    assert not again.created
    assert again.user_id == first.user_id == homeserver.user_id(localpart)
    assert again.device_id != first.device_id

    with pytest.raises(UserExistsError):
        await homeserver.register_user(localpart, "carols-password", exist_ok=False)
    with pytest.raises(HomeserverError, match="password"):
        await homeserver.register_user(localpart, "not-carols-password")
    with pytest.raises(HomeserverError, match="not a server admin"):
        await homeserver.register_user(localpart, "carols-password", admin=True)


@synapse
async def test_an_admin_registered_twice_stays_an_admin(homeserver: Homeserver) -> None:
    localpart = f"mod-{secrets.token_hex(4)}"
    await homeserver.register_user(localpart, "mods-password", admin=True)

    again = await homeserver.register_user(localpart, "mods-password", admin=True)

    assert not again.created


# --- lifecycle (each starts its own homeserver) ---------------------------------------------------


@synapse
@pytest.mark.slow
async def test_restarting_on_the_same_data_dir_keeps_members_and_rooms(
    tmp_path: Path, synapse_bytecode_cache: Path
) -> None:
    async with Homeserver.start(tmp_path, bytecode_cache=synapse_bytecode_cache) as hs:
        dana = await hs.register_user("dana", "danas-password")
        server_name, first_pid = hs.server_name, hs.pid
        client = hs.client_for(dana)
        try:
            room = await client.room_create(name="Journal club")
            assert isinstance(room, RoomCreateResponse), room
        finally:
            await client.close()
    assert not alive(first_pid)

    async with Homeserver.start(tmp_path, bytecode_cache=synapse_bytecode_cache) as hs:
        assert hs.server_name == server_name
        back = await hs.register_user("dana", "danas-password")
        assert not back.created
        assert back.user_id == dana.user_id

        # the access token from before the restart still works, and so does the room
        client = hs.client_for(dana)
        try:
            rooms = await client.joined_rooms()
            assert isinstance(rooms, JoinedRoomsResponse), rooms
            assert room.room_id in rooms.rooms
        finally:
            await client.close()


@synapse
@pytest.mark.slow
async def test_tight_rate_limits_answer_429(tmp_path: Path, synapse_bytecode_cache: Path) -> None:
    limits = RateLimits.relaxed().override(rc_message={"per_second": 0.001, "burst_count": 2})
    async with Homeserver.start(tmp_path, rate_limits=limits, bytecode_cache=synapse_bytecode_cache) as hs:
        erin = hs.client_for(await hs.register_user("erin", "erins-password"))
        try:
            room = await erin.room_create(name="Rapid fire")
            assert isinstance(room, RoomCreateResponse), room
            # Synapse holds every 429 back for 0.5 s, so stop at the first one.
            for n in range(5):
                response = await erin.room_send(room.room_id, "m.room.message", text(f"message {n}"))
                if isinstance(response, RoomSendError):
                    break
        finally:
            await erin.close()

    assert isinstance(response, RoomSendError), response
    assert response.status_code == "M_LIMIT_EXCEEDED"


@synapse
@pytest.mark.slow
async def test_a_homeserver_that_cannot_start_says_why(tmp_path: Path, synapse_bytecode_cache: Path) -> None:
    broken = {"database": {"name": "no-such-database-engine"}}

    with pytest.raises(HomeserverStartError) as failure:
        async with Homeserver.start(tmp_path, extra_config=broken, bytecode_cache=synapse_bytecode_cache):
            pytest.fail("Synapse started with an unknown database engine")

    assert "no-such-database-engine" in str(failure.value)


@synapse
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes via /proc")
async def test_cancelling_a_start_leaves_no_synapse_behind(
    tmp_path: Path, synapse_bytecode_cache: Path
) -> None:
    async def run_until_cancelled() -> None:
        async with Homeserver.start(tmp_path, bytecode_cache=synapse_bytecode_cache):
            await asyncio.Event().wait()

    task = asyncio.create_task(run_until_cancelled())
    try:
        async with asyncio.timeout(30):
            # Polling: the process appears outside this event loop's knowledge.
            while True:
                if synapse_pids(tmp_path):
                    break
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert synapse_pids(tmp_path) == []


@synapse
@pytest.mark.slow
async def test_a_second_homeserver_on_a_busy_data_dir_is_refused(
    homeserver: Homeserver, synapse_bytecode_cache: Path
) -> None:
    with pytest.raises(HomeserverError, match="already running"):
        async with Homeserver.start(homeserver.data_dir, bytecode_cache=synapse_bytecode_cache):
            pytest.fail("two Synapses shared one database")


# --- generated configuration (no Synapse needed) --------------------------------------------------


def test_relaxed_limits_cover_every_limiter_and_overrides_merge_deeply() -> None:
    limits = RateLimits.relaxed().override(rc_login={"account": {"per_second": 0.1, "burst_count": 1}})

    assert limits.settings["rc_login"]["account"] == {"per_second": 0.1, "burst_count": 1}
    assert limits.settings["rc_login"]["address"]["burst_count"] >= 1000
    assert limits.settings["rc_message"]["burst_count"] >= 1000
    assert RateLimits.synapse_defaults().settings == {}


def test_generated_config_keeps_everything_on_this_machine(tmp_path: Path) -> None:
    config = homeserver_config(
        data_dir=tmp_path,
        state=SandboxState.generate("chatbridge.localhost"),
        port=8448,
        rate_limits=RateLimits.relaxed(),
    )

    [listener] = config["listeners"]
    assert listener["bind_addresses"] == ["127.0.0.1"]
    assert [name for resource in listener["resources"] for name in resource["names"]] == ["client"]
    assert config["trusted_key_servers"] == []
    assert config["federation_domain_whitelist"] == []
    assert config["report_stats"] is False
    assert config["url_preview_enabled"] is False
    assert config["enable_registration"] is False
    assert config["database"]["name"] == "sqlite3"
