"""Verified clinician credentials: recording, revoking, listing and reminding before expiry.

Anyone can write "ER doctor" in a bio; a badge says that a verifier looked at evidence. The
evidence note is for moderators only, and neither it nor an unverify reason ever reaches a log
(log ids). Badges are read in bulk (`badges`) by every renderer that names members.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from chatbridge.config import CredentialsConfig

if TYPE_CHECKING:
    from chatbridge.core import Core
from chatbridge.errors import CommandError
from chatbridge.forum.durations import parse_duration
from chatbridge.forum.text import InputError, normalise, quote_input
from chatbridge.model import Actor, OutgoingMessage, PlatformName, Privilege
from chatbridge.platform import Platform
from chatbridge.render.templates import Renderer
from chatbridge.services import directory
from chatbridge.services.moderation.notices import enqueue_dm, identities, platform_community_id
from chatbridge.services.outbox import enqueue
from chatbridge.store.tables import Credential, Member, ModLogEntry

log = logging.getLogger(__name__)

TITLE_MAX = 120
NOTE_MAX = 1000
LONGEST = timedelta(days=3650)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
FORMS = (
    "verify <member> <credential>; expires <date like 2027-06-30, or a duration like 52w>; "
    "note <what you checked, moderators only>"
)


@dataclass(frozen=True, slots=True)
class Details:
    """What a verifier typed after the member: the credential, and optionally expiry and evidence."""

    title: str
    expires_at: datetime | None
    note: str


def may_verify(config: CredentialsConfig, actor: Actor, privilege: Privilege) -> bool:
    """Moderators verify, and so do the members the config names as verifiers."""
    if privilege >= Privilege.MODERATOR:
        return True
    return f"{actor.platform.value}:{actor.user_id}" in config.verifiers or actor.user_id in config.verifiers


def parse_details(text: str, now: datetime) -> Details:
    """`MD · Emergency Medicine; expires 2027-06-30; note GMC register checked`: parts by `;`."""
    parts = [p.strip() for p in text.split(";")]
    title = normalise(parts[0], max_len=TITLE_MAX, field="credential")
    expires_at: datetime | None = None
    note = ""
    for part in parts[1:]:
        if not part:
            continue
        word, _, value = part.partition(" ")
        key = word.casefold()
        if key in {"expires", "until", "expiry"}:
            expires_at = _expiry(value.strip(), now)
        elif key in {"note", "evidence"}:
            note = normalise(value, max_len=NOTE_MAX, field="note", multiline=True)
        else:
            raise CommandError(f"I don't know what {quote_input(part)} means here. Use: {FORMS}.")
    return Details(title, expires_at, note)


def _expiry(value: str, now: datetime) -> datetime:
    if _DATE.fullmatch(value):
        try:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise CommandError(f"{quote_input(value)} is not a date; use the form 2027-06-30.") from None
        if day <= now:
            raise CommandError(f"{quote_input(value)} has already passed; give a date in the future.")
        if day - now > LONGEST:
            raise CommandError("A credential can be verified for at most ten years at a time.")
        return day
    try:
        return now + parse_duration(value, maximum=LONGEST)
    except InputError as error:
        raise CommandError(f"{error.message} Or give a date like 2027-06-30.") from None


def _live(now: datetime) -> tuple[object, ...]:
    return (
        col(Credential.revoked_at).is_(None),
        or_(col(Credential.expires_at).is_(None), col(Credential.expires_at) > now),
    )


def active(session: Session, member_id: int, now: datetime) -> Credential | None:
    """The member's credential in force now (unrevoked, not expired), if any."""
    return session.exec(
        select(Credential).where(Credential.member_id == member_id, *_live(now))  # type: ignore[arg-type]
    ).first()


def active_title(session: Session, member_id: int, now: datetime) -> str | None:
    found = active(session, member_id, now)
    return found.title if found is not None else None


def badges(session: Session, member_ids: Collection[int], now: datetime) -> dict[int, str]:
    """The badge text of each of these members who holds a credential now, in one query."""
    wanted = {m for m in member_ids if m is not None}
    if not wanted:
        return {}
    rows = session.exec(
        select(Credential.member_id, Credential.title).where(
            col(Credential.member_id).in_(wanted),
            *_live(now),  # type: ignore[arg-type]
        )
    ).all()
    return {member_id: title for member_id, title in rows}


def verify(
    session: Session, *, member: Member, verifier: Member, details: Details, now: datetime
) -> tuple[Credential, Credential | None]:
    """Record a credential; one already in force is replaced (revoked by the same verifier)."""
    assert member.id is not None
    previous = session.exec(
        select(Credential).where(Credential.member_id == member.id, col(Credential.revoked_at).is_(None))
    ).all()
    for old in previous:
        old.revoked_at, old.revoked_by_member_id = now, verifier.id
    credential = Credential(
        community_id=member.community_id,
        member_id=member.id,
        title=details.title,
        evidence_note=details.note,
        verified_by_member_id=verifier.id,
        verified_at=now,
        expires_at=details.expires_at,
    )
    session.add(credential)
    session.flush()
    log.info("credential %s recorded for member %s by member %s", credential.id, member.id, verifier.id)
    replaced = next((c for c in previous if c.expires_at is None or c.expires_at > now), None)
    return credential, replaced


