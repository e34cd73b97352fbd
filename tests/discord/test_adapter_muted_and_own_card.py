"""On Discord too: a muted member is refused in slash syntax, and your own card is only for you."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from chatbridge.store.tables import Identity, Member, Sanction
from support.discord_double import Community, DiscordDouble, payloads
from support.discord_double import options as opt
from support.discord_double.state import InteractionState
from support.discord_forum import discord_forum, forum_post
from support.forum import sqlite_url

EPHEMERAL = payloads.EPHEMERAL_FLAG


async def answer(double: DiscordDouble, interaction: InteractionState) -> dict[str, Any]:
    return await double.wait_for_interaction_response(interaction)


async def test_a_muted_member_is_refused_in_slash_syntax_but_sees_their_own_card_privately(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        await forum_post(forum, community.forum, community.alice, "Syncope work-up", "Young athlete")
        now = forum.core.clock()
        with Session(forum.core.engine) as session:
            identity = session.exec(
                select(Identity).where(Identity.platform_user_id == str(community.alice))
            ).one()
            member = session.get(Member, identity.member_id)
            assert member is not None and member.id is not None
            session.add(
                Sanction(
                    community_id=member.community_id,
                    member_id=member.id,
                    kind="mute",
                    reason="spam",
                    started_at=now,
                    ends_at=now + timedelta(hours=1),
                )
            )
            session.commit()

        asked = await double.run_slash_command(
            "thread",
            opt.subcommand("new", opt.string("title", "Buy now"), opt.string("body", "Cheap pills")),
            user_id=community.alice,
            channel_id=community.general,
        )
        said = await answer(double, asked)
        assert said["data"]["flags"] & EPHEMERAL
        assert said["data"]["content"].startswith("You are muted until ")
        assert "you can appeal once: `/appeal` followed by why." in said["data"]["content"]

        viewed = await double.use_user_command(
            "View profile", target_id=community.alice, channel_id=community.general, user_id=community.alice
        )
        card = await answer(double, viewed)
        assert card["data"]["flags"] & EPHEMERAL, "your own card is answered only to you"
        assert card["data"]["content"].startswith("**Alice Adams** · ")
