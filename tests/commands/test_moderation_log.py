"""The case log: every action, notes for moderators, and actions taken by hand on the platform."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from chatbridge.model import PlatformName
from chatbridge.services.moderation.log import record_platform_action
from chatbridge.store.tables import ModLogEntry, ModNote
from support.forum import sqlite_url, texts
from support.moderation import ModForum, moderated_forum


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    async with moderated_forum(sqlite_url(tmp_path)) as running:
        await running.chat.join("mallory")
        yield running


async def test_notes_are_private_and_shown_in_the_case_log(forum: ModForum) -> None:
    chat = forum.chat
    added = await chat.say("!note mallory Spoke to her in DMs; she apologised to the nurse.", as_="mo")
    assert added[0].ephemeral_for == "mo"
    assert "Note added to mallory's case log (moderators only)." in texts(added)
    await chat.say("!warn mallory 1 tone in the cardiology thread", as_="max")

    log = await chat.say("!modlog mallory", as_="max")
    assert log[0].ephemeral_for == "max"
    shown = texts(log)
    assert "**Case log of mallory** · 1 active warning point" in shown
    assert "warned by max (1 point, 1 active): tone in the cardiology thread" in shown
    assert "note added by mo" in shown
    assert "**Notes** (moderators only)" in shown
    assert "mo: Spoke to her in DMs; she apologised to the nurse." in shown
    with forum.store() as session:
        assert session.exec(select(ModNote)).one().body.startswith("Spoke to her")
    assert "is for moderators" in texts(await chat.say("!modlog mallory", as_="bob"))


async def test_actions_taken_by_hand_on_the_platform_are_recorded_once(forum: ModForum) -> None:
    at = datetime(2025, 7, 16, 9, 30, tzinfo=UTC)
    for _ in range(2):  # an audit log read twice
        with forum.store() as session:
            record_platform_action(
                session,
                platform=PlatformName.MEMORY,
                community_platform_id="console",
                platform_event_id="audit-7741",
                action="timeout",
                subject_user_id="ghost",
                actor_user_id="mo",
                at=at,
                detail={"reason": "raid"},
            )
            session.commit()
    with forum.store() as session:
        entry = session.exec(select(ModLogEntry).where(ModLogEntry.source == "platform")).one()
        assert entry.subject_member_id is None and entry.subject_platform_user_id == "ghost"

    shown = texts(await forum.chat.say("!modlog ghost", as_="ada"))
    assert "**Case log of ghost**" in shown
    assert "Jul 16, 2025 09:30 UTC · timeout on memory by mo: raid" in shown
    assert "I have nothing recorded for 'nobody'." in texts(await forum.chat.say("!modlog nobody", as_="ada"))


async def test_an_empty_case_log(forum: ModForum) -> None:
    assert "Nothing recorded yet." in texts(await forum.chat.say("!modlog mallory", as_="mo"))
