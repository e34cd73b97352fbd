"""Audiences in moderation texts: what a moderator writes for reporters reaches reporters only, an
appellant gets their own text, and reports about a moderator are for the admins, not for them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatbridge.model import Privilege
from support.forum import sqlite_url, texts
from support.moderation import ModForum, moderated_forum

FOR_REPORTERS = "Thanks carol for flagging this"
FOR_APPELLANT = "The mute stays; link the guideline next time"


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    """mallory's reply in alice's thread, reported by carol; mo mutes mallory for the case."""
    async with moderated_forum(sqlite_url(tmp_path)) as running:
        chat = running.chat
        await chat.say('!thread new "Vaccines" Sources please', as_="alice")
        thread = chat.thread("Vaccines")
        await chat.say("It's all a hoax.", as_="mallory", thread=thread)
        hostile = chat.last_message_id("mallory")
        await chat.say("!report misinformation she keeps at it", as_="carol", thread=thread, reply_to=hostile)
        await chat.say("!case mute 1 1h", as_="mo")
        yield running


def everything_read_by(forum: ModForum, name: str) -> str:
    """What the member could read: their direct messages, answers only they see, public posts."""
    return "\n".join(
        s.text
        for s in forum.chat.transcript
        if s.author == "bot"
        and (s.room.room_id == f"dm-{name}" or s.ephemeral_for in (None, name))
        and s.room.room_id not in {"moderators", "admins"}
    )


async def test_an_appeal_never_receives_the_outcome_written_for_reporters(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say("!appeal I was being sarcastic", as_="mallory")
    resolved = texts(await chat.say(f"!case resolve 1 {FOR_REPORTERS}; muted for an hour.", as_="mo"))
    assert "1 reporter is told the outcome privately" in resolved
    assert "The member who appealed is told only that the case is closed" in resolved
    await forum.settle()

    assert FOR_REPORTERS in forum.dms("carol")
    mallory = everything_read_by(forum, "mallory")
    assert "About your appeal (case #1): the moderators reviewed it and closed the case; the mute stays." in (
        mallory
    )
    assert FOR_REPORTERS not in mallory and "carol" not in mallory and "keeps at it" not in mallory


async def test_the_outcome_of_an_appeal_reaches_the_appellant_and_not_the_reporters(
    forum: ModForum,
) -> None:
    chat = forum.chat
    await chat.say(f"!case resolve 1 {FOR_REPORTERS}.", as_="mo")
    await chat.say("!appeal I was being sarcastic", as_="mallory")  # reopens case #1
    answered = texts(await chat.say(f"!case resolve 1 {FOR_APPELLANT}.", as_="max"))
    assert "0 reporters are told" in answered
    assert "The member who appealed is told your outcome privately." in answered
    await forum.settle()

    assert f"About your appeal (case #1): the moderators reviewed it: {FOR_APPELLANT}." in forum.dms(
        "mallory"
    )
    carol = everything_read_by(forum, "carol")
    assert carol.count("About your report (case #1") == 1, "reporters are told once, about their report"
    assert FOR_APPELLANT not in carol and "sarcastic" not in carol
    assert FOR_REPORTERS not in everything_read_by(forum, "mallory")


async def test_a_dismissal_tells_each_party_in_their_own_words(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say("!appeal I was being sarcastic", as_="mallory")
    dismissed = texts(await chat.say("!case dismiss 1 carol reports her a lot", as_="mo"))
    assert "The member who appealed is told their appeal was turned down." in dismissed
    await forum.settle()
    assert "decided no action was needed" in forum.dms("carol")
    mallory = everything_read_by(forum, "mallory")
    assert "About your appeal (case #1): the moderators reviewed it and the mute stays." in mallory
    for party in ("carol", "mallory"):
        assert "reports her a lot" not in everything_read_by(forum, party), "a dismissal note is for the log"


async def test_reports_about_a_moderator_are_for_the_admins_and_not_that_moderator(
    forum: ModForum,
) -> None:
    chat = forum.chat
    thread = chat.thread("Vaccines")
    await chat.say("Residents who ask this are lazy.", as_="max", thread=thread)
    await chat.say(
        "!report harassment belittling residents",
        as_="alice",
        thread=thread,
        reply_to=chat.last_message_id("max"),
    )
    await chat.say("!note max Spoke to him about tone.", as_="ada")
    await forum.settle()
    assert forum.case(2).escalated_to_admins

    for moderator in ("max", "mo"):
        seen = texts(await chat.say("!modlog max", as_=moderator))
        assert "**Case log of max**" in seen, moderator
        assert "reported" not in seen and "case #2" not in seen, moderator
        assert "There is no case #2 here." in texts(await chat.say("!case claim 2", as_=moderator))
        assert "about max" not in texts(await chat.say("!queue", as_=moderator)), moderator
    assert "Spoke to him" not in texts(await chat.say("!modlog max", as_="max")), "notes are not for him"

    admin = texts(await chat.say("!modlog max", as_="ada"))
    assert "reported: Harassment (case #2)" in admin and "Spoke to him about tone." in admin
    assert forum.in_room("Moderators") == [forum.card(1)], "the card went to the admins' room only"
    assert forum.in_room("Admins") == [forum.card(2)]


async def test_the_moderators_card_never_lists_an_admins_case(forum: ModForum) -> None:
    chat = forum.chat
    thread = chat.thread("Vaccines")
    await chat.say("Residents who ask this are lazy.", as_="max", thread=thread)
    await chat.say("!report harassment", as_="alice", thread=thread, reply_to=chat.last_message_id("max"))
    chat.member("max", Privilege.MEMBER)  # max steps down; a later report goes to the moderators
    await chat.say("Still lazy.", as_="max", thread=thread)
    await chat.say("!report harassment", as_="alice", thread=thread, reply_to=chat.last_message_id("max"))
    await forum.settle()
    assert forum.case(2).escalated_to_admins and not forum.case(3).escalated_to_admins
    card = forum.card(3)
    assert forum.in_room("Moderators")[-1] == card
    assert "#2" not in card and "No earlier cases about max." in card
