"""Faults on the way from Synapse to the store lose nothing and count nothing twice.

A thread's root that cannot be fetched (the homeserver answers 429) holds the sync batch until
it can; a store locked by another process for longer than every ingest retry holds the sync
position, and what arrived meanwhile is applied, once, when the store is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClient, RoomMessagesResponse

from chatbridge.adapters.matrix import MatrixOptions
from chatbridge.sandbox import Homeserver
from support.locked_store import store_locked
from support.matrix_forum import WAIT, Member, body, open_forum
from support.matrix_proxy import flaky_proxy

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]

QUICK_RETRIES = MatrixOptions(poll_timeout_ms=10_000, max_rate_limit_wait=5.0, max_backoff=2.0)

SMALL_TIMELINE = MatrixOptions(
    poll_timeout_ms=10_000, max_backoff=2.0, timeline_limit=5, gap_page_size=4, max_rate_limit_wait=5.0
)
"""As QUICK_RETRIES, with syncs of at most 5 events per room: a batch taken again from the held
position is filled from /messages over several pages."""


async def test_a_root_fetch_that_fails_twice_then_succeeds_counts_every_reply(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    forum = await open_forum(homeserver, make_member, tmp_path, options=QUICK_RETRIES)
    # Posted before the bot's first start: not in any batch it applies, so its first reply makes
    # the bot fetch it from the homeserver.
    root = await forum.alice.say(forum.general, "Night shifts: any tips?")
    async with flaky_proxy(homeserver.base_url) as proxy:
        proxy.fail(f"/event/{root}", times=2)
        forum.bot.homeserver_url = proxy.url
        async with forum.bot.running():
            await forum.bob.say(forum.general, "Sleep in blocks.", thread=root)
            await forum.dana.say(forum.general, "Blackout curtains.", thread=root)
            last = await forum.bob.say(forum.general, "And eat before midnight.", thread=root)
            await forum.bot.caught_up(last)
            assert proxy.failed[f"/event/{root}"] == 2
            thread = forum.bot.thread_row(root)
            assert (thread.reply_count, thread.participant_count) == (3, 3)
            assert forum.bot.member_row(forum.alice.user_id).message_count == 1
            assert forum.bot.member_row(forum.bob.user_id).message_count == 2


@pytest.mark.slow
async def test_a_store_outage_longer_than_every_retry_loses_nothing(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    forum = await open_forum(
        homeserver,
        make_member,
        tmp_path,
        options=SMALL_TIMELINE,
        busy_timeout_ms=100,
        ingest_retries=1,
        # The bot stays quiet before the outage, so the batch it holds is the members' messages
        # (a batch of its own trophy notice would be held instead, and Synapse would answer the
        # retries from its /sync cache with that same batch until the store is back).
        settings_extra={"forum": {"announce_trophies": False}},
    )
    alice, bob, dana, bot = forum.alice, forum.bob, forum.dana, forum.bot
    async with bot.running():
        root = await alice.say(forum.general, "Handover at 7?")
        await bot.caught_up(await bob.say(forum.general, "SBAR, always.", thread=root))
        truth = Counter({alice.user_id: 1, bob.user_id: 1})

        with store_locked(tmp_path / "forum.db"), _holds_watched() as held:
            for n in range(12):
                member = (bob, dana, alice)[n % 3]
                await member.say(forum.general, f"Tip {n}: write it down.", thread=root)
                truth[member.user_id] += 1
            rash = await bob.say(forum.clinical, "Anyone seen this rash after the new antibiotic?")
            photo = await alice.say(forum.clinical, "A photo would help (no faces).", thread=rash)
            truth.update([bob.user_id, alice.user_id])
            asked = await dana.say(forum.general, f"!profile {alice.user_id}")  # a card in the room
            for _ in range(2):  # the bot tried to apply them, held its position, and tried again
                async with asyncio.timeout(WAIT):
                    await held.wait()
                held.clear()

        await bot.caught_up(asked, photo)
        answer = await dana.hears_from(bot.user_id, replying_to=asked)
        assert "alice" in body(answer)
        assert bot.thread_row(root).reply_count == 13
        assert bot.thread_row(rash).reply_count == 1
        for member in (alice, bob, dana):
            assert bot.member_row(member.user_id).message_count == truth[member.user_id], member.user_id
        answers = [e for e in await _messages(dana, forum.general) if _replies_to(e, asked)]
        assert len(answers) == 1  # the command was answered once, after the outage


async def test_rooms_are_of_synapses_default_version_and_commands_take_their_ids(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    forum = await open_forum(homeserver, make_member, tmp_path)
    assert ":" not in forum.general  # room version 12 (Synapse's default): no server part
    async with forum.bot.running():
        await forum.dana.say(forum.clinical, f"!digest schedule {forum.general} monday 9 Europe/London")
        told = await forum.dana.hears_from(forum.bot.user_id, saying="Weekly digest", accept_invites=True)
        assert "Weekly digest scheduled in General Discussion" in body(told)


class _HoldWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.held = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "holding the sync position" in message and "MessagePosted" in message:
            self.held.set()


@contextmanager
def _holds_watched() -> Iterator[asyncio.Event]:
    """An event set each time the sync loop holds its position on a batch of messages."""
    watch = _HoldWatch()
    logger = logging.getLogger("chatbridge.adapters.matrix.sync")
    logger.addHandler(watch)
    try:
        yield watch.held
    finally:
        logger.removeHandler(watch)


async def _messages(member: Member, room_id: str) -> list[dict[str, Any]]:
    response = await member.client.room_messages(room_id, start="", limit=200)
    assert isinstance(response, RoomMessagesResponse), response
    return [getattr(e, "source", {}) for e in response.chunk]


def _replies_to(event: dict[str, Any], event_id: str) -> bool:
    relates = event.get("content", {}).get("m.relates_to", {})
    return bool(relates.get("m.in_reply_to", {}).get("event_id") == event_id)
