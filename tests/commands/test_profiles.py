"""Member cards and their fields, as members see them."""

from __future__ import annotations

from chatbridge.model import Privilege
from support.forum import Forum, texts


async def test_a_new_member_sees_their_card(forum: Forum) -> None:
    card = texts(await forum.chat.say("!profile", as_="alice"))
    assert "**alice** · New Member" in card
    assert "Joined: Jul 16, 2025 · Messages: 0 · Likes Received: 0 · Trophy Points: 0" in card


async def test_fields_are_set_normalised_and_shown_like_the_forum(forum: Forum) -> None:
    chat = forum.chat
    await chat.say("!profile set country EG", as_="alice")
    await chat.say("!profile set gender Female", as_="alice")
    await chat.say("!profile set stage Resident", as_="alice")
    await chat.say("!profile set specialty Emergency medicine", as_="alice")
    await chat.say("!profile set bio Night-shift\u0007 enthusiast.", as_="alice")

    card = texts(await chat.say("!profile alice", as_="bob"))
    assert "Practicing medicine in: Egypt" in card
    assert "Gender: Female" in card
    assert "Career stage: Resident" in card
    assert "Specialty: Emergency medicine" in card
    assert "About: Night-shift enthusiast." in card


async def test_bad_values_say_what_is_accepted(forum: Forum) -> None:
    chat = forum.chat
    assert "Did you mean Egypt?" in texts(await chat.say("!profile set country Egpyt", as_="alice"))
    assert "Career stage can be one of: student" in texts(
        await chat.say("!profile set stage wizard", as_="alice")
    )
    long_bio = "x" * 301
    assert "300 characters" in texts(await chat.say(f"!profile set bio {long_bio}", as_="alice"))
    assert "field must be one of gender, country" in texts(await chat.say("!profile set age 30", as_="alice"))
    card = texts(await chat.say("!profile", as_="alice"))
    assert "Practicing medicine in" not in card and "About" not in card


async def test_visibility_limits_who_sees_a_field(forum: Forum) -> None:
    chat = forum.chat
    chat.member("mo", Privilege.MODERATOR)
    await chat.say("!profile set gender Female", as_="alice")
    await chat.say("!profile set country Egypt", as_="alice")
    await chat.say("!profile visibility gender moderators", as_="alice")
    await chat.say("!profile visibility country hidden", as_="alice")

    assert "Gender" not in texts(await chat.say("!profile alice", as_="bob"))
    seen_by_mod = texts(await chat.say("!profile alice", as_="mo"))
    assert "Gender: Female" in seen_by_mod and "Egypt" not in seen_by_mod
    own = texts(await chat.say("!profile", as_="alice"))
    assert "Gender: Female (moderators)" in own and "Egypt (hidden)" in own


async def test_clearing_a_field(forum: Forum) -> None:
    chat = forum.chat
    await chat.say("!profile set specialty Cardiology", as_="alice")
    assert "Removed specialty" in texts(await chat.say("!profile clear specialty", as_="alice"))
    assert "no specialty to clear" in texts(await chat.say("!profile clear specialty", as_="alice"))
    assert "Cardiology" not in texts(await chat.say("!profile", as_="alice"))


async def test_an_unknown_member(forum: Forum) -> None:
    reply = texts(await forum.chat.say("!profile nobody", as_="alice"))
    assert "can't find a member called 'nobody'" in reply


async def test_a_hostile_bio_cannot_ping(forum: Forum) -> None:
    chat = forum.chat
    await chat.say("!profile set bio @everyone look <@&123> [x](javascript:alert(1))", as_="mallory")
    card = texts(await chat.say("!profile mallory", as_="bob"))
    assert "@everyone" not in card and "<@&123>" not in card and "[x](javascript" not in card
