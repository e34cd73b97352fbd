"""A pile-on on Discord, end to end through the wire-level double: four members turn on one in a
forum post, the case card arrives in the queue with the pile-on buttons, the member piled on gets
one private note, and "Slow the thread" sets Discord's own slow mode on the thread."""

from __future__ import annotations

from pathlib import Path

from chatbridge.model import MessagePosted
from support.discord_double import Community, DiscordDouble
from support.forum import sqlite_url

from .test_adapter_case import button, card_reads, dm_to, labels, moderated, privately

ATTACKS = (
    "Are you even a real doctor?",
    "who let you near patients with takes like this",
    "you're not even a real doctor, stop posting",
    "did you even go to medical school?",
)


async def test_a_pileon_opens_a_case_and_its_slow_mode_button_slows_the_thread(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    guild = community.guild
    queue = guild.add_text_channel("mod-queue", topic="Reports, for moderators")
    crowd = []
    for name in ("dave", "erin", "frank", "gina"):
        user = double.world.add_user(name, global_name=name.title())
        guild.add_member(user)
        crowd.append(user)

    async with moderated(double, sqlite_url(tmp_path), queue) as forum:
        thread, _ = await double.create_forum_post(
            community.forum,
            community.alice,
            "Chest pain audit",
            "We over-investigate chest pain in under-30s.",
        )
        for user, text in zip(crowd, ATTACKS, strict=True):
            posted = await double.post_message(thread, user, text)
            await forum.applied.wait(
                lambda e, posted=posted: isinstance(e, MessagePosted) and e.message_id == posted["id"]
            )

        call = await card_reads(double, queue, "· Pile-on** · open")
        card = double.world.message(queue, int(call.response["id"]))
        assert "4 members turned on" in str(call.json["content"])
        assert call.json["allowed_mentions"] == {"parse": []}
        assert labels(card) == [
            "Claim",
            "Slow the thread",
            "Lock the thread",
            "Mute participants",
            "Resolve",
            "Not a pile-on",
        ]
        note = await dm_to(double, community.alice, "nothing has been said publicly")
        assert "report harassment" in note

        pressed = await double.click_button(card, button(card, "Slow the thread"), user_id=community.bob)
        assert "slowed to one post per 60 s" in await privately(double, pressed)
        await double.wait_for_rest(
            "PATCH", f"/channels/{thread}", where=lambda c: (c.json or {}).get("rate_limit_per_user") == 60
        )
        assert double.world.raw_channel(thread)["rate_limit_per_user"] == 60
