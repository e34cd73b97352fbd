"""On a real Synapse: a moderator verifies a clinician (Matrix has no roles: nothing breaks), who
cites a source under a post; the thread card shows the badge and the note. A call-in and its
answer travel only through direct chats with the bot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClient, RoomMessagesResponse
from sqlmodel import select

from chatbridge.sandbox import Homeserver
from chatbridge.store.tables import Credential, PostNote
from support.matrix_forum import Forum, Member, body, open_forum

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]


@pytest.fixture
async def forum(homeserver: Homeserver, make_member: MakeMember, tmp_path: Path) -> Forum:
    return await open_forum(
        homeserver, make_member, tmp_path, settings_extra={"credentials": {"discord_role_id": "555"}}
    )


async def test_a_verified_clinicians_cited_note_shows_on_the_thread_card(forum: Forum) -> None:
    bot, alice, bob, dana, general = forum.bot, forum.alice, forum.bob, forum.dana, forum.general
    async with bot.running():
        root = await alice.say(general, "Ketamine is always safe in agitation.")
        await bot.caught_up(root, await bob.say(general, "Hello, I work in the ED."))
        verified = await dana.say(general, f"!verify {bob.user_id} MD · Emergency Medicine; note register")
        await bot.caught_up(verified)
        with bot.store() as session:
            assert [c.title for c in session.exec(select(Credential)).all()] == ["MD · Emergency Medicine"]

        cited = await bob.say(
            general, "!cite 10.1056/NEJMoa2034577 Laryngospasm happens.", thread=root, reply_to=root
        )
        note = await bob.hears_from(bot.user_id, replying_to=cited)
        assert "✓ MD · Emergency Medicine: Laryngospasm happens." in body(note)
        assert "https://doi.org/10.1056/NEJMoa2034577" in note["content"]["formatted_body"]
        with bot.store() as session:
            assert len(session.exec(select(PostNote)).all()) == 1

        asked = await alice.say(general, "!thread show", thread=root)
        card = await alice.hears_from(bot.user_id, replying_to=asked)
        assert "✓ MD · Emergency Medicine: Laryngospasm happens." in body(card)
        assert "register" not in body(card) and "register" not in body(note)


def _from_bot(bot_user_id: str, text: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda _room, event: event.get("sender") == bot_user_id and text in body(event)


async def _room_texts(member: Member, room_id: str) -> str:
    """Everything a member scrolling back through a room reads (message bodies)."""
    response = await member.client.room_messages(room_id, start="", limit=200)
    assert isinstance(response, RoomMessagesResponse), response
    return "\n".join(body(e.source) for e in response.chunk if e.source.get("type") == "m.room.message")


async def test_a_call_in_and_its_answer_go_by_direct_chat_and_an_anonymous_one_hides_the_sender(
    forum: Forum,
) -> None:
    bot, alice, bob, general = forum.bot, forum.alice, forum.bob, forum.general
    public_rooms = set(forum.community.rooms.values())
    async with bot.running():
        await bot.caught_up(
            await alice.say(general, "Ketamine is always safe in agitation."),
            await bob.say(general, "Hello, I work in the ED."),
        )
        await bob.say(
            general, f"!callin {alice.user_id} anonymous Could you add a source? Residents read this."
        )
        bob_dm, sent = await bob.next_event(_from_bot(bot.user_id, "Sent privately"), accept_invites=True)
        assert bob_dm not in public_rooms
        assert "anonymously (only the moderators can see it was you)" in body(sent)

        alice_dm, delivered = await alice.next_event(_from_bot(bot.user_id, "A call-in"), accept_invites=True)
        assert alice_dm not in public_rooms
        text, html = body(delivered), delivered["content"].get("formatted_body", "")
        assert "from a member (anonymous to you; the moderators know who)" in text
        assert "Could you add a source? Residents read this." in text
        assert "bob" not in text.casefold() and "bob" not in html.casefold()

        answered = await alice.say(alice_dm, "!callin answer #1 Fair point, I added one.")
        said = await alice.hears_from(bot.user_id, room_id=alice_dm, replying_to=answered)
        assert "Passed on your answer to call-in #1" in body(said)
        relay_room, relayed = await bob.next_event(_from_bot(bot.user_id, "answered your call-in #1"))
        assert relay_room == bob_dm
        assert "Fair point, I added one." in body(relayed)

    for room_id in public_rooms:
        public = await _room_texts(forum.dana, room_id)
        for private in ("Could you add a source", "Fair point", "call-in", "Sent privately", "Passed on"):
            assert private not in public, (room_id, private)