def unverify(session: Session, *, member: Member, by: Member, now: datetime) -> Credential | None:
    """Revoke the member's credential(s); the one that was in force, or None if there was none."""
    rows = session.exec(
        select(Credential).where(Credential.member_id == member.id, col(Credential.revoked_at).is_(None))
    ).all()
    for row in rows:
        row.revoked_at, row.revoked_by_member_id = now, by.id
        log.info("credential %s revoked by member %s", row.id, by.id)
    live = [r for r in rows if r.expires_at is None or r.expires_at > now]
    return live[0] if live else (rows[0] if rows else None)


def listing(
    session: Session, community_id: int, now: datetime, *, wanted: str | None, public_only: bool
) -> list[tuple[Member, Credential]]:
    """Members holding a credential now, by name; `wanted` matches part of the credential.

    `public_only` leaves out members seen only in private sub-forums (a staff room), as a
    public digest does: an answer everyone reads names only members everyone could see.
    """
    query = (
        select(Member, Credential)
        .join(Credential, col(Credential.member_id) == col(Member.id))
        .where(Credential.community_id == community_id, *_live(now))  # type: ignore[arg-type]
    )
    if public_only:
        query = query.where(directory.seen_in_public())
    rows = list(session.exec(query).all())
    if wanted:
        folded = wanted.casefold()
        rows = [r for r in rows if folded in r[1].title.casefold()]
    return sorted(rows, key=lambda r: (r[0].display_name.casefold(), r[0].id or 0))


def remind_expiring(session: Session, renderer: Renderer, config: CredentialsConfig, now: datetime) -> int:
    """Queue one reminder to the verifier of each credential expiring within `remind_days`; the
    sanction sweep calls this, so reminders survive restarts (`reminded_at` marks them sent)."""
    soon = now + timedelta(days=config.remind_days)
    due = session.exec(
        select(Credential).where(
            col(Credential.revoked_at).is_(None),
            col(Credential.reminded_at).is_(None),
            col(Credential.expires_at).is_not(None),
            col(Credential.expires_at) > now,
            col(Credential.expires_at) <= soon,
        )
    ).all()
    queued = 0
    for credential in due:
        credential.reminded_at = now
        verifier = (
            session.get(Member, credential.verified_by_member_id)
            if credential.verified_by_member_id
            else None
        )
        member = session.get(Member, credential.member_id)
        if verifier is None or member is None:
            continue
        assert credential.expires_at is not None
        message = OutgoingMessage(
            renderer.render(
                "credentials/expiring.md.j2",
                member=member,
                credential=credential,
                expires=credential.expires_at,
            )
        )
        if enqueue_dm(session, verifier, message, dedupe_key=f"credential-expiring:{credential.id}", now=now):
            queued += 1
        else:
            log.warning(
                "credential %s: verifier %s has no platform account to remind", credential.id, verifier.id
            )
    return queued


def lapse_expired(session: Session, config: CredentialsConfig, now: datetime) -> int:
    """Credentials past their expiry: a case-log entry each, and the badge role's removal queued
    through the outbox (the platform may be down; the outbox retries and reports refusals)."""
    expired = session.exec(
        select(Credential).where(
            col(Credential.revoked_at).is_(None),
            col(Credential.lapsed_at).is_(None),
            col(Credential.expires_at).is_not(None),
            col(Credential.expires_at) <= now,
        )
    ).all()
    queued = 0
    for credential in expired:
        credential.lapsed_at = now
        session.add(
            ModLogEntry(
                community_id=credential.community_id,
                subject_member_id=credential.member_id,
                action="credential_lapsed",
                detail={"credential_id": credential.id, "title": credential.title},
                created_at=now,
            )
        )
        if config.discord_role_id is None or active(session, credential.member_id, now) is not None:
            continue
        member = session.get(Member, credential.member_id)
        for identity in identities(session, member) if member is not None else []:
            platform = PlatformName(identity.platform)
            guild = platform_community_id(session, credential.community_id, platform)
            if platform is PlatformName.MATRIX or guild is None:
                continue  # Matrix has no roles
            enqueue(
                session,
                platform=platform,
                kind=SET_ROLE,
                payload={
                    "community_id": guild,
                    "user_id": identity.platform_user_id,
                    "role_id": config.discord_role_id,
                    "present": False,
                },
                dedupe_key=f"credential-lapsed-role:{credential.id}:{identity.id}",
                now=now,
                community_id=credential.community_id,
            )
            queued += 1
        log.info("credential %s lapsed; badge role removal queued", credential.id)
    return queued


SET_ROLE = "set_role"


async def execute_set_role(platform: Platform, payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The outbox executor for a badge role change (a lapsed credential's role removal)."""
    await platform.set_role(
        payload["community_id"], payload["user_id"], payload["role_id"], present=bool(payload["present"])
    )
    return {"done": True}


def credential_reminders(core: Core) -> Callable[[Session, datetime], int]:
    """The credential duty the sanction scheduler sweeps (reminders before expiry, lapses at
    expiry), bound to the core's renderer and config."""

    def duty(session: Session, now: datetime) -> int:
        config = core.settings.credentials
        return remind_expiring(session, core.renderer, config, now) + lapse_expired(session, config, now)

    return duty
