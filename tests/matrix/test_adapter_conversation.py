"""The bot on a real Synapse, driven by members in their own clients: threads, replies, likes,
edits, deletions and commands, read back from what the bot said and from the store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nio import AsyncClient
from sqlmodel import select

from chatbridge.sandbox import Homeserver
from chatbridge.store.tables import PlatformSession, SubForum
from support.matrix_forum import Forum, body, open_forum

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]


@pytest.fixture
async def forum(homeserver: Homeserver, make_member: MakeMember, tmp_path: Path) -> Forum:
    return await open_forum(homeserver, make_member, tmp_path)


async def test_a_thread_with_a_reply_a_like_an_edit_and_commands(forum: Forum) -> None:
    bot, alice, bob, general = forum.bot, forum.alice, forum.bob, forum.general
    async with bot.running():
        # the bot joined the space's rooms by itself and made them sub-forums, in the space's order
        with bot.store() as session:
            names = [s.name for s in session.exec(select(SubForum).order_by(SubForum.position)).all()]
        assert names == ["General Discussion", "Clinical Questions"]
        await bob.catch_up()

        # alice: "Night shifts as a new resident: any tips?"  bob, in the thread: "Sleep in blocks."
        root = await alice.say(general, "Night shifts as a new resident: any tips?")
        reply = await bob.say(general, "Sleep in blocks, eat real food before midnight.", thread=root)
        await bot.caught_up(reply)
        thread = bot.thread_row(root)
        assert (thread.title, thread.reply_count, thread.participant_count) == (
            "Night shifts as a new resident: any tips?",
            1,
            2,
        )
        assert bot.member_row(alice.user_id).threads_started == 1
        assert bot.member_row(bob.user_id).message_count == 1

        # bot, in the thread: bob's first trophy, pinging nobody
        trophy = await bob.hears_from(bot.user_id, room_id=general, saying="First Message")
        assert "earned the trophy" in body(trophy)
        assert trophy["content"]["m.mentions"] == {}
        assert trophy["content"]["m.relates_to"]["event_id"] == root

        # alice: 👍 on bob's reply, then takes it back
        thumbs = await alice.react(general, reply, "👍")
        await bot.caught_up(thumbs)
        assert bot.member_row(bob.user_id).likes_received == 1
        await bot.caught_up(await alice.redact(general, thumbs))
        assert bot.member_row(bob.user_id).likes_received == 0
        assert bot.thread_row(root).like_count == 0

        # bob edits his reply; the forum keeps the new text
        await bot.caught_up(await bob.edit(general, reply, "Sleep in blocks. Blackout curtains help."))
        post = bot.post_row(reply)
        assert post is not None and post.body == "Sleep in blocks. Blackout curtains help."

        # alice, in the thread: "!profile bob" -> his card, as a reply in the thread (her own card
        # would be answered privately)
        asked = await alice.say(general, f"!profile {bob.user_id}", thread=root)
        card = await alice.hears_from(bot.user_id, replying_to=asked)
        assert "bob" in body(card) and "Messages: 1" in body(card)
        relation = card["content"]["m.relates_to"]
        assert (relation["rel_type"], relation["event_id"]) == ("m.thread", root)
        assert relation["m.in_reply_to"]["event_id"] == asked
        assert card["content"]["format"] == "org.matrix.custom.html"
        assert card["content"]["m.mentions"] == {}

        # alice, replying to bob's post inside the thread: "!share" -> a matrix.to link in context
        share = await alice.say(general, "!share", thread=root, reply_to=reply)
        shared = await bob.hears_from(bot.user_id, replying_to=share)
        server = bob.user_id.split(":", 1)[1]
        assert f"https://matrix.to/#/{general}/{reply}?via={server}" in body(shared)
        assert "Night shifts as a new resident" in body(shared)

    with bot.store() as session:
        [device] = session.exec(select(PlatformSession)).all()
    async with bot.running():  # a restart logs in with the stored device, not a new one
        with bot.store() as session:
            assert session.exec(select(PlatformSession)).one().device_id == device.device_id
