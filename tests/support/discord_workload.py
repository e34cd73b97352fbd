"""Every published command and menu as interactions, for the deadline test and its benchmark.

`every_interaction` runs each slash command leaf (required options filled in by type), the
message and user menus, and the submits of the two forms menus open; `finished` waits until each
reached the core and each deferral was replaced by an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from chatbridge.model import ChatEvent, CommandInvoked
from support.discord_double import Community, DiscordDouble, Permission, RestCall
from support.discord_double import options as opt
from support.discord_double.state import InteractionState
from support.discord_forum import DiscordForum

FORM_VALUES = {"category": "misinformation", "reason": "Advice against guidelines"}

Wrap = Callable[..., tuple[opt.Option, ...]]


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
        return opt.Option(name, kind, choices[0]["value"] if choices else option.get("min_value", 1))
    if kind == opt.BOOLEAN:
        return opt.boolean(name, True)
    return opt.string(name, str(choices[0]["value"]) if choices else "1")


def slash_invocations(
    published: list[dict[str, Any]], double: DiscordDouble, community: Community
) -> Iterator[tuple[str, tuple[opt.Option, ...]]]:
    """Each slash command leaf of a command upload, with its required options filled in."""

    def leaves(node: dict[str, Any], wrap: Wrap) -> Iterator[tuple[opt.Option, ...]]:
        children = node.get("options") or []
        if children and children[0]["type"] in (opt.SUB_COMMAND, opt.SUB_COMMAND_GROUP):
            for child in children:
                build = opt.subcommand if child["type"] == opt.SUB_COMMAND else opt.subcommand_group

                def nested(*inner: opt.Option, c: dict[str, Any] = child, b: Any = build) -> Any:
                    return wrap(b(c["name"], *inner))

                yield from leaves(child, nested)
            return
        yield wrap(*(filled(o, double, community) for o in children if o.get("required")))

    for command in published:
        if command.get("type", 1) == 1:
            for options in leaves(command, lambda *inner: tuple(inner)):
                yield command["name"], options


async def open_forms(double: DiscordDouble, community: Community, post: int) -> list[InteractionState]:
    """The two menus that answer with a form; their submits are part of the workload."""
    return [
        await double.use_message_command(
            "Report message", channel_id=post, message_id=post, user_id=community.bob
        ),
        await double.use_user_command(
            "Report member", target_id=community.alice, channel_id=community.general, user_id=community.bob
        ),
    ]


async def every_interaction(
    double: DiscordDouble,
    community: Community,
    published: list[dict[str, Any]],
    post: int,
    forms: list[InteractionState],
) -> list[InteractionState]:
    """Every slash command, the Like, Share and View profile menus, and the forms' submits."""
    bob = community.bob
    asked = [
        await double.run_slash_command(name, *options, user_id=bob, channel_id=community.general)
        for name, options in slash_invocations(published, double, community)
    ]
    for menu in ("Like", "Share"):
        asked.append(await double.use_message_command(menu, channel_id=post, message_id=post, user_id=bob))
    asked.append(
        await double.use_user_command(
            "View profile", target_id=community.alice, channel_id=community.general, user_id=bob
        )
    )
    asked += [await double.submit_modal(form, FORM_VALUES) for form in forms]
    return asked


async def first_answers(double: DiscordDouble, asked: list[InteractionState]) -> list[int]:
    """The type of each interaction's first accepted callback."""
    return [(await double.wait_for_interaction_response(i))["type"] for i in asked]


async def finished(forum: DiscordForum, asked: list[InteractionState]) -> None:
    """Each invocation reached the core and each deferral was followed by an answer."""
    double = forum.double
    for interaction in asked:
        event_id = f"interaction:{interaction.id}"
        hook = f"/webhooks/{double.world.application_id}/{interaction.token}"

        def reached_core(event: ChatEvent, event_id: str = event_id) -> bool:
            return isinstance(event, CommandInvoked) and event.event_id == event_id

        def answered(call: RestCall, hook: str = hook) -> bool:
            return call.path.startswith(hook)

        await forum.applied.wait(reached_core)
        if interaction.response_types[0] == 5:
            await double.rest_calls.wait_for(answered, description=f"answer to {interaction.name}")


def refused_interaction_calls(double: DiscordDouble) -> list[tuple[str, int | None, Any]]:
    """Callbacks and webhook calls the double refused as late or expired (10062, 50027)."""
    return [
        (call.path, call.status, call.response)
        for call in double.rest_calls
        if call.route is not None
        and call.route.startswith(("/interactions/", "/webhooks/"))
        and call.status in (401, 404)
    ]
