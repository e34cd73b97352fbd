"""Profile visibility governs every rendering of a card: a field reaches an answer only if everyone
who reads that answer may see it (field visibility × who asks × public or private answer)."""

from __future__ import annotations

import pytest

from chatbridge.adapters.memory import Said
from chatbridge.model import Privilege
from support.forum import Forum, texts

SECRET = "Psychiatry"

# visibility -> asker -> (answered privately to the asker?, is the field in the answer?)
EXPECTED = {
    "public": {"alice": (True, True), "bob": (False, True), "mo": (False, True)},
    "members": {"alice": (True, True), "bob": (False, True), "mo": (False, True)},
    "moderators": {"alice": (True, True), "bob": (False, False), "mo": (True, True)},
    "hidden": {"alice": (True, True), "bob": (False, False), "mo": (False, False)},
}
CASES = [(v, asker) for v, by_asker in EXPECTED.items() for asker in by_asker]


async def _card_of_alice(forum: Forum, visibility: str, asker: str) -> list[Said]:
    chat = forum.chat
    chat.member("mo", Privilege.MODERATOR)
    await chat.say(f"!profile set specialty {SECRET}", as_="alice")
    await chat.say(f"!profile visibility specialty {visibility}", as_="alice")
    return await chat.say("!profile alice", as_=asker)


@pytest.mark.parametrize(("visibility", "asker"), CASES)
async def test_a_field_reaches_only_answers_its_visibility_allows(
    forum: Forum, visibility: str, asker: str
) -> None:
    replies = await _card_of_alice(forum, visibility, asker)
    private, shown = EXPECTED[visibility][asker]
    assert len(replies) == 1
    assert replies[0].ephemeral_for == (asker if private else None)
    assert (f"Specialty: {SECRET}" in replies[0].text) is shown
    if replies[0].ephemeral_for is None:
        assert "(moderators)" not in replies[0].text and "(hidden)" not in replies[0].text


async def test_your_own_card_is_answered_privately_with_every_field_marked(forum: Forum) -> None:
    chat = forum.chat
    await chat.say("!profile set gender Female", as_="alice")
    await chat.say("!profile visibility gender public", as_="alice")
    await chat.say("!profile set country Egypt", as_="alice")
    await chat.say("!profile set specialty Psychiatry", as_="alice")
    await chat.say("!profile visibility specialty moderators", as_="alice")
    await chat.say("!profile set bio Recovering from burnout.", as_="alice")
    await chat.say("!profile visibility bio hidden", as_="alice")

    for asking in ("!profile", "!profile alice"):
        replies = await chat.say(asking, as_="alice")
        assert [r.ephemeral_for for r in replies] == ["alice"], asking
        card = texts(replies)
        assert "Gender: Female (public)" in card
        assert "Practicing medicine in: Egypt\n" in card + "\n"
        assert "Specialty: Psychiatry (moderators)" in card
        assert "About: Recovering from burnout. (hidden)" in card

    public = await chat.say("!profile alice", as_="bob")
    assert [r.ephemeral_for for r in public] == [None]
    assert "Gender: Female" in public[0].text and "Egypt" in public[0].text
    assert "Psychiatry" not in public[0].text and "burnout" not in public[0].text


async def test_a_moderator_sees_moderator_only_fields_only_in_a_private_answer(forum: Forum) -> None:
    chat = forum.chat
    chat.member("mo", Privilege.MODERATOR)
    await chat.say("!profile set specialty Psychiatry", as_="alice")
    await chat.say("!profile visibility specialty moderators", as_="alice")
    await chat.say("!profile set country Egypt", as_="bob")

    about_alice = await chat.say("!profile alice", as_="mo")
    assert [r.ephemeral_for for r in about_alice] == ["mo"]
    assert "Specialty: Psychiatry (moderators)" in about_alice[0].text

    about_bob = await chat.say("!profile bob", as_="mo")
    assert [r.ephemeral_for for r in about_bob] == [None], "nothing more to see: answered in the room"
    assert "Practicing medicine in: Egypt" in about_bob[0].text

    public_everything = [s.text for s in chat.transcript if s.author == "bot" and s.ephemeral_for is None]
    assert not any("Psychiatry" in text for text in public_everything)


async def test_setting_a_field_echoes_it_only_to_its_owner(forum: Forum) -> None:
    chat = forum.chat
    for command in (
        "!profile set bio Recovering from burnout.",
        "!profile visibility bio hidden",
        "!profile clear bio",
    ):
        replies = await chat.say(command, as_="alice")
        assert [r.ephemeral_for for r in replies] == ["alice"], command
