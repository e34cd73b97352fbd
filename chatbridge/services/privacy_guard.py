"""The patient-privacy guard's policy: which detector findings count for a community, and what the
bot does about a post that has them.

The detector (phi_detector) is the same everywhere; communities differ only in their mode and in
the kinds they choose not to flag, so `chatbridge scan --community NAME` and the bot agree.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from chatbridge.config import GuardMode, PrivacyGuardConfig
from chatbridge.model import Actor, MessageRef, OutgoingMessage, Room
from chatbridge.platform import Platform, PlatformError, RetryLater
from chatbridge.render.templates import Renderer
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.outbox import Executor, execute_delete_message, message_payload
from chatbridge.services.phi_detector import CLEAN, Kind, Scan, detect, mask
from chatbridge.store.tables import Community, Member, ModCase, OutboxItem, Post

log = logging.getLogger(__name__)

DELETE_KIND = "privacy_delete"
"""The outbox kind of a held post's removal: a refusal (no right to delete there) is final."""

KIND_ADVICE: dict[Kind, str] = {
    "name": "a patient's name (say 'a 70-year-old woman' instead)",
    "date": "a date tied to a patient, such as a date of birth or admission (say 'admitted last week')",
    "record_number": "a record number such as an MRN or hospital number",
    "nhs_number": "an NHS number",
    "insurance_number": "an insurance or ID number (Medicare, Aadhaar, national ID)",
    "ssn": "a Social Security number",
    "phone": "a phone number",
    "email": "an e-mail address",
    "address": "a postal address or postcode",
    "age_over_89": "an exact age over 89 (say '90 or older')",
    "photo": "a photo whose file name or caption names a patient (rename it before posting)",
}
"""What each kind is, in words for the author: never the identifier itself."""


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """One community's guard, resolved from the config."""

    mode: GuardMode
    ignore: frozenset[Kind]

    @property
    def active(self) -> bool:
        return self.mode != "off"

    def screen(self, text: str) -> Scan:
        """The detector's findings that count in this community (none when the guard is off)."""
        if not self.active:
            return CLEAN
        scan = detect(text)
        if not scan.findings or not self.ignore:
            return scan
        return Scan(tuple(f for f in scan.findings if f.kind not in self.ignore))


DEFAULT_POLICY = GuardPolicy("warn", frozenset())


def policy_for(config: PrivacyGuardConfig, community: str | None) -> GuardPolicy:
    """The policy for a community by name (its override, else the defaults); None: the defaults."""
    rules = config.communities.get(community) if community is not None else None
    mode = rules.mode if rules is not None and rules.mode is not None else config.mode
    ignore = rules.ignore if rules is not None and rules.ignore is not None else config.ignore
    return GuardPolicy(mode, frozenset(ignore))


def masked(text: str, scan: Scan) -> str:
    """The author's text with each identifier replaced by its kind: safe to store, show and send."""
    return mask(text, scan)


def advice(scan: Scan) -> list[str]:
    """One line per kind found, saying what it is and how to rephrase: never the identifier."""
    return [KIND_ADVICE[kind] for kind in scan.kinds]


def privacy_refusal(scan: Scan) -> str:
    """Why the bot will not post a text for a member: the kinds found, never the identifiers."""
    return (
        "I didn't post that: it may identify a patient (" + "; ".join(advice(scan)) + "). "
        "Please rephrase without those details and try again."
    )


@dataclass(frozen=True, slots=True)
class Screened:
    """What to store for a post: its text (masked when flagged) and the findings that count."""

    body: str
    scan: Scan
    hold: bool

    @property
    def flagged(self) -> bool:
        return self.scan.flagged

    @property
    def kinds(self) -> str:
        return ",".join(self.scan.kinds)


