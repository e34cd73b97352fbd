"""Archived and locked threads: the bot reopens a thread where it may, and says so where it may not.

Discord refuses edits and reactions in an archived thread (50083); a send reopens it unless it is
locked, and only Manage Threads may reopen a locked one. The double enforces all of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbridge.adapters.discord import translate
from chatbridge.model import MessageRef, OutgoingMessage
from chatbridge.platform import PlatformError
from support.discord_double import Community, DiscordDouble, Permission
from support.discord_forum import DiscordForum, discord_forum
from support.forum import sqlite_url


async def bot_message_in_thread(forum: DiscordForum, community: Community) -> MessageRef:
    room = translate.Place(community.guild_id, community.general, "general").room
    return await forum.platform.send(
        room, OutgoingMessage("Case #4 · open"), thread_id=str(community.thread), idempotency_key="case:4"
    )


def close_thread(double: DiscordDouble, community: Community, *, locked: bool) -> None:
    metadata = double.world.raw_channel(community.thread)["thread_metadata"]
    metadata["archived"], metadata["locked"] = True, locked


def without_manage_threads(community: Community) -> None:
    role = community.guild.roles[community.guild.bot_role_id]
    role["permissions"] = str(int(role["permissions"]) & ~Permission.MANAGE_THREADS)


async def test_an_edit_in_an_archived_thread_reopens_it_edits_and_archives_it_again(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        card = await bot_message_in_thread(forum, community)
        close_thread(double, community, locked=False)

        await forum.platform.edit_message(card, OutgoingMessage("Case #4 · claimed by Dr. Bob"))

        stored = double.world.message(community.thread, int(card.message_id))
        assert stored["content"] == "Case #4 · claimed by Dr. Bob"
        thread_edits = [c.json for c in double.calls("PATCH", f"/channels/{community.thread}")]
        assert thread_edits == [{"archived": False}, {"archived": True}]
        assert double.world.raw_channel(community.thread)["thread_metadata"]["archived"] is True


async def test_a_reaction_in_an_archived_thread_reopens_it_too(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        card = await bot_message_in_thread(forum, community)
        close_thread(double, community, locked=False)

        await forum.platform.react(card, "👍")

        reactions = double.world.reactions[(community.thread, int(card.message_id))]
        assert list(reactions.values()) == [[double.world.bot_id]]
        assert double.world.raw_channel(community.thread)["thread_metadata"]["archived"] is True


async def test_a_locked_archived_thread_is_left_alone_and_the_bot_says_why(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        card = await bot_message_in_thread(forum, community)
        close_thread(double, community, locked=True)
        without_manage_threads(community)
        room = translate.Place(community.guild_id, community.general, "general").room

        with pytest.raises(PlatformError, match="archived and locked, and I may not reopen it"):
            await forum.platform.edit_message(card, OutgoingMessage("Case #4 · claimed"))
        with pytest.raises(PlatformError, match="archived and locked, and I may not reopen it"):
            await forum.platform.send(
                room, OutgoingMessage("Anyone?"), thread_id=str(community.thread), idempotency_key="late"
            )

        assert double.world.message(community.thread, int(card.message_id))["content"] == "Case #4 · open"
        assert double.world.raw_channel(community.thread)["thread_metadata"]["archived"] is True
