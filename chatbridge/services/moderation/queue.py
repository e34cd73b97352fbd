"""The moderators' queue: one card per case in the queue room, kept up to date through the outbox.

A card is rendered when the outbox carries it out, from the case as it is *then*, so a burst of
changes (three reports, a claim) ends in a card that shows all of them even if some updates were
delayed by a rate limit. The first card row posts (with an idempotency key per case, so a retried
post lands once) and records `ModCase.queue_message_id`; later rows edit that message.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from chatbridge.errors import CommandError, NotFound
from chatbridge.forum.text import excerpt
from chatbridge.model import ASK_OPTION, Action, MessageRef, OutgoingMessage, PlatformName
from chatbridge.services.moderation import log
from chatbridge.services.moderation.notices import queue_room
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.outbox import enqueue
from chatbridge.services.pileon import card as pileon_card
from chatbridge.store.tables import Member, ModCase, ModLogEntry, OutboxItem, Post, Report, Sanction, Thread

OPEN = ("open", "claimed")
EXCERPT_CHARS = 240
REASON_CHARS = 160
WITHHELD_CATEGORIES = frozenset({"patient_privacy"})
"""Reports whose text (the post, and the reporters' reasons, which often repeat it) is not copied
onto the card: the card would be one more copy of a patient's details. Moderators open the message
in context instead."""
_NUMBER = re.compile(r"^#?([0-9]{1,12})$")


def post_key(case: ModCase) -> str:
    return f"case:{case.id}:card:post"


def card_changed(session: Session, policy: Policy, case: ModCase, entry: ModLogEntry, now: datetime) -> None:
    """Queue the card's first post, or an update after `entry` changed the case."""
    if case.queue_platform is None:
        return
    platform = PlatformName(case.queue_platform)
    if queue_room(session, policy, case.community_id, platform, escalated=case.escalated_to_admins) is None:
        return
    first = session.exec(select(OutboxItem.id).where(OutboxItem.dedupe_key == post_key(case))).first()
    enqueue(
        session,
        platform=platform,
        kind="queue_card",
        payload={"case_id": case.id, "post": first is None},
        dedupe_key=post_key(case) if first is None else f"case:{case.id}:card:log-{entry.id}",
        now=now,
        community_id=case.community_id,
    )


def card_ref(session: Session, case: ModCase) -> MessageRef | None:
    """Where the card is, from the row that posted it."""
    if case.queue_message_id is None or case.queue_platform is None:
        return None
    posted = session.exec(select(OutboxItem).where(OutboxItem.dedupe_key == post_key(case))).first()
    if posted is None or not posted.result:
        return None
    return MessageRef(
        PlatformName(case.queue_platform),
        posted.result["room_id"],
        case.queue_message_id,
        posted.result.get("thread_id"),
    )


def find_case(
    session: Session, community_id: int, text: str, target: MessageRef | None = None, prefix: str = "!"
) -> ModCase:
    """A case by number ("12", "#12"), or "this" as a reply to its card."""
    wanted = text.strip().lower()
    if wanted in {"this", "here", ""}:
        if target is None:
            raise CommandError("Give the case number (like #12), or reply to the case's card with `this`.")
        case = session.exec(
            select(ModCase).where(
                ModCase.queue_platform == target.platform.value,
                ModCase.queue_message_id == target.message_id,
            )
        ).first()
        if case is None or case.community_id != community_id:
            raise NotFound("That message isn't a case card. Reply to a card, or give the case number.")
        return case
    match = _NUMBER.match(wanted)
    if match is None:
        raise CommandError(f"Cases are numbers, like #12. `{prefix}queue` lists the open ones.")
    case = session.get(ModCase, int(match[1]))
    if case is None or case.community_id != community_id:
        raise NotFound(f"There is no case #{match[1]} here.")
    return case


def open_cases(session: Session, community_id: int, *, include_escalated: bool) -> list[ModCase]:
    query = select(ModCase).where(ModCase.community_id == community_id, col(ModCase.status).in_(OPEN))
    if not include_escalated:
        query = query.where(col(ModCase.escalated_to_admins).is_(False))
    return list(session.exec(query.order_by(col(ModCase.created_at), col(ModCase.id))).all())


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """What the queue listing shows of a case."""

    case: ModCase
    subject_name: str
    reporters: int
    claimed_by: str | None
    card_link: str | None


def summaries(
    session: Session, cases: list[ModCase], permalink: Callable[[MessageRef], str | None]
) -> list[CaseSummary]:
    names = log.names(session, [m for c in cases for m in (c.subject_member_id, c.claimed_by_member_id)])
    out = []
    for case in cases:
        ref = card_ref(session, case)
        out.append(
            CaseSummary(
                case,
                _subject_name(case, names),
                _reporter_count(session, case),
                names.get(case.claimed_by_member_id) if case.claimed_by_member_id else None,
                permalink(ref) if ref is not None else None,
            )
        )
    return out


def _subject_name(case: ModCase, names: dict[int, str]) -> str:
    if case.subject_member_id is not None and case.subject_member_id in names:
        return names[case.subject_member_id]
    return case.subject_platform_user_id or "an unknown member"


def _reporter_count(session: Session, case: ModCase) -> int:
    return len(session.exec(select(Report.id).where(Report.case_id == case.id)).all())


def target_of(session: Session, case: ModCase) -> MessageRef | None:
    """The reported message, as recorded when the case was opened (None for a member report)."""
    opening = log.opening_entry(session, case)
    data: dict[str, Any] | None = opening.detail.get("message") if opening is not None else None
    if not data:
        return None
    return MessageRef(
        PlatformName(data["platform"]),
        data["room_id"],
        data["message_id"],
        data.get("thread_id"),
        data.get("community_id"),
    )


def render_card(
    session: Session, policy: Policy, case: ModCase, permalink: Callable[[MessageRef], str]
) -> OutgoingMessage:
    """The case card as it stands now; for the moderators' room only (it quotes the reported post)."""
    reports = list(
        session.exec(select(Report).where(Report.case_id == case.id).order_by(col(Report.id))).all()
    )
    categories = Counter(r.category for r in reports)
    post = session.get(Post, case.post_id) if case.post_id is not None else None
    thread = session.get(Thread, post.thread_id) if post is not None else None
    target = target_of(session, case)
    withheld = bool(WITHHELD_CATEGORIES & set(categories)) or case.category in WITHHELD_CATEGORIES
    quote = None
    if post is not None and post.deleted_at is None and not withheld:
        quote = excerpt(post.body, EXCERPT_CHARS) if post.body.strip() else None
    previous = []
    if case.subject_member_id is not None:
        earlier = select(ModCase).where(
            ModCase.subject_member_id == case.subject_member_id, ModCase.id != case.id
        )
        if not case.escalated_to_admins:  # the moderators' room never learns of the admins' cases
            earlier = earlier.where(col(ModCase.escalated_to_admins).is_(False))
        previous = list(
            session.exec(
                earlier.order_by(col(ModCase.created_at).desc(), col(ModCase.id).desc()).limit(5)
            ).all()
        )
    sanctions = list(
        session.exec(select(Sanction).where(Sanction.case_id == case.id).order_by(col(Sanction.id))).all()
    )
    history = log.case_history(session, case)
    names = log.names(
        session,
        [case.subject_member_id, case.claimed_by_member_id, *(e.actor_member_id for e in history)],
    )
    problems = [e for e in history if e.action.endswith("_failed")]
    text = policy.render(
        "card",
        case=case,
        subject=_subject_name(case, names),
        reporters=len(reports),
        categories=sorted(categories.items(), key=lambda kv: (-kv[1], kv[0])),
        reasons=[]
        if withheld
        else [excerpt(r.reason, REASON_CHARS) for r in reports if r.reason.strip()][-3:],
        post=post,
        thread=thread,
        quote=quote,
        withheld=withheld,
        link=permalink(target) if target is not None else None,
        previous=previous,
        claimed_by=names.get(case.claimed_by_member_id) if case.claimed_by_member_id else None,
        sanctions=sanctions,
        appeals=[s for s in sanctions if s.appeal_text],
        problems=problems[-3:],
        history=history[-8:],
        names=names,
        when=policy.when,
        closed=case.status not in OPEN,
        pileon=pileon_card.view(log.opening_entry(session, case), permalink)
        if case.category == pileon_card.CATEGORY
        else None,
    )
    actions = () if case.status not in OPEN else card_buttons(case, has_message=target is not None)
    if case.category == pileon_card.CATEGORY and case.status in OPEN:
        actions = pileon_card.buttons(case)
    return OutgoingMessage(text, title=f"Case #{case.id}", actions=actions)


def card_buttons(case: ModCase, *, has_message: bool = True) -> tuple[Action, ...]:
    """A button per action on the case. Those that need words (an outcome, a duration, points)
    ask for them first (`ASK_OPTION`: a modal on Discord); every one runs the same `case ...`
    command a moderator can type, so the handler checks privilege and state again."""
    case_ref = {"case": f"#{case.id}"}

    def asking(*names: str) -> dict[str, str]:
        return {**case_ref, ASK_OPTION: ",".join(names)}

    buttons = [
        Action("Claim", ("case", "claim"), case_ref, "primary"),
        Action("Resolve", ("case", "resolve"), asking("outcome"), "success"),
        Action("Dismiss", ("case", "dismiss"), case_ref, "secondary"),
    ]
    if case.subject_member_id is not None:
        buttons += [
            Action("Mute author", ("case", "mute"), asking("duration", "reason"), "danger"),
            Action("Warn author", ("case", "warn"), asking("points", "reason"), "secondary"),
        ]
    if has_message:
        buttons.append(Action("Delete message", ("case", "delete"), case_ref, "danger"))
    return tuple(buttons)


def message_detail(ref: MessageRef) -> dict[str, Any]:
    """A message reference as stored in the case log (plain JSON)."""
    return {
        "platform": ref.platform.value,
        "room_id": ref.room_id,
        "message_id": ref.message_id,
        "thread_id": ref.thread_id,
        "community_id": ref.community_id,
    }


def open_case(
    session: Session,
    *,
    community_id: int,
    category: str,
    subject: Member | None,
    subject_platform: PlatformName | None,
    subject_user_id: str | None,
    queue_platform: PlatformName,
    now: datetime,
    post: Post | None = None,
    target: MessageRef | None = None,
    escalated: bool = False,
    **detail: Any,
) -> tuple[ModCase, ModLogEntry]:
    """A new case, and its first log entry (which also keeps the reported message's reference)."""
    case = ModCase(
        community_id=community_id,
        subject_member_id=subject.id if subject else None,
        subject_platform=subject_platform.value if subject_platform else None,
        subject_platform_user_id=subject_user_id,
        post_id=post.id if post else None,
        category=category,
        escalated_to_admins=escalated,
        created_at=now,
        updated_at=now,
        queue_platform=queue_platform.value,
    )
    session.add(case)
    session.flush()
    if target is not None:
        detail["message"] = message_detail(target)
    entry = log.record(
        session,
        community_id=community_id,
        action="case_opened",
        now=now,
        subject=subject,
        subject_user_id=subject_user_id,
        case=case,
        category=category,
        escalated=escalated,
        **detail,
    )
    return case, entry
