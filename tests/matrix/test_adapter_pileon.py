"""A pile-on on Matrix, end to end on a real Synapse: four members turn on one in a thread, the
case card reaches the moderators' room, the member piled on gets one private note, and "slow the
thread" (typed as a reply to the card: Matrix has no buttons) makes the bot say so once in the
thread and remove a post that comes sooner than the pace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nio import AsyncClient

from chatbridge.sandbox import Homeserver
from support.matrix_forum import Member, body, open_forum, set_power

from .test_adapter_case import Inbox, moderators_room

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]
ATTACKS = (
    "Are you even a real doctor?",
    "who let you near patients with takes like this",
    "you're not even a real doctor, stop posting",
    "did you even go to medical school?",
)


async def test_a_pileon_alert_and_a_slowed_thread_on_matrix(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    forum = await open_forum(homeserver, make_member, tmp_path)
    bot, general, space = forum.bot, forum.general, forum.community.space_id
    alice, bob = forum.alice, forum.bob
    crowd = [Member(await make_member(name)) for name in ("mallory", "oscar", "peggy", "trent")]
    for room_id in (space, *forum.community.rooms.values()):
        for member in crowd:
            await member.join(room_id)
        await set_power(forum.dana.client, room_id, bob.user_id, 50)  # bob moderates
    queue = await moderators_room(forum, [bob])
    bot.settings_extra = {"moderation": {"queue_room": queue, "sweep_seconds": 0.2}}
    inbox = {"alice": Inbox(alice), "bob": Inbox(bob)}
    for each in inbox.values():
        await each.start()

    async with bot.running():
        root = await alice.say(general, "We over-investigate chest pain in under-30s.")
        last = root
        for member, text in zip(crowd, ATTACKS, strict=True):
            last = await member.say(general, text, thread=root)
        await bot.caught_up(last)

        card = await inbox["bob"].from_bot(bot.user_id, "Pile-on", room_id=queue)
        assert "4 members turned on" in body(card)
        note = await inbox["alice"].from_bot(bot.user_id, "nothing has been said publicly")
        assert "report harassment" in body(note)

        await bob.say(queue, "!case slow this 600", reply_to=card["event_id"])
        said = await inbox["alice"].from_bot(bot.user_id, "This thread is slowed down", room_id=general)
        assert "600 seconds" in body(said)

        mallory = crowd[0]
        again = await mallory.say(general, "Still not a doctor.", thread=root)  # sooner than 600 s
        await inbox["alice"].find(
            lambda where, e: e.get("type") == "m.room.redaction" and e.get("redacts") == again,
            "the post that came too soon redacted",
        )
