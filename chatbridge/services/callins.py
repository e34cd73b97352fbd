"""Call-ins: a private, constructive word to a member about a post, through the bot.

A public call-out starts the next pile-on; a call-in reaches only the member. The sender may stay
anonymous to the recipient but never to the moderators: the sender is stored, and both sides'
case logs record the call-in. Limits per sender and per recipient keep it from becoming a
harassment channel; the recipient may answer once (relayed) or report it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from chatbridge.errors import CommandError, NotFound
from chatbridge.forum.text import quote_input, whole_number
from chatbridge.registry import LARGEST_NUMBER
from chatbridge.store.tables import CallIn, Member, Post

log = logging.getLogger(__name__)

BODY_MAX = 1000
WINDOW = timedelta(days=1)
PER_SENDER = 5
"""Call-ins one member may send in a day."""
PER_RECIPIENT = 3
"""Call-ins one member may receive in a day, from everyone together."""
PER_PAIR = 1
"""Call-ins from one member to the same member in a day: one word is a call-in, more is pressure."""


def _count(session: Session, *conditions: object, now: datetime) -> int:
    return session.exec(
        select(func.count()).select_from(CallIn).where(*conditions, col(CallIn.created_at) > now - WINDOW)  # type: ignore[arg-type]
    ).one()


def send(
    session: Session,
    *,
    sender: Member,
    recipient: Member,
    post: Post | None,
    body: str,
    anonymous: bool,
    now: datetime,
) -> CallIn:
    """Store a call-in after the checks; the caller queues the direct message and the log entries."""
    assert sender.id is not None and recipient.id is not None
    if recipient.id == sender.id:
        raise CommandError("A call-in is for someone else; you can't send one to yourself.")
    if recipient.is_bot:
        raise CommandError("Bots don't take call-ins.")
    if _count(session, col(CallIn.sender_member_id) == sender.id, now=now) >= PER_SENDER:
        raise CommandError(
            f"You've sent {PER_SENDER} call-ins today, the most in a day; please try tomorrow."
        )
    pair = (col(CallIn.sender_member_id) == sender.id, col(CallIn.recipient_member_id) == recipient.id)
    if _count(session, *pair, now=now) >= PER_PAIR:
        raise CommandError("You've already sent them a call-in today; give them time to read it.")
    if _count(session, col(CallIn.recipient_member_id) == recipient.id, now=now) >= PER_RECIPIENT:
        raise CommandError(
            "They have had several call-ins today already, so I won't deliver another one now. "
            "If it's serious, report the post instead."
        )
    callin = CallIn(
        community_id=sender.community_id,
        sender_member_id=sender.id,
        recipient_member_id=recipient.id,
        post_id=post.id if post is not None else None,
        body=body,
        anonymous=anonymous,
        created_at=now,
    )
    session.add(callin)
    session.flush()
    log.info("call-in %s from member %s to member %s", callin.id, sender.id, recipient.id)
    return callin


def received(session: Session, recipient: Member, text: str) -> CallIn:
    """A call-in the member received, named by its number ("#3" or "3")."""
    number = whole_number(text.strip().removeprefix("#"))
    valid = number is not None and 0 < number <= LARGEST_NUMBER
    found = session.get(CallIn, number) if valid else None
    if found is None or found.recipient_member_id != recipient.id:
        shown = f"#{number}" if valid else quote_input(text)
        raise NotFound(f"You have no call-in {shown}; its number is in the message you received.")
    return found


def answer(session: Session, callin: CallIn, text: str, now: datetime) -> None:
    if callin.answered_at is not None:
        raise CommandError(f"You have already answered call-in #{callin.id}; one answer goes through me.")
    callin.answer, callin.answered_at = text, now
    log.info("call-in %s answered", callin.id)
