"""Discord failing: what is gone is skipped with a log line; what is passing is asked again.

Every test runs the real discord.py client against the double, which answers chosen routes with
Discord's error JSON (a 503 discord.py raises at once, a 429 it waits out and retries five times,
a 404 with code 10003 Unknown Channel) for as long as the test says.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from chatbridge.model import CursorMoved, MessageDeleted, MessageEdited
from chatbridge.store.tables import Thread
from support.discord_double import Community, DiscordDouble
from support.discord_forum import TEST_TUNING, DiscordForum, discord_forum, forum_post, reply
from support.forum import sqlite_url

NO_SWEEP = dataclasses.replace(
    TEST_TUNING,
    backfill=dataclasses.replace(
        TEST_TUNING.backfill, likes=dataclasses.replace(TEST_TUNING.backfill.likes, like_window=timedelta(0))
    ),
)
"""No like sweep after the restart: the first look-up of the archived thread is the test's event."""


@asynccontextmanager
async def archived_thread_after_restart(
    double: DiscordDouble, community: Community, url: str
) -> AsyncIterator[tuple[DiscordForum, int, int]]:
    """A forum post with a reply, archived, then a fresh bot: the thread is in no cache, so the
    next event in it makes the adapter fetch the channel (GET /channels/{thread})."""
    async with discord_forum(double, url) as forum:
        thread_id = await forum_post(forum, community.forum, community.alice, "Syncope work-up", "Athlete")
        answer = await reply(forum, thread_id, community.bob, "Chekc the QT")
        await double.archive_thread(thread_id)
        await forum.settle()
    async with discord_forum(double, url, tuning=NO_SWEEP) as forum:
        yield forum, thread_id, answer


def channel_fetches(double: DiscordDouble, channel_id: int) -> list[int]:
    return [call.status for call in double.calls("GET", f"/channels/{channel_id}")]


