"""On a real Synapse: a moderator verifies a clinician (Matrix has no roles: nothing breaks), who
cites a source under a post; the thread card and the room's digest show the badge and the note.
A call-in and its answer travel only through direct chats with the bot."""

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


async def _a_cited_note(forum: Forum) -> tuple[str, dict[str, Any]]:
    """alice posts a hot take; dana (the space's admin) verifies bob, who cites a source under it.
    Returns the post and the bot's answer to the `cite`."""
    bot, alice, bob, dana, general = forum.bot, forum.alice, forum.bob, forum.dana, forum.general
    root = await alice.say(general, "Ketamine is always safe in agitation.")
    await bot.caught_up(root, await bob.say(general, "Hello, I work in the ED."))
    verified = await dana.say(general, f"!verify {bob.user_id} MD · Emergency Medicine; note register")
    await bot.caught_up(verified)
    with bot.store() as session:
        assert [c.title for c in session.exec(select(Credential)).all()] == ["MD · Emergency Medicine"]
    cited = await bob.say(
        general, "!cite 10.1056/NEJMoa2034577 Laryngospasm happens.", thread=root, reply_to=root
    )
    return root, await bob.hears_from(bot.user_id, replying_to=cited)


async def test_a_verified_clinicians_cited_note_shows_on_the_thread_card(forum: Forum) -> None:
    bot, alice, general = forum.bot, forum.alice, forum.general
    async with bot.running():
        root, note = await _a_cited_note(forum)
        assert "✓ MD · Emergency Medicine: Laryngospasm happens." in body(note)
        assert "https://doi.org/10.1056/NEJMoa2034577" in note["content"]["formatted_body"]
        with bot.store() as session:
            assert len(session.exec(select(PostNote)).all()) == 1

        asked = await alice.say(general, "!thread show", thread=root)
        card = await alice.hears_from(bot.user_id, replying_to=asked)
        assert "✓ MD · Emergency Medicine: Laryngospasm happens." in body(card)
        assert "register" not in body(card) and "register" not in body(note)


async def test_a_cited_note_appears_in_the_digest_posted_to_the_room(forum: Forum) -> None:
    bot, alice, dana, general = forum.bot, forum.alice, forum.dana, forum.general
    async with bot.running():
        await _a_cited_note(forum)
        await dana.say(general, "!digest schedule here monday 9 Europe/London")
        await dana.hears_from(bot.user_id, saying="Weekly digest scheduled", accept_invites=True)
        await dana.say(general, "!digest now")
        await dana.hears_from(bot.user_id, saying="Posting the digest of the last seven days")
        digest = await alice.hears_from(bot.user_id, room_id=general, saying="the week in review")

    text, html = body(digest), digest["content"]["formatted_body"]
    assert "Sources and notes this week" in text
    assert "Note by bob · ✓ MD · Emergency Medicine on #1 Ketamine is always safe in agitation" in text
    assert ": Laryngospasm happens. — doi:10.1056/NEJMoa2034577" in text
    assert 'href="https://doi.org/10.1056/NEJMoa2034577"' in html
    assert "register" not in text and "register" not in html


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
