"""Member cards: the forum's numbers plus the fields a member chooses to show, and to whom."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, select

from chatbridge.errors import CommandError
from chatbridge.forum.countries import country_for_code, resolve_country
from chatbridge.forum.ranks import TrophyConfig, next_rank, rank_title
from chatbridge.forum.text import normalise
from chatbridge.services import credentials
from chatbridge.services.visibility import Audience, may_see_field
from chatbridge.store.tables import Member, ProfileField


class Field(StrEnum):
    GENDER = "gender"
    COUNTRY = "country"
    SPECIALTY = "specialty"
    STAGE = "stage"
    BIO = "bio"


class Visibility(StrEnum):
    PUBLIC = "public"
    MEMBERS = "members"
    MODERATORS = "moderators"
    HIDDEN = "hidden"


LABELS = {
    Field.GENDER: "Gender",
    Field.COUNTRY: "Practicing medicine in",
    Field.SPECIALTY: "Specialty",
    Field.STAGE: "Career stage",
    Field.BIO: "About",
}
MAX_LENGTH = {Field.GENDER: 40, Field.COUNTRY: 80, Field.SPECIALTY: 80, Field.STAGE: 40, Field.BIO: 300}
CAREER_STAGES = (
    "student",
    "intern",
    "resident",
    "fellow",
    "attending",
    "consultant",
    "general practitioner",
    "nurse",
    "midwife",
    "pharmacist",
    "physician associate",
    "researcher",
    "retired",
    "other",
)
DEFAULT_VISIBILITY = Visibility.MEMBERS


@dataclass(frozen=True, slots=True)
class ShownField:
    label: str
    value: str
    visibility: str
    self_described: bool = False


@dataclass(frozen=True, slots=True)
class Card:
    member: Member
    rank: str
    next_rank: tuple[str, int] | None
    joined: datetime
    fields: list[ShownField]
    own: bool
    badge: str | None = None
    """A credential a verifier checked; the self-described fields below are the member's own word."""


def clean_value(field: Field, raw: str) -> str:
    """Normalise and check a value; the error says what is accepted."""
    value = normalise(
        raw, max_len=MAX_LENGTH[field], field=LABELS[field].lower(), multiline=field is Field.BIO
    )
    if field is Field.COUNTRY:
        return resolve_country(value).alpha2
    if field is Field.STAGE:
        folded = value.casefold()
        if folded not in CAREER_STAGES:
            raise CommandError(f"Career stage can be one of: {', '.join(CAREER_STAGES)}.")
        return folded
    return value


def display_value(field: str, value: str) -> str:
    if field == Field.COUNTRY:
        return country_for_code(value).name
    if field == Field.STAGE:
        return value.capitalize()
    return value


def set_field(session: Session, member: Member, field: Field, raw: str, now: datetime) -> ProfileField:
    assert member.id is not None
    value = clean_value(field, raw)
    row = session.get(ProfileField, (member.id, field.value))
    if row is None:
        row = ProfileField(member_id=member.id, field=field.value, value=value, updated_at=now)
        session.add(row)
    else:
        row.value, row.updated_at = value, now
    return row


def clear_field(session: Session, member: Member, field: Field) -> bool:
    row = session.get(ProfileField, (member.id, field.value))
    if row is None:
        return False
    session.delete(row)
    return True


def set_visibility(
    session: Session, member: Member, field: Field, visibility: Visibility, now: datetime
) -> None:
    row = session.get(ProfileField, (member.id, field.value))
    if row is None:
        raise CommandError(
            f"You haven't set your {LABELS[field].lower()} yet, so there is nothing to show or hide."
        )
    row.visibility, row.updated_at = visibility.value, now


SELF_DESCRIBED = frozenset({Field.SPECIALTY, Field.STAGE})
"""Fields that read like credentials; a card marks them as the member's own claim."""


def card(
    session: Session,
    member: Member,
    trophies: TrophyConfig,
    *,
    audience: Audience,
    now: datetime | None = None,
) -> Card:
    """The card as the audience of one answer may read it: every field passes the one visibility
    rule (`may_see_field`), so a hidden or moderator-only field reaches only a private answer."""
    own = audience.asker_member_id is not None and audience.asker_member_id == member.id
    rows = {
        row.field: row
        for row in session.exec(select(ProfileField).where(ProfileField.member_id == member.id))
    }
    shown = [
        ShownField(
            LABELS[f],
            display_value(f, rows[f].value),
            rows[f].visibility,
            self_described=f in SELF_DESCRIBED,
        )
        for f in Field
        if f in rows and may_see_field(audience, rows[f].visibility, owner_member_id=member.id)
    ]
    return Card(
        member=member,
        rank=rank_title(trophies, member.trophy_points),
        next_rank=next_rank(trophies, member.trophy_points),
        joined=member.joined_at or member.first_seen_at,
        fields=shown,
        own=own,
        badge=credentials.active_title(session, member.id, now) if now is not None and member.id else None,
    )
