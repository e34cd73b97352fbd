"""Mutes and warnings: stored first, carried out through the outbox, lifted on time.

A mute is a `Sanction` row with its end time; the platform timeout is an outbox action, so a
restart, downtime or a rate limit delays it but never loses it. The scheduler lifts mutes whose
time is up (catching up at start-up), the ingest path re-applies a mute when a muted member
re-joins, and an ongoing mute is changed in place, so one continuous mute is one sanction with
one recorded previous state and one appeal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, or_, select

from chatbridge.errors import CommandError
from chatbridge.model import MemberJoined, PlatformName, Privilege
from chatbridge.render.escape import escape_user_text
from chatbridge.services.moderation import log, queue
from chatbridge.services.moderation.notices import dm, identities, platform_community_id
from chatbridge.services.moderation.policy import Policy, Threshold
from chatbridge.services.outbox import enqueue
from chatbridge.store.tables import Member, ModCase, ModLogEntry, Sanction

RENEW_AHEAD = timedelta(hours=1)
"""Renew a platform timeout this long before it runs out (Discord caps one at 28 days)."""
_ROLE = {Privilege.MODERATOR: "moderator", Privilege.ADMIN: "admin", Privilege.OWNER: "owner"}


def check_authority(
    actor: Member, actor_level: Privilege, subject: Member, subject_level: Privilege, verb: str
) -> None:
    """Moderators cannot sanction admins, each other or themselves; admins can sanction moderators."""
    if actor.id == subject.id:
        raise CommandError(f"You can't {verb} yourself.")
    if subject_level < actor_level:
        return
    name = escape_user_text(subject.display_name)
    role = _ROLE.get(subject_level, "member")
    if subject_level == actor_level:
        above = " An admin can." if subject_level == Privilege.MODERATOR else ""
        raise CommandError(f"{name} is {_a(role)} too; {role}s can't {verb} each other.{above}")
    actor_role = _ROLE.get(actor_level, "member")
    raise CommandError(f"{name} is {_a(role)}; {actor_role}s can't {verb} {role}s.")


def _a(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


def active_mute(session: Session, member: Member, now: datetime) -> Sanction | None:
    return session.exec(
        select(Sanction)
        .where(
            Sanction.member_id == member.id,
            Sanction.kind == "mute",
            col(Sanction.lifted_at).is_(None),
            or_(col(Sanction.ends_at).is_(None), col(Sanction.ends_at) > now),
        )
        .order_by(col(Sanction.started_at).desc())
    ).first()


def active_warnings(session: Session, member: Member, now: datetime) -> list[Sanction]:
    """Warnings whose points still count, newest first."""
    return list(
        session.exec(
            select(Sanction)
            .where(
                Sanction.member_id == member.id,
                Sanction.kind == "warn",
                col(Sanction.lifted_at).is_(None),
                or_(col(Sanction.expires_at).is_(None), col(Sanction.expires_at) > now),
            )
            .order_by(col(Sanction.started_at).desc(), col(Sanction.id).desc())
        ).all()
    )


def active_points(session: Session, member: Member, now: datetime) -> int:
    return sum(w.points for w in active_warnings(session, member, now))


@dataclass(frozen=True, slots=True)
class MuteOutcome:
    sanction: Sanction
    entry: ModLogEntry | None
    """None when an existing, longer mute was kept as it was."""


def mute(
    session: Session,
    policy: Policy,
    *,
    subject: Member,
    moderator: Member | None,
    duration: timedelta,
    reason: str,
    now: datetime,
    case: ModCase | None = None,
    prefer: PlatformName | None = None,
    keep_longer: bool = False,
) -> MuteOutcome:
    """Mute a member (or change their ongoing mute to end `duration` from now).

    `keep_longer` is for automatic mutes (warning thresholds): they never shorten a longer mute a
    moderator already gave.
    """
    until = now + duration
    sanction = active_mute(session, subject, now)
    detail: dict[str, Any] = {
        "until": until.isoformat(),
        "duration": int(duration.total_seconds()),
        "reason": reason,
    }
    if sanction is not None:
        if keep_longer and sanction.ends_at is not None and sanction.ends_at >= until:
            return MuteOutcome(sanction, None)
        sanction.ends_at = until
        sanction.reason = reason
        sanction.moderator_member_id = moderator.id if moderator else sanction.moderator_member_id
        if case is not None and sanction.case_id is None:
            sanction.case_id = case.id
        action = "mute_changed"
    else:
        assert subject.id is not None
        sanction = Sanction(
            community_id=subject.community_id,
            member_id=subject.id,
            kind="mute",
            reason=reason,
            moderator_member_id=moderator.id if moderator else None,
            case_id=case.id if case else None,
            started_at=now,
            ends_at=until,
        )
        session.add(sanction)
        session.flush()
        action = "mute"
    entry = log.record(
        session,
        community_id=subject.community_id,
        action=action,
        now=now,
        actor=moderator,
        subject=subject,
        case=case,
        sanction_id=sanction.id,
        **detail,
    )
    _apply_everywhere(session, sanction, subject, now, tag=f"log-{entry.id}")
    if policy.config.mute_notice:
        dm(
            session,
            policy,
            member=subject,
            template="mute_notice",
            dedupe_key=f"sanction:{sanction.id}:notice:log-{entry.id}",
            now=now,
            prefer=prefer,
            sanction=sanction,
            until=policy.when(until),
            duration=policy.span(duration),
            changed=action == "mute_changed",
            prefix=policy.prefix,
        )
    _touch_case(session, policy, sanction, entry, now, case)
    return MuteOutcome(sanction, entry)


def _apply_everywhere(session: Session, sanction: Sanction, subject: Member, now: datetime, tag: str) -> None:
    """One apply action per platform account of the member: the sanction follows the person."""
    for identity in identities(session, subject):
        platform = PlatformName(identity.platform)
        community_platform_id = platform_community_id(session, subject.community_id, platform)
        if community_platform_id is not None:
            enqueue_apply(
                session, sanction, platform, community_platform_id, identity.platform_user_id, now, tag
            )


def enqueue_apply(
    session: Session,
    sanction: Sanction,
    platform: PlatformName,
    community_platform_id: str,
    user_id: str,
    now: datetime,
    tag: str,
) -> None:
    assert sanction.ends_at is not None
    enqueue(
        session,
        platform=platform,
        kind="apply_mute",
        payload={
            "sanction_id": sanction.id,
            "community_id": community_platform_id,
            "user_id": user_id,
            "until": sanction.ends_at.isoformat(),
            "reason": sanction.reason,
        },
        dedupe_key=f"sanction:{sanction.id}:apply:{platform.value}:{user_id}:{tag}",
        now=now,
        community_id=sanction.community_id,
    )


def lift(
    session: Session,
    policy: Policy,
    *,
    sanction: Sanction,
    by: Member | None,
    reason: str,
    now: datetime,
    prefer: PlatformName | None = None,
) -> ModLogEntry:
    """End a mute now: by a moderator (`by`), or by the scheduler when its time is up (`by` None)."""
    subject = session.get(Member, sanction.member_id)
    assert subject is not None
    sanction.lifted_at = now
    sanction.lifted_by_member_id = by.id if by else None
    ended = by is None
    entry = log.record(
        session,
        community_id=sanction.community_id,
        action="mute_ended" if ended else "unmute",
        now=now,
        actor=by,
        subject=subject,
        case=session.get(ModCase, sanction.case_id) if sanction.case_id else None,
        sanction_id=sanction.id,
        reason=reason,
    )
    for identity in identities(session, subject):
        platform = PlatformName(identity.platform)
        community_platform_id = platform_community_id(session, subject.community_id, platform)
        if community_platform_id is None:
            continue
        enqueue(
            session,
            platform=platform,
            kind="lift_mute",
            payload={
                "sanction_id": sanction.id,
                "community_id": community_platform_id,
                "user_id": identity.platform_user_id,
                "previous_state": (sanction.previous_state or {}).get(
                    f"{platform.value}:{identity.platform_user_id}", {}
                ),
            },
            dedupe_key=f"sanction:{sanction.id}:lift:{platform.value}:{identity.platform_user_id}",
            now=now,
            community_id=sanction.community_id,
        )
    if policy.config.mute_notice:
        dm(
            session,
            policy,
            member=subject,
            template="mute_lifted",
            dedupe_key=f"sanction:{sanction.id}:notice:lifted",
            now=now,
            prefer=prefer,
            ended=ended,
        )
    _touch_case(session, policy, sanction, entry, now, None)
    return entry


@dataclass(frozen=True, slots=True)
class WarnOutcome:
    sanction: Sanction
    points_before: int
    points_after: int
    threshold: Threshold | None
    """The highest threshold this warning crossed, whose action was taken."""
    mute: MuteOutcome | None
    next_threshold: Threshold | None


def warn(
    session: Session,
    policy: Policy,
    *,
    subject: Member,
    moderator: Member,
    points: int,
    reason: str,
    now: datetime,
    case: ModCase | None = None,
    prefer: PlatformName | None = None,
) -> WarnOutcome:
    """Give warning points; crossing a threshold takes its action, once per crossing."""
    assert subject.id is not None
    before = active_points(session, subject, now)
    sanction = Sanction(
        community_id=subject.community_id,
        member_id=subject.id,
        kind="warn",
        reason=reason,
        points=points,
        moderator_member_id=moderator.id,
        case_id=case.id if case else None,
        started_at=now,
        expires_at=now + policy.warning_expiry,
    )
    session.add(sanction)
    session.flush()
    after = before + points
    entry = log.record(
        session,
        community_id=subject.community_id,
        action="warn",
        now=now,
        actor=moderator,
        subject=subject,
        case=case,
        sanction_id=sanction.id,
        points=points,
        active_points=after,
        reason=reason,
    )
    crossed = [t for t in policy.thresholds if before < t.points <= after]
    threshold = crossed[-1] if crossed else None
    muted = None
    if threshold is not None:
        log.record(
            session,
            community_id=subject.community_id,
            action="threshold_reached",
            now=now,
            subject=subject,
            case=case,
            threshold=threshold.points,
            active_points=after,
            mute=int(threshold.mute.total_seconds()),
        )
        muted = mute(
            session,
            policy,
            subject=subject,
            moderator=moderator,
            duration=threshold.mute,
            reason=f"{after} active warning points (the limit is {threshold.points})",
            now=now,
            case=case,
            prefer=prefer,
            keep_longer=True,
        )
    upcoming = next((t for t in policy.thresholds if t.points > after), None)
    if policy.config.mute_notice:
        dm(
            session,
            policy,
            member=subject,
            template="warning_notice",
            dedupe_key=f"sanction:{sanction.id}:notice:warn",
            now=now,
            prefer=prefer,
            sanction=sanction,
            active_points=after,
            expires=policy.when(sanction.expires_at) if sanction.expires_at else None,
            upcoming=upcoming,
            upcoming_mute=policy.span(upcoming.mute) if upcoming else None,
            prefix=policy.prefix,
        )
    _touch_case(session, policy, sanction, entry, now, case)
    return WarnOutcome(sanction, before, after, threshold, muted, upcoming)


def appeal(
    session: Session,
    policy: Policy,
    *,
    member: Member,
    text: str,
    now: datetime,
    platform: PlatformName,
) -> tuple[Sanction, ModCase]:
    """Appeal the member's current mute (or newest warning), once per sanction, onto a case card."""
    mute_now = active_mute(session, member, now)
    candidates = ([mute_now] if mute_now else []) + active_warnings(session, member, now)
    if not candidates:
        raise CommandError("You have no active mute or warning to appeal.")
    open_ones = [s for s in candidates if s.appealed_at is None]
    if not open_ones:
        done = candidates[0]
        assert done.appealed_at is not None
        what = "mute" if done.kind == "mute" else "warning"
        raise CommandError(
            f"You already appealed your {what} on {policy.when(done.appealed_at)}; each one can be "
            "appealed once. The moderators have your appeal."
        )
    sanction = open_ones[0]
    sanction.appeal_text = text
    sanction.appealed_at = now
    case = session.get(ModCase, sanction.case_id) if sanction.case_id else None
    if case is None:
        case, _ = queue.open_case(
            session,
            community_id=member.community_id,
            category="other",
            subject=member,
            subject_platform=platform,
            subject_user_id=None,
            queue_platform=platform,
            now=now,
            appeal=True,
        )
        sanction.case_id = case.id
    elif case.status not in queue.OPEN:
        # An appeal reopens its case: a closed card is one nobody looks at any more. The earlier
        # outcome stays in the case log.
        case.status = "open"
        case.claimed_by_member_id = None
        case.outcome = None
    case.updated_at = now
    entry = log.record(
        session,
        community_id=member.community_id,
        action="appeal",
        now=now,
        actor=member,
        subject=member,
        case=case,
        sanction_id=sanction.id,
        kind=sanction.kind,
    )
    queue.card_changed(session, policy, case, entry, now)
    return sanction, case


