"""The community is called what the guild is called: on first sight, after a rename, after an upgrade."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from chatbridge.model import RoomSeen
from chatbridge.store.tables import Community
from support.discord_double import Community as Guild
from support.discord_double import DiscordDouble
from support.discord_forum import DiscordForum, discord_forum
from support.forum import sqlite_url

SUBFORUMS = 2
"""#general and the questions forum of the seeded guild."""


def community_names(forum: DiscordForum) -> list[str]:
    with forum.store() as session:
        return list(session.exec(select(Community.name)).all())


async def rooms_announced(forum: DiscordForum, guild_name: str) -> None:
    """Every sub-forum was announced, and applied, with the guild called `guild_name`."""
    await forum.applied.wait(
        lambda e: isinstance(e, RoomSeen) and e.community_name == guild_name, count=SUBFORUMS
    )


async def test_the_community_is_named_after_the_guild_and_follows_a_rename(
    discord_py_on_double: DiscordDouble, community: Guild, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        await rooms_announced(forum, "Cardiology Commons")
        assert community_names(forum) == ["Cardiology Commons"]

        await double.rename_guild(community.guild_id, "Cardiology Commons @everyone")
        await rooms_announced(forum, "Cardiology Commons @everyone")
        assert community_names(forum) == ["Cardiology Commons @everyone"]


async def test_a_community_stored_before_names_takes_the_guilds_name_at_the_next_start(
    discord_py_on_double: DiscordDouble, community: Guild, tmp_path: Path
) -> None:
    double, url = discord_py_on_double, sqlite_url(tmp_path)
    async with discord_forum(double, url) as forum:
        await rooms_announced(forum, "Cardiology Commons")
        with forum.store() as session:  # what versions before names stored
            stored = session.exec(select(Community)).one()
            stored.name = f"discord:{community.guild_id}"
            session.commit()
    await double.rename_guild(community.guild_id, "The Apprentice Doctor", dispatch=False)

    async with discord_forum(double, url) as forum:
        await rooms_announced(forum, "The Apprentice Doctor")
        assert community_names(forum) == ["The Apprentice Doctor"]
