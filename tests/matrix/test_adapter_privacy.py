"""An invite-only staff room on a real Synapse: its threads are shared only with its members,
and the digest of the public rooms leaves it out.

dana (the space's owner) adds an invite-only room to the space and invites the bot and bob; alice
is in the space and its public rooms but not in the staff room. Both ask for the staff thread
from the public room; only bob is answered with it, privately (in his direct chat with the bot).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nio import AsyncClient, RoomCreateResponse, RoomMessagesResponse, RoomPreset, RoomPutStateResponse
from sqlmodel import select

from chatbridge.sandbox import Homeserver
from chatbridge.store.tables import SubForum
from support.matrix_forum import Forum, body, open_forum, set_power

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]


@pytest.fixture
async def forum(homeserver: Homeserver, make_member: MakeMember, tmp_path: Path) -> Forum:
    forum = await open_forum(homeserver, make_member, tmp_path)
    forum.bot.allowed_inviters = (forum.dana.user_id,)  # the bot accepts dana's invitation
    return forum


async def add_staff_room(forum: Forum) -> str:
    """What a space admin does in Element: a private (invite-only) room, linked into the space."""
    owner = forum.dana.client
    server = owner.user_id.split(":", 1)[1]
    created = await owner.room_create(
        name="Staff Room", preset=RoomPreset.private_chat, invite=[forum.bot.user_id, forum.bob.user_id]
    )
    assert isinstance(created, RoomCreateResponse), created
    await set_power(owner, created.room_id, forum.bot.user_id, 100)
    linked = await owner.room_put_state(
        forum.community.space_id, "m.space.child", {"via": [server], "order": "99"}, state_key=created.room_id
    )
    assert isinstance(linked, RoomPutStateResponse), linked
    await forum.bob.join(created.room_id)
    return created.room_id


async def test_a_thread_in_an_invite_only_room_is_shared_only_with_its_members(forum: Forum) -> None:
    bot, alice, bob, general = forum.bot, forum.alice, forum.bob, forum.general
    staff = await add_staff_room(forum)
    async with bot.running():
        root = await bob.say(staff, "Zebra rota for December")
        cover = await forum.dana.say(staff, "Quokka covers the 24th.", thread=root)
        await bot.caught_up(await bob.react(staff, cover, "👍"))
        public = await alice.say(general, "Night shifts: any tips?")
        tip = await bob.say(general, "Sleep in blocks.", thread=public)
        await bot.caught_up(await alice.react(general, tip, "👍"))
        number = f"#{bot.thread_row(root).id}"
        with bot.store() as session:
            private = {s.name: s.private for s in session.exec(select(SubForum))}
        assert private["Staff Room"] is True and private["General Discussion"] is False

        # alice, in General Discussion: "!share #1" -> as if there were no such thread
        await alice.say(general, f"!share {number}")
        refused = await alice.hears_from(bot.user_id, saying="There is no thread", accept_invites=True)
        assert body(refused).endswith(f"There is no thread {number} here.")
        assert "Zebra" not in body(refused)

        # bob, in General Discussion: "!share #1" -> the share, but only in his direct chat
        await bob.say(general, f"!share {number}")
        shared = await bob.hears_from(bot.user_id, saying="Zebra rota", accept_invites=True)
        assert "Zebra rota for December" in body(shared)

        # bob, in the staff room itself: the share is posted there, for its members
        asked = await bob.say(staff, f"!share {number}")
        here = await bob.hears_from(bot.user_id, room_id=staff, replying_to=asked)
        assert "Zebra rota" in body(here)

        # dana, in General Discussion: "!digest preview" -> the public week, without the staff room
        await forum.dana.catch_up()
        await forum.dana.say(general, "!digest preview")
        preview = await forum.dana.hears_from(bot.user_id, saying="the week in review", accept_invites=True)
        digest = body(preview)
        assert "Sleep in blocks." in digest
        assert "Zebra" not in digest and "Quokka" not in digest and "Staff Room" not in digest

        # nothing about it was ever posted in General Discussion
        history = await alice.client.room_messages(general, start="", limit=100)
        assert isinstance(history, RoomMessagesResponse), history
        said = [getattr(e, "body", "") for e in history.chunk if getattr(e, "sender", "") == bot.user_id]
        assert not any("Zebra" in text or "Quokka" in text for text in said)
