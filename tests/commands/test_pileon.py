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


async def piled_on(forum: ModForum) -> tuple[str, int]:
    """bob's thread, four members turning on him; returns (thread id, case number)."""
    chat = forum.chat
    thread = await opening(forum)
    bob_post = chat.last_message_id("bob")
    for name, text in zip(("carol", "dave", "erin", "frank"), ATTACKS, strict=False):
        await chat.say(text, as_=name, thread=thread, reply_to=bob_post)
    (case,) = cases(forum)
    assert case.id is not None
    await forum.settle()
    return thread, case.id


async def test_the_card_offers_the_pileon_actions_as_buttons(forum: ModForum) -> None:
    _, number = await piled_on(forum)
    card = next(s for s in forum.chat.transcript if s.message_id == forum.case(number).queue_message_id)
    assert f"case slow {number}" in card.text and f"case not-pileon {number}" in card.text
    assert "case mute-all" in card.text


async def test_slow_the_thread_sets_slow_mode_on_it(forum: ModForum) -> None:
    thread, number = await piled_on(forum)
    answer = await forum.chat.say(f"!case slow {number} 120", as_="mo", in_="Moderators")
    assert "slowed to one post per 120 s" in answer[0].text and answer[0].ephemeral_for == "mo"
    await forum.settle()
    assert forum.chat.slowmodes == {thread: 120}
    assert "thread slowed by mo to one post per 120 s" in forum.card(number)


async def test_a_refused_slow_mode_lands_on_the_card(forum: ModForum) -> None:
    _, number = await piled_on(forum)
    forum.chat.refuse_deletes = True
    await forum.chat.say(f"!case slow {number}", as_="mo", in_="Moderators")
    await forum.settle()
    assert "refused to slow the thread" in forum.card(number)


async def test_lock_the_thread(forum: ModForum) -> None:
    thread, number = await piled_on(forum)
    answer = await forum.chat.say(f"!case lock {number}", as_="mo", in_="Moderators")
    assert "“Hip audit” of case" in answer[0].text and "is locked" in answer[0].text
    said = await forum.chat.say("you're not even a real doctor", as_="gina", thread=thread)
    assert "locked" in said[0].text.lower()


async def test_mute_participants_mutes_each_but_never_the_target(forum: ModForum) -> None:
    _, number = await piled_on(forum)
    answer = await forum.chat.say(f"!case mute-all {number} 1d personal attacks", as_="mo", in_="Moderators")
    for name in ("carol", "dave", "erin", "frank"):
        assert f"**{name}**" in answer[0].text
    await forum.settle()
    assert set(forum.chat.mutes) == {"carol", "dave", "erin", "frank"}
    refused = await forum.chat.say(f"!case mute {number} 1d", as_="mo", in_="Moderators")
    assert "is a pile-on" in refused[0].text and "bob" not in forum.chat.mutes


async def test_not_a_pileon_is_stored_and_raises_the_threshold(tmp_path: Path) -> None:
    async with moderated_forum(sqlite_url(tmp_path), pileon={"dismissals_per_step": 1}) as forum:
        _, number = await piled_on(forum)
        answer = await forum.chat.say(f"!case not-pileon {number}", as_="mo", in_="Moderators")
        assert "dismissed as not a pile-on" in answer[0].text
        with forum.store() as session:
            alert = session.exec(select(PileOnAlert)).one()
            assert alert.dismissed_at is not None
        assert forum.case(number).status == "dismissed"
        # one dismissal per step: four members are no longer enough here, five are
        chat = forum.chat
        await chat.say('!thread new "Second audit" Same audit, new data', as_="bob")
        thread = chat.thread("Second audit")
        bob_post = chat.last_message_id("bob")
        for name, text in zip(("carol", "dave", "erin", "frank", "gina"), ATTACKS, strict=True):
            await chat.say(text, as_=name, thread=thread, reply_to=bob_post)
            expected = 2 if name == "gina" else 1
            assert len(cases(forum)) == expected, name


