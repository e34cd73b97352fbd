"""The one visibility rule, case by case: who may see a private sub-forum or a profile field."""

from __future__ import annotations

from chatbridge.model import PlatformName, Privilege
from chatbridge.services.visibility import (
    Audience,
    hidden_subforum_ids,
    may_see_field,
    may_see_subforum,
    reach,
)
from chatbridge.store.tables import SubForum

STAFF = SubForum(
    id=2,
    community_id=1,
    name="Staff Room",
    platform="memory",
    platform_room_id="staff",
    kind="memory",
    private=True,
)
LOUNGE = SubForum(
    id=1, community_id=1, name="Lounge", platform="memory", platform_room_id="lounge", kind="memory"
)


def reader_of(*rooms: str) -> Audience:
    return Audience(PlatformName.MEMORY, None, 7, Privilege.MEMBER, lambda room: room in rooms)


def test_a_public_subforum_is_seen_everywhere() -> None:
    assert may_see_subforum(Audience(PlatformName.MEMORY, "lounge", 7), LOUNGE)
    assert may_see_subforum(reader_of(), LOUNGE)


def test_a_private_subforum_is_seen_only_in_its_room_or_privately_by_its_readers() -> None:
    assert may_see_subforum(Audience(PlatformName.MEMORY, "staff", 7), STAFF)
    assert not may_see_subforum(Audience(PlatformName.MEMORY, "lounge", 7, Privilege.ADMIN), STAFF)
    assert may_see_subforum(reader_of("staff"), STAFF)
    assert not may_see_subforum(reader_of("lounge"), STAFF)
    in_public_but_reader = Audience(PlatformName.MEMORY, "lounge", 7, asker_reads=lambda room: True)
    assert not may_see_subforum(in_public_but_reader, STAFF)
    assert may_see_subforum(in_public_but_reader.for_asker_only(), STAFF)


def test_a_reader_asking_in_public_is_reached_privately_and_others_not_at_all() -> None:
    in_public = Audience(PlatformName.MEMORY, "lounge", 7, asker_reads=lambda room: room == "staff")
    assert reach(in_public, LOUNGE) == in_public
    assert reach(in_public, STAFF) == in_public.for_asker_only()
    outsider = Audience(PlatformName.MEMORY, "lounge", 8, Privilege.ADMIN)
    assert reach(outsider, STAFF) is None
    assert hidden_subforum_ids(outsider, [LOUNGE, STAFF]) == {2}
    assert hidden_subforum_ids(in_public, [LOUNGE, STAFF]) == set()


def test_a_private_subforum_of_another_platform_is_never_seen() -> None:
    everything = Audience(PlatformName.DISCORD, None, 7, asker_reads=lambda room: True)
    assert not may_see_subforum(everything, STAFF)


def test_profile_fields_follow_their_visibility_in_every_audience() -> None:
    public_room = Audience(PlatformName.MEMORY, "lounge", 7, Privilege.ADMIN)
    owner_private = Audience(PlatformName.MEMORY, None, 7)
    moderator_private = Audience(PlatformName.MEMORY, None, 8, Privilege.MODERATOR)
    member_private = Audience(PlatformName.MEMORY, None, 9)
    for audience in (public_room, owner_private, moderator_private, member_private):
        assert may_see_field(audience, "public", owner_member_id=7)
        assert may_see_field(audience, "members", owner_member_id=7)
    assert not may_see_field(public_room, "hidden", owner_member_id=7)
    assert not may_see_field(public_room, "moderators", owner_member_id=7)
    assert may_see_field(owner_private, "hidden", owner_member_id=7)
    assert may_see_field(moderator_private, "moderators", owner_member_id=7)
    assert not may_see_field(moderator_private, "hidden", owner_member_id=7)
    assert not may_see_field(member_private, "moderators", owner_member_id=7)
