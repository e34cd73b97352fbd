"""A typed report is hidden from the room once stored, and commands work in a direct chat.

On the in-memory platform `chat.concealed` lists the command messages the bot hid (Matrix redacts
them), so these transcripts hold the core's side: which answers ask for it, and what a direct chat
is (a community, no sub-forum).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from chatbridge.adapters.memory import MemoryPlatform
from chatbridge.store.tables import Report, SubForum
from support.forum import sqlite_url, texts
from support.moderation import ModForum, moderated_forum


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    async with moderated_forum(sqlite_url(tmp_path)) as running:
        yield running


async def hostile_reply(chat: MemoryPlatform) -> tuple[str, str]:
    await chat.say('!thread new "Night shifts" Any tips for the first month of nights?', as_="alice")
    thread = chat.thread("Night shifts")
    await chat.say("Are you even a real doctor?", as_="mallory", thread=thread)
    return thread, chat.last_message_id("mallory")


async def test_a_typed_report_is_hidden_once_stored_and_a_refused_one_too(forum: ModForum) -> None:
    chat = forum.chat
    thread, hostile = await hostile_reply(chat)

    ack = await chat.say(
        "!report harassment questioning credentials", as_="alice", thread=thread, reply_to=hostile
    )
    report_message = chat.last_message_id("alice")
    assert "Your report is with the moderators as case #1" in texts(ack)
    assert chat.concealed == [report_message]

    # Reported twice: refused, and still hidden (the words are for the moderators either way).
    await chat.say("!report spam", as_="alice", thread=thread, reply_to=hostile)
    assert chat.concealed[-1] == chat.last_message_id("alice")

    await chat.say(f"!report member {chat.member('mallory').user_id} harassment rude in DMs", as_="bob")
    assert chat.concealed[-1] == chat.last_message_id("bob")

    # Other commands are left alone.
    before = list(chat.concealed)
    await chat.say("!help", as_="alice")
    assert chat.concealed == before


async def test_when_the_platform_refuses_to_hide_it_the_reporter_is_told_privately(forum: ModForum) -> None:
    chat = forum.chat
    thread, hostile = await hostile_reply(chat)
    chat.refuse_deletes = True
    ack = await chat.say("!report harassment", as_="alice", thread=thread, reply_to=hostile)
    assert chat.concealed == []
    assert all(said.ephemeral_for == "alice" for said in ack)
    assert "you can delete it yourself" in texts(ack)
    with forum.store() as session:
        assert len(session.exec(select(Report)).all()) == 1, "the report is stored all the same"


async def test_commands_in_a_direct_chat_are_answered_there_without_a_sub_forum(forum: ModForum) -> None:
    chat = forum.chat
    with forum.store() as session:
        rooms = len(session.exec(select(SubForum)).all())
    answer = await chat.say_direct("!profile", as_="alice")
    assert answer and all(said.room.room_id == "dm-alice" for said in answer)
    assert "alice" in texts(answer)

    hint = await chat.say_direct("!report harassment", as_="alice")
    assert "paste the link to the message" in texts(hint)
    assert chat.concealed == [], "nothing to hide in a direct chat"
    with forum.store() as session:
        assert len(session.exec(select(SubForum)).all()) == rooms, "a direct chat is no sub-forum"
        assert session.exec(select(Report)).all() == []
