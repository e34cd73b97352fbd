"""Forum tags through the wire-level double: `/thread new` offers a forum's tags, applies them,
meets a forum that requires one, and thread cards show them as Discord has them now."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chatbridge.model import ChatEvent, ThreadTagsChanged
from support.discord_double import Community, DiscordDouble
from support.discord_double import options as opt
from support.discord_double.state import InteractionState
from support.discord_forum import DiscordForum, discord_forum, forum_post
from support.forum import sqlite_url


async def answer(double: DiscordDouble, interaction: InteractionState) -> dict[str, Any]:
    return await double.wait_for_interaction_response(interaction)


async def new_thread(
    forum: DiscordForum, channel_id: int, user_id: int, title: str, *tags: str
) -> InteractionState:
    options = [opt.string("title", title), opt.string("body", "What would you do?")]
    if tags:
        options.append(opt.string("tags", ", ".join(tags)))
    return await forum.double.run_slash_command(
        "thread", opt.subcommand("new", *options), user_id=user_id, channel_id=channel_id
    )


async def test_the_tags_option_suggests_the_forums_tags_but_not_moderated_ones(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        inside = await forum_post(forum, community.forum, community.alice, "Syncope", "Young athlete")
        typing = await double.autocomplete(
            "thread",
            opt.subcommand(
                "new",
                opt.string("title", "AF"),
                opt.string("body", "Now what?"),
                opt.string("tags", "", focused=True),
            ),
            user_id=community.alice,
            channel_id=inside,
        )
        choices = (await answer(double, typing))["data"]["choices"]
        assert [c["value"] for c in choices] == ["cardiology", "neurology"]

        typing = await double.autocomplete(
            "thread",
            opt.subcommand(
                "new",
                opt.string("title", "AF"),
                opt.string("body", "Now what?"),
                opt.string("tags", "cardiology, NEU", focused=True),
            ),
            user_id=community.alice,
            channel_id=inside,
        )
        choices = (await answer(double, typing))["data"]["choices"]
        assert [c["value"] for c in choices] == ["cardiology, neurology"]


async def test_thread_new_applies_the_chosen_tags_and_the_card_shows_them(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        inside = await forum_post(forum, community.forum, community.alice, "Syncope", "Young athlete")
        asked = await new_thread(forum, inside, community.bob, "Stroke after AF", "Neurology", "cardiology")
        said = await answer(double, asked)
        created = await double.wait_for_rest("POST", f"/channels/{community.forum}/threads")
        assert created.json["applied_tags"] == [
            str(community.tag("neurology")),
            str(community.tag("cardiology")),
        ]
        assert "**Stroke after AF** started in questions" in said["data"]["content"]
        await forum.settle()
        thread = forum.thread(int(created.response["id"]))
        assert thread.tags == ["neurology", "cardiology"]

        shown = await double.run_slash_command(
            "thread",
            opt.subcommand("show", opt.string("thread", f"#{thread.id}")),
            user_id=community.alice,
            channel_id=inside,
        )
        card = (await answer(double, shown))["data"]["content"]
        assert "tags: neurology, cardiology" in card


async def test_a_tag_the_forum_does_not_have_is_refused_with_the_list(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        inside = await forum_post(forum, community.forum, community.alice, "Syncope", "Young athlete")
        for wrong in ("dermatology", "answered"):  # unknown, and moderated (not the bot's to apply)
            asked = await new_thread(forum, inside, community.alice, "Rash", wrong)
            said = await answer(double, asked)
            assert said["data"]["content"] == (
                f"There is no tag “{wrong}” here: choose from “cardiology” or “neurology”."
            )
        assert double.calls("POST", f"/channels/{community.forum}/threads") == []


async def test_a_forum_that_requires_a_tag_asks_for_one_and_then_works(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    cases = community.guild.add_forum_channel("cases", tags=["cardiology", "renal"], require_tag=True)
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        inside = await forum_post(forum, cases, community.alice, "Syncope", "Young athlete", tags=["renal"])
        asked = await new_thread(forum, inside, community.bob, "AF")
        said = await answer(double, asked)
        assert said["data"]["content"] == (
            "Posts here need a tag: add tags with one of “cardiology” or “renal”."
        )
        assert double.calls("POST", f"/channels/{cases}/threads") == []

        asked = await new_thread(forum, inside, community.bob, "AF", "renal")
        said = await answer(double, asked)
        created = await double.wait_for_rest("POST", f"/channels/{cases}/threads")
        assert created.status == 201 and created.json["applied_tags"] == [
            str(community.guild.tag_id(cases, "renal"))
        ]
        assert "**AF** started in cases" in said["data"]["content"]


async def test_tags_in_a_text_channel_are_refused_plainly(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        asked = await new_thread(forum, community.general, community.alice, "Night shifts", "cardiology")
        said = await answer(double, asked)
        assert said["data"]["content"] == "Threads here have no tags (only forum posts do): leave tags out."


def retagged(event: ChatEvent) -> bool:
    return isinstance(event, ThreadTagsChanged)


async def test_a_post_retagged_on_discord_carries_its_new_tags(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        post = await forum_post(forum, community.forum, community.alice, "Syncope", "Go", tags=["cardiology"])
        assert forum.thread(post).tags == ["cardiology"]
        await double.retag_post(post, ["neurology", "cardiology"])
        await forum.applied.wait(retagged)
        await forum.settle()
        assert forum.thread(post).tags == ["neurology", "cardiology"]


async def test_a_forum_tag_renamed_or_removed_on_discord_is_followed_everywhere(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        both = await forum_post(
            forum, community.forum, community.alice, "Syncope", "Go", tags=["cardiology", "neurology"]
        )
        neuro = await forum_post(
            forum, community.forum, community.alice, "Migraine", "Go", tags=["neurology"]
        )
        await double.edit_forum_tags(community.forum, renamed={"cardiology": "Cardio"}, removed=["neurology"])
        await forum.applied.wait(retagged)
        await forum.settle()
        assert forum.thread(both).tags == ["Cardio"]
        assert forum.thread(neuro).tags == []

        shown = await double.run_slash_command(
            "thread",
            opt.subcommand("show", opt.string("thread", f"#{forum.thread(both).id}")),
            user_id=community.alice,
            channel_id=both,
        )
        assert "tags: Cardio" in (await answer(double, shown))["data"]["content"]
        asked = await new_thread(forum, both, community.alice, "Stroke", "neurology")
        said = await answer(double, asked)
        assert said["data"]["content"] == "There is no tag “neurology” here: choose from “Cardio”."
