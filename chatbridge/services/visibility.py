"""The one visibility rule: may the people who will read an answer see this thing?

Every command, autocomplete, card, share and digest asks here, so a private sub-forum, a hidden
profile field or a reporter cannot leak through a path that forgot its own check. An answer's
audience is either everyone who can read the room it is posted in, or only the member who asked
(a Discord ephemeral answer, a Matrix direct chat).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chatbridge.model import PlatformName, Privilege
from chatbridge.store.tables import SubForum

__all__ = [
    "Audience",
    "hidden_subforum_ids",
    "may_see_field",
    "may_see_subforum",
    "reach",
    "reach_member",
]

ReadCheck = Callable[[str], bool]
"""Whether the asking member can read a platform room (its id), from the platform's own cache."""


def _reads_nothing(room_id: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Audience:
    """Who will read one answer.

    `room_id` is the platform room the answer is posted in, None when only the asker sees it.
    `asker_reads` answers from the platform's membership cache (Discord channel permissions,
    Matrix room membership), never over the network, because it is asked inside a store
    transaction.
    """

    platform: PlatformName
    room_id: str | None
    asker_member_id: int | None
    asker_privilege: Privilege = Privilege.MEMBER
    asker_reads: ReadCheck = _reads_nothing

    @property
    def private(self) -> bool:
        return self.room_id is None

    def for_asker_only(self) -> Audience:
        """The same asker, answered privately."""
        return Audience(self.platform, None, self.asker_member_id, self.asker_privilege, self.asker_reads)


def may_see_subforum(audience: Audience, subforum: SubForum) -> bool:
    """A public sub-forum is seen by all; a private one only in an answer posted in that very room
    (read only by its readers) or answered privately to a member who can read it."""
    if not subforum.private:
        return True
    if subforum.platform != audience.platform.value:
        return False
    if audience.room_id is not None:
        return audience.room_id == subforum.platform_room_id
    return audience.asker_reads(subforum.platform_room_id)


def reach(audience: Audience, subforum: SubForum) -> Audience | None:
    """The audience an answer about something in `subforum` may go to: the one asked for, the
    asker alone (a reader who asked in a public room is answered privately), or None: for this
    asker the thing does not exist."""
    if may_see_subforum(audience, subforum):
        return audience
    private = audience.for_asker_only()
    return private if may_see_subforum(private, subforum) else None


def hidden_subforum_ids(audience: Audience, subforums: Iterable[SubForum]) -> set[int]:
    """The sub-forums (of those given) the asker may not hear of at all, even privately: lookups
    and suggestions leave their threads out, so they read as if they did not exist."""
    return {s.id for s in subforums if s.id is not None and reach(audience, s) is None}


def reach_member(
    audience: Audience, *, seen_in_public: bool, is_asker: bool, private_subforums: Iterable[SubForum]
) -> Audience | None:
    """The audience an answer naming a member may go to. A member seen only in private rooms
    (never joined, posted, liked or asked in a public one) is a fact from there: they are named
    only where a private sub-forum's readers alone will read it (in one, or privately to a reader
    of one; the store does not keep which private room), or to themselves. None: for this asker
    they are not a member at all."""
    if seen_in_public or is_asker:
        return audience
    reached = [r for s in private_subforums if (r := reach(audience, s)) is not None]
    if any(r is audience for r in reached):
        return audience
    return reached[0] if reached else None


def may_see_field(audience: Audience, visibility: str, *, owner_member_id: int | None) -> bool:
    """A profile field's visibility ("public", "members", "moderators", "hidden") governs every
    rendering: moderator-only and hidden fields appear only in a private answer, to a moderator or
    to their owner respectively (the owner sees all their own fields there)."""
    own = owner_member_id is not None and owner_member_id == audience.asker_member_id
    if visibility in ("public", "members"):
        return True
    if not audience.private:
        return False
    if own:
        return True
    return visibility == "moderators" and audience.asker_privilege >= Privilege.MODERATOR
