"""What goes wrong in real rooms: strangers inviting the bot, messages at the size limit, commands
typed wrongly, events with the wrong shape, an edit forged by someone else. The bot answers the
person waiting, logs the rest, and never stops syncing."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nio import AsyncClient, RoomCreateResponse, RoomSendError

from chatbridge.adapters.matrix.translate import SHORTENED
from chatbridge.model import OutgoingMessage, PlatformName, Room
from chatbridge.sandbox import Homeserver
from support.matrix_forum import Forum, Member, body, open_forum

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]


@pytest.fixture
async def forum(homeserver: Homeserver, make_member: MakeMember, tmp_path: Path) -> Forum:
    return await open_forum(homeserver, make_member, tmp_path)


async def test_invites_from_strangers_are_refused(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "chatbridge")
    forum = await open_forum(homeserver, make_member, tmp_path)
    forum.bot.allowed_inviters = (forum.dana.user_id,)
    mallory = Member(await make_member("mallory"))
    await mallory.catch_up()
    async with forum.bot.running():
        # mallory: "join my room, bot"  -> refused
        lure = await mallory.client.room_create(name="Free CME credits", invite=[forum.bot.user_id])
        assert isinstance(lure, RoomCreateResponse), lure
        await mallory.next_event(
            lambda room, e: (
                room == lure.room_id
                and e.get("state_key") == forum.bot.user_id
                and e["content"].get("membership") == "leave"
            )
        )
        # dana, who runs the community: "join the journal club room"  -> joined
        club = await forum.dana.client.room_create(name="Journal club", invite=[forum.bot.user_id])
        assert isinstance(club, RoomCreateResponse), club
        await forum.dana.next_event(
            lambda room, e: (
                room == club.room_id
                and e.get("state_key") == forum.bot.user_id
                and e["content"].get("membership") == "join"
            )
        )
    assert f"refused an invitation to {lure.room_id} from {mallory.user_id}" in caplog.text


async def test_a_post_at_the_size_limit_counts_one_over_it_never_arrives_and_long_answers_are_cut(
    forum: Forum,
) -> None:
    bot, alice, bob, general = forum.bot, forum.alice, forum.bob, forum.general
    async with bot.running() as platform:
        root = await alice.say(general, "Share your longest handover notes")
        # bob: a 62 KB reply (the largest a Matrix event can hold, with its envelope)
        notes = await bob.say(general, "handover " * 6_800, thread=root)
        await bot.caught_up(notes)
        post = bot.post_row(notes)
        assert post is not None and post.counted and len(post.body) == len("handover " * 6_800)

        # bob: a 70 KB reply -> the homeserver refuses it; the bot never sees anything
        refused = await bob.client.room_send(
            general, "m.room.message", {"msgtype": "m.text", "body": "x" * 70_000}
        )
        assert isinstance(refused, RoomSendError) and refused.status_code == "M_TOO_LARGE"

        # the bot asked to say 150 KB: it says as much as fits, and says that it was shortened
        room = Room(PlatformName.MATRIX, forum.community.space_id, general, "General Discussion")
        ref = await platform.send(room, OutgoingMessage("word " * 30_000), idempotency_key="too-long")
        said = await alice.next_event(lambda _, e: e.get("event_id") == ref.message_id)
        assert body(said[1]).endswith(SHORTENED.strip("\n"))

        assert bot.thread_row(root).reply_count == 1


async def test_a_command_typed_wrongly_gets_a_private_answer_with_its_usage(forum: Forum) -> None:
    bot, alice, general = forum.bot, forum.alice, forum.general
    async with bot.running():
        # alice: !thread new "Broken quote  -> the bot writes to her privately
        await alice.say(general, '!thread new "Broken quote')
        usage_room, usage = await alice.next_event(
            lambda _, e: e.get("sender") == bot.user_id and e.get("type") == "m.room.message",
            accept_invites=True,
        )
        assert usage_room != general
        assert 'A quote " is opened but never closed.' in body(usage)
        assert "General Discussion" in body(usage)  # says which message it answers
        assert usage["content"]["m.mentions"] == {}

        # alice: !thread new  -> the usage, in the same private chat
        await alice.say(general, "!thread new")
        room, hint = await alice.next_event(lambda _, e: e.get("sender") == bot.user_id)
        assert "Usage: `!thread new <title> <body…>`" in body(hint)
        assert room == usage_room


async def test_events_of_the_wrong_shape_are_logged_and_the_bot_carries_on(
    forum: Forum, caplog: pytest.LogCaptureFixture
) -> None:
    bot, alice, bob, general = forum.bot, forum.alice, forum.bob, forum.general
    caplog.set_level(logging.WARNING, "chatbridge")
    async with bot.running():
        root = await alice.say(general, "Which antibiotic for cellulitis?")
        # Synapse refuses most broken shapes itself (a body that is not text, a keyless reaction);
        # an edit without its new content gets through:
        contentless = await alice.send(
            general,
            "m.room.message",
            {"msgtype": "m.text", "body": "* x", "m.relates_to": {"rel_type": "m.replace", "event_id": root}},
        )
        fine = await bob.say(general, "Depends on local resistance.", thread=root)
        await bot.caught_up(fine)
        assert bot.thread_row(root).reply_count == 1
    assert f"malformed m.room.message event {contentless}" in caplog.text


async def test_an_edit_sent_by_someone_else_changes_nothing(
    forum: Forum, make_member: MakeMember, caplog: pytest.LogCaptureFixture
) -> None:
    bot, alice, bob, general = forum.bot, forum.alice, forum.bob, forum.general
    caplog.set_level(logging.INFO, "chatbridge")
    async with bot.running():
        root = await alice.say(general, "Is 5 mg too much?")
        answer = await bob.say(general, "Check the renal function first.", thread=root)
        forged = await alice.edit(general, answer, "Just double it.")
        await bot.caught_up(forged)
        post = bot.post_row(answer)
        assert post is not None and post.body == "Check the renal function first."
    assert f"ignored an edit of {answer} by someone other than its author" in caplog.text
