"""The pile-on detector: per target member and thread, a sliding window of hostile messages aimed
at them; when enough distinct members are in it, a case opens in the moderators' queue.

It runs on the ingest path, inside the batch's transaction (after the batch's posts are stored), so
an alert is exactly as durable as the messages behind it. Most messages cost one regular-expression
pass and nothing else: the store is only read for a message the scorer finds hostile (or that
insults someone who might be named). The window lives in the store (`PileOnHit`), so a restart
neither forgets a pile-on under way nor alerts twice (`PileOnAlert`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from chatbridge.config import PileOnConfig
from chatbridge.model import ChatEvent, MessagePosted, PlatformName, Privilege
from chatbridge.services import directory, ingest
from chatbridge.services.moderation import log as modlog
from chatbridge.services.moderation import queue
from chatbridge.services.moderation.notices import dm
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.outbox import enqueue
from chatbridge.services.pileon import hostility
from chatbridge.store.tables import Identity, Member, ModCase, PileOnAlert, PileOnHit, Post, Thread

log = logging.getLogger(__name__)

CATEGORY = "pile_on"
TUNING_SPAN = timedelta(days=30)
"""How far back dismissals count toward a community's raised threshold."""
MAX_RAISE = 2
_MENTION = re.compile(r"<@!?(\d{5,25})>|(@[\w.=/+-]+:[\w.-]+(?::\d+)?)|@([\w.-]{2,64})")


@dataclass(frozen=True, slots=True)
class Aimed:
    """A member a message is aimed at, and how."""

    member: Member
    how: str


