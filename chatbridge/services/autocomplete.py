"""Suggestions while a member types an option: threads by title, members by name, countries.

Platform-neutral lookups (Discord autocomplete today, a Matrix helper later). Every answer fits the
strictest limits we serve (Discord: at most 25 suggestions, names and values of at most 100
characters), and nothing here creates rows: a member typing in a guild the store has never seen
simply gets no suggestions.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pycountry
from sqlalchemy import not_
from sqlmodel import Session, col, func, select

from chatbridge.forum.countries import Country, country_for_code, resolve_country
from chatbridge.forum.text import InputError, whole_number
from chatbridge.model import PlatformName
from chatbridge.registry import LARGEST_NUMBER
from chatbridge.render.escape import strip_direction
from chatbridge.services.directory import seen_only_in_private
from chatbridge.services.visibility import Audience, ReadCheck, hidden_subforum_ids, reach_member
from chatbridge.store.tables import Community, CommunityBinding, Identity, Member, SubForum, Thread
from chatbridge.wellformed import repaired

MAX_SUGGESTIONS = 25
MAX_CHARS = 100
SOURCES = ("threads", "members", "countries", "tags")
"""Sources an option may name; "tags" (a forum's tags) comes from the platform's cache, not the
store, so `suggest` has nothing for it and the adapter answers it (Discord: `Invocations.complete`)."""


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What the member sees (`name`) and what the option receives when picked (`value`)."""

    name: str
    value: str


def _reads_nothing(room_id: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class SuggestRequest:
    """One keystroke's worth of context.

    `options` holds what the member already filled in elsewhere in the command, so a source can
    stay quiet when it does not apply (countries only while setting the country field).
    """

    source: str
    platform: PlatformName
    community_platform_id: str
    current: str
    options: Mapping[str, object] = field(default_factory=dict)
    reads: ReadCheck = _reads_nothing
    """Which platform rooms the typing member can read (from the platform's cache): threads of a
    private sub-forum are suggested only to its readers, since suggestions are seen by them alone."""
    limit: int = MAX_SUGGESTIONS

    @property
    def audience(self) -> Audience:
        """Suggestions are shown to the member typing and no one else."""
        return Audience(self.platform, None, None, asker_reads=self.reads)


def suggest(session: Session, request: SuggestRequest) -> list[Suggestion]:
    """Suggestions for `request.source`; an unknown source suggests nothing rather than failing."""
    limit = max(0, min(request.limit, MAX_SUGGESTIONS))
    if limit == 0:
        return []
    request = repaired(request)  # a half-typed emoji can arrive as a lone surrogate
    if request.source == "countries":
        return countries(request.current, request.options, limit)
    lookup: Callable[[Session, Community, SuggestRequest, int], list[Suggestion]] | None = {
        "threads": threads,
        "members": members,
    }.get(request.source)
    if lookup is None:
        return []
    community = _community(session, request.platform, request.community_platform_id)
    if community is None:
        return []
    return lookup(session, community, request, limit)


def _community(session: Session, platform: PlatformName, platform_id: str) -> Community | None:
    binding = session.exec(
        select(CommunityBinding).where(
            CommunityBinding.platform == platform.value, CommunityBinding.platform_id == platform_id
        )
    ).first()
    return session.get(Community, binding.community_id) if binding is not None else None


def threads(session: Session, community: Community, request: SuggestRequest, limit: int) -> list[Suggestion]:
    """Threads whose title starts with (then contains) what was typed, most recently active first.

    "#12" or "12" puts thread 12 first. The value is "#<number>", which every thread option
    accepts. Threads in private sub-forums the member cannot read are left out.
    """
    typed = request.current.strip()
    query = (
        select(Thread, SubForum.name)
        .join(SubForum, col(SubForum.id) == Thread.subforum_id)
        .where(Thread.community_id == community.id, col(Thread.removed).is_(False))
    )
    private = session.exec(
        select(SubForum).where(SubForum.community_id == community.id, col(SubForum.private))
    ).all()
    hidden = hidden_subforum_ids(request.audience, private)
    if hidden:
        query = query.where(col(Thread.subforum_id).not_in(hidden))
    found: dict[int, tuple[Thread, str]] = {}
    number = whole_number(typed.removeprefix("#"))
    if number is not None and 0 < number <= LARGEST_NUMBER:
        for thread, subforum in session.exec(query.where(Thread.id == number)).all():
            found[_id(thread)] = (thread, subforum)
    lowered = typed.lower()
    recent = col(Thread.last_activity_at).desc()
    for pattern in (f"{_escape_like(lowered)}%", f"%{_escape_like(lowered)}%"):
        if len(found) >= limit:
            break
        rows = session.exec(
            query.where(func.lower(Thread.title).like(pattern, escape="\\")).order_by(recent).limit(limit)
        ).all()
        for thread, subforum in rows:
            found.setdefault(_id(thread), (thread, subforum))
    return [
        Suggestion(_fit(strip_direction(f"#{thread.id} {thread.title} · {subforum}")), f"#{thread.id}")
        for thread, subforum in list(found.values())[:limit]
    ]


def members(session: Session, community: Community, request: SuggestRequest, limit: int) -> list[Suggestion]:
    """People (not bots) whose display name starts with (then contains) what was typed.

    The value is the member's id on the asking platform when they have one there (unambiguous),
    otherwise their display name. Members seen only in private rooms are suggested only to readers
    of a private sub-forum (`reach_member`): to anyone else they do not exist.
    """
    lowered = request.current.strip().lstrip("@").lower()
    query = select(Member).where(Member.community_id == community.id, col(Member.is_bot).is_(False))
    private = session.exec(
        select(SubForum).where(SubForum.community_id == community.id, col(SubForum.private))
    ).all()
    if (
        reach_member(request.audience, seen_in_public=False, is_asker=False, private_subforums=private)
        is None
    ):
        query = query.where(not_(seen_only_in_private()))
    found: dict[int, Member] = {}
    for pattern in (f"{_escape_like(lowered)}%", f"%{_escape_like(lowered)}%"):
        rows = session.exec(
            query.where(func.lower(Member.display_name).like(pattern, escape="\\"))
            .order_by(func.lower(Member.display_name), col(Member.id))
            .limit(limit)
        ).all()
        for member in rows:
            found.setdefault(_id(member), member)
        if len(found) >= limit:
            break
    chosen = list(found.values())[:limit]
    ids = dict(
        session.exec(
            select(Identity.member_id, Identity.platform_user_id).where(
                col(Identity.member_id).in_([m.id for m in chosen]),
                Identity.platform == request.platform.value,
            )
        ).all()
    )
    # Names are shown without direction overrides (one ending in U+202E flips the rest of the
    # line); the value stays the name as stored, so the command finds the member.
    return [
        Suggestion(_fit(strip_direction(m.display_name)), _fit(ids.get(_id(m), m.display_name)))
        for m in chosen
    ]


def countries(current: str, options: Mapping[str, object], limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
    """ISO 3166 countries by name; an alias or code the resolver knows ("uk", "EGY") comes first.

    Quiet when another option says a different card field is being set: suggesting countries for
    a bio would only be noise.
    """
    field_name = options.get("field")
    if field_name not in (None, "", "country"):
        return []
    typed = _fold(current)
    ordered: dict[str, Country] = {}
    if current.strip():
        try:
            exact = resolve_country(current)
        except InputError:
            pass
        else:
            ordered[exact.alpha2] = exact
    every = _all_countries()
    for matches in (
        (c for c in every if _fold(c.name).startswith(typed)),
        (c for c in every if typed in _fold(c.name)),
    ):
        for country in matches:
            ordered.setdefault(country.alpha2, country)
            if len(ordered) >= limit:
                break
    return [Suggestion(_fit(f"{c.flag} {c.name}"), _fit(c.name)) for c in list(ordered.values())[:limit]]


def _all_countries() -> list[Country]:
    """Every country by its display name, alphabetically (pycountry lists the ISO 3166-1 codes)."""
    return sorted(
        (country_for_code(str(record.alpha_2)) for record in pycountry.countries), key=lambda c: _fold(c.name)
    )


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fit(text: str) -> str:
    """At most MAX_CHARS characters, marking a cut with an ellipsis; never empty."""
    text = " ".join(text.split()) or "…"
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def _id(row: Thread | Member) -> int:
    assert row.id is not None
    return row.id
