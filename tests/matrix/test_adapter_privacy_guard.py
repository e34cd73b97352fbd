"""The privacy guard in hold mode on a real Synapse: the post is redacted, its author gets the
masked text in a direct chat, and the store keeps only the masked text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nio import AsyncClient

from chatbridge.sandbox import Homeserver
from support.matrix_forum import body, open_forum

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]


async def test_hold_redacts_the_post_and_sends_the_masked_text_privately(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    forum = await open_forum(
        homeserver, make_member, tmp_path, settings_extra={"privacy_guard": {"mode": "hold"}}
    )
    bot, alice, bob, general = forum.bot, forum.alice, forum.bob, forum.general
    async with bot.running():
        await bob.catch_up()
        await alice.catch_up()
        root = await alice.say(general, "Sepsis on the wards: how do you escalate?")
        reply = await bob.say(general, "Mrs Khan in bed 4, DOB 12/03/1951, lactate 4.1", thread=root)
        await bot.caught_up(reply)

        dm = await bob.hears_from(bot.user_id, saying="may identify a patient", accept_invites=True)
        assert "lactate 4.1" in body(dm) and "Khan" not in body(dm) and "1951" not in body(dm)
        _, redaction = await alice.next_event(
            lambda _, e: e.get("type") == "m.room.redaction" and e.get("redacts") == reply
        )
        assert redaction["sender"] == bot.user_id

        post = bot.post_row(reply)
        assert post is not None and post.phi_flagged and "Khan" not in post.body
