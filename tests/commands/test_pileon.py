"""Pile-on detection, as moderators and the member piled on see it on the in-memory platform."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from chatbridge.store.tables import ModCase, PileOnAlert, PileOnHit
from support.forum import sqlite_url
from support.moderation import ModForum, moderated_forum


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    async with moderated_forum(sqlite_url(tmp_path)) as running:
        yield running


@pytest.fixture
async def any_store_forum(database_url: str) -> AsyncIterator[ModForum]:
    """On SQLite and PostgreSQL: the window's queries run on both."""
    async with moderated_forum(database_url) as running:
        yield running


ATTACKS = (
    "Are you even a real doctor?",
    "who let you near patients with takes like this",
    "you're not even a real doctor, stop posting",
    "did you even go to medical school?",
    "you are a total clown",
)


async def opening(
    forum: ModForum, text: str = "Early mobilisation after hip fracture: my audit results"
) -> str:
    await forum.chat.say(f'!thread new "Hip audit" {text}', as_="bob")
    return forum.chat.thread("Hip audit")


def cases(forum: ModForum) -> list[ModCase]:
    with forum.store() as session:
        return list(session.exec(select(ModCase).where(ModCase.category == "pile_on")).all())


async def test_four_members_turning_on_one_open_one_case_with_every_participant(
    any_store_forum: ModForum,
) -> None:
    forum = any_store_forum
    chat = forum.chat
    thread = await opening(forum)
    bob_post = chat.last_message_id("bob")
    for name, text in zip(("carol", "dave", "erin"), ATTACKS, strict=False):
        chat.advance(timedelta(minutes=2))
        await chat.say(text, as_=name, thread=thread, reply_to=bob_post)
    assert cases(forum) == []  # three is not a pile-on
    chat.advance(timedelta(minutes=3))
    await chat.say(ATTACKS[3], as_="frank", thread=thread, reply_to=bob_post)
    chat.advance(timedelta(minutes=1))
    await chat.say(ATTACKS[4], as_="gina", thread=thread, reply_to=bob_post)  # a fifth: same alert

    found = cases(forum)
    assert len(found) == 1
    await forum.settle()
    card = forum.card(found[0].id or 0)
    assert "Pile-on" in card
    assert "4 members turned on **bob** in “Hip audit”" in card
    for name in ("carol", "dave", "erin", "frank"):
        assert f"**{name}** · new to the community · new to the thread" in card
    assert "Timeline:" in card and card.count("https://chat.example/") >= 4
    assert "Are you even" not in card  # links, never the messages' words
    with forum.store() as session:
        assert len(session.exec(select(PileOnAlert)).all()) == 1


async def test_the_target_gets_one_private_supportive_note_and_nothing_is_said_publicly(
    forum: ModForum,
) -> None:
    chat = forum.chat
    thread = await opening(forum)
    bob_post = chat.last_message_id("bob")
    opened = len(chat.transcript)
    for name, text in zip(("carol", "dave", "erin", "frank", "gina"), ATTACKS, strict=True):
        await chat.say(text, as_=name, thread=thread, reply_to=bob_post)
    await forum.settle()
    notes = chat.dms("bob")
    assert len(notes) == 1
    assert "report harassment" in notes[0].text and "nothing has been said publicly" in notes[0].text
    public = [
        s.text
        for s in chat.transcript[opened:]
        if s.author == "bot" and s.room.room_id == "general-discussion"
    ]
    assert public and all("trophy" in text.lower() for text in public)  # first-post trophies only


async def test_a_crowd_of_congratulations_does_not_alert(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say('!thread new "Passed MRCP" I passed my MRCP part 2 today!', as_="bob")
    thread = chat.thread("Passed MRCP")
    for i in range(20):
        await chat.say("Congratulations! You absolutely deserve it 🎉", as_=f"friend{i}", thread=thread)
    assert cases(forum) == []


async def test_a_heated_civil_debate_about_a_study_does_not_alert(forum: ModForum) -> None:
    chat = forum.chat
    thread = await opening(forum, "The new sepsis fluids trial changes everything")
    bob_post = chat.last_message_id("bob")
    for name, text in (
        ("carol", "This trial is garbage: open label, and the primary outcome moved mid-study."),
        ("dave", "You are wrong about the effect size, the CI crosses 1."),
        ("erin", "Terrible study, you are cherry-picking the one subgroup that worked."),
        ("frank", "I strongly disagree with your reading, the NNT is absurd."),
        ("gina", "Your conclusion is dangerous advice for patients, frankly."),
        ("hank", "Awful methodology, I can't believe this passed peer review."),
    ):
        await chat.say(text, as_=name, thread=thread, reply_to=bob_post)
    assert cases(forum) == []


async def test_one_member_arguing_with_many_does_not_alert_against_the_one(forum: ModForum) -> None:
    chat = forum.chat
    thread = await opening(forum)
    for name in ("carol", "dave", "erin", "frank"):
        await chat.say("Nice audit, but the sample is small.", as_=name, thread=thread)
        their_post = chat.last_message_id(name)
        await chat.say(
            "Are you even qualified to judge an audit?", as_="mallory", thread=thread, reply_to=their_post
        )
    assert cases(forum) == []
    with forum.store() as session:
        assert len(session.exec(select(PileOnHit)).all()) == 4  # one attack on each of four members


async def test_attacks_spread_wider_than_the_window_do_not_alert(forum: ModForum) -> None:
    chat = forum.chat
    thread = await opening(forum)
    bob_post = chat.last_message_id("bob")
    for name, text in zip(("carol", "dave", "erin", "frank"), ATTACKS, strict=False):
        await chat.say(text, as_=name, thread=thread, reply_to=bob_post)
        chat.advance(timedelta(minutes=11))
    assert cases(forum) == []