def _touch_case(
    session: Session,
    policy: Policy,
    sanction: Sanction,
    entry: ModLogEntry,
    now: datetime,
    case: ModCase | None,
) -> None:
    if case is None and sanction.case_id is not None:
        case = session.get(ModCase, sanction.case_id)
    if case is None:
        return
    case.updated_at = now
    queue.card_changed(session, policy, case, entry, now)


def member_joined(session: Session, member: Member, event: MemberJoined, now: datetime) -> None:
    """The ingest hook: a muted member who left and came back is muted again on that platform.

    Role- and power-level-based mutes do not survive leaving on every platform, and a member
    must not be able to shed a mute by re-joining. Called inside the ingest transaction.
    """
    sanction = active_mute(session, member, now)
    if sanction is None:
        return
    log.record(
        session,
        community_id=member.community_id,
        action="mute_reapplied",
        now=now,
        subject=member,
        subject_user_id=event.actor.user_id,
        sanction_id=sanction.id,
    )
    enqueue_apply(
        session,
        sanction,
        event.room.platform,
        event.room.community_id,
        event.actor.user_id,
        now,
        tag=f"rejoin-{event.event_id}",
    )


def sweep(session: Session, policy: Policy, now: datetime) -> int:
    """Lift every mute whose time is up and renew platform timeouts about to run out.

    Run by the scheduler, and at start-up, so mutes that ended while the bot was down are lifted
    at once. Returns how many mutes it touched.
    """
    due = session.exec(
        select(Sanction).where(
            Sanction.kind == "mute",
            col(Sanction.lifted_at).is_(None),
            col(Sanction.ends_at).is_not(None),
            col(Sanction.ends_at) <= now,
        )
    ).all()
    for sanction in due:
        lift(session, policy, sanction=sanction, by=None, reason="its time is up", now=now)
    renewing = session.exec(
        select(Sanction).where(
            Sanction.kind == "mute",
            col(Sanction.lifted_at).is_(None),
            col(Sanction.platform_applied_until).is_not(None),
            col(Sanction.platform_applied_until) <= now + RENEW_AHEAD,
            col(Sanction.ends_at) > now,
        )
    ).all()
    renewed = 0
    for sanction in renewing:
        assert sanction.platform_applied_until is not None and sanction.ends_at is not None
        if sanction.platform_applied_until >= sanction.ends_at:
            continue
        subject = session.get(Member, sanction.member_id)
        assert subject is not None
        _apply_everywhere(
            session, sanction, subject, now, tag=f"renew-{sanction.platform_applied_until.isoformat()}"
        )
        renewed += 1
    return len(due) + renewed
