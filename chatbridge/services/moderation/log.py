"""The case log: every moderation action, by the bot or imported from a platform, and mod notes.

Entries are written in the same transaction as the action they describe, so the log can never
claim an action that did not happen or miss one that did. `detail["case_id"]` ties an entry to a
case (the table has no case column), which is how a card shows its case's history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from chatbridge.model import ModerationObserved, PlatformName
from chatbridge.services import directory
from chatbridge.store.tables import Identity, Member, ModCase, ModLogEntry, ModNote

HISTORY_LIMIT = 25


def record(
    session: Session,
    *,
    community_id: int,
    action: str,
    now: datetime,
    actor: Member | None = None,
    subject: Member | None = None,
    subject_user_id: str | None = None,
    case: ModCase | None = None,
    **detail: Any,
) -> ModLogEntry:
    """Add one entry; `actor` None means the bot did it on its own (a mute ending, a threshold)."""
    if case is not None:
        detail["case_id"] = case.id
    if subject_user_id is None and subject is not None:
        identity = directory.identity_of(session, subject)
        subject_user_id = identity.platform_user_id if identity else None
    entry = ModLogEntry(
        community_id=community_id,
        subject_member_id=subject.id if subject else None,
        subject_platform_user_id=subject_user_id,
        actor_member_id=actor.id if actor else None,
        action=action,
        detail=detail,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


def case_history(session: Session, case: ModCase) -> list[ModLogEntry]:
    """The entries of one case, oldest first."""
    query = select(ModLogEntry).where(
        ModLogEntry.community_id == case.community_id, ModLogEntry.created_at >= case.created_at
    )
    if case.subject_member_id is not None:
        query = query.where(ModLogEntry.subject_member_id == case.subject_member_id)
    else:
        query = query.where(col(ModLogEntry.subject_member_id).is_(None))
    entries = session.exec(query.order_by(col(ModLogEntry.created_at), col(ModLogEntry.id))).all()
    return [e for e in entries if e.detail.get("case_id") == case.id]


def opening_entry(session: Session, case: ModCase) -> ModLogEntry | None:
    return next((e for e in case_history(session, case) if e.action == "case_opened"), None)


def member_history(
    session: Session,
    community_id: int,
    *,
    member: Member | None = None,
    platform_user_id: str | None = None,
    limit: int = HISTORY_LIMIT,
) -> list[ModLogEntry]:
    """A member's entries, newest first: by member, or by a raw platform id never seen speaking."""
    query = select(ModLogEntry).where(ModLogEntry.community_id == community_id)
    if member is not None:
        query = query.where(ModLogEntry.subject_member_id == member.id)
    elif platform_user_id is not None:
        query = query.where(ModLogEntry.subject_platform_user_id == platform_user_id)
    else:
        return []
    return list(
        session.exec(
            query.order_by(col(ModLogEntry.created_at).desc(), col(ModLogEntry.id).desc()).limit(limit)
        ).all()
    )


CASE_ACTIONS = frozenset(
    {"report", "case_opened", "case_claimed", "case_resolved", "case_dismissed", "message_deleted"}
)
"""Entries about reports and their handling: who reported, when, what the reporters were told."""


def visible_history(
    session: Session,
    entries: list[ModLogEntry],
    *,
    viewer: Member,
    viewer_is_admin: bool,
    subject: Member | None,
) -> list[ModLogEntry]:
    """The entries a moderator may read in a case log: a case about a moderator is for the admins
    only, and nobody reads the reports about themselves (not even when they were made)."""
    escalated = set(
        session.exec(
            select(ModCase.id).where(
                ModCase.community_id == viewer.community_id, col(ModCase.escalated_to_admins)
            )
        ).all()
    )
    own = subject is not None and subject.id == viewer.id
    shown = []
    for entry in entries:
        if own and (entry.action in CASE_ACTIONS or entry.action == "note"):
            continue
        if not viewer_is_admin and entry.detail.get("case_id") in escalated:
            continue
        shown.append(entry)
    return shown


