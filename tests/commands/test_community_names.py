"""What a community is called: the name its members gave their guild or space, not an id.

Each test runs the bot over one store, stops it, and starts it again the way an operator would;
the in-memory platform stands in for a guild or a space by its platform name and community id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlmodel import Session, col, select

from chatbridge.adapters.memory import MemoryPlatform
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.model import PlatformName
from chatbridge.store.tables import Community, CommunityBinding, Thread
from support.forum import sqlite_url

DISCORD, MATRIX, MEMORY = PlatformName.DISCORD, PlatformName.MATRIX, PlatformName.MEMORY


def guild(guild_id: str, name: str | None) -> MemoryPlatform:
    """A Discord guild as the in-memory platform plays it (None: a name the bot is not told)."""
    return MemoryPlatform(name=DISCORD, community_id=guild_id, community_name=name)


def space(space_id: str, name: str | None) -> MemoryPlatform:
    return MemoryPlatform(name=MATRIX, community_id=space_id, community_name=name)


@asynccontextmanager
async def bot(url: str, *chats: MemoryPlatform) -> AsyncIterator[Core]:
    """The bot on these platforms until the block ends; they have announced their rooms by then."""
    core = Core.build(Settings(database_url=url), clock=chats[0].now)
    try:
        async with Application(core, list(chats)).running():
            for chat in chats:
                await chat.started.wait()
            yield core
    finally:
        core.engine.dispose()


def communities(url: str) -> dict[str, list[str]]:
    """Every community's name -> its bindings ("discord:1575"), as the store holds them."""
    core = Core.build(Settings(database_url=url))
    try:
        with Session(core.engine) as session:
            rows = session.exec(
                select(Community.name, CommunityBinding.platform, CommunityBinding.platform_id)
                .join(CommunityBinding, col(CommunityBinding.community_id) == col(Community.id))
                .order_by(col(Community.id), col(CommunityBinding.platform))
            ).all()
    finally:
        core.engine.dispose()
    named: dict[str, list[str]] = {}
    for name, platform, platform_id in rows:
        named.setdefault(name, []).append(f"{platform}:{platform_id}")
    return named


async def test_a_community_is_named_after_its_guild_when_the_bot_first_sees_it(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    chat = guild("1575", "The Apprentice Doctor")
    async with bot(url, chat):
        await chat.say('!thread new "Night shifts" Any tips?', as_="alice")
    assert communities(url) == {"The Apprentice Doctor": ["discord:1575"]}


async def test_a_community_from_before_names_gets_its_real_name_at_the_next_start(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    unnamed = guild("1575", None)
    async with bot(url, unnamed):
        await unnamed.say('!thread new "Night shifts" Any tips?', as_="alice")
    assert communities(url) == {"discord:1575": ["discord:1575"]}, "what older versions stored"

    async with bot(url, guild("1575", "The Apprentice Doctor")) as core:
        with Session(core.engine) as session:
            thread = session.exec(select(Thread)).one()
            community = session.get(Community, thread.community_id)
            assert community is not None and community.name == "The Apprentice Doctor", (
                "the same community, threads and all, under its real name"
            )
    assert communities(url) == {"The Apprentice Doctor": ["discord:1575"]}


async def test_renaming_the_guild_renames_the_community(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    async with bot(url, guild("1575", "Apprentice Doctors")):
        pass
    async with bot(url, guild("1575", "  The Apprentice   Doctor ")):
        pass
    assert communities(url) == {"The Apprentice Doctor": ["discord:1575"]}, "spacing tidied"


async def test_two_guilds_with_one_name_are_told_apart(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    async with bot(url, guild("1", "Med Students"), space("!two:example.org", "Med Students")):
        pass
    expected = {"Med Students": ["discord:1"], "Med Students (2)": ["matrix:!two:example.org"]}
    assert communities(url) == expected
    async with bot(url, guild("1", "Med Students"), space("!two:example.org", "Med Students")):
        pass
    assert communities(url) == expected, "announced again at every start, named the same"

    async with bot(url, guild("1", "Med Students Abroad"), space("!two:example.org", "Med Students")):
        pass
    assert communities(url) == {
        "Med Students Abroad": ["discord:1"],
        "Med Students": ["matrix:!two:example.org"],
    }, "the name is free again, so the second one takes it"
    async with bot(url, guild("1", "Med Students"), space("!two:example.org", "Med Students")):
        pass
    assert communities(url) == {
        "Med Students (2)": ["discord:1"],
        "Med Students": ["matrix:!two:example.org"],
    }, "a rename onto a taken name is numbered too"


async def test_a_community_on_discord_and_matrix_keeps_its_first_real_name(tmp_path: Path) -> None:
    """Two platforms with different names for one forum must not rename it at every start."""
    url = sqlite_url(tmp_path)
    async with bot(url, guild("1575", None)) as core:
        with Session(core.engine) as session:  # an admin links the forum's Matrix space to it
            community = session.exec(select(Community)).one()
            assert community.id is not None and community.name == "discord:1575"
            session.add(CommunityBinding(community_id=community.id, platform="matrix", platform_id="!s:hs"))
            session.commit()

    async with bot(url, space("!s:hs", "Medical Forum")):
        pass
    assert communities(url) == {"Medical Forum": ["discord:1575", "matrix:!s:hs"]}, "the placeholder goes"

    async with bot(url, guild("1575", "The Apprentice Doctor"), space("!s:hs", "Medical Forum")):
        pass
    async with bot(url, guild("1575", "The Apprentice Doctor")):
        pass
    assert communities(url) == {"Medical Forum": ["discord:1575", "matrix:!s:hs"]}


async def test_the_console_is_called_console(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    async with bot(url, MemoryPlatform()):
        pass
    assert communities(url) == {"console": ["memory:console"]}
