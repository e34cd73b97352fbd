"""Awarding trophies: checked whenever an event moves a member's numbers, awarded exactly once.

The unique (member, trophy) constraint makes the award idempotent even if two events race to cross
the same threshold; the first one wins and the other is a no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from chatbridge.forum.ranks import MemberStats, earned
from chatbridge.model import OutgoingMessage, Room
from chatbridge.store.tables import Member, TrophyAward

if TYPE_CHECKING:
    from chatbridge.services.ingest import IngestRules, Notice


def stats_of(member: Member, now: datetime) -> MemberStats:
    return stats_of_values(
        messages=member.message_count,
        likes_received=member.likes_received,
        threads_started=member.threads_started,
        replies_to_others=member.replies_to_others,
        joined=member.joined_at or member.first_seen_at,
        now=now,
    )


def stats_of_values(
    *,
    messages: int,
    likes_received: int,
    threads_started: int,
    replies_to_others: int,
    joined: datetime,
    now: datetime,
) -> MemberStats:
    """The numbers trophies are judged on (shared by the ORM path and the batch path)."""
    return MemberStats(
        messages=messages,
        likes_received=likes_received,
        threads_started=threads_started,
        replies_to_others=replies_to_others,
        days_since_joining=max(0, (now - joined).days),
    )


def awarded_keys(session: Session, member: Member) -> frozenset[str]:
    return frozenset(
        session.exec(select(TrophyAward.trophy_key).where(TrophyAward.member_id == member.id)).all()
    )


def check(
    session: Session, member: Member, rules: IngestRules, room: Room, thread_id: str | None, at: datetime
) -> list[Notice]:
    """Award every trophy the member now qualifies for and has not got yet."""
    from chatbridge.services.ingest import Notice

    candidates = earned(rules.trophies, stats_of(member, at))
    if not candidates:
        return []
    have = awarded_keys(session, member)
    notices: list[Notice] = []
    assert member.id is not None
    for trophy in candidates:
        if trophy.key in have:
            continue
        try:
            with session.begin_nested():
                session.add(
                    TrophyAward(
                        member_id=member.id, trophy_key=trophy.key, points=trophy.points, awarded_at=at
                    )
                )
        except IntegrityError:
            continue
        member.trophy_points += trophy.points
        if rules.announce_trophies:
            text = rules.renderer.render("notices/trophy.md.j2", member=member, trophy=trophy)
            notices.append(Notice(room, OutgoingMessage(text), f"trophy:{member.id}:{trophy.key}", thread_id))
    return notices
