"""Leaderboards over a period: likes received (counted from the like rows) or trophy points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlmodel import Session, col, func, select

from chatbridge.store.tables import Like, Member, TrophyAward

Period = Literal["week", "month", "all"]
Metric = Literal["likes", "points"]
PERIOD_DAYS = {"week": 7, "month": 30}


@dataclass(frozen=True, slots=True)
class Entry:
    rank: int
    name: str
    score: int


def top(
    session: Session, community_id: int, period: Period, metric: Metric, now: datetime, limit: int = 10
) -> list[Entry]:
    """The top members; all-time figures come from the members' counters, windows from indexed rows."""
    since = now - timedelta(days=PERIOD_DAYS[period]) if period != "all" else None
    if since is None:
        column = Member.likes_received if metric == "likes" else Member.trophy_points
        rows = session.exec(
            select(Member.display_name, column)
            .where(Member.community_id == community_id, column > 0)
            .order_by(col(column).desc(), col(Member.id))
            .limit(limit)
        ).all()
    elif metric == "likes":
        score = func.count().label("score")
        rows = session.exec(
            select(Member.display_name, score)
            .select_from(Like)
            .join(Member, col(Member.id) == Like.post_author_id)
            .where(Like.community_id == community_id, Like.created_at >= since)
            .group_by(col(Member.id), col(Member.display_name))
            .order_by(score.desc(), col(Member.id))
            .limit(limit)
        ).all()
    else:
        score = func.sum(TrophyAward.points).label("score")
        rows = session.exec(
            select(Member.display_name, score)
            .select_from(TrophyAward)
            .join(Member, col(Member.id) == TrophyAward.member_id)
            .where(Member.community_id == community_id, TrophyAward.awarded_at >= since)
            .group_by(col(Member.id), col(Member.display_name))
            .order_by(score.desc(), col(Member.id))
            .limit(limit)
        ).all()
    return [Entry(i, name, int(value)) for i, (name, value) in enumerate(rows, start=1)]
