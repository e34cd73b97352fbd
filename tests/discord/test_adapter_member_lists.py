"""The member list a bot without View Audit Log asks for: Discord allows it once per guild every
30 seconds and answers another request with RATE_LIMITED, which discord.py does not handle. The
bot stops waiting instead of hanging, says why, and asks again after the wait Discord gave."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chatbridge.model import CursorMoved
from support.discord_double import Community, DiscordDouble, Permission
from support.discord_double.guild_state import GuildState
from support.discord_forum import DiscordForum, discord_forum
from support.forum import sqlite_url


def without_audit_log(guild: GuildState) -> None:
    role = guild.roles[guild.bot_role_id]
    role["permissions"] = str(int(role["permissions"]) & ~Permission.VIEW_AUDIT_LOG)


async def caught_up(forum: DiscordForum) -> None:
    await forum.applied.wait(lambda e: isinstance(e, CursorMoved) and e.scope.startswith("guild:"))
    await forum.settle()


class Heard(logging.Handler):
    """Sets `event` once a record containing `text` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.INFO)
        self.text = text
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


@contextmanager
def listening(text: str) -> Iterator[Heard]:
    heard = Heard(text)
    logger = logging.getLogger("chatbridge")
    logger.addHandler(heard)
    try:
        yield heard
    finally:
        logger.removeHandler(heard)


async def test_a_member_list_refused_as_rate_limited_ends_the_wait_and_is_logged(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    without_audit_log(community.guild)
    async with discord_forum(double, url, announce_trophies=False) as forum:
        await caught_up(forum)
        await double.wait_for_frame(
            lambda f: f.direction == "out" and f.event == "GUILD_MEMBERS_CHUNK", description="member list"
        )

    # Restarted within Discord's 30 seconds: the second request is refused, and the bot waits.
    with listening(f"the member list of guild {community.guild_id}; again in 2") as heard:
        async with discord_forum(double, url, announce_trophies=False) as forum:
            await caught_up(forum)
            await double.wait_for_frame(
                lambda f: f.direction == "out" and f.event == "RATE_LIMITED", description="RATE_LIMITED"
            )
            async with asyncio.timeout(double.wait_timeout):
                await heard.event.wait()


async def test_a_member_list_refused_as_rate_limited_is_asked_again_after_the_wait_discord_gave(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    without_audit_log(community.guild)
    double.refuse_member_list(retry_after=0.5)
    async with discord_forum(double, sqlite_url(tmp_path), announce_trophies=False) as forum:
        await caught_up(forum)
        await double.wait_for_frame(
            lambda f: f.direction == "out" and f.event == "GUILD_MEMBERS_CHUNK", description="member list"
        )
        events = [f.event for f in double.gateway.frames if f.direction == "out" and f.event]
        assert events.index("RATE_LIMITED") < events.index("GUILD_MEMBERS_CHUNK")
        assert len(double.gateway.frames.matching(lambda f: f.direction == "in" and f.op == 8)) == 2
