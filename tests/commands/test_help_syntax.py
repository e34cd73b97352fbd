"""Help speaks the syntax of the platform it is asked on: typed commands, or Discord's slash
commands and context menus. The platform comes from the command's context, so no adapter is
involved: a memory chat that says it is Discord gets the slash form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from chatbridge.adapters.memory import MemoryPlatform
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.model import PlatformName
from support.forum import Forum, sqlite_url, texts


@asynccontextmanager
async def forum_on(platform: PlatformName, tmp_path: Path) -> AsyncIterator[Forum]:
    chat = MemoryPlatform(name=platform)
    core = Core.build(Settings(database_url=sqlite_url(tmp_path)), clock=chat.now)
    try:
        async with Application(core, [chat]).running():
            yield Forum(chat, core)
    finally:
        core.engine.dispose()


async def test_typed_platforms_see_typed_commands(tmp_path: Path) -> None:
    async with forum_on(PlatformName.MEMORY, tmp_path) as forum:
        index = texts(await forum.chat.say("!help", as_="bob"))
        assert "type `!help <command>` for details" in index
        assert "`!thread new`" in index and "`!like`" in index and "/thread" not in index
        topic = texts(await forum.chat.say("!help thread new", as_="bob"))
        assert "`!thread new <title> <body…>`" in topic
        assert "- <title> " in topic


async def test_discord_members_see_slash_commands_and_context_menus(tmp_path: Path) -> None:
    async with forum_on(PlatformName.DISCORD, tmp_path) as forum:
        index = texts(await forum.chat.say("!help", as_="bob"))
        assert "type `/help topic:<command>` for details" in index
        assert "`/thread new`" in index and "`!thread new`" not in index
        assert "`Apps → Like`" in index  # a right-click menu, no slash form
        assert "`/profile show`" in index  # Discord cannot invoke a group: its own command is `show`
        topic = texts(await forum.chat.say("!help thread new", as_="bob"))
        assert "`/thread new title:<title> body:<body> [tags:<tags>]`" in topic
        assert "- title:<title> " in topic
        listing = texts(await forum.chat.say("!help thread list", as_="bob"))
        assert "[page:<page>]" in listing
        # Asking with Discord's words for a lifted group finds it too.
        assert "`/profile show" in texts(await forum.chat.say("!help profile show", as_="bob"))
