"""While a mute is active the bot does not act for the muted member: every command but `help`,
`appeal` and their own card is refused in one polite line, moderators included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from chatbridge.model import Privilege
from chatbridge.registry import ParamSpec
from chatbridge.store.tables import metadata
from support.forum import sqlite_url, texts
from support.moderation import ModForum, moderated_forum

MUTED = "You are muted until Jul 16, 2025 10:00 UTC, so I can't do that for you while the mute lasts."
HOW_TO_APPEAL = "you can appeal once: `!appeal` followed by why."
SAMPLES = {"case": "1", "duration": "1h", "member": "bob", "points": "1", "thread": "#1"}


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    async with moderated_forum(sqlite_url(tmp_path)) as running:
        chat = running.chat
        await chat.say('!thread new "Night shifts" Tips for the first month?', as_="alice")
        await chat.say("Sleep in the day.", as_="bob", thread=chat.thread("Night shifts"))
        await chat.join("mallory")
        assert "is muted until" in texts(await chat.say("!mute mallory 1h spam links", as_="mo"))
        await running.settle()
        yield running


def sample(param: ParamSpec) -> str:
    if param.choices:
        return param.choices[0]
    if param.kind == "int":
        return str(param.min_value or 1)
    return SAMPLES.get(param.name, "some text" if param.rest else "sample")


def snapshot(forum: ModForum) -> dict[str, list[Any]]:
    """Every row of every table but the record of processed events (a refusal is answered once)."""
    with forum.store() as session:
        return {
            table.name: sorted(map(tuple, session.connection().execute(select(table)).all()), key=repr)
            for table in metadata.sorted_tables
            if table.name != "processed_event"
        }


async def test_every_command_but_help_appeal_and_your_own_card_is_refused_while_muted(
    forum: ModForum,
) -> None:
    chat = forum.chat
    thread, reply = chat.thread("Night shifts"), chat.last_message_id("bob")
    allowed = {spec.name for spec in forum.core.registry if spec.allowed_while_muted}
    assert allowed == {"help", "appeal", "profile"}
    refused = [spec for spec in forum.core.registry if not spec.allowed_while_muted]
    assert {"thread new", "like", "profile set", "report", "report member"} <= {s.name for s in refused}
    before = snapshot(forum)
    for spec in refused:
        text = "!" + " ".join([*spec.path, *(sample(p) for p in spec.params)])
        replies = await chat.say(text, as_="mallory", thread=thread, reply_to=reply)
        assert [r.ephemeral_for for r in replies] == ["mallory"], text
        assert replies[0].text.startswith(MUTED), text
        assert HOW_TO_APPEAL in replies[0].text and "\n" not in replies[0].text, text
        await forum.settle()
        assert snapshot(forum) == before, f"{text} changed the store"


async def test_a_muted_member_keeps_help_their_own_card_and_the_appeal(forum: ModForum) -> None:
    chat = forum.chat
    assert "thread new" in texts(await chat.say("!help", as_="mallory"))
    own = await chat.say("!profile", as_="mallory")
    assert [r.ephemeral_for for r in own] == ["mallory"] and "**mallory**" in own[0].text
    other = texts(await chat.say("!profile bob", as_="mallory"))
    assert other.startswith(MUTED) and "**bob**" not in other

    assert "Your appeal of your mute is with the moderators" in texts(
        await chat.say("!appeal I was sharing a guideline", as_="mallory")
    )
    after_appeal = texts(await chat.say('!thread new "Ads" Buy now', as_="mallory"))
    assert after_appeal == f"{MUTED} Your appeal is with the moderators."


async def test_the_gate_opens_when_the_mute_ends(forum: ModForum) -> None:
    chat = forum.chat
    assert texts(await chat.say('!thread new "Ads" Buy now', as_="mallory")).startswith(MUTED)
    chat.advance(timedelta(hours=1))
    await forum.sweep()
    assert "Ads" in texts(await chat.say('!thread new "Ads" Buy now', as_="mallory"))


async def test_a_muted_moderator_cannot_moderate(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say("!mute mo 1h piling on a resident", as_="ada")
    await forum.settle()
    for command in ("!mute bob 1h test", "!warn bob spam", "!queue", "!modlog bob", "!unmute mallory"):
        refused = await chat.say(command, as_="mo")
        assert [r.ephemeral_for for r in refused] == ["mo"], command
        assert refused[0].text.startswith(MUTED), command
    assert set(chat.mutes) == {"mallory", "mo"}
    assert chat.member("mo", Privilege.MODERATOR).privilege == Privilege.MODERATOR
    assert "is muted until" in texts(await chat.say("!mute bob 1h test", as_="max")), "others still can"
