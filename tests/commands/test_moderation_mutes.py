"""Mutes: stored with their end, applied through the outbox, lifted on time, held across restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from chatbridge.store.tables import ModLogEntry, Sanction
from support.forum import sqlite_url, texts
from support.moderation import ModForum, moderated_forum, new_chat

START = datetime(2025, 7, 16, 9, 0, tzinfo=UTC)


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    async with moderated_forum(sqlite_url(tmp_path)) as running:
        yield running


def the_mute(forum: ModForum) -> Sanction:
    with forum.store() as session:
        return session.exec(select(Sanction).where(Sanction.kind == "mute")).one()


def actions(forum: ModForum) -> list[str]:
    with forum.store() as session:
        return [e.action for e in session.exec(select(ModLogEntry).order_by(col(ModLogEntry.id))).all()]


async def test_a_mute_is_applied_lifted_on_time_and_survives_a_restart_with_downtime(
    migrated_database_url: str,
) -> None:
    url, chat = migrated_database_url, new_chat()
    async with moderated_forum(url, chat=chat) as forum:
        await chat.join("mallory")
        reply = await chat.say("!mute mallory 2h posting a patient's photo", as_="mo")
        said = texts(reply)
        assert reply[0].ephemeral_for == "mo"
        assert (
            "**mallory** is muted until Jul 16, 2025 11:00 UTC (2 h). Reason: posting a patient's photo"
            in said
        )
        assert "If the platform refuses the mute, I'll say so in the moderators' queue." in said
        await forum.settle()
        assert chat.mutes == {"mallory": START + timedelta(hours=2)}
        mute = the_mute(forum)
        assert mute.previous_state == {"memory:mallory": {"muted_until": None}}
        assert mute.platform_applied_until == START + timedelta(hours=2)
        notice = forum.dms("mallory")
        assert "You are muted until Jul 16, 2025 11:00 UTC (2 h)." in notice
        assert "Reason: posting a patient's photo" in notice and "`!appeal`" in notice

        chat.advance(timedelta(hours=1))
        await forum.sweep()
        assert "mallory" in chat.mutes, "not lifted before its time"

    chat.advance(timedelta(hours=5))  # the bot is down while the mute ends
    async with moderated_forum(url, chat=chat) as forum:
        await forum.until(lambda s: s.get(Sanction, mute.id).lifted_at is not None, "the catch-up sweep")
        await forum.settle()
        assert chat.mutes == {}
        assert "Your mute has ended. Welcome back." in forum.dms("mallory")
        assert actions(forum)[-1] == "mute_ended"
        assert the_mute(forum).lifted_by_member_id is None


async def test_a_muted_member_who_leaves_and_rejoins_is_muted_again(forum: ModForum) -> None:
    chat = forum.chat
    await chat.join("mallory")
    await chat.say("!mute mallory 1d spam", as_="mo")
    await forum.settle()

    await chat.leave("mallory")
    chat.mutes.pop("mallory")  # the platform forgot the role when she left
    await chat.join("mallory")
    await forum.settle()
    assert chat.mutes == {"mallory": START + timedelta(days=1)}
    assert actions(forum)[-1] == "mute_reapplied"
    assert the_mute(forum).previous_state == {"memory:mallory": {"muted_until": None}}, (
        "re-applying must not record the bot's own mute as the state to restore"
    )

    chat.advance(timedelta(days=1, minutes=1))
    await forum.sweep()
    await chat.leave("mallory")
    await chat.join("mallory")
    await forum.settle()
    assert chat.mutes == {}, "an ended mute is not re-applied"


async def test_moderators_cannot_mute_admins_each_other_or_themselves(tmp_path: Path) -> None:
    async with moderated_forum(sqlite_url(tmp_path), moderators=("memory:carol",)) as forum:
        chat = forum.chat
        for name in ("max", "ada", "carol", "mallory"):
            await chat.join(name)
        peer = texts(await chat.say("!mute max 1h rude", as_="mo"))
        assert "max is a moderator too; moderators can't mute each other. An admin can." in peer
        admin = texts(await chat.say("!mute ada 1h rude", as_="mo"))
        assert "ada is an admin; moderators can't mute admins." in admin
        assert "You can't mute yourself." in texts(await chat.say("!mute mo 1h testing", as_="mo"))
        configured = texts(await chat.say("!warn carol 1 rude", as_="mo"))
        assert "carol is a moderator too" in configured, "the config's moderator list counts"
        assert "muted until" in texts(await chat.say("!mute max 1h rude", as_="ada"))
        with forum.store() as session:
            assert len(session.exec(select(Sanction)).all()) == 1


async def test_a_missing_permission_is_told_to_the_moderators_in_plain_words(forum: ModForum) -> None:
    chat = forum.chat
    chat.refuse_mutes = True
    await chat.join("mallory")
    await chat.say("!mute mallory 1h spam", as_="mo")
    await forum.settle()
    assert chat.mutes == {}
    warning = "\n".join(forum.in_room("Moderators"))
    assert "⚠️ Memory refused to mute **mallory**: I don't have permission to mute members here." in warning
    assert "Once I have the permission to mute members there, use `!mute` again to apply it." in warning
    assert "mute_failed" in actions(forum)
    assert "refused to mute: I don't have permission" in texts(await chat.say("!modlog mallory", as_="mo"))

    chat.refuse_mutes = False
    await chat.say("!mute mallory 1h spam", as_="mo")
    await forum.settle()
    assert chat.mutes == {"mallory": START + timedelta(hours=1)}
    assert len(forum.in_room("Moderators")) == 1, "no second warning"


async def test_without_a_queue_room_a_refusal_goes_to_the_moderator_privately(tmp_path: Path) -> None:
    async with moderated_forum(sqlite_url(tmp_path), queue_room=None) as forum:
        chat = forum.chat
        chat.refuse_mutes = True
        await chat.join("mallory")
        reply = texts(await chat.say("!mute mallory 1h spam", as_="mo"))
        assert "I'll say so to you privately" in reply
        await forum.settle()
        assert "Memory refused to mute **mallory**" in forum.dms("mo")


async def test_unmute_and_changing_a_mute(forum: ModForum) -> None:
    chat = forum.chat
    await chat.join("mallory")
    await chat.say("!mute mallory 1h spam", as_="mo")
    changed = texts(await chat.say("!mute mallory 1d spam again", as_="max"))
    assert "until Jul 17, 2025 09:00 UTC (1 day); their ongoing mute now ends then" in changed
    await forum.settle()
    assert chat.mutes == {"mallory": START + timedelta(days=1)}
    assert "Your mute was changed: it now ends Jul 17, 2025 09:00 UTC" in forum.dms("mallory")

    lifted = await chat.say("!unmute mallory appealed successfully", as_="mo")
    assert "**mallory**'s mute is lifted." in texts(lifted)
    await forum.settle()
    assert chat.mutes == {}
    assert "A moderator lifted your mute." in forum.dms("mallory")
    assert "mallory isn't muted." in texts(await chat.say("!unmute mallory", as_="mo"))
    with forum.store() as session:
        mutes = session.exec(select(Sanction)).all()
    assert len(mutes) == 1, "one continuous mute is one sanction"
    assert actions(forum) == ["mute", "mute_changed", "unmute"]


async def test_durations_are_checked(forum: ModForum) -> None:
    chat = forum.chat
    await chat.join("mallory")
    reply = texts(await chat.say("!mute mallory 1.5h spam", as_="mo"))
    assert "'1.5h' is not a duration" in reply and "Use whole numbers: 1h30m rather than 1.5h." in reply
    assert "Mutes must end" in texts(await chat.say("!mute mallory forever spam", as_="mo"))
    assert "needs <reason…>" in texts(await chat.say("!mute mallory 1h", as_="mo"))
    with forum.store() as session:
        assert session.exec(select(Sanction)).all() == []


async def test_a_community_can_choose_not_to_message_muted_members(tmp_path: Path) -> None:
    """`mute_notice` is the community's choice: some prefer to explain a mute in person."""
    async with moderated_forum(sqlite_url(tmp_path), mute_notice=False) as forum:
        chat = forum.chat
        await chat.join("mallory")
        said = texts(await chat.say("!mute mallory 1h spam", as_="mo"))
        assert "muted until" in said and "They get a private note" not in said
        await chat.say("!warn mallory 1 more spam", as_="mo")
        await forum.settle()
        assert chat.mutes == {"mallory": START + timedelta(hours=1)}
        assert forum.dms("mallory") == ""


async def test_someone_who_only_chatted_outside_threads_can_be_muted(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say("you are not even a real doctor", as_="troll")  # in the channel, not a thread
    reply = texts(await chat.say("!mute troll 1h harassment", as_="mo"))
    assert "**troll** is muted until" in reply
    await forum.settle()
    assert "troll" in chat.mutes
    profile = texts(await chat.say("!profile troll", as_="mo"))
    assert "Messages: 0" in profile, "chat outside threads counts for nothing"
