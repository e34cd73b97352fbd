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
        # Count per author from the covering (community, created_at, author) index first, then
        # name only the top rows: a week of a big community is tens of thousands of likes.
        score = func.count().label("score")
        top_authors = (
            select(Like.post_author_id, score)
            .where(Like.community_id == community_id, Like.created_at >= since)
            .group_by(col(Like.post_author_id))
            .order_by(score.desc(), col(Like.post_author_id))
            .limit(limit)
            .subquery()
        )
        rows = session.exec(
            select(Member.display_name, top_authors.c.score)
            .join(top_authors, col(Member.id) == top_authors.c.post_author_id)
            .order_by(top_authors.c.score.desc(), col(Member.id))
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
