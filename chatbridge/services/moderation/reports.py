"""Reports: a member flags a message or a member; reports of one thing merge into one case.

A report is stored before the reporter hears back (the command's transaction commits before the
reply), the reporter's identity stays in the `Report` row (never on the card or in a notice to the
reported member), and a report about a moderator goes to the admins instead of the moderators.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from chatbridge.errors import CommandError
from chatbridge.model import MessageRef, PlatformName, Privilege
from chatbridge.services.moderation import log, queue
from chatbridge.services.moderation.policy import Policy
from chatbridge.store.tables import Member, ModCase, Post, Report

REASON_MAX = 1000


@dataclass(frozen=True, slots=True)
class Filed:
    case: ModCase
    merged: bool
    """The report joined a case other members had already opened."""
    duplicate: bool
    """This member had already reported it; nothing new was stored."""


def check_rate(session: Session, policy: Policy, reporter: Member, now: datetime) -> None:
    """At most `report_limit` reports per member per window, so one account cannot flood the queue."""
    since = now - policy.report_window
    recent = session.exec(
        select(func.count(), func.min(Report.created_at)).where(
            Report.reporter_member_id == reporter.id, Report.created_at > since
        )
    ).one()
    count, oldest = recent
    if count < policy.config.report_limit:
        return
    assert oldest is not None
    again = oldest + policy.report_window
    raise CommandError(
        f"You have sent {count} reports in the last {policy.span(policy.report_window)}, the most I take "
        f"from one member in that time, so this one was not filed. You can report again after "
        f"{policy.when(again)}. If someone is at risk right now, contact a moderator directly."
    )


def report_message(
    session: Session,
    policy: Policy,
    *,
    community_id: int,
    reporter: Member,
    target: MessageRef,
    post: Post | None,
    subject: Member | None,
    subject_user_id: str | None,
    subject_level: Privilege,
    category: str,
    reason: str,
    event_id: str,
    now: datetime,
) -> Filed:
    """Report one message; every report of the same message while its case is open joins it."""
    if subject is not None and subject.id == reporter.id:
        raise CommandError(
            "That's your own message. To remove it, delete it; to ask for help, ask a moderator."
        )
    check_rate(session, policy, reporter, now)
    case = _open_case_for_message(session, community_id, target, post, subject)
    merged = case is not None
    if case is None:
        case, _ = queue.open_case(
            session,
            community_id=community_id,
            category=category,
            subject=subject,
            subject_platform=target.platform if subject_user_id else None,
            subject_user_id=subject_user_id,
            queue_platform=target.platform,
            now=now,
            post=post,
            target=target,
            escalated=subject_level >= Privilege.MODERATOR,
        )
    duplicate = _add_report(session, policy, case, reporter, subject, category, reason, event_id, now)
    return Filed(case, merged, duplicate)


def report_member(
    session: Session,
    policy: Policy,
    *,
    community_id: int,
    reporter: Member,
    subject: Member,
    platform: PlatformName,
    subject_user_id: str | None,
    subject_level: Privilege,
    category: str,
    reason: str,
    event_id: str,
    now: datetime,
) -> Filed:
    """Report a member's conduct as a whole; joins the open member case about them, if any."""
    if subject.id == reporter.id:
        raise CommandError("You can't report yourself. If you need help, ask a moderator.")
    check_rate(session, policy, reporter, now)
    case = next(
        (
            c
            for c in session.exec(
                select(ModCase).where(
                    ModCase.community_id == community_id,
                    ModCase.subject_member_id == subject.id,
                    col(ModCase.post_id).is_(None),
                    col(ModCase.status).in_(queue.OPEN),
                )
            ).all()
            if queue.target_of(session, c) is None
        ),
        None,
    )
    merged = case is not None
    if case is None:
        case, _ = queue.open_case(
            session,
            community_id=community_id,
            category=category,
            subject=subject,
            subject_platform=platform if subject_user_id else None,
            subject_user_id=subject_user_id,
            queue_platform=platform,
            now=now,
            escalated=subject_level >= Privilege.MODERATOR,
        )
    duplicate = _add_report(session, policy, case, reporter, subject, category, reason, event_id, now)
    return Filed(case, merged, duplicate)


def _open_case_for_message(
    session: Session, community_id: int, target: MessageRef, post: Post | None, subject: Member | None
) -> ModCase | None:
    query = select(ModCase).where(ModCase.community_id == community_id, col(ModCase.status).in_(queue.OPEN))
    if post is not None:
        return session.exec(query.where(ModCase.post_id == post.id)).first()
    # A message the forum does not store (outside threads): match on the reference kept in the log.
    query = query.where(col(ModCase.post_id).is_(None))
    if subject is not None:
        query = query.where(ModCase.subject_member_id == subject.id)
    for case in session.exec(query.order_by(col(ModCase.id))).all():
        found = queue.target_of(session, case)
        if found is not None and (found.platform, found.message_id) == (target.platform, target.message_id):
            return case
    return None


def _add_report(
    session: Session,
    policy: Policy,
    case: ModCase,
    reporter: Member,
    subject: Member | None,
    category: str,
    reason: str,
    event_id: str,
    now: datetime,
) -> bool:
    """Add the member's report to the case; True if they had already reported it."""
    assert case.id is not None and reporter.id is not None
    if session.exec(
        select(Report.id).where(Report.case_id == case.id, Report.reporter_member_id == reporter.id)
    ).first():
        return True
    try:
        with session.begin_nested():
            session.add(
                Report(
                    case_id=case.id,
                    reporter_member_id=reporter.id,
                    category=category,
                    reason=reason,
                    created_at=now,
                    platform_event_id=event_id,
                )
            )
    except IntegrityError:  # the same reporter, at the same moment, from another process
        return True
    case.updated_at = now
    entry = log.record(
        session,
        community_id=case.community_id,
        action="report",
        now=now,
        actor=reporter,
        subject=subject,
        subject_user_id=case.subject_platform_user_id,
        case=case,
        category=category,
    )
    queue.card_changed(session, policy, case, entry, now)
    return False
