"""Timeouts moderators give in the Discord client reach the case log, with or without View Audit Log.

With the permission, the audit entry names the moderator and the reason. Without it Discord sends
no audit entry, so the bot reads the member's `communication_disabled_until` from
GUILD_MEMBER_UPDATE instead, and logs the timeout without a moderator, unless it made it itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import col, select

from chatbridge.model import CursorMoved, ModerationObserved
from chatbridge.store.tables import ModLogEntry
from support.discord_double import Community, DiscordDouble
from support.discord_double.guild_state import GuildState
from support.discord_double.permissions import Permission
from support.discord_forum import DiscordForum, discord_forum
from support.forum import sqlite_url

MEMBER_PATH = "/guilds/{guild_id}/members/{user_id}"
REQUEST_GUILD_MEMBERS = 8


def without_audit_log(guild: GuildState) -> None:
    """The server's admins left View Audit Log out of the bot's role."""
    role = guild.roles[guild.bot_role_id]
    role["permissions"] = str(int(role["permissions"]) & ~Permission.VIEW_AUDIT_LOG)


async def caught_up(forum: DiscordForum) -> None:
    await forum.applied.wait(lambda e: isinstance(e, CursorMoved) and e.scope.startswith("guild:"))
    await forum.settle()


def hand_made(forum: DiscordForum) -> list[ModerationObserved]:
    return [e for e in forum.applied.events if isinstance(e, ModerationObserved)]


def logged_by_hand(forum: DiscordForum) -> list[tuple[str, str | None, str | None, str | None]]:
    """(action, subject, moderator's Discord id, until) of each hand-made entry in the case log."""
    with forum.store() as session:
        entries = session.exec(
            select(ModLogEntry).where(ModLogEntry.source == "platform").order_by(col(ModLogEntry.id))
        ).all()
    return [
        (e.action, e.subject_platform_user_id, e.detail.get("by_platform_user_id"), e.detail.get("until"))
        for e in entries
    ]


async def test_without_the_audit_log_hand_timeouts_are_logged_once_and_the_bots_own_not_at_all(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    guild, alice, bob = community.guild, community.alice, community.bob
    without_audit_log(guild)
    async with discord_forum(double, sqlite_url(tmp_path), announce_trophies=False) as forum:
        await caught_up(forum)
        # discord.py reports member updates only for cached members, so the bot asks for the
        # member list; what the gateway sends after it is read after it.
        await double.wait_for_frame(
            lambda f: f.direction == "out" and f.event == "GUILD_MEMBERS_CHUNK", description="member list"
        )

        # The bot times alice out (a mute decided in the forum) and lifts it again.
        platform = forum.platform
        result = await platform.apply_mute(
            str(guild.id), str(alice), forum.core.clock() + timedelta(hours=1), "Cooling off"
        )
        await platform.lift_mute(str(guild.id), str(alice), result.previous_state)
        await double.wait_for_rest("PATCH", MEMBER_PATH.format(guild_id=guild.id, user_id=alice), count=2)

        # Then bob uses Discord's own Timeout menu on alice, and later Remove Timeout.
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        await double.timeout_by_hand(guild.id, bob, alice, until, reason="Second pile-on")
        await double.timeout_by_hand(guild.id, bob, alice, None)
        await forum.applied.wait(lambda e: isinstance(e, ModerationObserved), count=2)
        await forum.settle()

        assert [(e.action, e.actor_user_id) for e in hand_made(forum)] == [
            ("hand_mute", None),
            ("hand_unmute", None),
        ]
        assert logged_by_hand(forum) == [
            ("hand_mute", str(alice), None, until.isoformat()),
            ("hand_unmute", str(alice), None, None),
        ]


async def test_with_the_audit_log_a_hand_timeout_is_logged_once_with_its_moderator(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Discord sends both the audit entry and the member update; the entry is the record."""
    double = discord_py_on_double
    guild, alice, bob = community.guild, community.alice, community.bob
    async with discord_forum(double, sqlite_url(tmp_path), announce_trophies=False) as forum:
        await caught_up(forum)
        assert not [f for f in double.gateway.frames if f.direction == "in" and f.op == REQUEST_GUILD_MEMBERS]
        # (the bot has View Audit Log: it does not ask for the member list)
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        await double.timeout_by_hand(guild.id, bob, alice, until, reason="Second pile-on")
        await forum.applied.wait(lambda e: isinstance(e, ModerationObserved))
        await double.timeout_by_hand(guild.id, bob, alice, None)  # later events come in order
        await forum.applied.wait(lambda e: isinstance(e, ModerationObserved), count=2)
        await forum.settle()
        assert logged_by_hand(forum) == [
            ("hand_mute", str(alice), str(bob), until.isoformat()),
            ("hand_unmute", str(alice), str(bob), None),
        ]
