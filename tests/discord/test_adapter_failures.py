"""Discord failing: what is gone is skipped with a log line; what is passing is asked again.

Every test runs the real discord.py client against the double, which answers chosen routes with
Discord's error JSON (a 503 discord.py raises at once, a 429 it waits out and retries five times,
a 404 with code 10003 Unknown Channel) for as long as the test says.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from chatbridge.model import MessageDeleted, MessageEdited
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
