"""Leaderboards over a period: likes received (counted from the like rows) or trophy points.

Boards are served from snapshots (`Leaderboards`): counting a week of likes in a big community
reads tens of thousands of rows, and a board a minute old is what a forum shows anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from chatbridge.services.directory import seen_only_in_private
from chatbridge.store.engine import reading
from chatbridge.store.tables import Like, Member, TrophyAward

Period = Literal["week", "month", "all"]
Metric = Literal["likes", "points"]
PERIOD_DAYS = {"week": 7, "month": 30}


@dataclass(frozen=True, slots=True)
class Entry:
    rank: int
    name: str
    score: int
    seen_in_public: bool = True
    """False for a member seen only in private rooms (`directory.seen_only_in_private`): a
    public board leaves their name out."""


def top(
    session: Session, community_id: int, period: Period, metric: Metric, now: datetime, limit: int = 10
) -> list[Entry]:
    """The top members; all-time figures come from the members' counters, windows from indexed rows."""
    since = now - timedelta(days=PERIOD_DAYS[period]) if period != "all" else None
    if since is None:
        column = Member.likes_received if metric == "likes" else Member.trophy_points
        rows = session.exec(
            select(Member.display_name, column, Member.seen_in_public, Member.id)
            .where(Member.community_id == community_id, column > 0)
            .order_by(col(column).desc(), col(Member.id))
            .limit(limit)
        ).all()
    elif metric == "likes":
        # Count per author from the covering (community, created_at, author) index first, then
        # name only the top rows: a week of a big community is tens of thousands of likes.
        # Grouping by `author + 0` keeps SQLite from walking the whole (author, created_at) index
        # in author order to save a sort: the window's rows are few next to all likes.
        score = func.count().label("score")
        author = (col(Like.post_author_id) + 0).label("author")
        top_authors = (
            select(author, score)
            .where(Like.community_id == community_id, Like.created_at >= since)
            .group_by(author)
            .order_by(score.desc(), author)
            .limit(limit)
            .subquery()
        )
        rows = session.exec(
            select(Member.display_name, top_authors.c.score, Member.seen_in_public, Member.id)
            .join(top_authors, col(Member.id) == top_authors.c.author)
            .order_by(top_authors.c.score.desc(), col(Member.id))
        ).all()
    else:
        score = func.sum(TrophyAward.points).label("score")
        rows = session.exec(
            select(Member.display_name, score, Member.seen_in_public, Member.id)
            .select_from(TrophyAward)
            .join(Member, col(Member.id) == TrophyAward.member_id)
            .where(Member.community_id == community_id, TrophyAward.awarded_at >= since)
            .group_by(col(Member.id), col(Member.display_name), col(Member.seen_in_public))
            .order_by(score.desc(), col(Member.id))
            .limit(limit)
        ).all()
    # The few entries not flagged are checked against their posts and likes (one query for ≤ limit ids).
    unflagged = [member_id for _, _, seen, member_id in rows if not seen]
    hidden = set(
        session.exec(select(Member.id).where(col(Member.id).in_(unflagged), seen_only_in_private())).all()
        if unflagged
        else ()
    )
    return [
        Entry(i, name, int(value), member_id not in hidden)
        for i, (name, value, seen, member_id) in enumerate(rows, start=1)
    ]


Key = tuple[int, Period, Metric]


@dataclass
class _Snapshot:
    entries: list[Entry]
    computed_at: datetime
    asked_at: datetime


@dataclass
class Leaderboards:
    """Boards served from snapshots at most `fresh_for` old (forum clock), kept fresh in the background.

    The first ask for a (community, period, metric) computes it in place; after that `run` (a
    worker the application owns) recomputes every board asked for within `keep_for` before it
    goes stale, so members asking for a board never wait for the count. One per process (held by
    the core); the background refresh only replaces whole snapshots, which readers on the event
    loop see atomically.
    """

    engine: Engine
    clock: Callable[[], datetime]
    fresh_for: timedelta = timedelta(seconds=60)
    keep_for: timedelta = timedelta(minutes=15)
    _snapshots: dict[Key, _Snapshot] = field(default_factory=dict)

    def top(
        self, session: Session, community_id: int, period: Period, metric: Metric, now: datetime
    ) -> list[Entry]:
        key = (community_id, period, metric)
        snapshot = self._snapshots.get(key)
        if snapshot is None or not (snapshot.computed_at <= now < snapshot.computed_at + self.fresh_for):
            snapshot = _Snapshot(top(session, community_id, period, metric, now), now, now)
            self._snapshots[key] = snapshot
        snapshot.asked_at = now
        return snapshot.entries

    def refresh(self) -> None:
        """Recompute boards asked for recently and older than half their freshness; forget the rest."""
        now = self.clock()
        for key, snapshot in list(self._snapshots.items()):
            if now - snapshot.asked_at > self.keep_for:
                self._snapshots.pop(key, None)
            elif not (snapshot.computed_at <= now < snapshot.computed_at + self.fresh_for / 2):
                with Session(reading(self.engine)) as session:
                    entries = top(session, *key, now)
                self._snapshots[key] = _Snapshot(entries, now, snapshot.asked_at)

    async def run(self) -> None:
        """Refresh every half `fresh_for` (on a worker thread: the counts must not stall chat)."""
        while True:
            await asyncio.sleep(self.fresh_for.total_seconds() / 2)
            await asyncio.to_thread(self.refresh)
