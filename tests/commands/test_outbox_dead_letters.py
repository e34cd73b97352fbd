"""Actions the platform refuses for good are set aside, the moderators are told once, and an admin
puts them back with `chatbridge outbox retry` once the cause is fixed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlmodel import col, select

from chatbridge.cli import main
from chatbridge.store.tables import OutboxItem
from support.forum import sqlite_url
from support.moderation import moderated_forum, new_chat

REASON = "Residents who ask this are lazy."


async def test_a_card_the_admins_room_refuses_is_set_aside_and_the_moderators_told_once(
    migrated_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On SQLite and PostgreSQL: the worker's claim skips set-aside rows on both."""
    url, chat = migrated_database_url, new_chat()
    chat.refuse_posts_in = {chat.room("Admins").room_id}
    async with moderated_forum(url, chat=chat) as forum:
        await chat.say('!thread new "Night shifts" Any tips?', as_="alice")
        thread = chat.thread("Night shifts")
        await chat.say(REASON, as_="max", thread=thread)
        await chat.say(
            "!report harassment he insults every resident",
            as_="alice",
            thread=thread,
            reply_to=chat.last_message_id("max"),
        )
        await forum.settle()
        await forum.sweep()
        await forum.settle()

        with forum.store() as session:
            card = session.exec(select(OutboxItem).where(OutboxItem.kind == "queue_card")).one()
            assert card.dead_at is not None and card.done_at is None and card.attempts == 1
            assert card.dead_reason == "PlatformError: I'm not allowed to post in Admins."
        told = forum.in_room("Moderators")
        assert len(told) == 1, told
        assert f"I gave up on a case card on Memory (outbox item #{card.id}) after 1 attempt" in told[0]
        assert f"chatbridge outbox retry {card.id}" in told[0]
        assert REASON not in told[0] and "insults" not in told[0]
        assert forum.in_room("Admins") == []

        # The admin gives the bot the permission, then puts the card back in line.
        chat.refuse_posts_in = set()
        monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", url)
        assert main(["outbox", "list"]) == 0
        listed = capsys.readouterr().out.splitlines()
        assert len(listed) == 1 and listed[0].startswith(f"#{card.id} queue_card on memory community ")
        assert "insults" not in listed[0]
        assert main(["outbox", "retry", str(card.id)]) == 0
        assert capsys.readouterr().out == f"outbox item {card.id} will be tried again by the running bot\n"
        await forum.settle()
        assert forum.in_room("Admins") == [forum.card(1)]
        assert len(forum.in_room("Moderators")) == 1, "no second notice"
        assert main(["outbox", "list"]) == 0
        assert capsys.readouterr().out == "no set-aside outbox items\n"


async def test_a_notice_that_cannot_be_posted_either_is_logged_not_repeated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The queue room itself refuses: the card and its notice are both set aside, and that is all."""
    url, chat = sqlite_url(tmp_path), new_chat()
    chat.refuse_posts_in = {chat.room("Moderators").room_id}
    caplog.set_level(logging.WARNING, logger="chatbridge.services.outbox")
    async with moderated_forum(url, chat=chat) as forum:
        await chat.say('!thread new "Night shifts" Any tips?', as_="alice")
        thread = chat.thread("Night shifts")
        await chat.say("Are you even a real doctor?", as_="mallory", thread=thread)
        await chat.say(
            "!report harassment", as_="alice", thread=thread, reply_to=chat.last_message_id("mallory")
        )
        await forum.settle()
        await forum.sweep()
        with forum.store() as session:
            items = session.exec(select(OutboxItem).order_by(col(OutboxItem.id))).all()
            dead = [item for item in items if item.dead_at is not None]
            assert [item.kind for item in dead] == ["queue_card", "send"]
            assert dead[1].dedupe_key.startswith("outbox-dead:")
            assert len(items) == len([i for i in items if i.done_at is not None]) + 2
        set_aside = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
        assert len(set_aside) == 2
        assert f"outbox item {dead[0].id} (queue_card on memory, community" in set_aside[0]
        assert "Are you even" not in " ".join(set_aside)
