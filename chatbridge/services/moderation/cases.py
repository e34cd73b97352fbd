"""What moderators do with a case: claim it, resolve or dismiss it, delete the reported message.

Every step is a log entry in the same transaction and a card update through the outbox. Closing a
case tells each reporter the outcome privately (without the moderator's name unless the community
chose to reveal it), and tells a member who appealed what became of the appeal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from chatbridge.errors import CommandError, NotFound
from chatbridge.model import PlatformName, Privilege
from chatbridge.services import ingest
from chatbridge.services.moderation import log, queue
from chatbridge.services.moderation.notices import dm
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.outbox import enqueue
from chatbridge.store.tables import Member, ModCase, ModLogEntry, OutboxItem, Post, Report, Sanction

CLOSING = ("resolved", "dismissed")


def check_may_act(case: ModCase, actor: Member, level: Privilege) -> None:
    """A case about a moderator is for admins, and to everyone else it reads exactly like a case
    that does not exist (the moderator it is about must not learn of it); nobody handles a case
    about themselves."""
    if case.escalated_to_admins and level < Privilege.ADMIN:
        raise NotFound(f"There is no case #{case.id} here.")
    if case.subject_member_id is not None and case.subject_member_id == actor.id:
        raise CommandError(f"Case #{case.id} is about you, so another moderator will handle it.")


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


@dataclass(frozen=True, slots=True)
class Told:
    """Who closing a case told what, for the moderator's confirmation."""

    reporters: int
    appellants: int
    outcome_to_appellants: bool
    """Whether the appellants read the moderator's outcome (the case had no reporter waiting for
    it); otherwise the outcome was written for the reporters and the appellants read only the
    decision on their appeal."""


def close(
    session: Session,
    policy: Policy,
    case: ModCase,
    actor: Member,
    *,
    status: str,
    outcome: str,
    now: datetime,
) -> Told:
    """Resolve or dismiss, telling each waiting party privately in their own words.

    The outcome a moderator writes goes to one audience only: the reporters not yet told about
    this case, or, when there are none (an appeal, or a case an appeal reopened), the appellant.
    The reporters never read what was decided on an appeal, and the member a case is about never
    reads what was written for the people who reported them.
    """
    assert status in CLOSING
    case.status = status
    case.outcome = outcome
    if case.claimed_by_member_id is None:
        case.claimed_by_member_id = actor.id
    entry = _changed(session, policy, case, actor, f"case_{status}", now, outcome=outcome)
    moderator = actor.display_name if policy.config.reveal_moderator_names else None
    platform = PlatformName(case.queue_platform) if case.queue_platform else None
    waiting = [
        report
        for report in session.exec(
            select(Report).where(Report.case_id == case.id).order_by(col(Report.id))
        ).all()
        if not _told(session, f"case:{case.id}:outcome:%:report-{report.id}")
    ]
    appeals = [
        sanction
        for sanction in session.exec(
            select(Sanction)
            .where(Sanction.case_id == case.id, col(Sanction.appealed_at).is_not(None))
            .order_by(col(Sanction.id))
        ).all()
        if not _told(session, f"case:{case.id}:appeal:%:sanction-{sanction.id}")
    ]
    told = 0
    for report in waiting:
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
    for_appellants = not waiting
    answered = 0
    for sanction in appeals:
        appellant = session.get(Member, sanction.member_id)
        if appellant is None:
            continue
        answered += dm(
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
            outcome=outcome if for_appellants else None,
            moderator=moderator,
        )
    return Told(told, answered, for_appellants)


def _told(session: Session, key_pattern: str) -> bool:
    """Whether a party was already told the outcome of this case (its notice is in the outbox,
    which keeps every row), so a case an appeal reopened does not tell its reporters again."""
    return (
        session.exec(select(OutboxItem.id).where(col(OutboxItem.dedupe_key).like(key_pattern))).first()
        is not None
    )


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
