"""What the bot sends: once per idempotency key (across restarts too), through rate limits, as edits
and deletions of messages, and privately."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from nio import AsyncClient, RoomMessagesResponse

from chatbridge.adapters.matrix import MatrixOptions, RateLimited
from chatbridge.model import OutgoingMessage, PlatformName, Room
from chatbridge.platform import RetryLater
from chatbridge.sandbox import Homeserver
from support.matrix_forum import Forum, Member, body, open_forum

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]


@pytest.fixture
async def forum(homeserver: Homeserver, make_member: MakeMember, tmp_path: Path) -> Forum:
    return await open_forum(homeserver, make_member, tmp_path)


def general_room(forum: Forum) -> Room:
    return Room(PlatformName.MATRIX, forum.community.space_id, forum.general, "General Discussion")


async def bodies(member: Member, room_id: str) -> list[str]:
    """Every message body in the room, oldest first (as a member scrolling back sees them)."""
    response = await member.client.room_messages(room_id, start="", limit=200)
    assert isinstance(response, RoomMessagesResponse), response
    return [body(e.source) for e in reversed(response.chunk) if e.source.get("type") == "m.room.message"]


async def test_a_send_retried_with_the_same_key_posts_once_even_after_a_restart(forum: Forum) -> None:
    bot, room = forum.bot, general_room(forum)
    digest = OutgoingMessage("**Weekly digest #42**: three threads worth reading")
    async with bot.running() as platform:
        first = await platform.send(room, digest, idempotency_key="outbox-42")
        again = await platform.send(room, digest, idempotency_key="outbox-42")
        other = await platform.send(room, digest, idempotency_key="outbox-43")
    async with bot.running() as platform:  # the outbox retries after a crash: same device, same key
        after_restart = await platform.send(room, digest, idempotency_key="outbox-42")
    assert first.message_id == again.message_id == after_restart.message_id != other.message_id
    assert (await bodies(forum.alice, forum.general)).count(
        "Weekly digest #42: three threads worth reading"
    ) == 2


@asynccontextmanager
async def rate_limited(homeserver: Homeserver, user_id: str) -> AsyncIterator[None]:
    """One message per second for `user_id`, through Synapse's admin API, lifted afterwards."""
    admin = await homeserver.register_user(
        f"admin-{secrets.token_hex(4)}", secrets.token_urlsafe(12), admin=True
    )
    url = f"{homeserver.base_url}/_synapse/admin/v1/users/{quote(user_id)}/override_ratelimit"
    headers = {"Authorization": f"Bearer {admin.access_token}"}
    async with aiohttp.ClientSession(trust_env=False) as http:
        async with http.post(
            url, json={"messages_per_second": 1, "burst_count": 1}, headers=headers
        ) as answer:
            assert answer.status == 200, await answer.text()
        try:
            yield
        finally:
            async with http.delete(url, headers=headers) as answer:
                assert answer.status == 200, await answer.text()


async def test_rate_limits_are_waited_out_a_bounded_number_of_times_then_handed_back(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "chatbridge")
    forum = await open_forum(
        homeserver,
        make_member,
        tmp_path,
        options=MatrixOptions(rate_limit_retries=1, max_rate_limit_wait=5.0),
    )
    room = general_room(forum)
    async with forum.bot.running() as platform:
        async with rate_limited(homeserver, forum.bot.user_id):
            # two in a row: the second waits out its 429 and lands
            await platform.send(room, OutgoingMessage("notice 1"), idempotency_key="n1")
            await platform.send(room, OutgoingMessage("notice 2"), idempotency_key="n2")
            assert "rate limited while trying to send" in caplog.text
            # four at once: one retry each is not enough for all; the rest are handed back
            results: list[Any] = await asyncio.gather(
                *(
                    platform.send(room, OutgoingMessage(f"notice {n}"), idempotency_key=f"n{n}")
                    for n in range(3, 7)
                ),
                return_exceptions=True,
            )
        refused = [r for r in results if isinstance(r, BaseException)]
        assert refused and all(isinstance(r, RateLimited) and isinstance(r, RetryLater) for r in refused)
        assert all(r.retry_after > 0 for r in refused)
        # the outbox tries again later with the same keys: each notice lands exactly once
        for n in range(3, 7):
            await platform.send(room, OutgoingMessage(f"notice {n}"), idempotency_key=f"n{n}")
    said = await bodies(forum.alice, forum.general)
    assert sorted(b for b in said if b.startswith("notice")) == sorted(f"notice {n}" for n in range(1, 7))


async def test_the_bot_edits_its_message_deletes_a_post_and_writes_privately(forum: Forum) -> None:
    bot, alice, bob, general = forum.bot, forum.alice, forum.bob, forum.general
    async with bot.running() as platform:
        # a case card that moves on is edited in place
        card = await platform.send(
            general_room(forum), OutgoingMessage("Case #3: open"), idempotency_key="card-3"
        )
        await platform.edit_message(card, OutgoingMessage("Case #3: **claimed** by a moderator"))
        _, edit = await alice.next_event(
            lambda _, e: e["content"].get("m.relates_to", {}).get("event_id") == card.message_id
        )
        assert (
            edit["content"]["m.new_content"]["formatted_body"]
            == "Case #3: <strong>claimed</strong> by a moderator"
        )

        # a moderator removes bob's reply: the post leaves every count
        root = await alice.say(general, "Anyone on call tonight?")
        reply = await bob.say(general, "Buy my supplements!", thread=root)
        await bot.caught_up(reply)
        assert bot.thread_row(root).reply_count == 1
        post_ref = card.__class__(PlatformName.MATRIX, general, reply, root, forum.community.space_id)
        await platform.delete_message(post_ref, "spam")
        _, redaction = await alice.next_event(lambda _, e: e.get("type") == "m.room.redaction")
        await bot.caught_up(redaction["event_id"])
        assert bot.thread_row(root).reply_count == 0
        assert redaction["content"].get("reason") == "spam"

        # a private word with bob: the same direct chat every time
        first = await platform.send_dm(
            forum.community.space_id,
            bob.user_id,
            OutgoingMessage("Your reply was removed: spam."),
            idempotency_key="dm-1",
        )
        room_id, _ = await bob.next_event(
            lambda _, e: body(e) == "Your reply was removed: spam.", accept_invites=True
        )
        assert room_id == first.room_id
        second = await platform.send_dm(
            forum.community.space_id,
            bob.user_id,
            OutgoingMessage("You can post again."),
            idempotency_key="dm-2",
        )
        assert second.room_id == first.room_id
