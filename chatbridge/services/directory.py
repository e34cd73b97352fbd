"""Who and where: communities, sub-forums and members, created the first time they are seen.

Platforms announce rooms and people lazily (a Matrix room the bot was invited to, a Discord member
who speaks for the first time), so every lookup here creates what is missing instead of failing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import ColumnElement, and_, not_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from chatbridge.errors import NotFound
from chatbridge.forum.text import quote_input
from chatbridge.model import Actor, PlatformName, Room
from chatbridge.render.escape import escape_user_text
from chatbridge.store.tables import (
    Community,
    CommunityBinding,
    Identity,
    Like,
    Member,
    Post,
    SubForum,
    Thread,
)

SUBFORUM_KIND = {PlatformName.DISCORD: "text", PlatformName.MATRIX: "room", PlatformName.MEMORY: "memory"}
_MENTION = re.compile(r"^<@!?(\d+)>$")
_NUMBERED = re.compile(r" \(\d+\)$")
NAME_LENGTH = 200
"""Characters in `Community.name` (the column's limit)."""


@dataclass(frozen=True, slots=True)
class Place:
    community: Community
    subforum: SubForum | None


_Query = TypeVar("_Query", SelectOfScalar[Community], Select[Community, SubForum])


def _bound_to(query: _Query, platform: PlatformName, platform_id: str) -> _Query:
    """`query` narrowed to the community bound to a guild or space."""
    return query.join(CommunityBinding, col(CommunityBinding.community_id) == col(Community.id)).where(
        CommunityBinding.platform == platform.value, CommunityBinding.platform_id == platform_id
    )


def resolve_community(
    session: Session, platform: PlatformName, platform_id: str, name: str | None = None
) -> Community:
    """The community bound to a guild or space, created (with its binding) on first sight.

    `name` is the guild's or space's display name when the caller knows it (a room announcement):
    a new community takes it, and a known one follows it (see `_follow_name`).
    """
    name = _clean_name(name)
    known = session.exec(_bound_to(select(Community), platform, platform_id)).first()
    if known is not None:  # one query: every command and event starts here
        if name is not None and known.name != name:
            _follow_name(session, known, name)
        return known
    community = Community(name=_unique_name(session, name or placeholder_name(platform, platform_id)))
    session.add(community)
    session.flush()
    assert community.id is not None
    session.add(CommunityBinding(community_id=community.id, platform=platform.value, platform_id=platform_id))
    session.flush()
    return community


def placeholder_name(platform: PlatformName | str, platform_id: str) -> str:
    """What a community is called until its platform tells its real name (`discord:<guild id>`)."""
    return f"{PlatformName(platform).value}:{platform_id}"


def _clean_name(name: str | None) -> str | None:
    cleaned = " ".join(name.split()) if name else ""
    return cleaned or None


def _follow_name(session: Session, community: Community, name: str) -> None:
    """Rename a community after its guild or space, unless another platform named it.

    A community bound to one guild or space follows that platform's name. One bound to several
    (Discord and Matrix) keeps the name it has once it is a real one, so two platforms with
    different names for the same forum cannot rename it back and forth at every start-up.
    """
    bindings = session.exec(
        select(CommunityBinding.platform, CommunityBinding.platform_id).where(
            CommunityBinding.community_id == community.id
        )
    ).all()
    placeholders = {placeholder_name(platform, platform_id) for platform, platform_id in bindings}
    if len(bindings) > 1 and _base_name(community.name) not in placeholders:
        return
    if _base_name(community.name) == name and _taken(session, name, community.id):
        return  # already "Med Students (2)" because another community is "Med Students"
    community.name = _unique_name(session, name, community.id)
    session.flush()


def _base_name(name: str) -> str:
    """A name without the " (n)" `_unique_name` added to it."""
    return _NUMBERED.sub("", name)


def _taken(session: Session, name: str, by_other_than: int | None) -> bool:
    query = select(Community.id).where(Community.name == name)
    if by_other_than is not None:
        query = query.where(Community.id != by_other_than)
    return session.exec(query).first() is not None


def _unique_name(session: Session, name: str, community_id: int | None = None) -> str:
    """`name`, or "name (2)", "name (3)"... when another community already has it."""
    name = name[: NAME_LENGTH - 8]  # room for the " (n)" suffix in the column
    candidate, n = name, 1
    while _taken(session, candidate, community_id):
        n += 1
        candidate = f"{name} ({n})"
    return candidate


def resolve_place(session: Session, room: Room, now: datetime, community_name: str | None = None) -> Place:
    """The community and sub-forum of a room; a room the bot has not seen becomes a sub-forum."""
    if community_name is None:  # the common case, both known: one query (every command starts here)
        both = select(Community, SubForum).join(
            SubForum,
            and_(
                col(SubForum.platform) == room.platform.value, col(SubForum.platform_room_id) == room.room_id
            ),
        )
        known = session.exec(_bound_to(both, room.platform, room.community_id)).first()
        if known is not None:
            if room.private and not known[1].private:
                known[1].private = True
            return Place(*known)
    community = resolve_community(session, room.platform, room.community_id, community_name)
    subforum = session.exec(
        select(SubForum).where(
            SubForum.platform == room.platform.value, SubForum.platform_room_id == room.room_id
        )
    ).first()
    if subforum is None:
        assert community.id is not None
        position = session.exec(
            select(func.count()).select_from(SubForum).where(SubForum.community_id == community.id)
        ).one()
        subforum = SubForum(
            community_id=community.id,
            name=room.name or room.room_id,
            platform=room.platform.value,
            platform_room_id=room.room_id,
            kind=SUBFORUM_KIND[room.platform],
            position=position,
            private=room.private,
        )
        session.add(subforum)
        session.flush()
    elif room.private and not subforum.private:
        subforum.private = True
    return Place(community, subforum)


def announce_room(
    session: Session, room: Room, *, private: bool, at: datetime, community_name: str | None = None
) -> SubForum:
    """Make sure a room is a sub-forum, following its current name and privacy, and its community
    the guild's or space's name (`community_name`, where the platform gave it)."""
    place = resolve_place(session, room, at, community_name)
    assert place.subforum is not None
    if room.name and place.subforum.name != room.name:
        place.subforum.name = room.name
    place.subforum.private = private
    return place.subforum


def seen_in(member: Member, place: Place) -> None:
    """Note that a member joined a public room: public answers may then name them
    (`Member.seen_in_public`, `seen_only_in_private`)."""
    if not member.seen_in_public and place.subforum is not None and not place.subforum.private:
        member.seen_in_public = True


def _active_in(private: bool) -> ColumnElement[bool]:
    """Whether a member posted or liked in a sub-forum of this privacy."""
    where = and_(
        col(Thread.id) == col(Post.thread_id),
        col(SubForum.id) == col(Thread.subforum_id),
        col(SubForum.private).is_(private),
    )
    posted = select(1).where(col(Post.member_id) == col(Member.id), where).exists()
    liked = (
        select(1)
        .select_from(Like)
        .join(Post, col(Post.id) == col(Like.post_id))
        .where(col(Like.member_id) == col(Member.id), where)
        .exists()
    )
    return or_(posted, liked)


def seen_in_public() -> ColumnElement[bool]:
    """Whether a member has shown themselves where everyone could see: joined a public room
    (`Member.seen_in_public`), or posted or liked in a public sub-forum. Public answers (a digest's
    welcome, the verified list) name only such members."""
    return or_(col(Member.seen_in_public).is_(True), _active_in(False))


def seen_only_in_private() -> ColumnElement[bool]:
    """Whether everything the store knows of a member is from private sub-forums: they posted or
    liked there, and never joined, asked, posted or liked in a public room. Such a member's
    existence is a fact from there (`visibility.reach_member`). Posts and likes are read from
    their rows, which the fast ingest path writes without touching `Member.seen_in_public`; a
    member the store knows only from chat outside threads counts as public."""
    return and_(col(Member.seen_in_public).is_(False), _active_in(True), not_(_active_in(False)))


def is_seen_only_in_private(session: Session, member: Member) -> bool:
    """`seen_only_in_private` for one member (the flag alone answers for most)."""
    if member.seen_in_public:
        return False
    found = session.exec(select(Member.id).where(Member.id == member.id, seen_only_in_private())).first()
    return found is not None


class HasId(Protocol):
    @property
    def id(self) -> int | None: ...


def resolve_member(session: Session, community: HasId, actor: Actor, now: datetime) -> Member:
    """The member behind a platform identity, created on first sight with `now` as first seen."""
    assert community.id is not None
    found = session.exec(
        select(Identity, Member)
        .join(Member, col(Member.id) == col(Identity.member_id))
        .where(
            Identity.community_id == community.id,
            Identity.platform == actor.platform.value,
            Identity.platform_user_id == actor.user_id,
        )
    ).first()
    if found is not None:  # one query: every command starts here
        identity, member = found
        if actor.display_name and identity.display_name != actor.display_name:
            identity.display_name = actor.display_name
            member.display_name = actor.display_name
        if actor.joined_at is not None and member.joined_at is None:
            member.joined_at = actor.joined_at
        return member
    member = Member(
        community_id=community.id,
        display_name=actor.display_name or actor.user_id,
        joined_at=actor.joined_at,
        first_seen_at=now,
        is_bot=actor.is_bot,
    )
    session.add(member)
    session.flush()
    assert member.id is not None
    try:
        with session.begin_nested():
            session.add(
                Identity(
                    member_id=member.id,
                    community_id=community.id,
                    platform=actor.platform.value,
                    platform_user_id=actor.user_id,
                    display_name=actor.display_name or actor.user_id,
                )
            )
    except IntegrityError:  # another writer created the identity first
        session.delete(member)
        return resolve_member(session, community, actor, now)
    return member


def identity_of(session: Session, member: Member, platform: PlatformName | None = None) -> Identity | None:
    query = select(Identity).where(Identity.member_id == member.id)
    if platform is not None:
        query = query.where(Identity.platform == platform.value)
    return session.exec(query.order_by(col(Identity.id))).first()


def _anyone(member: Member) -> bool:
    return True


def find_member(
    session: Session,
    community: Community,
    text: str,
    platform: PlatformName,
    *,
    visible: Callable[[Member], bool] = _anyone,
) -> Member:
    """A member named by mention, platform user id or display name (case-insensitive).

    One the answer may not name (`visible`: seen only in rooms its readers cannot read) reads
    exactly like one who does not exist."""
    wanted = text.strip().lstrip("@") if not text.strip().startswith("@") or ":" not in text else text.strip()
    match = _MENTION.match(text.strip())
    user_id = match.group(1) if match else text.strip()
    with_member = select(Identity, Member).join(Member, col(Member.id) == col(Identity.member_id))
    found = session.exec(
        with_member.where(Identity.community_id == community.id, Identity.platform_user_id == user_id)
    ).first()
    if found is None:
        found = session.exec(
            with_member.where(
                Identity.community_id == community.id,
                Identity.platform == platform.value,
                func.lower(Identity.display_name) == wanted.lower(),
            )
        ).first()
    member = (
        found[1]
        if found is not None
        else session.exec(
            select(Member).where(
                Member.community_id == community.id, func.lower(Member.display_name) == wanted.lower()
            )
        ).first()
    )
    if member is None or not visible(member):
        raise NotFound(f"I can't find a member called {quote_input(wanted)} here.")
    return member


def find_thread(session: Session, platform: PlatformName, platform_thread_id: str | None) -> Thread | None:
    if platform_thread_id is None:
        return None
    return session.exec(
        select(Thread).where(
            Thread.platform == platform.value, Thread.platform_thread_id == platform_thread_id
        )
    ).first()


def subforum_by_name(
    session: Session, community: Community, name: str, *, hidden: Collection[int] = ()
) -> SubForum:
    """A sub-forum named loosely ("clinical questions", "#clinical-questions").

    The `hidden` ones (private sub-forums the asker may not see) are neither found nor listed, so
    naming one reads exactly like naming one that does not exist.
    """
    wanted = _fold(name)
    subforums = [
        s
        for s in session.exec(select(SubForum).where(SubForum.community_id == community.id)).all()
        if s.id not in hidden
    ]
    for subforum in subforums:
        if _fold(subforum.name) == wanted:
            return subforum
    names = ", ".join(escape_user_text(s.name) for s in sorted(subforums, key=lambda s: s.position))
    raise NotFound(f"There is no sub-forum called {quote_input(name)}. Sub-forums here: {names}.")


def _fold(name: str) -> str:
    return re.sub(r"[\s\-_#]+", " ", name).strip().casefold()
