"""A server outage: Discord sends GUILD_DELETE with `unavailable: true`, nothing for the guild while
it lasts, then GUILD_CREATE when it is back. What members posted meanwhile is read back then."""

from __future__ import annotations

from pathlib import Path

from chatbridge.model import CursorMoved, MessagePosted
from support.discord_double import Community, DiscordDouble
from support.discord_forum import DiscordForum, discord_forum, forum_post, reply
from support.forum import sqlite_url


async def caught_up(forum: DiscordForum, count: int = 1) -> None:
    await forum.applied.wait(
        lambda e: isinstance(e, CursorMoved) and e.scope.startswith("guild:"), count=count
    )
    await forum.settle()


async def test_posts_made_during_an_outage_are_read_back_when_the_guild_returns(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        await caught_up(forum)
        thread_id = await forum_post(forum, community.forum, community.alice, "Syncope work-up")
        await reply(forum, thread_id, community.bob, "Check the QT interval.")

        await double.guild_outage(community.guild_id)
        missed = await double.post_message(thread_id, community.alice, "Echo was normal.", dispatch=False)
        await double.guild_restored(community.guild_id)

        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.message_id == missed["id"])
        await caught_up(forum, count=2)
        assert forum.thread(thread_id).reply_count == 2
