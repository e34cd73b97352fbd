"""The privacy guard in hold mode on Discord (wire-level double): the post is deleted through the
REST API, its author gets the masked text by DM, and the store keeps only the masked text."""

from __future__ import annotations

from pathlib import Path

from support.discord_double import Community, DiscordDouble
from support.discord_forum import discord_forum, forum_post, reply
from support.forum import sqlite_url


async def test_hold_deletes_the_post_and_dms_the_masked_text(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    extra = {"privacy_guard": {"mode": "hold"}}
    async with discord_forum(double, sqlite_url(tmp_path), settings_extra=extra) as forum:
        assert forum.app is not None
        forum.app.outbox.poll_interval = 0.05
        thread_id = await forum_post(
            forum, community.forum, community.alice, "Sepsis", "How do you escalate?"
        )
        message_id = await reply(
            forum, thread_id, community.bob, "Mrs Khan in bed 4, DOB 12/03/1951, lactate 4.1 - thoughts?"
        )
        deleted = await double.wait_for_rest("DELETE", f"/channels/{thread_id}/messages/{message_id}")
        assert deleted.audit_log_reason == "privacy guard: patient identifiers"
        dm_channel = double.world.open_dm(community.bob)["id"]
        sent = await double.wait_for_rest("POST", f"/channels/{dm_channel}/messages")
        text = sent.json["content"] + str(sent.json.get("embeds", ""))
        assert "may identify a patient" in text and "lactate 4.1" in text
        assert "Khan" not in text and "1951" not in text
        assert sent.json["allowed_mentions"] == {"parse": []}

        post = forum.post(message_id)
        assert post.phi_flagged and not post.counted and "Khan" not in post.body