@dataclass
class PrivacyGuard:
    """The guard on the ingest path: one per ingestor, with each community's policy cached by id
    (a community's name, which the overrides use, never changes under a running bot's cache for
    long: a restart re-reads it)."""

    config: PrivacyGuardConfig
    renderer: Renderer
    moderation: Policy | None = None
    """The moderators' settings: a flagged post opens a case in their queue (None: no case)."""
    _policies: dict[int, GuardPolicy] = field(default_factory=dict)

    def policy(self, session: Session, community_id: int) -> GuardPolicy:
        found = self._policies.get(community_id)
        if found is None:
            self.preload(session, [community_id])
            found = self._policies[community_id]
        return found

    def preload(self, session: Session, community_ids: Iterable[int]) -> None:
        """Resolve the policies of these communities now: the batch path replays inside a
        PostgreSQL pipeline, where no query can run."""
        missing = {i for i in community_ids if i not in self._policies}
        if not missing:
            return
        names = dict(
            session.exec(select(Community.id, Community.name).where(col(Community.id).in_(missing))).all()
        )
        for community_id in missing:
            self._policies[community_id] = policy_for(self.config, names.get(community_id))

    def screen(self, session: Session, *, community_id: int, text: str, **where: Any) -> Screened:
        """Check a new or edited post and, when it names a patient, queue what the mode says."""
        screened = self.decide(self.policy(session, community_id), text)
        if screened.flagged:
            queue_actions(session, self.actions(screened, community_id=community_id, **where))
        return screened

    def decide(self, policy: GuardPolicy, text: str) -> Screened:
        """The verdict alone (no store): the text to keep, masked when it names a patient."""
        if not policy.active:
            return Screened(text, CLEAN, hold=False)
        scan = policy.screen(text)
        if not scan.flagged:
            return Screened(text, scan, hold=False)
        return Screened(mask(text, scan), scan, hold=policy.mode == "hold")

    def actions(
        self,
        screened: Screened,
        *,
        community_id: int,
        room: Room,
        actor: Actor | None,
        message_id: str,
        thread_id: str | None,
        key: str,
        now: datetime,
        edit: bool = False,
    ) -> list[dict[str, Any]]:
        """The outbox rows a flagged post calls for: the author's private notice (what was found
        and how to rephrase, or in `hold` the masked text), and in `hold` the post's removal."""
        log.info("privacy guard flagged message %s (%s)", message_id, screened.kinds)
        rows = []

        def row(kind: str, payload: dict[str, Any], what: str) -> dict[str, Any]:
            return {
                "community_id": community_id,
                "platform": room.platform.value,
                "kind": kind,
                "payload": payload,
                "dedupe_key": f"privacy:{key}:{what}",
                "created_at": now,
                "attempts": 0,
                "next_attempt_at": now,
            }

        if screened.hold:
            ref = {
                "room_id": room.room_id,
                "message_id": message_id,
                "thread_id": thread_id,
                "community_id": room.community_id,
            }
            rows.append(
                row(DELETE_KIND, {"ref": ref, "reason": "privacy guard: patient identifiers"}, "delete")
            )
        if actor is not None and not actor.is_bot:
            what = "edit" if edit else "post"
            if screened.hold:
                text = self.renderer.render(
                    "notices/privacy_hold.md.j2",
                    what=what,
                    room=room.name,
                    advice=advice(screened.scan),
                    masked_lines=screened.body.splitlines() or [""],
                )
            else:
                text = self.renderer.render(
                    "notices/privacy_warn.md.j2", what=what, room=room.name, advice=advice(screened.scan)
                )
            payload = {
                "community_id": room.community_id,
                "user_id": actor.user_id,
                "message": message_payload(OutgoingMessage(text)),
            }
            rows.append(row("dm", payload, "dm"))
        return rows

    def open_case(
        self,
        session: Session,
        post: Post,
        room: Room,
        actor: Actor | None,
        thread_id: str | None,
        now: datetime,
        *,
        new: bool = False,
    ) -> None:
        """Put a flagged post in the moderators' queue, as a patient-privacy case (its card quotes
        nothing, and the post holds only the masked text); once per post while a case is open."""
        from chatbridge.services.moderation import queue  # moderation reaches back into ingest

        if self.moderation is None or post.id is None:
            return
        if not new:  # a post just written has no case yet; an edited one may
            already = select(ModCase.id).where(
                ModCase.post_id == post.id, col(ModCase.status).in_(queue.OPEN)
            )
            if session.exec(already).first() is not None:
                return
        subject = session.get(Member, post.member_id)
        target = MessageRef(
            room.platform, room.room_id, post.platform_message_id, thread_id, room.community_id
        )
        case, entry = queue.open_case(
            session,
            community_id=post.community_id,
            category="patient_privacy",
            subject=subject,
            subject_platform=room.platform,
            subject_user_id=actor.user_id if actor is not None else None,
            queue_platform=room.platform,
            now=now,
            post=post,
            target=target,
            source="privacy_guard",
            kinds=post.phi_kinds,
        )
        queue.card_changed(session, self.moderation, case, entry, now)


def queue_actions(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write outbox rows in one statement, skipping any already queued (a redelivered event):
    no ORM flush and no savepoint, so a batch with flagged posts stays a batch."""
    if not rows:
        return
    table = OutboxItem.__table__  # type: ignore[attr-defined]
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    session.execute(insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]), rows)


async def execute_privacy_delete(
    platform: Platform, payload: Mapping[str, Any], key: str
) -> Mapping[str, Any]:
    """Remove a held post. Where the bot may not delete, the post stays up (stored masked and
    hidden all the same): retrying cannot change a refusal, so it is recorded and not retried."""
    try:
        return await execute_delete_message(platform, payload, key)
    except RetryLater:
        raise
    except PlatformError as refusal:
        log.info("could not remove held message %s: %s", payload["ref"]["message_id"], refusal)
        return {"refused": str(refusal)}


def privacy_executors() -> dict[str, Executor]:
    """The outbox kinds the privacy guard adds (the application loads them with the others)."""
    return {DELETE_KIND: execute_privacy_delete}