async def test_an_edit_waits_out_server_errors_and_is_applied(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with archived_thread_after_restart(double, community, sqlite_url(tmp_path)) as (
        forum,
        thread,
        answer,
    ):
        double.fail_route(
            "GET", f"/channels/{thread}", status=503, code=0, message="upstream connect error", times=3
        )
        await double.edit_message(thread, answer, "Check the QT interval.")
        await forum.applied.wait(lambda e: isinstance(e, MessageEdited))
        assert forum.post(answer).body == "Check the QT interval."
        assert channel_fetches(double, thread) == [503, 503, 503, 200]


async def test_a_deletion_outlasts_discord_s_own_rate_limit_retries(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Six 429s: discord.py waits out five and gives up; the adapter asks again and gets through."""
    double = discord_py_on_double
    async with archived_thread_after_restart(double, community, sqlite_url(tmp_path)) as (
        forum,
        thread,
        answer,
    ):
        double.rate_limit("GET", f"/channels/{thread}", retry_after=0.01, times=6)
        await double.delete_message(thread, answer, by=community.bob)
        await forum.applied.wait(lambda e: isinstance(e, MessageDeleted))
        await forum.settle()
        assert forum.post(answer).deleted_at is not None
        assert forum.member(community.bob).message_count == 0
        assert channel_fetches(double, thread) == [429] * 6 + [200]


async def test_an_event_in_a_channel_that_is_gone_is_skipped_with_a_log_line(
    discord_py_on_double: DiscordDouble,
    community: Community,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    double = discord_py_on_double
    caplog.set_level(logging.WARNING, logger="chatbridge.adapters.discord")
    async with archived_thread_after_restart(double, community, sqlite_url(tmp_path)) as (
        forum,
        thread,
        answer,
    ):
        double.fail_route("GET", f"/channels/{thread}", status=404, code=10003, message="Unknown Channel")
        await double.edit_message(thread, answer, "Check the QT interval.")
        await double.wait_for_rest("GET", f"/channels/{thread}")
        await forum.settle()
        assert forum.post(answer).body == "Chekc the QT", "nothing to apply it to"
        assert channel_fetches(double, thread) == [404], "a gone channel is not asked again"
    skipped = [r.getMessage() for r in caplog.records if "is gone or out of reach" in r.getMessage()]
    assert skipped == [
        f"Discord channel {thread} is gone or out of reach (NotFound: 404 Not Found (error code: 10003): "
        f"Unknown Channel); skipping the edit of message {answer}"
    ]
    assert "Check the QT" not in caplog.text, "no member text in the log"


async def caught_up(forum: DiscordForum) -> None:
    await forum.applied.wait(lambda e: isinstance(e, CursorMoved) and e.scope.startswith("guild:"))


async def test_catching_up_waits_out_server_errors(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        thread = await forum_post(forum, community.forum, community.alice, "Syncope work-up", "Athlete")
        await reply(forum, thread, community.bob, "Check the QT interval.")
    away = await double.post_message(thread, community.bob, "Echo normal.", dispatch=False)
    double.fail_route(
        "GET", f"/channels/{thread}/messages", status=503, code=0, message="overloaded", times=2
    )
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        await forum.settle()
        assert forum.thread(thread).reply_count == 2
        assert forum.post(away["id"]).body == "Echo normal."


class Heard(logging.Handler):
    """Set once a log line containing `text` is written (on the event loop's thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


async def test_a_new_thread_that_cannot_be_read_is_looked_for_again_at_the_next_start(
    discord_py_on_double: DiscordDouble,
    community: Community,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The guild's watermark stays put while a thread started while away cannot be read, so the
    next start still finds it (past the watermark, it would never be looked for again)."""
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
    thread, _ = await double.create_forum_post(
        community.forum, community.alice, "Night shifts", "Tips?", dispatch=False
    )
    await double.post_message(thread, community.bob, "Sleep in the day.", dispatch=False)
    outage = double.fail_route(
        "GET", f"/channels/{thread}/messages", status=503, code=0, message="overloaded", times=None
    )
    failed = Heard("backfill of a thread in guild")
    backfill_log = logging.getLogger("chatbridge.adapters.discord.backfill")
    backfill_log.addHandler(failed)
    try:
        async with discord_forum(double, url) as forum:
            async with asyncio.timeout(double.wait_timeout):
                await failed.event.wait()
            await forum.settle()
            with forum.store() as session:
                assert (
                    session.exec(select(Thread).where(Thread.platform_thread_id == str(thread))).all() == []
                )
    finally:
        backfill_log.removeHandler(failed)
    assert outage.served == TEST_TUNING.backfill.retries
    double.faults.clear()
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        await forum.settle()
        assert forum.thread(thread).reply_count == 1


async def test_the_like_sweep_waits_out_server_errors(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """A like given while away on an older post is found by the sweep, through two 503s."""
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        thread = await forum_post(forum, community.forum, community.alice, "Syncope work-up", "Athlete")
        answer = await reply(forum, thread, community.bob, "Check the QT interval.")
    await double.add_reaction(thread, answer, "👍", community.alice, dispatch=False)
    outage = double.fail_route(
        "GET", f"/channels/{thread}/messages", status=503, code=0, message="overloaded", times=2
    )
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        await forum.settle()
        assert outage.served == 2
        assert forum.post(answer).like_count == 1
        assert forum.member(community.bob).likes_received == 1


async def test_a_thread_gone_while_away_is_skipped_with_a_log_line(
    discord_py_on_double: DiscordDouble,
    community: Community,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    caplog.set_level(logging.WARNING, logger="chatbridge.adapters.discord")
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        thread = await forum_post(forum, community.forum, community.alice, "Syncope work-up", "Athlete")
    await double.post_message(thread, community.bob, "Echo normal.", dispatch=False)
    double.fail_route(
        "GET", f"/channels/{thread}/messages", status=403, code=50001, message="Missing Access", times=None
    )
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        await forum.settle()
        assert forum.thread(thread).reply_count == 0
    gone = [r.getMessage() for r in caplog.records if "not read back" in r.getMessage()]
    assert gone == [
        f"thread {thread} of guild {community.guild_id} is gone or out of reach "
        "(Forbidden: 403 Forbidden (error code: 50001): Missing Access); not read back"
    ]
    assert len(double.calls("GET", f"/channels/{thread}/messages")) >= 1
    assert "Echo normal" not in caplog.text