def add_note(
    session: Session, *, community_id: int, subject: Member, author: Member, body: str, now: datetime
) -> ModNote:
    assert subject.id is not None and author.id is not None
    note = ModNote(
        community_id=community_id,
        subject_member_id=subject.id,
        author_member_id=author.id,
        body=body,
        created_at=now,
    )
    session.add(note)
    session.flush()
    record(
        session,
        community_id=community_id,
        action="note",
        now=now,
        actor=author,
        subject=subject,
        note_id=note.id,
    )
    return note


def notes_of(session: Session, member: Member, limit: int = HISTORY_LIMIT) -> list[ModNote]:
    return list(
        session.exec(
            select(ModNote)
            .where(ModNote.subject_member_id == member.id)
            .order_by(col(ModNote.created_at).desc(), col(ModNote.id).desc())
            .limit(limit)
        ).all()
    )


def names(session: Session, member_ids: Iterable[int | None]) -> dict[int, str]:
    """Display names for a set of member ids, in one query."""
    wanted = {i for i in member_ids if i is not None}
    if not wanted:
        return {}
    rows = session.exec(select(Member).where(col(Member.id).in_(wanted))).all()
    return {m.id: m.display_name for m in rows if m.id is not None}


def member_by_platform_id(
    session: Session, community_id: int, platform: PlatformName, user_id: str
) -> Member | None:
    """The member behind a platform account, without creating one (unlike directory lookups)."""
    identity = session.exec(
        select(Identity).where(
            Identity.community_id == community_id,
            Identity.platform == platform.value,
            Identity.platform_user_id == user_id,
        )
    ).first()
    return session.get(Member, identity.member_id) if identity is not None else None


def record_platform_action(
    session: Session,
    *,
    platform: PlatformName,
    community_platform_id: str,
    platform_event_id: str,
    action: str,
    subject_user_id: str | None,
    actor_user_id: str | None,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> ModLogEntry:
    """Record an action a moderator took by hand on the platform (a Discord audit-log timeout, a
    Matrix power-level change), so `!modlog` shows it next to the bot's own actions.

    For the adapters. Idempotent on `platform_event_id`: an audit log read twice, or replayed after
    a restart, yields the entry recorded the first time.
    """
    existing = session.exec(
        select(ModLogEntry).where(ModLogEntry.platform_event_id == platform_event_id)
    ).first()
    if existing is not None:
        return existing
    community = directory.resolve_community(session, platform, community_platform_id)
    assert community.id is not None
    subject = (
        member_by_platform_id(session, community.id, platform, subject_user_id) if subject_user_id else None
    )
    actor = member_by_platform_id(session, community.id, platform, actor_user_id) if actor_user_id else None
    entry = ModLogEntry(
        community_id=community.id,
        subject_member_id=subject.id if subject else None,
        subject_platform_user_id=subject_user_id,
        actor_member_id=actor.id if actor else None,
        action=action[:64],
        detail={**(detail or {}), "platform": platform.value, "by_platform_user_id": actor_user_id},
        source="platform",
        platform_event_id=platform_event_id,
        created_at=at,
    )
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError:  # another process recorded it between our look and our insert
        return session.exec(
            select(ModLogEntry).where(ModLogEntry.platform_event_id == platform_event_id)
        ).one()
    return entry


def observed(session: Session, event: ModerationObserved) -> ModLogEntry:
    """The ingest hook for a mute or unmute a moderator made by hand on the platform."""
    detail: dict[str, Any] = {}
    if event.until is not None:
        detail["until"] = event.until.isoformat()
    if event.reason:
        detail["reason"] = event.reason[:500]
    if event.where is not None:
        detail["room_id"] = event.where
    return record_platform_action(
        session,
        platform=event.room.platform,
        community_platform_id=event.room.community_id,
        platform_event_id=f"{event.room.platform.value}:{event.event_id}",
        action=event.action,
        subject_user_id=event.subject_user_id,
        actor_user_id=event.actor_user_id,
        at=event.at,
        detail=detail,
    )