async def test_pileon_actions_refuse_other_cases_politely(forum: ModForum) -> None:
    chat = forum.chat
    thread = await opening(forum)
    await chat.say("Are you even a real doctor?", as_="mallory", thread=thread)
    await chat.say(
        "!report harassment credentials", as_="bob", thread=thread, reply_to=chat.last_message_id("mallory")
    )
    answer = await chat.say("!case slow 1", as_="mo", in_="Moderators")
    assert "is not a pile-on case" in answer[0].text


async def test_the_window_survives_a_restart(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    async with moderated_forum(url) as forum:
        chat = forum.chat
        thread = await opening(forum)
        bob_post = chat.last_message_id("bob")
        for name, text in zip(("carol", "dave", "erin"), ATTACKS, strict=False):
            await chat.say(text, as_=name, thread=thread, reply_to=bob_post)
    async with moderated_forum(url, chat=chat) as forum:
        await chat.say(ATTACKS[3], as_="frank", thread=thread, reply_to=bob_post)
        assert len(cases(forum)) == 1


async def test_one_alert_per_window_later_joiners_grow_its_case_and_a_new_wave_alerts_again(
    forum: ModForum,
) -> None:
    chat = forum.chat
    thread, _ = await piled_on(forum)
    bob_post = chat.last_message_id("bob")
    for name in ("carol", "dave", "erin", "gina"):  # the pile-on goes on: the same case grows
        chat.advance(timedelta(minutes=1))
        await chat.say("you are a total clown", as_=name, thread=thread, reply_to=bob_post)
    assert len(cases(forum)) == 1
    await forum.settle()
    (case,) = cases(forum)
    card = forum.card(case.id or 0)
    assert card.count("joined the pile-on") == 1 and "gina joined the pile-on" in card
    chat.advance(timedelta(minutes=31))  # a new wave, once the window has passed
    for name, text in zip(("hank", "ivan", "jo", "kim"), ATTACKS, strict=False):
        await chat.say(text, as_=name, thread=thread, reply_to=bob_post)
    assert len(cases(forum)) == 2


async def test_mentions_aim_the_words_like_replies(forum: ModForum) -> None:
    chat = forum.chat
    await opening(forum)
    await chat.say('!thread new "Other" Something else entirely', as_="zed")
    other = chat.thread("Other")
    for name, text in zip(("carol", "dave", "erin", "frank"), ATTACKS, strict=False):
        await chat.say(f"@bob {text}", as_=name, thread=other)
    (case,) = cases(forum)
    assert case.subject_member_id is not None
    with forum.store() as session:
        hits = session.exec(select(PileOnHit)).all()
        assert {h.how for h in hits} == {"mention"}


async def test_a_slowed_thread_keeps_its_pace_posts_too_soon_are_removed_and_told_once(
    forum: ModForum,
) -> None:
    chat = forum.chat
    thread, number = await piled_on(forum)
    await chat.say(f"!case slow {number} 120", as_="mo", in_="Moderators")
    await forum.settle()
    chat.advance(timedelta(minutes=5))
    await chat.say("Still think the audit is flawed.", as_="carol", thread=thread)
    first = chat.last_message_id("carol")
    chat.advance(timedelta(seconds=30))
    await chat.say("And another thing.", as_="carol", thread=thread)
    second = chat.last_message_id("carol")
    chat.advance(timedelta(seconds=30))
    await chat.say("And another!", as_="carol", thread=thread)
    third = chat.last_message_id("carol")
    chat.advance(timedelta(seconds=150))
    await chat.say("Fine, one more after waiting.", as_="carol", thread=thread)
    await forum.settle()
    assert set(chat.removed) == {second, third} and first not in chat.removed
    notes = [s.text for s in chat.dms("carol") if "slowed down" in s.text]
    assert len(notes) == 1 and "120 seconds" in notes[0]
