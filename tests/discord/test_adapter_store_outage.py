"""The store locked by another process for longer than every ingest retry: the Discord adapter
holds what arrives (in order, positions unmoved) and applies it, once, when the store is back."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chatbridge.store.engine import make_engine
from support.discord_double import Community, DiscordDouble, payloads
from support.discord_double import options as opt
from support.discord_forum import discord_forum, forum_post, reply
from support.forum import sqlite_url
from support.locked_store import store_locked


class _RetryWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retried = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "delivering again" in record.getMessage():
            self.retried.set()


@contextmanager
def _retries_watched() -> Iterator[asyncio.Event]:
    """An event set each time the adapter tries a held event again (clear it, then wait)."""
    watch = _RetryWatch()
    logger = logging.getLogger("chatbridge.adapters.discord.holding")
    logger.addHandler(watch)
    try:
        yield watch.retried
    finally:
        logger.removeHandler(watch)


@pytest.mark.slow
async def test_a_store_outage_longer_than_every_retry_loses_nothing(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    alice, bob, carol = community.alice, community.bob, community.carol
    url = sqlite_url(tmp_path)
    async with discord_forum(double, url, engine=make_engine(url, busy_timeout_ms=100)) as forum:
        forum.core.ingestor.unavailable_retries = 1
        forum.core.ingestor.retry_pause = 0.01
        thread_id = await forum_post(forum, community.forum, alice, "Syncope work-up", "Young athlete")
        await reply(forum, thread_id, bob, "Check the QT interval.")
        truth = Counter({alice: 1, bob: 1})

        with store_locked(tmp_path / "forum.db"), _retries_watched() as retried:
            for n in range(12):
                author = (bob, carol, alice)[n % 3]
                await double.post_message(thread_id, author, f"Tip {n}: write it down.")
                truth[author] += 1
            statins, _ = await double.create_forum_post(community.forum, bob, "Statins at 80", "Primary?")
            await double.post_message(statins, alice, "Depends on frailty.")
            truth.update([bob, alice])
            await double.post_message(thread_id, carol, f"!profile <@{bob}>")  # a card answered in the thread
            for _ in range(2):  # the outage outlasts the adapter's retries too
                retried.clear()
                async with asyncio.timeout(double.wait_timeout):
                    await retried.wait()

        await forum.settle()
        assert forum.thread(thread_id).reply_count == 13
        assert forum.thread(statins).reply_count == 1
        for user, count in truth.items():
            assert forum.member(user).message_count == count, user
        cards = [
            call
            for call in double.calls("POST", f"/channels/{thread_id}/messages")
            if isinstance(call.json, dict) and "Trophy Points" in str(call.json.get("content", ""))
        ]
        assert len(cards) == 1  # the command was answered once, after the outage


async def test_a_slash_command_while_the_store_is_locked_is_told_once_to_try_again(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Discord never delivers an interaction again, so it is answered at once, plainly."""
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    async with discord_forum(double, url, engine=make_engine(url, busy_timeout_ms=100)) as forum:
        await forum.settle()
        with store_locked(tmp_path / "forum.db"):
            asked = await double.run_slash_command(
                "thread", opt.subcommand("show"), user_id=community.alice, channel_id=community.general
            )
            said = await double.wait_for_interaction_response(asked)
        assert "store is unavailable" in said["data"]["content"]
        assert "try again" in said["data"]["content"]
        assert said["data"]["flags"] & payloads.EPHEMERAL_FLAG
        await forum.settle()
        assert len(asked.responses) == 1
