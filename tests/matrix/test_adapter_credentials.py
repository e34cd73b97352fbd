"""On a real Synapse: a moderator verifies a clinician (Matrix has no roles: nothing breaks), who
cites a source under a post; the thread card shows the badge and the note."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nio import AsyncClient
from sqlmodel import select

from chatbridge.sandbox import Homeserver
from chatbridge.store.tables import Credential, PostNote
from support.matrix_forum import Forum, body, open_forum

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
