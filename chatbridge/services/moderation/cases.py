"""What moderators do with a case: claim it, resolve or dismiss it, delete the reported message.

Every step is a log entry in the same transaction and a card update through the outbox. Closing a
case tells each reporter the outcome privately (without the moderator's name unless the community
chose to reveal it), and tells a member who appealed what became of the appeal.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from chatbridge.errors import CommandError
from chatbridge.model import PlatformName, Privilege
from chatbridge.services import ingest
from chatbridge.services.moderation import log, queue
from chatbridge.services.moderation.notices import dm
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.outbox import enqueue
from chatbridge.store.tables import Member, ModCase, ModLogEntry, OutboxItem, Post, Report, Sanction

CLOSING = ("resolved", "dismissed")


def check_may_act(case: ModCase, actor: Member, level: Privilege) -> None:
    """A case about a moderator is for admins; nobody handles a case about themselves."""
    if case.subject_member_id is not None and case.subject_member_id == actor.id:
        raise CommandError(f"Case #{case.id} is about you, so another moderator will handle it.")
    if case.escalated_to_admins and level < Privilege.ADMIN:
        raise CommandError(f"Case #{case.id} is about a moderator, so it is with the admins.")


def check_open(case: ModCase, prefix: str) -> None:
    if case.status not in queue.OPEN:
        raise CommandError(
            f"Case #{case.id} is already {case.status}. For a new action, use `{prefix}mute` or "
            f"`{prefix}warn` directly."
        )


def _changed(
    session: Session,
    policy: Policy,
    case: ModCase,
    actor: Member,
    action: str,
    now: datetime,
    **detail: object,
) -> ModLogEntry:
    case.updated_at = now
    entry = log.record(
        session,
        community_id=case.community_id,
        action=action,
        now=now,
        actor=actor,
        subject=session.get(Member, case.subject_member_id) if case.subject_member_id else None,
        subject_user_id=case.subject_platform_user_id,
        case=case,
        **detail,
    )
    queue.card_changed(session, policy, case, entry, now)
    return entry


def claim(session: Session, policy: Policy, case: ModCase, actor: Member, now: datetime) -> str | None:
    """Claim a case; returns who already had it, if someone else did (the claim moves to `actor`)."""
    previous = None
    if case.claimed_by_member_id is not None and case.claimed_by_member_id != actor.id:
        holder = session.get(Member, case.claimed_by_member_id)
        previous = holder.display_name if holder else None
    elif case.claimed_by_member_id == actor.id:
        raise CommandError(f"You already have case #{case.id}.")
    case.status = "claimed"
    case.claimed_by_member_id = actor.id
    _changed(session, policy, case, actor, "case_claimed", now)
    return previous


def claim_quietly(case: ModCase, actor: Member) -> None:
    """Acting on an unclaimed case claims it, so two moderators don't both act on it unknowingly."""
    if case.status == "open":
        case.status = "claimed"
        case.claimed_by_member_id = actor.id


def close(
    session: Session,
    policy: Policy,
    case: ModCase,
    actor: Member,
    *,
    status: str,
    outcome: str,
    now: datetime,
) -> int:
    """Resolve or dismiss; returns how many reporters will be told."""
    assert status in CLOSING
    case.status = status
    case.outcome = outcome
    if case.claimed_by_member_id is None:
        case.claimed_by_member_id = actor.id
    entry = _changed(session, policy, case, actor, f"case_{status}", now, outcome=outcome)
    moderator = actor.display_name if policy.config.reveal_moderator_names else None
    platform = PlatformName(case.queue_platform) if case.queue_platform else None
    told = 0
    for report in session.exec(
        select(Report).where(Report.case_id == case.id).order_by(col(Report.id))
    ).all():
        reporter = session.get(Member, report.reporter_member_id)
        if reporter is None:
            continue
        told += dm(
            session,
            policy,
            member=reporter,
            template="report_outcome",
            dedupe_key=f"case:{case.id}:outcome:{entry.id}:report-{report.id}",
            now=now,
            prefer=platform,
            case=case,
            report=report,
            dismissed=status == "dismissed",
            outcome=outcome,
            moderator=moderator,
        )
    for sanction in session.exec(
        select(Sanction).where(Sanction.case_id == case.id, col(Sanction.appealed_at).is_not(None))
    ).all():
        appellant = session.get(Member, sanction.member_id)
        if appellant is None:
            continue
        dm(
            session,
            policy,
            member=appellant,
            template="appeal_outcome",
            dedupe_key=f"case:{case.id}:appeal:{entry.id}:sanction-{sanction.id}",
            now=now,
            prefer=platform,
            case=case,
            sanction=sanction,
            dismissed=status == "dismissed",
            outcome=outcome,
            moderator=moderator,
        )
    return told


def delete_key(case: ModCase) -> str:
    return f"case:{case.id}:delete"


def delete_message(
    session: Session, policy: Policy, case: ModCase, actor: Member, now: datetime
) -> ModLogEntry:
    """Delete the reported message on the platform (through the outbox) and take it out of every
    count now; a refusal from the platform lands on the card."""
    target = queue.target_of(session, case)
    if target is None:
        raise CommandError(
            f"Case #{case.id} is about a member, not a message, so there is nothing to delete."
        )
    post = session.get(Post, case.post_id) if case.post_id is not None else None
    if session.exec(select(OutboxItem.id).where(OutboxItem.dedupe_key == delete_key(case))).first():
        raise CommandError(f"The message of case #{case.id} is already deleted.")
    if post is not None and post.deleted_at is None:
        ingest.remove_post(session, post, now)
    claim_quietly(case, actor)
    entry = _changed(session, policy, case, actor, "message_deleted", now)
    enqueue(
        session,
        platform=target.platform,
        kind="delete_message",
        payload={
            "case_id": case.id,
            "ref": {
                "room_id": target.room_id,
                "message_id": target.message_id,
                "thread_id": target.thread_id,
                "community_id": target.community_id,
            },
            "reason": f"case #{case.id} ({case.category})",
            "moderator_member_id": actor.id,
        },
        dedupe_key=delete_key(case),
        now=now,
        community_id=case.community_id,
    )
    return entry
