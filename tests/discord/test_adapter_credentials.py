"""On Discord: a verified badge adds its role, unverify takes it away, and a role above the bot's
is refused in plain words (the badge is still recorded). A verified clinician's cited note shows
on the thread card and in the digest; a call-in and its answer stay in direct messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import select

from chatbridge.config import CredentialsConfig
from chatbridge.model import MemberJoined
from chatbridge.store.tables import PostNote
from support.discord_double import Community, DiscordDouble, payloads
from support.discord_double import options as opt
from support.discord_double.recording import RestCall
from support.discord_double.state import InteractionState
from support.discord_forum import DiscordForum, discord_forum, forum_post
from support.forum import sqlite_url

EPHEMERAL = payloads.EPHEMERAL_FLAG
MODAL = 9


async def answer(double: DiscordDouble, interaction: InteractionState) -> dict[str, Any]:
    return await double.wait_for_interaction_response(interaction)


async def _verify(double: DiscordDouble, community: Community, credential: str) -> dict[str, Any]:
    guild = community.guild
    asked = await double.run_slash_command(
        "verify",
        opt.user("member", double.world.user(community.alice), guild.member(community.alice)),
        opt.string("credential", credential),
        user_id=community.bob,
        channel_id=community.general,
    )
    return await answer(double, asked)


async def test_verify_and_unverify_sync_the_badge_role(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    guild = community.guild
    badge_role = guild.add_role("Verified clinician")
    guild.roles[guild.bot_role_id]["position"] = len(guild.roles) + 1  # the bot's role is above it
    extra = {"credentials": CredentialsConfig(discord_role_id=str(badge_role))}
    async with discord_forum(double, sqlite_url(tmp_path), settings_extra=extra) as forum:
        await forum_post(forum, community.forum, community.alice, "Syncope work-up", "Young athlete")
        said = await _verify(double, community, "MD · Emergency Medicine")
        assert said["data"]["flags"] & EPHEMERAL
        assert "is now shown as verified: **MD · Emergency Medicine**" in said["data"]["content"]
        assert "⚠️" not in said["data"]["content"]
        assert str(badge_role) in guild.member(community.alice)["roles"]

        asked = await double.run_slash_command(
            "unverify",
            opt.user("member", double.world.user(community.alice), guild.member(community.alice)),
            user_id=community.bob,
            channel_id=community.general,
        )
        removed = await answer(double, asked)
        assert "Removed the verified credential" in removed["data"]["content"]
        assert str(badge_role) not in guild.member(community.alice)["roles"]


async def test_a_role_above_the_bots_is_refused_in_plain_words(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    guild = community.guild
    badge_role = guild.add_role("Verified clinician")  # created after the bot's: above it
    extra = {"credentials": CredentialsConfig(discord_role_id=str(badge_role))}
    async with discord_forum(double, sqlite_url(tmp_path), settings_extra=extra) as forum:
        await forum_post(forum, community.forum, community.alice, "Syncope work-up", "Young athlete")
        said = await _verify(double, community, "RN · ICU")
        content = said["data"]["content"]
        assert "is now shown as verified: **RN · ICU**" in content
        assert (
            "⚠️ The badge is recorded, but the role was not changed: My highest role is not above" in content
        )
        assert "move my role above it in Server Settings → Roles" in content
        assert str(badge_role) not in guild.member(community.alice)["roles"]


def _content(call: RestCall) -> str:
    return str((call.json or {}).get("content", ""))


async def _dm_to(double: DiscordDouble, user_id: int, text: str) -> str:
    channel = double.world.open_dm(user_id)["id"]
    call = await double.wait_for_rest(
        "POST", f"/channels/{channel}/messages", where=lambda c: text in _content(c)
    )
    return _content(call)


async def test_a_call_in_from_the_message_menu_and_its_answer_stay_private(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    alice, bob = community.alice, community.bob
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        post = await forum_post(forum, community.forum, alice, "Ketamine", "Always safe in agitation.")
        menu = await double.use_message_command(
            "Call in privately", channel_id=post, message_id=post, user_id=bob
        )
        form = await answer(double, menu)
        assert form["type"] == MODAL and form["data"]["title"] == "Call in privately"
        sent = await double.submit_modal(
            menu, {"message": "anonymous Could you add a source? Residents read this."}
        )
        acked = await answer(double, sent)
        assert acked["data"]["flags"] & EPHEMERAL
        assert "anonymously (only the moderators can see it was you)" in acked["data"]["content"]
        delivered = await _dm_to(double, alice, "A call-in")
        assert (
            "from a member (anonymous to you; the moderators know who) about your post in **Ketamine**"
            in delivered
        )
        assert "Could you add a source? Residents read this." in delivered

        asked = await double.run_slash_command(
            "callin",
            opt.subcommand(
                "answer", opt.string("number", "#1"), opt.string("text", "Fair point, added one.")
            ),
            user_id=alice,
            channel_id=community.general,
        )
        assert "Passed on your answer to call-in #1" in (await answer(double, asked))["data"]["content"]
        relayed = await _dm_to(double, bob, "answered your call-in #1")
        assert "Fair point, added one." in relayed

        source = await double.use_message_command(
            "Ask for a source", channel_id=post, message_id=post, user_id=bob
        )
        assert (
            "I asked the author privately for a source" in (await answer(double, source))["data"]["content"]
        )
        assert "Bob" not in await _dm_to(double, alice, "asked for a source for your post in **Ketamine**")


CITE = "!cite 10.1056/NEJMoa2034577 Laryngospasm happens; see the trial."
DOI = "https://doi.org/10.1056/NEJMoa2034577"


async def _a_cited_note(forum: DiscordForum, community: Community) -> int:
    """alice posts a hot take; carol joins, bob (a moderator) verifies her, and she types a cited
    note as a reply to the post. Returns the post's thread."""
    double, carol = forum.double, community.carol
    post = await forum_post(forum, community.forum, community.alice, "Ketamine", "Always safe in agitation.")
    await double.member_joins(community.guild_id, carol)
    await forum.applied.wait(lambda e: isinstance(e, MemberJoined) and e.actor.user_id == str(carol))
    asked = await double.run_slash_command(
        "verify",
        opt.user("member", double.world.user(carol), community.guild.member(carol)),
        opt.string("credential", "MD · Emergency Medicine; note register checked"),
        user_id=community.bob,
        channel_id=community.general,
    )
    assert "is now shown as verified" in (await answer(double, asked))["data"]["content"]
    typed = await double.post_message(post, carol, CITE, reply_to=post)
    said = await double.wait_for_rest(
        "POST", f"/channels/{post}/messages", where=lambda c: "Laryngospasm" in _content(c)
    )
    assert "✓ MD · Emergency Medicine: Laryngospasm happens; see the trial." in _content(said)
    assert str((said.json.get("message_reference") or {}).get("message_id")) == typed["id"]
    with forum.store() as session:
        assert len(session.exec(select(PostNote)).all()) == 1
    return post


