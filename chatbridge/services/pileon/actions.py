"""What moderators do with a pile-on case: slow the thread, lock it, mute the participants, or
dismiss it as not a pile-on (which tunes the community's threshold).

Each step is a case-log entry and a card update in the caller's transaction; what the platform
must do (slow mode, mutes) goes through the outbox, so a restart or a rate limit only delays it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from chatbridge.errors import CommandError
from chatbridge.model import PlatformName
from chatbridge.services import directory
from chatbridge.services.moderation import cases, log, queue, sanctions
from chatbridge.services.moderation.notices import platform_community_id
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.moderation.sanctions import MuteOutcome
from chatbridge.services.outbox import enqueue
from chatbridge.services.pileon.detector import CATEGORY, alert_of
from chatbridge.store.tables import Member, ModCase, PileOnAlert

NOT_A_PILE_ON = "not a pile-on"


def check_pileon(case: ModCase) -> None:
    if case.category != CATEGORY:
        raise CommandError(f"Case #{case.id} is not a pile-on case; this action is only for those.")


def _alert(session: Session, case: ModCase) -> PileOnAlert:
    check_pileon(case)
    alert = alert_of(session, case)
    if alert is None:
        raise CommandError(f"Case #{case.id} has lost its pile-on record, so I can't tell which thread.")
    return alert


def _logged(
    session: Session,
    policy: Policy,
    case: ModCase,
    actor: Member,
    action: str,
    now: datetime,
    **detail: Any,
) -> None:
    cases.claim_quietly(case, actor)
    case.updated_at = now
    subject = session.get(Member, case.subject_member_id) if case.subject_member_id else None
    entry = log.record(
        session,
        community_id=case.community_id,
        action=action,
        now=now,
        actor=actor,
        subject=subject,
        case=case,
        **detail,
    )
    queue.card_changed(session, policy, case, entry, now)


def slow(session: Session, policy: Policy, case: ModCase, actor: Member, seconds: int, now: datetime) -> None:
    """Slow mode on the thread, through the outbox (a refusal lands on the card)."""
    alert = _alert(session, case)
    platform = PlatformName(alert.platform)
    community = platform_community_id(session, case.community_id, platform)
    if community is None:
        raise CommandError("I don't know this community on that platform any more.")
    alert.pace_seconds = seconds
    _logged(session, policy, case, actor, "thread_slowed", now, seconds=seconds)
    enqueue(
        session,
        platform=platform,
        kind="slowmode",
        payload={
            "case_id": case.id,
            "community_id": community,
            "room_id": alert.room_id,
            "thread_id": alert.thread_id,
            "seconds": seconds,
            "moderator_member_id": actor.id,
        },
        dedupe_key=f"case:{case.id}:slowmode:{seconds}:{now.isoformat()}",
        now=now,
        community_id=case.community_id,
    )


def lock(session: Session, policy: Policy, case: ModCase, actor: Member, now: datetime) -> str:
    """Lock the thread as `thread lock` does (replies stop counting); returns its title."""
    alert = _alert(session, case)
    thread = directory.find_thread(session, PlatformName(alert.platform), alert.thread_id)
    if thread is None:
        raise CommandError(f"Case #{case.id} is about chat outside a thread, so there is no thread to lock.")
    if thread.locked:
        raise CommandError(f"Thread #{thread.id} is already locked.")
    thread.locked = True
    _logged(session, policy, case, actor, "thread_locked", now, thread_id=thread.id)
    return thread.title


def participants(session: Session, case: ModCase) -> list[Member]:
    """The members the case lists as taking part, as they are now."""
    check_pileon(case)
    opening = log.opening_entry(session, case)
    data = opening.detail.get("pileon") if opening is not None else None
    found = []
    for person in (data or {}).get("participants", []):
        member = session.get(Member, person["member_id"])
        if member is not None:
            found.append(member)
    return found


def mute_all(
    session: Session,
    policy: Policy,
    case: ModCase,
    actor: Member,
    members: list[Member],
    duration: timedelta,
    reason: str,
    now: datetime,
) -> list[MuteOutcome]:
    """Mute each of `members` (the caller leaves out those it may not mute) for the case."""
    alert = _alert(session, case)
    cases.claim_quietly(case, actor)
    outcomes = [
        sanctions.mute(
            session,
            policy,
            subject=member,
            moderator=actor,
            duration=duration,
            reason=reason,
            now=now,
            case=case,
            prefer=PlatformName(alert.platform),
        )
        for member in members
    ]
    _logged(session, policy, case, actor, "participants_muted", now, count=len(members))
    return outcomes


def not_a_pileon(session: Session, policy: Policy, case: ModCase, actor: Member, now: datetime) -> cases.Told:
    """Close the case as dismissed and remember it: recent dismissals raise the threshold."""
    alert = _alert(session, case)
    alert.dismissed_at = now
    return cases.close(session, policy, case, actor, status="dismissed", outcome=NOT_A_PILE_ON, now=now)
