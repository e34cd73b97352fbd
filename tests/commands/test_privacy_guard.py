"""The patient-privacy guard on the ingest path: warn and hold, masked text only, and a flagged post
kept out of shares and digests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.store.tables import Member, ModCase, OutboxItem, Post
from support.forum import sqlite_url, texts
from support.moderation import ModForum, new_chat

IDENTIFYING = "Mrs Khan in bed 4, DOB 12/03/1951, is septic again - lactate 4.1"
IDENTIFIERS = ("Khan", "12/03/1951")


@asynccontextmanager
async def guarded_forum(database_url: str, **guard: Any) -> AsyncIterator[ModForum]:
    chat = new_chat()
    settings = Settings(
        database_url=database_url,
        moderation={"queue_room": "Moderators"},  # type: ignore[arg-type]
        privacy_guard=guard,  # type: ignore[arg-type]
    )
    core = Core.build(settings, clock=chat.now)
    app = Application(core, [chat])
    app.outbox.poll_interval = 0.05
    try:
        async with app.running():
            await chat.started.wait()
            yield ModForum(chat, core, app)
    finally:
        core.engine.dispose()


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    async with guarded_forum(sqlite_url(tmp_path)) as running:
        yield running


def post_of(forum: ModForum, message_id: str) -> Post:
    with forum.store() as session:
        return session.exec(select(Post).where(Post.platform_message_id == message_id)).one()


def messages_of(forum: ModForum, name: str) -> int:
    with forum.store() as session:
        return session.exec(select(Member).where(Member.display_name == name)).one().message_count


async def test_warn_tells_the_author_privately_and_stores_only_the_masked_text(forum: ModForum) -> None:
    chat = forum.chat
    thread = await chat.start_thread("Sepsis on the wards", "How do you escalate?", as_="alice")
    said = texts(await chat.say(IDENTIFYING, as_="bob", thread=thread))
    assert "patient" not in said  # nothing is said in the open
    reply = chat.last_message_id("bob")
    await forum.settle()

    dm = texts(chat.dms(chat.member("bob").user_id))
    assert "may identify a patient" in dm
    assert "a patient's name" in dm and "date of birth" in dm
    assert not any(identifier in dm for identifier in IDENTIFIERS)
    assert reply not in chat.removed  # warn leaves the post up

    post = post_of(forum, reply)
    assert post.phi_flagged and post.hidden and post.phi_kinds == "name,date"
    assert not any(identifier in post.body for identifier in IDENTIFIERS)
    assert "[name]" in post.body and "lactate 4.1" in post.body
    assert messages_of(forum, "bob") == 1  # in warn mode the post still counts


async def test_a_clean_post_is_neither_flagged_nor_answered(forum: ModForum) -> None:
    chat = forum.chat
    thread = await chat.start_thread("AKI", "K 6.1, creat 389, eGFR 12 - dialysis tonight?", as_="alice")
    await chat.say("NICE 2019 says yes above 6.5; our unit has 14 beds", as_="bob", thread=thread)
    await forum.settle()
    assert chat.dms(chat.member("bob").user_id) == []
    assert not post_of(forum, chat.last_message_id("bob")).phi_flagged


async def test_a_flagged_post_cannot_be_shared(forum: ModForum) -> None:
    chat = forum.chat
    thread = await chat.start_thread("Sepsis", "How do you escalate?", as_="alice")
    await chat.say(IDENTIFYING, as_="bob", thread=thread)
    reply = chat.last_message_id("bob")
    refused = texts(await chat.say("!share", as_="carol", thread=thread, reply_to=reply))
    assert "removed or hidden" in refused
    assert not any(identifier in refused for identifier in IDENTIFIERS)


async def test_an_edit_that_adds_identifiers_is_flagged_and_one_that_removes_them_is_cleared(
    forum: ModForum,
) -> None:
    chat = forum.chat
    thread = await chat.start_thread("Sepsis", "How do you escalate?", as_="alice")
    await chat.say("lactate 4.1, started the sepsis six", as_="bob", thread=thread)
    reply = chat.last_message_id("bob")
    await chat.edit(reply, IDENTIFYING, as_="bob")
    await forum.settle()
    assert post_of(forum, reply).phi_flagged
    assert "Your edit" in texts(chat.dms(chat.member("bob").user_id))

    await chat.edit(reply, "a woman in her 70s, lactate 4.1, started the sepsis six", as_="bob")
    post = post_of(forum, reply)
    assert not post.phi_flagged and not post.hidden and "woman in her 70s" in post.body


async def test_a_thread_opened_with_identifiers_has_a_masked_title(forum: ModForum) -> None:
    chat = forum.chat
    thread = await chat.start_thread("Mrs Khan bed 4", "DOB 12/03/1951, septic", as_="bob")
    await forum.settle()
    post = post_of(forum, thread)
    assert post.phi_flagged and not any(identifier in post.body for identifier in IDENTIFIERS)
    listing = texts(await chat.say("!thread list", as_="carol"))
    assert "Khan" not in listing


async def test_the_bot_never_posts_identifiers_itself_in_a_new_thread(forum: ModForum) -> None:
    chat = forum.chat
    said = texts(await chat.say(f'!thread new "Help" {IDENTIFYING}', as_="bob"))
    assert "I didn't post that: it may identify a patient" in said
    assert not any(identifier in said for identifier in IDENTIFIERS)
    with forum.store() as session:
        assert session.exec(select(Post)).all() == []


async def test_hold_removes_the_post_and_sends_the_author_the_masked_text(tmp_path: Path) -> None:
    async with guarded_forum(sqlite_url(tmp_path), mode="hold") as forum:
        chat = forum.chat
        thread = await chat.start_thread("Sepsis", "How do you escalate?", as_="alice")
        await chat.say(IDENTIFYING, as_="bob", thread=thread)
        reply = chat.last_message_id("bob")
        await forum.settle()

        assert chat.removed[reply] == "privacy guard: patient identifiers"
        dm = texts(chat.dms(chat.member("bob").user_id))
        assert "Your post in **General Discussion** may identify a patient, so I am removing it" in dm
        assert "\\[name\\]" in dm and "lactate 4.1" in dm  # escaped Markdown: shows as [name]
        assert not any(identifier in dm for identifier in IDENTIFIERS)
        post = post_of(forum, reply)
        assert post.phi_flagged and not post.counted
        assert messages_of(forum, "bob") == 0


async def test_off_checks_nothing(tmp_path: Path) -> None:
    async with guarded_forum(sqlite_url(tmp_path), mode="off") as forum:
        chat = forum.chat
        thread = await chat.start_thread("Sepsis", "How do you escalate?", as_="alice")
        await chat.say(IDENTIFYING, as_="bob", thread=thread)
        await forum.settle()
        assert not post_of(forum, chat.last_message_id("bob")).phi_flagged
        assert chat.dms(chat.member("bob").user_id) == []


async def test_a_community_override_by_name_wins_over_the_default(tmp_path: Path) -> None:
    overrides = {"console": {"mode": "hold"}}  # the in-memory community's name
    async with guarded_forum(sqlite_url(tmp_path), mode="off", communities=overrides) as forum:
        chat = forum.chat
        thread = await chat.start_thread("Sepsis", "How do you escalate?", as_="alice")
        await chat.say(IDENTIFYING, as_="bob", thread=thread)
        reply = chat.last_message_id("bob")
        await forum.settle()
        assert post_of(forum, reply).phi_flagged
        assert reply in chat.removed


async def test_hold_where_the_bot_may_not_delete_keeps_the_post_masked_and_hidden(tmp_path: Path) -> None:
    async with guarded_forum(sqlite_url(tmp_path), mode="hold") as forum:
        chat = forum.chat
        chat.refuse_deletes = True
        thread = await chat.start_thread("Sepsis", "How do you escalate?", as_="alice")
        await chat.say(IDENTIFYING, as_="bob", thread=thread)
        reply = chat.last_message_id("bob")
        await forum.settle()  # the refusal is final: nothing is left to retry or set aside
        assert reply not in chat.removed
        post = post_of(forum, reply)
        assert post.phi_flagged and post.hidden and "Khan" not in post.body
        with forum.store() as session:
            item = session.exec(select(OutboxItem).where(OutboxItem.kind == "privacy_delete")).one()
            assert item.dead_at is None and item.done_at is not None


async def test_a_batch_of_posts_some_flagged_on_either_store(migrated_database_url: str) -> None:
    """The fast path replays posts in a PostgreSQL pipeline, where no query may run: the guard's
    notices are queued after it, and the flagged posts are stored masked like the others."""
    async with guarded_forum(migrated_database_url, mode="hold") as forum:
        chat = forum.chat
        thread = await chat.start_thread("Sepsis", "How do you escalate?", as_="alice")
        for n in range(5):
            await chat.say(f"lactate {n}.1, fluids running", as_="carol", thread=thread)
            await chat.say(IDENTIFYING, as_="bob", thread=thread)
        await forum.settle()
        with forum.store() as session:
            flagged = session.exec(select(Post).where(Post.phi_flagged)).all()
        assert len(flagged) == 5 and all("Khan" not in post.body for post in flagged)
        assert len(chat.removed) == 5
        assert messages_of(forum, "carol") == 5 and messages_of(forum, "bob") == 0


async def test_a_flagged_post_opens_one_case_in_the_queue_that_never_shows_the_identifiers(
    forum: ModForum,
) -> None:
    chat = forum.chat
    thread = await chat.start_thread("Sepsis", "How do you escalate?", as_="alice")
    await chat.say(IDENTIFYING, as_="bob", thread=thread)
    reply = chat.last_message_id("bob")
    await forum.settle()
    assert len(forum.in_room("Moderators")) == 1
    await chat.edit(reply, IDENTIFYING + " (edited)", as_="bob")  # still flagged: the same case
    await forum.settle()
    [card] = forum.in_room("Moderators")
    assert "Patient privacy" in card and "About **bob**" in card
    assert "privacy guard masked patient details in this message (name, date)" in card
    assert not any(identifier in card for identifier in IDENTIFIERS)
    post_id = post_of(forum, reply).id
    with forum.store() as session:
        [case] = session.exec(select(ModCase)).all()
    assert case.category == "patient_privacy" and case.post_id == post_id
    queue = texts(await chat.say("!queue", as_="mo", in_="Moderators"))
    assert f"#{case.id}" in queue and "Khan" not in queue


async def test_a_flagged_post_never_reaches_a_digest_however_liked(forum: ModForum) -> None:
    chat = forum.chat
    thread = await chat.start_thread("Sepsis on the wards", "How do you escalate?", as_="alice")
    await chat.say(IDENTIFYING, as_="bob", thread=thread)
    flagged = chat.last_message_id("bob")
    await chat.say("Call outreach early, NEWS 5 or more.", as_="carol", thread=thread)
    liked = chat.last_message_id("carol")
    for member in ("alice", "carol", "dave"):
        await chat.add_reaction(flagged, "👍", as_=member)
    await chat.add_reaction(liked, "👍", as_="dave")
    chat.advance(timedelta(hours=1))
    await chat.say("!digest schedule here monday 9 UTC", as_="mo")
    preview = texts(await chat.say("!digest preview", as_="mo"))
    assert "Call outreach early" in preview  # the digest has the thread and the other reply
    assert "lactate" not in preview and "[name]" not in preview and "Khan" not in preview
