"""Trophies a member has earned, and the community's leaderboards."""

from __future__ import annotations

from typing import Annotated, Literal

from sqlmodel import col, select

from chatbridge.context import Context
from chatbridge.model import OutgoingMessage
from chatbridge.registry import MemberRef, Param, command
from chatbridge.store.tables import TrophyAward


@command("trophies", help="Show the trophies a member has earned (yours when no member is named).")
async def trophies(
    ctx: Context,
    member: Annotated[MemberRef | None, Param("The member", autocomplete="members", rest=True)] = None,
) -> OutgoingMessage:
    subject = ctx.member_named(member)
    awards = ctx.session.exec(
        select(TrophyAward).where(TrophyAward.member_id == subject.id).order_by(col(TrophyAward.awarded_at))
    ).all()
    config = ctx.core.trophies
    earned = [(config.trophy(a.trophy_key), a) for a in awards]
    return ctx.reply(
        "trophies/list.md.j2", member=subject, earned=[(t, a) for t, a in earned if t is not None]
    )


@command("leaderboard", help="The community's top members by likes received or trophy points.")
async def leaderboard_(
    ctx: Context,
    period: Annotated[Literal["week", "month", "all"], Param("Over which period")] = "week",
    metric: Annotated[Literal["likes", "points"], Param("Ranked by")] = "likes",
) -> OutgoingMessage:
    assert ctx.community.id is not None
    entries = ctx.core.leaderboards.top(ctx.session, ctx.community.id, period, metric, ctx.now)
    everyone = all(e.seen_in_public for e in entries) or ctx.names_everyone()
    return ctx.reply(
        "trophies/leaderboard.md.j2", entries=entries, period=period, metric=metric, everyone=everyone
    )
