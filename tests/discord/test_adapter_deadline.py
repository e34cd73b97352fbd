"""Every interaction is acknowledged within Discord's 3 seconds, however slow REST is.

The double enforces the deadline (404 10062 for a late first callback, 401 50027 for the token it
invalidates) and rate-limits every bot route for 3.5 s, longer than the deadline; interaction
routes are not bound to those limits, so only a bot that fetches before it answers misses it.
Every published slash command and context menu (and the modal a menu opens) runs in that window.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chatbridge.model import CommandInvoked
from support.discord_double import Community, DiscordDouble, Permission
from support.discord_double import options as opt
from support.discord_double.state import InteractionState
from support.discord_forum import DiscordForum, discord_forum, forum_post
from support.forum import sqlite_url

SLOW_REST = 3.5
"""Longer than Discord's 3 seconds: a bot that waits for REST before answering is too late."""


def filled(option: dict[str, Any], double: DiscordDouble, community: Community) -> opt.Option:
    """A plausible value for a required option, by its type (its first choice when it has some)."""
    name, kind = option["name"], option["type"]
    choices = option.get("choices") or []
    if kind == opt.USER:
        return opt.user(name, double.world.user(community.alice), community.guild.member(community.alice))
    if kind == opt.CHANNEL:
        channel = double.world.channel(community.general)
        return opt.channel(name, channel, permissions=int(Permission.VIEW_CHANNEL))
    if kind in (opt.INTEGER, opt.NUMBER):
        value = choices[0]["value"] if choices else option.get("min_value", 1)
        return opt.Option(name, kind, value)
    if kind == opt.BOOLEAN:
        return opt.boolean(name, True)
    return opt.string(name, str(choices[0]["value"]) if choices else "1")


def invocations(
    published: list[dict[str, Any]], double: DiscordDouble, community: Community
) -> Iterator[tuple[str, tuple[opt.Option, ...]]]:
    """Each slash command leaf with its required options filled in."""

    def leaves(node: dict[str, Any], wrap: Any) -> Iterator[tuple[opt.Option, ...]]:
        children = node.get("options") or []
        if children and children[0]["type"] in (opt.SUB_COMMAND, opt.SUB_COMMAND_GROUP):
            for child in children:
                build = opt.subcommand if child["type"] == opt.SUB_COMMAND else opt.subcommand_group
                yield from leaves(child, lambda *inner, c=child, b=build: wrap(b(c["name"], *inner)))
            return
        required = [filled(o, double, community) for o in children if o.get("required")]
        yield wrap(*required)

    for command in published:
        if command.get("type", 1) == 1:
            for options in leaves(command, lambda *inner: tuple(inner)):
                yield command["name"], options


async def first_answers(double: DiscordDouble, asked: list[InteractionState]) -> list[int]:
    return [(await double.wait_for_interaction_response(i))["type"] for i in asked]


async def finished(forum: DiscordForum, asked: list[InteractionState]) -> None:
    """Each invocation reached the core and each deferral was replaced by an answer."""
    double = forum.double
    for interaction in asked:
        await forum.applied.wait(
            lambda e, i=interaction: isinstance(e, CommandInvoked) and e.event_id == f"interaction:{i.id}"
        )
        if interaction.response_types[0] == 5:
            hook = f"/webhooks/{double.world.application_id}/{interaction.token}"
            await double.rest_calls.wait_for(
                lambda call, h=hook: call.path.startswith(h), description=f"answer to {interaction.name}"
            )


def refused_interaction_calls(double: DiscordDouble) -> list[tuple[str, int | None, Any]]:
    return [
        (call.path, call.status, call.response)
        for call in double.rest_calls
        if call.route is not None
        and call.route.startswith(("/interactions/", "/webhooks/"))
        and call.status is not None
        and call.status in (401, 404)
    ]


async def test_every_command_and_menu_is_acknowledged_in_time_while_rest_is_rate_limited(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    bob, alice = community.bob, community.alice
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        sync = await double.wait_for_rest("PUT", "/applications/{application_id}/commands")
        post = await forum_post(forum, community.forum, alice, "Statins at 75", "Stop them, trust me")
        # The forms two menus open, shown before REST slows down: their submits run in the window.
        forms = [
            await double.use_message_command("Report message", channel_id=post, message_id=post, user_id=bob),
            await double.use_user_command(
                "Report member", target_id=alice, channel_id=community.general, user_id=bob
            ),
        ]
        assert await first_answers(double, forms) == [9, 9]

        double.rate_limit_everything(SLOW_REST)
        asked = [
            await double.run_slash_command(name, *options, user_id=bob, channel_id=community.general)
            for name, options in invocations(sync.json, double, community)
        ]
        for menu in ("Like", "Share"):
            asked.append(
                await double.use_message_command(menu, channel_id=post, message_id=post, user_id=bob)
            )
        asked.append(
            await double.use_user_command(
                "View profile", target_id=alice, channel_id=community.general, user_id=bob
            )
        )
        values = {"category": "misinformation", "reason": "Advice against guidelines"}
        asked += [await double.submit_modal(form, values) for form in forms]

        answers = await first_answers(double, asked)
        assert set(answers) <= {4, 5}, answers
        assert len(asked) >= 40  # every slash command leaf, three menus and two modal submits
        await finished(forum, asked)
        assert refused_interaction_calls(double) == []
