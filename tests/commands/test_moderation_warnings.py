"""Warnings with points that expire, thresholds applied once per crossing, and appeals once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from chatbridge.store.tables import ModCase, ModLogEntry, Sanction
from support.forum import sqlite_url, texts
from support.moderation import ModForum, moderated_forum

START = datetime(2025, 7, 16, 9, 0, tzinfo=UTC)


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    async with moderated_forum(sqlite_url(tmp_path)) as running:
        await running.chat.join("mallory")
        yield running


def count(forum: ModForum, action: str) -> int:
    with forum.store() as session:
        return len(session.exec(select(ModLogEntry).where(ModLogEntry.action == action)).all())


async def test_three_points_mute_for_a_day_once_per_crossing(forum: ModForum) -> None:
    chat = forum.chat
    first = texts(await chat.say("!warn mallory dismissive of a nurse's concern", as_="mo"))
    assert (
        "**mallory** is warned: 1 point, counting until Oct 14, 2025 09:00 UTC. Active points now: 1."
        in first
    )
    assert "At 3 points they'll be muted for 1 day." in first
    await chat.say("!warn mallory again, in another thread", as_="mo")
    assert forum.chat.mutes == {}

    third = texts(await chat.say("!warn mallory a third time", as_="max"))
    assert "That reaches 3 points: they're muted for 1 day, until Jul 17, 2025 09:00 UTC." in third
    await forum.settle()
    assert chat.mutes == {"mallory": START + timedelta(days=1)}
    notices = forum.dms("mallory")
    assert "You received a warning (1 point): a third time" in notices
    assert "You have 3 active warning points" in notices
    assert "You are muted until Jul 17, 2025 09:00 UTC (1 day)." in notices
    assert "Reason: 3 active warning points (the limit is 3)" in notices

    await chat.say("!warn mallory a fourth time", as_="mo")
    assert count(forum, "threshold_reached") == 1, "above the threshold is not a new crossing"

    chat.advance(timedelta(days=91))  # every point has expired, the mute has ended
    await forum.sweep()
    assert chat.mutes == {}
    again = texts(await chat.say("!warn mallory 3 back at it", as_="mo"))
    assert "Active points now: 3." in again and "they're muted for 1 day" in again
    assert count(forum, "threshold_reached") == 2


async def test_several_thresholds_apply_the_highest_crossed_and_never_shorten_a_mute(tmp_path: Path) -> None:
    thresholds = ({"points": 3, "mute": "1d"}, {"points": 5, "mute": "1w"})
    async with moderated_forum(sqlite_url(tmp_path), warning_thresholds=thresholds) as forum:
        chat = forum.chat
        await chat.join("mallory")
        await chat.say("!mute mallory 2w doxxing a colleague", as_="mo")
        jump = texts(await chat.say("!warn mallory 5 doxxing a colleague", as_="mo"))
        assert "That reaches 5 points: they're already muted for longer, and that mute stays." in jump
        await forum.settle()
        assert chat.mutes == {"mallory": START + timedelta(weeks=2)}
        with forum.store() as session:
            thresholds_hit = session.exec(
                select(ModLogEntry).where(ModLogEntry.action == "threshold_reached")
            ).all()
        assert [e.detail["threshold"] for e in thresholds_hit] == [5]


async def test_points_and_reasons_are_read_sensibly(forum: ModForum) -> None:
    chat = forum.chat
    assert "1 point" in texts(await chat.say("!warn mallory spamming links", as_="mo"))
    assert "2 points" in texts(await chat.say("!warn mallory 2 spamming links", as_="mo"))
    assert "Please give a reason" in texts(await chat.say("!warn mallory 2", as_="mo"))
    assert "Warning points go from 1 to 100." in texts(await chat.say("!warn mallory 0 spam", as_="mo"))
    with forum.store() as session:
        warnings = session.exec(select(Sanction).where(Sanction.kind == "warn")).all()
    assert [(w.points, w.reason) for w in warnings] == [(1, "spamming links"), (2, "spamming links")]


async def test_an_appeal_lands_on_the_queue_card_once_per_sanction(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say("!mute mallory 1d spam", as_="mo")
    nothing = texts(await chat.say("!appeal I did nothing", as_="bob"))
    assert "You have no active mute or warning to appeal." in nothing

    ack = await chat.say("!appeal I was sharing a guideline, not advertising.", as_="mallory")
    assert ack[0].ephemeral_for == "mallory"
    assert "Your appeal of your mute is with the moderators as case #1." in texts(ack)
    await forum.settle()
    card = forum.card(1)
    assert "**Case #1 · Other** · open" in card
    assert "Appeal of the mute, Jul 16, 2025 09:00 UTC: “I was sharing a guideline, not advertising.”" in card

    again = texts(await chat.say("!appeal please", as_="mallory"))
    assert "You already appealed your mute on Jul 16, 2025 09:00 UTC; each one can be appealed once." in again

    await chat.say("!warn mallory rude in the appeal thread", as_="max")
    warning = texts(await chat.say("!appeal the warning too", as_="mallory"))
    assert "Your appeal of your warning is with the moderators" in warning, "a new sanction, a new appeal"

    await chat.say("!case dismiss 1 the post was an advert", as_="mo")
    await forum.settle()
    assert "About your appeal (case #1): the moderators reviewed it and the mute stays." in forum.dms(
        "mallory"
    )
    with forum.store() as session:
        appealed = session.exec(select(Sanction).where(Sanction.appeal_text.is_not(None))).all()  # type: ignore[union-attr]
        assert len(appealed) == 2
        assert len(session.exec(select(ModCase)).all()) == 2


async def test_an_appeal_reopens_a_closed_case(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say('!thread new "Vaccines" Sources please', as_="alice")
    await chat.say("It's all a hoax.", as_="mallory", thread=chat.thread("Vaccines"))
    await chat.say(
        "!report misinformation",
        as_="alice",
        thread=chat.thread("Vaccines"),
        reply_to=chat.last_message_id("mallory"),
    )
    await chat.say("!case mute 1 1h", as_="mo")
    await chat.say("!case resolve 1 Muted for an hour.", as_="mo")
    await chat.say("!appeal I was being sarcastic", as_="mallory")
    await forum.settle()
    case = forum.case(1)
    assert (case.status, case.outcome) == ("open", None)
    assert "Appeal of the mute" in forum.card(1)
    assert "**#1** Misinformation · about mallory · 1 reporter · open" in texts(
        await chat.say("!queue", as_="mo")
    )
