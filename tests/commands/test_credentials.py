"""Verified clinician badges: verifying, removing, listing, showing them, and reminding before expiry."""

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
from chatbridge.store.tables import Credential, ModLogEntry
from support.forum import sqlite_url, texts
from support.moderation import ModForum, new_chat

ROLE = "555"


@asynccontextmanager
async def badge_forum(tmp_path: Path, **credentials: Any) -> AsyncIterator[ModForum]:
    chat = new_chat()
    chat.member("vera")  # a verifier by the config, not a moderator
    settings = Settings(
        database_url=sqlite_url(tmp_path),
        moderation={"queue_room": "Moderators", "sweep_seconds": 0.05},  # type: ignore[arg-type]
        credentials={"verifiers": ["memory:vera"], "discord_role_id": ROLE, **credentials},  # type: ignore[arg-type]
    )
    core = Core.build(settings, clock=chat.now)
    app = Application(core, [chat])
    app.outbox.poll_interval = 0.05
    try:
        async with app.running():
            await chat.started.wait()
            for name in ("hend", "omar", "lina"):
                await chat.join(name)
            yield ModForum(chat, core, app)
    finally:
        core.engine.dispose()


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    async with badge_forum(tmp_path) as running:
        yield running


async def test_a_verifier_records_a_credential_shown_on_the_card_thread_and_share(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say("!profile set specialty Emergency medicine", as_="hend")
    answer = texts(
        await chat.say(
            "!verify hend MD · Emergency Medicine; expires 52w; note GMC 1234567 checked", as_="vera"
        )
    )
    assert "hend is now shown as verified: **MD · Emergency Medicine**, until Jul 15, 2026." in answer
    assert "Evidence note (moderators only): GMC 1234567 checked" in answer
    assert chat.roles["hend"] == {ROLE}

    card = texts(await chat.say("!profile hend", as_="bob"))
    assert "✓ Verified: **MD · Emergency Medicine**" in card
    assert "Specialty: Emergency medicine · self-described" in card
    assert "GMC" not in card

    await chat.say('!thread new "Ketamine for agitation" It works in our ED.', as_="hend")
    thread_card = texts(await chat.say("!thread show #1", as_="bob"))
    assert "started by hend · ✓ MD · Emergency Medicine," in thread_card
    share = texts(await chat.say("!share Ketamine", as_="bob"))
    assert "> hend · ✓ MD · Emergency Medicine, Jul 16, 2025:" in share
    listed = texts(await chat.say("!thread list", as_="bob"))
    assert "started by hend · ✓ MD · Emergency Medicine," in listed

    with forum.store() as session:
        entry = session.exec(select(ModLogEntry).where(ModLogEntry.action == "verify")).one()
        assert entry.detail["title"] == "MD · Emergency Medicine"
    await forum.settle()
    assert "Your credential was verified: **MD · Emergency Medicine**" in forum.dms("hend")


async def test_only_moderators_and_verifiers_may_verify(forum: ModForum) -> None:
    chat = forum.chat
    refused = texts(await chat.say("!verify hend MD", as_="bob"))
    assert refused == "Only moderators and the community's verifiers can verify credentials."
    assert "verified" in texts(await chat.say("!verify hend RN · ICU", as_="mo"))
    assert "Only moderators" in texts(await chat.say("!unverify hend", as_="bob"))
    with forum.store() as session:
        assert [c.title for c in session.exec(select(Credential)).all()] == ["RN · ICU"]


async def test_bad_details_say_what_is_accepted(forum: ModForum) -> None:
    chat = forum.chat
    assert "I don't know what 'banana split' means here. Use: verify <member> <credential>;" in texts(
        await chat.say("!verify hend MD; banana split", as_="mo")
    )
    assert "has already passed" in texts(await chat.say("!verify hend MD; expires 2020-01-01", as_="mo"))
    assert "is not a duration" in texts(await chat.say("!verify hend MD; expires soonish", as_="mo"))
    assert "at most ten years" in texts(await chat.say("!verify hend MD; expires 2099-01-01", as_="mo"))
    assert "I can't find a member called 'nobody-here' here." in texts(
        await chat.say("!verify nobody-here MD", as_="mo")
    )
    with forum.store() as session:
        assert session.exec(select(Credential)).all() == []


async def test_member_text_is_escaped_in_every_echo(forum: ModForum) -> None:
    chat = forum.chat
    answer = texts(await chat.say("!verify hend **MD** @everyone [x](https://evil)", as_="mo"))
    assert "\\*\\*MD\\*\\*" in answer and "@everyone" not in answer and "[x](https" not in answer
    card = texts(await chat.say("!profile hend", as_="bob"))
    assert "\\*\\*MD\\*\\*" in card and "@everyone" not in card


async def test_unverify_removes_the_badge_and_the_role_and_logs_the_reason(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say("!verify hend MD · Emergency Medicine", as_="mo")
    answer = texts(await chat.say("!unverify hend licence lapsed", as_="vera"))
    assert "Removed the verified credential of hend (MD · Emergency Medicine)" in answer
    assert chat.roles["hend"] == set()
    assert "Verified" not in texts(await chat.say("!profile hend", as_="bob"))
    assert "has no verified credential" in texts(await chat.say("!unverify hend", as_="mo"))
    with forum.store() as session:
        entry = session.exec(select(ModLogEntry).where(ModLogEntry.action == "unverify")).one()
        assert entry.detail["reason"] == "licence lapsed"
    log = texts(await chat.say("!modlog hend", as_="mo"))
    assert "verification (MD · Emergency Medicine) removed by vera: licence lapsed" in log


async def test_a_role_the_bot_cannot_manage_is_said_plainly(forum: ModForum) -> None:
    chat = forum.chat
    chat.roles_above_bot.add(ROLE)
    answer = texts(await chat.say("!verify hend PharmD", as_="mo"))
    assert "hend is now shown as verified: **PharmD**" in answer
    assert (
        "⚠️ The badge is recorded, but the role was not changed: My role is not above the role 555" in answer
    )
    assert "hend" not in chat.roles or chat.roles["hend"] == set()


async def test_verified_lists_clinicians_by_credential(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say("!verify hend MD · Emergency Medicine; note register", as_="mo")
    await chat.say("!verify omar RN · ICU", as_="mo")
    everyone = texts(await chat.say("!verified", as_="bob"))
    assert "- hend · ✓ MD · Emergency Medicine" in everyone and "- omar · ✓ RN · ICU" in everyone
    assert "lina" not in everyone and "register" not in everyone
    icu = texts(await chat.say("!verified icu", as_="bob"))
    assert "omar" in icu and "hend" not in icu
    assert "No verified clinician matches" in texts(await chat.say("!verified dentist", as_="bob"))


async def test_verified_leaves_out_members_seen_only_in_private_rooms(forum: ModForum) -> None:
    chat = forum.chat
    await chat.make_private("Moderators", ["mo", "sam"])
    await chat.say("staff only", as_="sam", in_="Moderators")
    await chat.say("!verify sam MD · Psychiatry", as_="mo", in_="Moderators")
    assert "sam" not in texts(await chat.say("!verified", as_="bob"))


async def test_an_expired_credential_stops_showing_and_its_verifier_is_reminded_first(
    forum: ModForum,
) -> None:
    chat = forum.chat
    await chat.say("hello", as_="hend")
    await chat.say("!verify hend MD; expires 10d", as_="vera")
    await forum.sweep()
    assert "expires" not in forum.dms("vera")
    chat.advance(timedelta(days=4))
    await forum.sweep()
    await forum.sweep()
    reminders = [s.text for s in chat.dms("vera") if "expires on" in s.text]
    assert len(reminders) == 1 and "credential of **hend** (MD)" in reminders[0]
    assert chat.roles["hend"] == {ROLE}
    chat.advance(timedelta(days=7))
    assert "Verified" not in texts(await chat.say("!profile hend", as_="bob"))
    assert "No one is verified yet." in texts(await chat.say("!verified", as_="bob"))
    await forum.sweep()
    assert chat.roles["hend"] == set(), "the badge role goes with the lapsed badge"
    assert "verified credential (MD) expired" in texts(await chat.say("!modlog hend", as_="mo"))
