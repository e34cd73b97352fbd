"""The moderation verbs on Discord: timeouts (28-day cap, plain-words refusals), deletions, DMs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chatbridge.adapters.discord import translate
from chatbridge.model import Action, MessageRef, OutgoingMessage, PlatformName, Privilege
from chatbridge.platform import PlatformError
from support.discord_double import Community, DiscordDouble
from support.discord_forum import discord_forum
from support.forum import sqlite_url

MEMBER_PATH = "/guilds/{guild_id}/members/{user_id}"


async def test_a_mute_is_a_timeout_and_lifting_it_clears_the_timeout(
    discord_py_on_double: DiscordDouble,
    community: Community,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    double = discord_py_on_double
    guild, alice = str(community.guild_id), str(community.alice)
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        caplog.set_level(logging.DEBUG, logger="chatbridge")
        until = datetime.now(UTC) + timedelta(hours=2)
        result = await forum.platform.apply_mute(guild, alice, until, "Sharing patient identifiers MRN 4417")
        call = await double.wait_for_rest("PATCH", MEMBER_PATH)
        assert call.path == f"/guilds/{guild}/members/{alice}"
        assert datetime.fromisoformat(call.json["communication_disabled_until"]) == until
        assert call.audit_log_reason == "Sharing patient identifiers MRN 4417"  # Discord's audit log: fine
        assert not any("MRN 4417" in r.getMessage() for r in caplog.records), "but not in our log"
        assert result.applied_until == until and result.previous_state == {
            "communication_disabled_until": None
        }

        await forum.platform.lift_mute(guild, alice, result.previous_state)
        lifted = await double.wait_for_rest("PATCH", MEMBER_PATH, count=2)
        assert lifted.json["communication_disabled_until"] is None
        assert community.guild.member(community.alice)["communication_disabled_until"] is None


async def test_a_mute_longer_than_28_days_is_applied_up_to_the_cap_for_renewal(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        before = forum.core.clock()
        result = await forum.platform.apply_mute(
            str(community.guild_id), str(community.alice), before + timedelta(days=90), "Repeated harassment"
        )
        call = await double.wait_for_rest("PATCH", MEMBER_PATH)
        assert call.status == 200  # Discord accepted it: within its 28 days
        assert result.applied_until is not None
        assert before + timedelta(days=27) < result.applied_until <= before + translate.MAX_TIMEOUT
        assert datetime.fromisoformat(call.json["communication_disabled_until"]) == result.applied_until


async def test_lifting_restores_a_timeout_that_was_there_before_the_mute(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    earlier = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    await double.timeout_by_hand(community.guild_id, community.bob, community.alice, earlier, dispatch=False)
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        result = await forum.platform.apply_mute(
            str(community.guild_id), str(community.alice), earlier + timedelta(days=1), "Escalated"
        )
        assert result.previous_state == {"communication_disabled_until": earlier.isoformat()}
        await forum.platform.lift_mute(str(community.guild_id), str(community.alice), result.previous_state)
        restored = await double.wait_for_rest("PATCH", MEMBER_PATH, count=2)
        assert datetime.fromisoformat(restored.json["communication_disabled_until"]) == earlier


async def test_a_refused_timeout_is_explained_in_plain_words(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    double.deny_permission("PATCH", MEMBER_PATH)  # 403 50013: role too low or no Moderate Members
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        with pytest.raises(PlatformError) as refused:
            await forum.platform.apply_mute(
                str(community.guild_id), str(community.bob), forum.core.clock() + timedelta(hours=1), "Rude"
            )
    assert str(refused.value) == (
        "I can't time out Dr. Bob: my role must be above theirs and I need the Moderate Members permission."
    )


async def test_muting_someone_who_left_says_so(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        with pytest.raises(PlatformError, match="no longer in Cardiology Commons"):
            await forum.platform.apply_mute(
                str(community.guild_id), str(community.carol), forum.core.clock() + timedelta(hours=1), "Spam"
            )


async def test_deleting_a_message_for_moderation_and_messaging_a_member(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    posted = await double.post_message(
        community.general, community.alice, "Patient DOB 01/02/1960", dispatch=False
    )
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        platform = forum.platform
        ref = MessageRef(
            PlatformName.DISCORD, str(community.general), posted["id"], None, str(community.guild_id)
        )
        await platform.delete_message(ref, "Patient identifiers")
        deleted = await double.wait_for_rest(
            "DELETE", f"/channels/{community.general}/messages/{posted['id']}"
        )
        assert deleted.audit_log_reason == "Patient identifiers"
        await platform.delete_message(ref, "again")  # already gone: nothing to do, no error

        dm = await platform.send_dm(
            str(community.guild_id),
            str(community.alice),
            OutgoingMessage("Your post was removed: it contained a date of birth. @everyone"),
            idempotency_key="case:1:dm",
        )
        sent = await double.wait_for_rest("POST", f"/channels/{dm.room_id}/messages")
        assert sent.json["allowed_mentions"] == {"parse": []} and sent.json["nonce"]
        assert double.world.open_dm(community.alice)["id"] == dm.room_id

        assert (
            await platform.member_privilege(str(community.guild_id), str(community.bob))
            is Privilege.MODERATOR
        )
        assert (
            await platform.member_privilege(str(community.guild_id), str(community.alice)) is Privilege.MEMBER
        )
        assert (
            await platform.member_privilege(str(community.guild_id), str(community.carol)) is Privilege.MEMBER
        )


async def test_a_case_card_is_edited_in_place_and_its_buttons_follow_its_actions(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        platform = forum.platform
        room = translate.Place(community.guild_id, community.general, "general").room
        claim = Action("Claim", ("case", "claim"), {"case": "#3"}, style="primary")
        card = await platform.send(
            room, OutgoingMessage("Case #3 · open", actions=(claim,)), idempotency_key="case:3:card"
        )
        posted = await double.wait_for_rest("POST", f"/channels/{community.general}/messages")
        assert posted.json["components"][0]["components"][0]["custom_id"] == "cb:a:case/claim?case=%233"
        await platform.edit_message(card, OutgoingMessage("Case #3 · claimed by Dr. Bob"))
        edited = await double.wait_for_rest(
            "PATCH", f"/channels/{community.general}/messages/{card.message_id}"
        )
        assert edited.json["content"] == "Case #3 · claimed by Dr. Bob"
        assert edited.json["components"] == [] and edited.json["allowed_mentions"] == {"parse": []}
        assert platform.permalink(card) == (
            f"https://discord.com/channels/{community.guild_id}/{community.general}/{card.message_id}"
        )