def threshold(session: Session, config: PileOnConfig, community_id: int, now: datetime) -> int:
    """The community's N: the configured one, raised by recent "not a pile-on" dismissals."""
    dismissed = session.exec(
        select(func.count())
        .select_from(PileOnAlert)
        .where(
            PileOnAlert.community_id == community_id,
            col(PileOnAlert.dismissed_at).is_not(None),
            col(PileOnAlert.dismissed_at) >= now - TUNING_SPAN,
        )
    ).one()
    return config.members + min(MAX_RAISE, int(dismissed) // config.dismissals_per_step)


@dataclass(frozen=True)
class PileOnWatch:
    """What the ingestor calls after each batch (see `Ingestor.watch`)."""

    config: PileOnConfig
    policy: Policy

    def __call__(self, session: Session, events: Sequence[ChatEvent], now: datetime) -> None:
        if not self.config.enabled:
            return
        posted = [
            e for e in events if isinstance(e, MessagePosted) and not e.actor.is_bot and not e.starts_thread
        ]
        if posted:
            self._keep_pace(session, posted)
        for event in posted:
            first = hostility.score(event.text)
            if not first.hostile and not first.insult_word:
                continue
            try:
                # A savepoint: a surprise here must not cost the batch its messages.
                with session.begin_nested():
                    self.consider(session, event)
            except Exception as error:  # detection must never refuse a message
                log.error(
                    "pile-on: could not consider message %s (%s)", event.message_id, type(error).__name__
                )

    def _keep_pace(self, session: Session, events: list[MessagePosted]) -> None:
        """Where a moderator slowed a pile-on's thread (and its case is open), remove a member's
        post that comes sooner than the pace after their previous one, and tell them once. Discord
        enforces its own slow mode as well; Matrix has none, so this is the pace there."""
        keys = {e.thread_id for e in events if e.thread_id is not None}
        if not keys:
            return
        paced = {
            (alert.platform, alert.thread_key): (alert, case)
            for alert, case in session.exec(
                select(PileOnAlert, ModCase)
                .join(ModCase, col(ModCase.id) == col(PileOnAlert.case_id))
                .where(
                    col(PileOnAlert.pace_seconds).is_not(None),
                    col(PileOnAlert.thread_key).in_(keys),
                    col(ModCase.status).in_(queue.OPEN),
                )
            ).all()
        }
        for event in events:
            found = paced.get((event.room.platform.value, event.thread_id or ""))
            if found is None or event.actor.privilege >= Privilege.MODERATOR:
                continue
            alert, case = found
            try:
                with session.begin_nested():
                    self._paced(session, event, alert, case)
            except Exception as error:  # pacing must never refuse a message
                log.error("pile-on: could not pace message %s (%s)", event.message_id, type(error).__name__)

    def _paced(self, session: Session, event: MessagePosted, alert: PileOnAlert, case: ModCase) -> None:
        assert alert.pace_seconds is not None
        post = ingest.find_post(session, event.room.platform, event.message_id)
        if post is None or post.deleted_at is not None:
            return
        earlier = session.exec(
            select(Post.id).where(
                Post.thread_id == post.thread_id,
                Post.member_id == post.member_id,
                Post.id != post.id,
                col(Post.created_at) > event.at - timedelta(seconds=alert.pace_seconds),
                col(Post.created_at) <= event.at,
            )
        ).first()
        if earlier is None:
            return
        ingest.remove_post(session, post, event.at)
        enqueue(
            session,
            platform=event.room.platform,
            kind="delete_message",
            payload={
                "case_id": case.id,
                "ref": {
                    "room_id": event.room.room_id,
                    "message_id": event.message_id,
                    "thread_id": event.thread_id,
                    "community_id": event.room.community_id,
                },
                "reason": f"slowed thread (case #{case.id})",
            },
            dedupe_key=f"pace:{alert.id}:{event.message_id}",
            now=event.at,
            community_id=case.community_id,
        )
        member = session.get(Member, post.member_id)
        if member is not None:
            dm(
                session,
                self.policy,
                member=member,
                template="pileon_paced",
                dedupe_key=f"pace:{alert.id}:member-{member.id}",
                now=event.at,
                prefer=event.room.platform,
                seconds=alert.pace_seconds,
                thread=directory.find_thread(session, event.room.platform, event.thread_id),
            )
        log.info("pile-on: message %s removed, posted faster than the thread's pace", event.message_id)

    def consider(self, session: Session, event: MessagePosted) -> PileOnAlert | None:
        """Record the message if it is a hostile one aimed at someone; alert when the window fills."""
        place = directory.resolve_place(session, event.room, event.at)
        community = place.community
        assert community.id is not None
        author = directory.resolve_member(session, community, event.actor, event.at)
        alert = None
        for aimed in aimed_at(session, event, community.id, author):
            found = hostility.score(event.text, names=(aimed.member.display_name,))
            if not found.hostile:
                continue
            assert aimed.member.id is not None and author.id is not None
            hit = PileOnHit(
                community_id=community.id,
                target_member_id=aimed.member.id,
                author_member_id=author.id,
                thread_key=event.thread_id or event.room.room_id,
                platform=event.room.platform.value,
                room_id=event.room.room_id,
                thread_id=event.thread_id,
                message_id=event.message_id,
                at=event.at,
                score=found.score,
                how=aimed.how,
            )
            try:
                with session.begin_nested():
                    session.add(hit)
            except IntegrityError:
                continue  # the same message seen again (an edit of a redelivery)
            log.info("pile-on: message %s is hostile toward member %s", event.message_id, aimed.member.id)
            alert = self._window(session, hit, aimed.member) or alert
        return alert

    def _window(self, session: Session, hit: PileOnHit, target: Member) -> PileOnAlert | None:
        window = timedelta(minutes=self.config.window_minutes)
        same = (
            col(PileOnHit.community_id) == hit.community_id,
            col(PileOnHit.target_member_id) == hit.target_member_id,
            col(PileOnHit.thread_key) == hit.thread_key,
        )
        session.execute(delete(PileOnHit).where(*same, col(PileOnHit.at) < hit.at - 2 * window))
        last = session.exec(
            select(PileOnAlert)
            .where(
                PileOnAlert.community_id == hit.community_id,
                PileOnAlert.target_member_id == hit.target_member_id,
                PileOnAlert.thread_key == hit.thread_key,
            )
            .order_by(col(PileOnAlert.alerted_at).desc())
        ).first()
        query = select(PileOnHit).where(
            *same,
            col(PileOnHit.at) >= hit.at - window,
            col(PileOnHit.at) <= hit.at,
            PileOnHit.author_member_id != hit.target_member_id,
        )
        if last is not None and hit.at < last.alerted_at + window:
            self._joined(session, last, hit)  # the same pile-on going on: its case grows instead
            return None
        if last is not None:  # what came before the last alert was reported already
            query = query.where(col(PileOnHit.at) > last.alerted_at)
        hits = list(session.exec(query.order_by(col(PileOnHit.at), col(PileOnHit.id))).all())
        authors = {h.author_member_id for h in hits}
        if len(authors) < threshold(session, self.config, hit.community_id, hit.at):
            return None
        return self._alert(session, hits, target, hit)

    def _joined(self, session: Session, alert: PileOnAlert, hit: PileOnHit) -> None:
        """A member who joins a pile-on already reported is added to its case's log (and card)."""
        case = session.get(ModCase, alert.case_id) if alert.case_id is not None else None
        if case is None:
            return
        before = session.exec(
            select(PileOnHit.id).where(
                PileOnHit.community_id == hit.community_id,
                PileOnHit.target_member_id == hit.target_member_id,
                PileOnHit.thread_key == hit.thread_key,
                PileOnHit.author_member_id == hit.author_member_id,
                col(PileOnHit.at) >= alert.window_start,
                PileOnHit.id != hit.id,
            )
        ).first()
        if before is not None:
            return  # already in the case
        author = session.get(Member, hit.author_member_id)
        entry = modlog.record(
            session,
            community_id=case.community_id,
            action="pileon_joined",
            now=hit.at,
            subject=session.get(Member, case.subject_member_id) if case.subject_member_id else None,
            case=case,
            member_id=hit.author_member_id,
            name=author.display_name if author is not None else "a former member",
            message={"platform": hit.platform, "room_id": hit.room_id, "message_id": hit.message_id},
        )
        case.updated_at = hit.at
        queue.card_changed(session, self.policy, case, entry, hit.at)

    def _alert(self, session: Session, hits: list[PileOnHit], target: Member, last: PileOnHit) -> PileOnAlert:
        platform = PlatformName(last.platform)
        thread = directory.find_thread(session, platform, last.thread_id)
        alert = PileOnAlert(
            community_id=last.community_id,
            target_member_id=last.target_member_id,
            thread_key=last.thread_key,
            platform=last.platform,
            room_id=last.room_id,
            thread_id=last.thread_id,
            window_start=hits[0].at,
            alerted_at=last.at,
            participants=len({h.author_member_id for h in hits}),
        )
        session.add(alert)
        session.flush()
        case, entry = queue.open_case(
            session,
            community_id=last.community_id,
            category=CATEGORY,
            subject=target,
            subject_platform=platform,
            subject_user_id=None,
            queue_platform=platform,
            now=last.at,
            alert_id=alert.id,
            pileon=describe(session, hits, thread, self.config, last),
        )
        alert.case_id = case.id
        queue.card_changed(session, self.policy, case, entry, last.at)
        log.warning(
            "pile-on: case %s opened for member %s (%d participants, alert %s)",
            case.id,
            target.id,
            alert.participants,
            alert.id,
        )
        if self.config.support_note:
            dm(
                session,
                self.policy,
                member=target,
                template="pileon_support",
                dedupe_key=f"pileon:{alert.id}:support",
                now=last.at,
                prefer=platform,
                thread=thread,
            )
        return alert


def aimed_at(session: Session, event: MessagePosted, community_id: int, author: Member) -> list[Aimed]:
    """Who a message is aimed at: the author of the post it replies to (their replies included),
    the members it mentions, and otherwise the thread's starter (a reply in a forum thread
    answers the opening post). Never the author themselves."""
    found: dict[int, Aimed] = {}

    def add(member: Member | None, how: str) -> None:
        if member is not None and member.id is not None and member.id != author.id and not member.is_bot:
            found.setdefault(member.id, Aimed(member, how))

    if event.reply_to is not None:
        post = session.exec(
            select(Post).where(
                Post.platform == event.room.platform.value, Post.platform_message_id == event.reply_to
            )
        ).first()
        if post is not None:
            add(session.get(Member, post.member_id), "reply")
    for match in _MENTION.finditer(event.text):
        user_id = match[1] or match[2]
        if user_id is not None:
            identity = session.exec(
                select(Identity).where(
                    Identity.community_id == community_id,
                    Identity.platform == event.room.platform.value,
                    Identity.platform_user_id == user_id,
                )
            ).first()
            add(session.get(Member, identity.member_id) if identity else None, "mention")
        else:
            add(_by_name(session, community_id, event.room.platform, match[3]), "mention")
    if not found and event.thread_id is not None:
        thread = directory.find_thread(session, event.room.platform, event.thread_id)
        if thread is not None:
            add(session.get(Member, thread.starter_member_id), "thread")
    return list(found.values())


def _by_name(session: Session, community_id: int, platform: PlatformName, name: str) -> Member | None:
    identity = session.exec(
        select(Identity).where(
            Identity.community_id == community_id,
            Identity.platform == platform.value,
            func.lower(Identity.platform_user_id) == name.lower(),
        )
    ).first()
    if identity is not None:
        return session.get(Member, identity.member_id)
    return session.exec(
        select(Member).where(
            Member.community_id == community_id, func.lower(Member.display_name) == name.lower()
        )
    ).first()


def describe(
    session: Session, hits: list[PileOnHit], thread: Thread | None, config: PileOnConfig, last: PileOnHit
) -> dict[str, Any]:
    """What the case card shows, kept in the case log's opening entry (ids and links, never text)."""
    recent = last.at - timedelta(days=config.new_member_days)
    participants: dict[int, dict[str, Any]] = {}
    for hit in hits:
        entry = participants.get(hit.author_member_id)
        if entry is None:
            member = session.get(Member, hit.author_member_id)
            joined = (member.joined_at or member.first_seen_at) if member is not None else None
            earlier = None
            if thread is not None:
                earlier = session.exec(
                    select(Post.id).where(
                        Post.thread_id == thread.id,
                        Post.member_id == hit.author_member_id,
                        col(Post.created_at) < hit.at,
                    )
                ).first()
            entry = participants[hit.author_member_id] = {
                "member_id": hit.author_member_id,
                "name": member.display_name if member is not None else "a former member",
                "new_to_community": joined is not None and joined >= recent,
                "new_to_thread": thread is not None and earlier is None,
                "messages": [],
            }
        entry["messages"].append(
            {
                "platform": hit.platform,
                "room_id": hit.room_id,
                "message_id": hit.message_id,
                "thread_id": hit.thread_id,
                "at": hit.at.isoformat(),
                "how": hit.how,
            }
        )
    return {
        "target_member_id": last.target_member_id,
        "thread_id": thread.id if thread is not None else None,
        "thread_title": thread.title if thread is not None else None,
        "room_id": last.room_id,
        "platform_thread_id": last.thread_id,
        "window_start": hits[0].at.isoformat(),
        "alerted_at": last.at.isoformat(),
        "participants": list(participants.values()),
    }


def alert_of(session: Session, case: ModCase) -> PileOnAlert | None:
    return session.exec(select(PileOnAlert).where(PileOnAlert.case_id == case.id)).first()
