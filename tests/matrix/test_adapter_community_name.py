"""The community is called what the space is called (its m.room.name), and follows a rename."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nio import AsyncClient, RoomPutStateResponse
from sqlmodel import select

from chatbridge.sandbox import Homeserver
from chatbridge.store.tables import Community
from support.matrix_forum import Forum, MatrixBot, open_forum

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]


@pytest.fixture
async def forum(homeserver: Homeserver, make_member: MakeMember, tmp_path: Path) -> Forum:
    return await open_forum(homeserver, make_member, tmp_path)


def community_names(bot: MatrixBot) -> list[str]:
    with bot.store() as session:
        return list(session.exec(select(Community.name)).all())


async def name_space(forum: Forum, name: str) -> str:
    """dana renames the space in Element (Space settings > General > Name)."""
    response = await forum.dana.client.room_put_state(forum.community.space_id, "m.room.name", {"name": name})
    assert isinstance(response, RoomPutStateResponse), response
    return str(response.event_id)


async def test_the_community_is_named_after_the_space_and_follows_a_rename(forum: Forum) -> None:
    bot = forum.bot
    await name_space(forum, "The Apprentice Doctor")
    async with bot.running():
        assert community_names(bot) == ["The Apprentice Doctor"], "named when the rooms are announced"

        await bot.caught_up(await name_space(forum, "The Apprentice Doctor: Nights"))
        assert community_names(bot) == ["The Apprentice Doctor: Nights"]

    await name_space(forum, "Night Owls")  # while the bot is away
    async with bot.running():
        assert community_names(bot) == ["Night Owls"]
