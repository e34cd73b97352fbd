"""Mutes as power levels, and privileges read from them, on a real Synapse."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nio import AsyncClient, RoomGetStateEventResponse, RoomSendError

from chatbridge.model import Privilege
from chatbridge.platform import PlatformError
from chatbridge.sandbox import Homeserver
from support.matrix_forum import Forum, open_forum, set_power

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]
TOMORROW = datetime.now(UTC) + timedelta(days=1)


async def users_levels(forum: Forum, room_id: str) -> dict[str, int]:
    response = await forum.dana.client.room_get_state_event(room_id, "m.room.power_levels")
    assert isinstance(response, RoomGetStateEventResponse), response
    return dict(response.content.get("users", {}))


async def test_a_mute_silences_a_member_in_every_room_and_lifting_it_restores_exactly(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="chatbridge")
    forum = await open_forum(homeserver, make_member, tmp_path)
    bob, general, clinical, space = forum.bob, forum.general, forum.clinical, forum.community.space_id
    await set_power(forum.dana.client, general, bob.user_id, 10)  # bob has a level of his own here
    async with forum.bot.running() as platform:
        result = await platform.apply_mute(space, bob.user_id, TOMORROW, "pile-on about MRN 4417-2210")
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert f"muted {bob.user_id} in 2 rooms" in logged
        assert "4417-2210" not in logged, "the reason stays out of the log: it may carry patient details"
        assert dict(result.previous_state) == {general: 10, clinical: None}
        assert result.applied_until is None  # Matrix keeps it until it is lifted
        for room_id in (general, clinical):
            assert (await users_levels(forum, room_id))[bob.user_id] == -1
            refused = await bob.client.room_send(
                room_id, "m.room.message", {"msgtype": "m.text", "body": "!"}
            )
            assert isinstance(refused, RoomSendError) and refused.status_code == "M_FORBIDDEN"

        await platform.lift_mute(space, bob.user_id, result.previous_state)
        assert (await users_levels(forum, general))[bob.user_id] == 10
        assert bob.user_id not in await users_levels(forum, clinical)
        await bob.say(clinical, "Thanks, I'll keep it civil.")


async def test_a_mute_the_bot_cannot_make_changes_nothing_and_says_why(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    forum = await open_forum(homeserver, make_member, tmp_path)
    await set_power(forum.dana.client, forum.clinical, forum.bot.user_id, None)  # the bot: level 0 there
    async with forum.bot.running() as platform:
        with pytest.raises(
            PlatformError, match="I need power level 100 in Clinical Questions to change power levels"
        ):
            await platform.apply_mute(forum.community.space_id, forum.bob.user_id, TOMORROW, "spam")
    assert forum.bob.user_id not in await users_levels(forum, forum.general)


async def test_privileges_come_from_power_levels_as_they_are_now(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    forum = await open_forum(homeserver, make_member, tmp_path)
    space = forum.community.space_id
    async with forum.bot.running() as platform:
        assert await platform.member_privilege(space, forum.dana.user_id) is Privilege.ADMIN  # the creator
        assert await platform.member_privilege(space, forum.bob.user_id) is Privilege.MEMBER
        await set_power(forum.dana.client, forum.general, forum.bob.user_id, 50)
        _, change = await forum.alice.next_event(lambda _, e: e.get("type") == "m.room.power_levels")
        await forum.bot.caught_up(change["event_id"])
        assert await platform.member_privilege(space, forum.bob.user_id) is Privilege.MODERATOR
