"""`/help` on Discord shows what Discord members can actually use: slash commands with their
options, and context menus, under the names the adapter's command tree gives them."""

from __future__ import annotations

from pathlib import Path

from chatbridge.adapters.discord.commands import plan
from chatbridge.config import Settings
from chatbridge.core import Core
from support.discord_double import Community, DiscordDouble, payloads
from support.discord_double import options as opt
from support.discord_forum import discord_forum
from support.forum import sqlite_url


async def test_help_answers_with_slash_commands_and_menus(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)):
        asked = await double.run_slash_command("help", user_id=community.alice, channel_id=community.general)
        index = await double.wait_for_interaction_response(asked)
        assert index["data"]["flags"] & payloads.EPHEMERAL_FLAG
        content = index["data"]["content"]
        assert "type `/help topic:<command>` for details" in content
        assert "`/thread new`" in content and "`Apps → Like`" in content
        # Only what has neither a slash form nor a menu is shown typed (as a reply, with content).
        # (`cite`/`uncite` take words and Discord allows only five message menus, all taken.)
        assert [w for w in content.split("`") if w.startswith("!")] == ["!cite", "!uncite", "!unlike"]

        asked = await double.run_slash_command(
            "help", opt.string("topic", "thread new"), user_id=community.alice, channel_id=community.general
        )
        topic = (await double.wait_for_interaction_response(asked))["data"]["content"]
        assert "`/thread new title:<title> body:<body> [tags:<tags>]`" in topic


def test_help_names_commands_as_the_command_tree_does(tmp_path: Path) -> None:
    """The registry's slash names (what help shows) are the names Discord members are offered."""
    core = Core.build(Settings(database_url=sqlite_url(tmp_path)))
    try:
        assert core.registry.slash_names() == plan(core.registry).names()
    finally:
        core.engine.dispose()