async def test_a_cited_note_shows_on_the_thread_card_and_in_the_digest(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        post = await _a_cited_note(forum, community)
        carol = forum.member(community.carol).display_name

        shown = await double.run_slash_command(
            "thread",
            opt.subcommand("show", opt.string("thread", f"#{forum.thread(post).id}")),
            user_id=community.alice,
            channel_id=community.general,
        )
        card = (await answer(double, shown))["data"]["content"]
        assert f"{carol} · ✓ MD · Emergency Medicine: Laryngospasm happens; see the trial." in card
        assert DOI in card and "register" not in card

        scheduled = await double.run_slash_command(
            "digest",
            opt.subcommand(
                "schedule",
                opt.string("channel", "here"),
                opt.string("weekday", "monday"),
                opt.integer("hour", 9),
                opt.string("timezone", "Europe/London"),
            ),
            user_id=community.bob,
            channel_id=community.general,
        )
        assert "Weekly digest scheduled" in (await answer(double, scheduled))["data"]["content"]
        now = await double.run_slash_command(
            "digest", opt.subcommand("now"), user_id=community.bob, channel_id=community.general
        )
        assert "Posting the digest" in (await answer(double, now))["data"]["content"]
        await double.wait_for_rest(
            "POST",
            f"/channels/{community.general}/messages",
            where=lambda c: "The week in numbers" in _content(c),
        )
        await forum.settle()

    digest = "\n".join(_content(c) for c in double.calls("POST", f"/channels/{community.general}/messages"))
    assert "Sources and notes this week" in digest
    assert (
        f"Note by {carol} · ✓ MD · Emergency Medicine on #1 Ketamine: Laryngospasm happens; see the trial."
        in digest
    )
    assert DOI in digest and "register" not in digest


async def test_typed_source_requests_and_call_ins_are_deleted_so_nobody_reads_who_asked(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double, alice, bob = discord_py_on_double, community.alice, community.bob
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        post = await forum_post(forum, community.forum, alice, "Ketamine", "Always safe in agitation.")
        asked = await double.post_message(post, bob, "!source", reply_to=post)
        await _dm_to(double, alice, "asked for a source for your post in **Ketamine**")
        await double.wait_for_rest("DELETE", f"/channels/{post}/messages/{asked['id']}")

        called = await double.post_message(post, bob, f"!callin <@{alice}> anonymous Please add a source.")
        assert "Please add a source." in await _dm_to(double, alice, "A call-in")
        await double.wait_for_rest("DELETE", f"/channels/{post}/messages/{called['id']}")
        assert {int(asked["id"]), int(called["id"])}.isdisjoint(double.world.messages[post])
