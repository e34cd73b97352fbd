"""Nothing lost: actions decided before a crash happen once after it; rate limits only delay them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import col, select

from chatbridge.store.tables import OutboxItem, Sanction
from support.forum import sqlite_url
from support.moderation import ThrottledChat, moderated_forum, new_chat

START = datetime(2025, 7, 16, 9, 0, tzinfo=UTC)


async def test_actions_stored_before_a_crash_are_carried_out_exactly_once_after_restart(
    tmp_path: Path,
) -> None:
    url, chat = sqlite_url(tmp_path), new_chat()
    async with moderated_forum(url, chat=chat, stalled=True) as forum:
        await chat.say('!thread new "Night shifts" Tips?', as_="alice")
        thread = chat.thread("Night shifts")
        await chat.say("Not a real doctor.", as_="mallory", thread=thread)
        hostile = chat.last_message_id("mallory")
        await chat.say("!report harassment", as_="alice", thread=thread, reply_to=hostile)
        await chat.say("!case mute 1 1h", as_="mo")
        await chat.say("!case delete 1", as_="mo")
        with forum.store() as session:
            pending = session.exec(select(OutboxItem).where(col(OutboxItem.done_at).is_(None))).all()
            assert {item.kind for item in pending} == {"queue_card", "apply_mute", "dm", "delete_message"}
        assert chat.mutes == {} and chat.removed == {} and forum.in_room("Moderators") == []
    # The process died here: committed, acknowledged, not carried out.

    async with moderated_forum(url, chat=chat) as forum:
        await forum.settle()
        assert chat.mutes == {"mallory": START + timedelta(hours=1)}
        assert chat.removed == {hostile: "case #1 (harassment)"}
        assert len(forum.in_room("Moderators")) == 1
        assert forum.dms("mallory").count("You are muted until") == 1
        with forum.store() as session:
            items = session.exec(select(OutboxItem)).all()
            assert all(item.done_at is not None and item.attempts == 1 for item in items)


async def test_a_rate_limited_platform_delays_but_drops_nothing(migrated_database_url: str) -> None:
    chat = new_chat(ThrottledChat)
    assert isinstance(chat, ThrottledChat)
    async with moderated_forum(migrated_database_url, chat=chat) as forum:
        await chat.say('!thread new "Night shifts" Tips?', as_="alice")
        thread = chat.thread("Night shifts")
        await chat.say("Not a real doctor.", as_="mallory", thread=thread)
        hostile = chat.last_message_id("mallory")
        chat.throttle = 12
        for who in ("alice", "bob", "carol"):
            await chat.say("!report harassment", as_=who, thread=thread, reply_to=hostile)
        await chat.say("!case claim 1", as_="mo")
        await chat.say("!case mute 1 1h", as_="mo")
        await chat.say("!case warn 1 2 harassment", as_="mo")
        await chat.say("!case delete 1", as_="mo")
        await chat.say("!case resolve 1 Removed, muted and warned.", as_="mo")
        await forum.settle()

        assert chat.throttle == 0 and len(chat.throttled) == 12
        with forum.store() as session:
            items = session.exec(select(OutboxItem)).all()
            assert all(item.done_at is not None for item in items)
            assert all(item.attempts == 1 for item in items), "rate-limited tries are not counted"
            assert not any(item.result and "refused" in item.result for item in items)
        assert chat.mutes == {"mallory": START + timedelta(hours=1)}
        assert chat.removed == {hostile: "case #1 (harassment)"}
        assert len(forum.in_room("Moderators")) == 1
        card = forum.card(1)
        assert "· resolved" in card and "Outcome: Removed, muted and warned." in card
        for reporter in ("alice", "bob", "carol"):
            assert forum.dms(reporter).count("About your report (case #1") == 1
        notices = forum.dms("mallory")
        assert notices.count("You are muted until") == 1 and notices.count("You received a warning") == 1


async def test_a_delayed_lift_never_undoes_a_newer_mute(tmp_path: Path) -> None:
    """Retries reorder actions: the lift of an old mute, rate limited, runs after a new mute."""
    chat = new_chat(ThrottledChat)
    assert isinstance(chat, ThrottledChat)
    chat.only, chat.retry_after = frozenset({"lift_mute"}), 60
    async with moderated_forum(sqlite_url(tmp_path), chat=chat) as forum:
        await chat.join("mallory")
        await chat.say("!mute mallory 1h spam", as_="mo")
        await forum.settle()
        chat.throttle = 1
        await chat.say("!unmute mallory", as_="mo")
        await chat.say("!mute mallory 1d spam again", as_="mo")

        def new_mute_applied_lift_waiting(session: object) -> bool:
            with forum.store() as s:
                items = s.exec(
                    select(OutboxItem).where(col(OutboxItem.kind).in_(["apply_mute", "lift_mute"]))
                ).all()
            lifts = [i for i in items if i.kind == "lift_mute"]
            applies = [i for i in items if i.kind == "apply_mute"]
            return all(i.done_at for i in applies) and len(applies) == 2 and lifts[0].attempts == 1

        await forum.until(new_mute_applied_lift_waiting, "the new mute to be applied first")
        chat.advance(timedelta(seconds=61))
        await forum.settle()
        assert chat.mutes == {"mallory": START + timedelta(days=1)}
        with forum.store() as session:
            lift = session.exec(select(OutboxItem).where(OutboxItem.kind == "lift_mute")).one()
            assert lift.result == {"skipped": "a newer mute is active"}
            assert len(session.exec(select(Sanction)).all()) == 2
