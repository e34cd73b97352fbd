"""The outbox on Discord under faults: passing failures are tried again until the action lands
(once), a channel that is gone sets the action aside at once, and a 429 storm only delays.

The outbox worker here runs on a clock of its own, a day ahead of the application's, so the
application's own worker (on the real clock) never finds these rows due, and waiting out a
Retry-After is moving that clock, not sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from chatbridge.core import utc_now
from chatbridge.model import MessageRef, OutgoingMessage, PlatformName, Room
from chatbridge.platform import Platform, PlatformError, RetryLater
from chatbridge.services.outbox import OutboxWorker, enqueue, execute_send, ref_payload, send_payload
from chatbridge.store.tables import OutboxItem
from support.discord_double import Community, DiscordDouble
from support.discord_double.nonces import NONCE_WINDOW
from support.discord_forum import DiscordForum, discord_forum
from support.forum import sqlite_url

POSTS = "/channels/{channel_id}/messages"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def worker_for(forum: DiscordForum) -> tuple[OutboxWorker, Clock]:
    clock = Clock(utc_now() + timedelta(days=1))
    return OutboxWorker(forum.core.engine, {PlatformName.DISCORD: forum.platform}, clock), clock


def general(community: Community) -> Room:
    return Room(PlatformName.DISCORD, str(community.guild_id), str(community.general), "general")


def queue(forum: DiscordForum, clock: Clock, kind: str, payload: dict[str, object], key: str) -> None:
    with Session(forum.core.engine) as session:
        enqueue(
            session, platform=PlatformName.DISCORD, kind=kind, payload=payload, dedupe_key=key, now=clock()
        )
        session.commit()


def items(forum: DiscordForum) -> list[OutboxItem]:
    with Session(forum.core.engine) as session:
        return list(session.exec(select(OutboxItem).where(OutboxItem.dedupe_key.startswith("t-"))).all())


def posted(double: DiscordDouble, channel_id: int, text: str) -> list[str]:
    """Messages with `text` in the channel as Discord holds them (not as the bot was answered)."""
    return [m["id"] for m in double.world.history(channel_id) if m["content"] == text]


async def drain_until(worker: OutboxWorker, clock: Clock, done: Callable[[], bool], step: float) -> int:
    """Run the worker, moving its clock `step` seconds between rounds, until `done()` (bounded)."""
    for rounds in range(1, 200):
        await worker.drain()
        if done():
            return rounds
        clock.advance(step)
    raise AssertionError("the outbox never drained")


async def test_a_post_that_meets_server_errors_lands_once(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        worker, clock = worker_for(forum)
        double.fail_route("POST", POSTS, status=503, code=0, message="upstream connect error", times=2)
        queue(
            forum,
            clock,
            "send",
            send_payload(general(community), OutgoingMessage("Journal club at 8")),
            "t-1",
        )

        await worker.drain()
        [item] = items(forum)
        assert item.done_at is None and item.dead_at is None
        assert item.last_error is not None and item.last_error.startswith(
            "RetryLater: Discord: could not post"
        )
        await drain_until(worker, clock, lambda: items(forum)[0].done_at is not None, step=2)
        assert len(posted(double, community.general, "Journal club at 8")) == 1


async def test_a_deletion_and_an_edit_wait_out_server_errors(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        worker, clock = worker_for(forum)
        spam = await double.post_message(community.general, community.bob, "Buy followers")
        ref = MessageRef(
            PlatformName.DISCORD, str(community.general), spam["id"], None, str(community.guild_id)
        )
        double.fail_route(
            "DELETE", POSTS + "/{message_id}", status=503, code=0, message="overloaded", times=3
        )
        queue(forum, clock, "delete_message", {"ref": ref_payload(ref), "reason": "spam"}, "t-delete")
        await drain_until(worker, clock, lambda: items(forum)[0].done_at is not None, step=2)
        assert posted(double, community.general, "Buy followers") == []

        mine = await forum.platform.send(
            general(community), OutgoingMessage("Case #1: open"), idempotency_key="t-card"
        )
        double.fail_route("PATCH", POSTS + "/{message_id}", status=503, code=0, message="overloaded", times=1)
        with pytest.raises(RetryLater):
            await forum.platform.edit_message(mine, OutgoingMessage("Case #1: resolved"))
        await forum.platform.edit_message(mine, OutgoingMessage("Case #1: resolved"))
        assert double.world.message(community.general, int(mine.message_id))["content"] == "Case #1: resolved"


async def test_a_post_to_a_channel_that_is_gone_is_set_aside_at_once(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        worker, clock = worker_for(forum)
        double.fail_route("POST", POSTS, status=404, code=10003, message="Unknown Channel", times=None)
        queue(forum, clock, "send", send_payload(general(community), OutgoingMessage("Welcome")), "t-gone")
        await worker.drain()
        [item] = items(forum)
        assert item.dead_at is not None and item.attempts == 1
        assert item.dead_reason == (
            "PlatformError: Discord: could not post a message: NotFound: 404 Not Found (error code: 10003): "
            "Unknown Channel"
        )
        with pytest.raises(PlatformError, match="Unknown Channel"):
            await forum.platform.send(general(community), OutgoingMessage("Welcome"), idempotency_key="again")


async def test_a_429_storm_delays_the_outbox_and_drops_or_doubles_nothing(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Discord answers every post and deletion with 429 (Retry-After) for 30 s of the worker's
    clock; discord.py waits out five of them per request, then the outbox waits the rest."""
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        worker, clock = worker_for(forum)
        worker.max_attempts = 3  # far fewer than the storm's rounds: rate limits must not count
        storm_ends = clock() + timedelta(seconds=30)
        spam = await double.post_message(community.general, community.bob, "Buy followers")
        ref = MessageRef(
            PlatformName.DISCORD, str(community.general), spam["id"], None, str(community.guild_id)
        )
        for method, path in (("POST", POSTS), ("DELETE", POSTS + "/{message_id}")):
            double.rate_limit(method, path, retry_after=0.01, times=None, while_=lambda: clock() < storm_ends)
        texts = [f"Notice {n}" for n in range(5)]
        for n, text in enumerate(texts):
            queue(forum, clock, "send", send_payload(general(community), OutgoingMessage(text)), f"t-{n}")
        queue(forum, clock, "delete_message", {"ref": ref_payload(ref), "reason": "spam"}, "t-delete")

        rounds = await drain_until(
            worker, clock, lambda: all(i.done_at is not None for i in items(forum)), step=5
        )
        assert rounds > 30 / 5, "the storm held everything back for 30 s of the clock"
        assert all(i.dead_at is None for i in items(forum)), "a rate limit never sets an action aside"
        assert [len(posted(double, community.general, text)) for text in texts] == [1] * 5
        assert posted(double, community.general, "Buy followers") == []
        assert len(double.calls("POST", POSTS)) > 5 * 5, "each post met the storm more than once"


