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

from sqlalchemy import bindparam, delete, func
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


_PERSON = (col(Member.id), col(Member.display_name), col(Member.is_bot))
# Statements built once with bound parameters: building a statement costs more than running it,
# and these run for every message with an insult word in it.
_OWN_POST = select(Post.member_id, Post.community_id).where(
    col(Post.platform) == bindparam("platform"), col(Post.platform_message_id) == bindparam("message_id")
)
_REPLIED_TO = (
    select(*_PERSON)
    .join(Post, col(Post.member_id) == col(Member.id))
    .where(
        col(Post.platform) == bindparam("platform"), col(Post.platform_message_id) == bindparam("message_id")
    )
)
_STARTER = (
    select(*_PERSON)
    .join(Thread, col(Thread.starter_member_id) == col(Member.id))
    .where(
        col(Thread.platform) == bindparam("platform"),
        col(Thread.platform_thread_id) == bindparam("thread_id"),
    )
)


@dataclass(frozen=True, slots=True)
class Aimed:
    """A member a message is aimed at, and how."""

    member_id: int
    name: str
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
        worth = [e for e in posted if (found := hostility.score(e.text)).hostile or found.insult_word]
        if not worth:
            return
        try:
            # One savepoint for the batch: a surprise here must not cost the batch its messages.
            with session.begin_nested():
                for event in worth:
                    self.consider(session, event)
        except Exception as error:  # detection must never refuse a message
            log.error("pile-on: could not consider %d messages (%s)", len(worth), type(error).__name__)

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
        """Record the message if it is a hostile one aimed at someone; alert when the window fills.

        Lean on purpose (it runs for every message with an insult word in it): the author and the
        community come from the message's own stored post, and the store is written only for a
        hostile message."""
        own = session.exec(
            _OWN_POST, params={"platform": event.room.platform.value, "message_id": event.message_id}
        ).first()
        if own is not None:
            author_id, community_id = own
        else:  # chat outside threads is not stored as a post
            place = directory.resolve_place(session, event.room, event.at)
            author = directory.resolve_member(session, place.community, event.actor, event.at)
            assert author.id is not None and place.community.id is not None
            author_id, community_id = author.id, place.community.id
        alert = None
        for aimed in aimed_at(session, event, community_id, author_id):
            found = hostility.score(event.text, names=(aimed.name,))
            if not found.hostile:
                continue
            seen = session.exec(
                select(PileOnHit.id).where(
                    PileOnHit.platform == event.room.platform.value,
                    PileOnHit.message_id == event.message_id,
                    PileOnHit.target_member_id == aimed.member_id,
                )
            ).first()
            if seen is not None:
                continue  # the same message seen again (a redelivery)
            hit = PileOnHit(
                community_id=community_id,
                target_member_id=aimed.member_id,
                author_member_id=author_id,
                thread_key=event.thread_id or event.room.room_id,
                platform=event.room.platform.value,
                room_id=event.room.room_id,
                thread_id=event.thread_id,
                message_id=event.message_id,
                at=event.at,
                score=found.score,
                how=aimed.how,
            )
            session.add(hit)
            session.flush()
            log.info("pile-on: message %s is hostile toward member %s", event.message_id, aimed.member_id)
            alert = self._window(session, hit) or alert
        return alert

    def _window(self, session: Session, hit: PileOnHit) -> PileOnAlert | None:
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
        if len(authors) < self.config.members:  # the threshold is never lower: no need to ask
            return None
        if len(authors) < threshold(session, self.config, hit.community_id, hit.at):
            return None
        target = session.get(Member, hit.target_member_id)
        assert target is not None
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


def aimed_at(session: Session, event: MessagePosted, community_id: int, author_id: int) -> list[Aimed]:
    """Who a message is aimed at: the author of the post it replies to (their replies included),
    the members it mentions, and otherwise the thread's starter (a reply in a forum thread
    answers the opening post). Never the author themselves; one small query per way."""
    found: dict[int, Aimed] = {}
    platform = event.room.platform.value

    def add(row: tuple[int | None, str, bool] | None, how: str) -> None:
        if row is not None and row[0] is not None and row[0] != author_id and not row[2]:
            found.setdefault(row[0], Aimed(row[0], row[1], how))

    person = _PERSON
    if event.reply_to is not None:
        add(
            session.exec(_REPLIED_TO, params={"platform": platform, "message_id": event.reply_to}).first(),
            "reply",
        )
    for match in _MENTION.finditer(event.text):
        user_id = match[1] or match[2]
        by_id = select(*person).join(Identity, col(Identity.member_id) == col(Member.id))
        by_id = by_id.where(Identity.community_id == community_id, Identity.platform == platform)
        if user_id is not None:
            add(session.exec(by_id.where(Identity.platform_user_id == user_id)).first(), "mention")
        else:
            name = match[3].lower()
            add(
                session.exec(by_id.where(func.lower(Identity.platform_user_id) == name)).first()
                or session.exec(
                    select(*person).where(
                        Member.community_id == community_id, func.lower(Member.display_name) == name
                    )
                ).first(),
                "mention",
            )
    if not found and event.thread_id is not None:
        add(
            session.exec(_STARTER, params={"platform": platform, "thread_id": event.thread_id}).first(),
            "thread",
        )
    return list(found.values())


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
