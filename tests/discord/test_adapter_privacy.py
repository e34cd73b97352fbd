"""A forum channel @everyone cannot see, end to end on the Discord double: its threads are shared,
shown and suggested only to members whose channel permissions let them view it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import select

from chatbridge.store.tables import SubForum
from support.discord_double import Community, DiscordDouble, payloads
from support.discord_double import options as opt
from support.discord_double.state import InteractionState
from support.discord_forum import discord_forum, forum_post, reply
from support.forum import sqlite_url

VIEW_CHANNEL = 1 << 10


async def answer(double: DiscordDouble, interaction: InteractionState) -> dict[str, Any]:
    return await double.wait_for_interaction_response(interaction)


async def test_a_private_channel_s_threads_reach_only_those_who_can_view_it(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    staff = community.guild.add_forum_channel("staff-room")
    double.world.raw_channel(staff)["permission_overwrites"] = [
        {"id": str(community.guild_id), "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)},
        {"id": str(community.guild.bot_role_id), "type": 0, "allow": str(VIEW_CHANNEL), "deny": "0"},
        {"id": str(community.bob), "type": 1, "allow": str(VIEW_CHANNEL), "deny": "0"},
    ]
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        thread_id = await forum_post(forum, staff, community.bob, "Zebra rota", "Quokka handover notes")
        number = f"#{forum.thread(thread_id).id}"

        async def suggested(user_id: int) -> list[str]:
            typing = await double.autocomplete(
                "thread",
                opt.subcommand("show", opt.string("thread", "zebra", focused=True)),
                user_id=user_id,
                channel_id=community.general,
            )
            return [c["name"] for c in (await answer(double, typing))["data"]["choices"]]

        async def share(user_id: int, thread: str) -> dict[str, Any]:
            asked = await double.run_slash_command(
                "share", opt.string("thread", thread), user_id=user_id, channel_id=community.general
            )
            return (await answer(double, asked))["data"]

        assert await suggested(community.alice) == []
        assert await suggested(community.bob) == [f"{number} Zebra rota · staff-room"]

        refused = await share(community.alice, number)
        assert refused["flags"] & payloads.EPHEMERAL_FLAG
        assert refused["content"] == f"There is no thread {number} here."
        assert (await share(community.alice, "#999"))["content"] == "There is no thread #999 here."

        shared = await share(community.bob, number)
        assert shared["flags"] & payloads.EPHEMERAL_FLAG, "answered privately, since asked in #general"
        assert "**Zebra rota** · in 'staff-room'" in shared["content"]
        assert "Quokka handover notes" in shared["content"]


async def test_a_private_thread_in_a_public_channel_reaches_only_its_members(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """carol's private thread in #general: carol (its owner) and bob (a moderator, who may manage
    threads) read it; alice, who can read #general, does not."""
    double = discord_py_on_double
    community.guild.add_member(community.carol)
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        thread_id = await double.create_thread(community.general, community.carol, "Zebra rota", private=True)
        await reply(forum, thread_id, community.carol, "Quokka handover notes")
        await forum.settle()
        number = f"#{forum.thread(thread_id).id}"
        with forum.store() as session:
            room = str(thread_id)
            assert session.exec(select(SubForum).where(SubForum.platform_room_id == room)).one().private
        assert forum.platform.can_read(str(thread_id), str(community.carol))

        async def ask(command: str, option: opt.Option, user_id: int, channel_id: int) -> dict[str, Any]:
            asked = await double.run_slash_command(command, option, user_id=user_id, channel_id=channel_id)
            return dict((await answer(double, asked))["data"])

        show = opt.subcommand("show", opt.string("thread", "zebra"))
        for command, option in (("share", opt.string("thread", number)), ("thread", show)):
            refused = await ask(command, option, community.alice, community.general)
            assert "Zebra" not in refused["content"] and "Quokka" not in refused["content"], refused
            for reader in (community.carol, community.bob):
                privately = await ask(command, option, reader, community.general)
                assert privately["flags"] & payloads.EPHEMERAL_FLAG, "answered privately, asked in #general"
                assert "Zebra rota" in privately["content"]
            inside = await ask(command, option, community.carol, thread_id)
            assert not inside.get("flags", 0) & payloads.EPHEMERAL_FLAG
            assert "Zebra rota" in inside["content"]
        missing = await ask("share", opt.string("thread", number), community.alice, community.general)
        assert missing["content"] == f"There is no thread {number} here."