async def test_a_post_whose_answer_was_lost_lands_once_when_retried_after_the_nonce_window(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Discord posts the message but the answer never arrives; the retry comes after the nonce
    window (two minutes on the double's clock), when Discord would post a repeat: the bot finds
    its message and posts nothing."""
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        worker, clock = worker_for(forum)
        double.lose_answer("POST", POSTS)
        room = general(community)
        queue(forum, clock, "send", send_payload(room, OutgoingMessage("Ward round moves to 9")), "t-lost")

        await worker.drain()
        [item] = items(forum)
        assert item.done_at is None and item.last_error is not None
        [posted_id] = posted(double, community.general, "Ward round moves to 9")

        clock.advance(NONCE_WINDOW + 10)
        double.world.clock.advance(NONCE_WINDOW + 10)
        await drain_until(worker, clock, lambda: items(forum)[0].done_at is not None, step=2)

        assert posted(double, community.general, "Ward round moves to 9") == [posted_id]
        assert items(forum)[0].result == {"message_id": posted_id, "room_id": room.room_id, "thread_id": None}


async def test_a_post_whose_answer_was_lost_before_a_restart_lands_once(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """The bot restarts between the lost answer and the retry, so it no longer remembers the
    nonce it saw on the gateway: it recognises its message by its text."""
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    room = general(community)
    async with discord_forum(double, url) as forum:
        worker, clock = worker_for(forum)
        double.lose_answer("POST", POSTS)
        queue(forum, clock, "send", send_payload(room, OutgoingMessage("Journal club is cancelled")), "t-r")
        await worker.drain()
        assert items(forum)[0].done_at is None
    [posted_id] = posted(double, community.general, "Journal club is cancelled")
    double.world.clock.advance(NONCE_WINDOW + 10)

    async with discord_forum(double, url) as forum:
        restarted = OutboxWorker(forum.core.engine, {PlatformName.DISCORD: forum.platform}, clock)
        clock.advance(NONCE_WINDOW + 10)
        await drain_until(restarted, clock, lambda: items(forum)[0].done_at is not None, step=2)
        assert posted(double, community.general, "Journal club is cancelled") == [posted_id]


async def test_a_retry_within_the_nonce_window_relies_on_the_nonce(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Soon after the lost answer Discord's nonce still holds: the retry posts with it (Discord
    answers with the first message) and reads no history."""
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        worker, clock = worker_for(forum)
        double.lose_answer("POST", POSTS)
        payload = send_payload(general(community), OutgoingMessage("Rota is out"))
        queue(forum, clock, "send", payload, "t-soon")
        await drain_until(worker, clock, lambda: items(forum)[0].done_at is not None, step=2)
        [posted_id] = posted(double, community.general, "Rota is out")
        assert items(forum)[0].result is not None and items(forum)[0].result["message_id"] == posted_id
        assert double.calls("GET", POSTS) == []


async def test_a_post_whose_worker_stopped_before_recording_it_lands_once(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """The worker is stopped right after Discord posted (a deploy, a crash): nothing is recorded
    on the row. When its claim runs out, long after the nonce window, the next try finds the post."""
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        _, clock = worker_for(forum)

        async def stopped_after_posting(platform: Platform, payload: Mapping[str, Any], key: str) -> None:
            await execute_send(platform, payload, key)
            raise asyncio.CancelledError

        dying = OutboxWorker(
            forum.core.engine, {PlatformName.DISCORD: forum.platform}, clock, {"send": stopped_after_posting}
        )
        queue(forum, clock, "send", send_payload(general(community), OutgoingMessage("Rota v2")), "t-stop")
        with pytest.raises(asyncio.CancelledError):
            await dying.drain()
        [posted_id] = posted(double, community.general, "Rota v2")
        assert items(forum)[0].done_at is None

        clock.advance(dying.claim_for.total_seconds() + 1)
        double.world.clock.advance(dying.claim_for.total_seconds() + 1)
        worker = OutboxWorker(forum.core.engine, {PlatformName.DISCORD: forum.platform}, clock)
        await drain_until(worker, clock, lambda: items(forum)[0].done_at is not None, step=2)
        assert posted(double, community.general, "Rota v2") == [posted_id]


async def test_a_late_retry_is_not_mistaken_for_another_post_with_the_same_text(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Two reminders with the same words: the first is posted; the second's first try never
    reached Discord. After a restart (no nonces remembered) and past the window, the second is
    posted, not taken for the first (the outbox records the first's message as its own)."""
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    room = general(community)
    reminder = OutgoingMessage("Reminder: M&M at 8")
    async with discord_forum(double, url) as forum:
        worker, clock = worker_for(forum)
        queue(forum, clock, "send", send_payload(room, reminder), "t-first")
        await worker.drain()
        double.fail_route("POST", POSTS, status=503, code=0, message="upstream connect error", times=1)
        queue(forum, clock, "send", send_payload(room, reminder), "t-second")
        await worker.drain()
        assert [i.done_at is not None for i in items(forum)] == [True, False]
    assert len(posted(double, community.general, "Reminder: M&M at 8")) == 1
    double.world.clock.advance(NONCE_WINDOW + 10)

    async with discord_forum(double, url) as forum:
        restarted = OutboxWorker(forum.core.engine, {PlatformName.DISCORD: forum.platform}, clock)
        clock.advance(NONCE_WINDOW + 10)
        await drain_until(restarted, clock, lambda: all(i.done_at is not None for i in items(forum)), step=2)
        assert len(posted(double, community.general, "Reminder: M&M at 8")) == 2
