"""Help generated from the declarations, so it can never disagree with the parser.

What members see depends on where they ask: typed commands (`!thread new <title> <body…>`) on
text platforms, slash commands and context menus (`/thread new title:<title> body:<body>`,
Apps → Like) on Discord. The registry knows both forms; the platform comes from the context.
"""

from __future__ import annotations

from typing import Annotated

from chatbridge.context import Context
from chatbridge.errors import CommandError
from chatbridge.forum.text import quote_input
from chatbridge.model import OutgoingMessage
from chatbridge.registry import CommandSpec, Param, Registry, Syntax, command, syntax_for


@command(
    "help",
    help="List the commands you can use, or explain one.",
    ephemeral=True,
    allowed_while_muted=True,
)
async def help_(
    ctx: Context,
    topic: Annotated[
        str | None, Param("A command or group, like 'thread' or 'profile set'", rest=True)
    ] = None,
) -> OutgoingMessage:
    registry = ctx.core.registry
    prefix = registry.prefixes[0]
    syntax = syntax_for(ctx.event.room.platform)
    usable = [s for s in registry if s.privilege <= ctx.privilege]
    if topic:
        words = tuple(topic.lower().removeprefix(prefix).removeprefix("/").split())
        slash = registry.slash_names() if syntax == "slash" else {}
        chosen = [
            s for s in usable if s.path[: len(words)] == words or slash.get(s.path, ())[: len(words)] == words
        ]
        if not chosen:
            shown = quote_input(topic)
            raise CommandError(f"There is no command {shown} you can use. Try {_asking(registry, syntax)}.")
        usages = {s.path: registry.invocation(s, syntax) for s in chosen}
        return ctx.reply("help/topic.md.j2", specs=chosen, usages=usages, syntax=syntax)
    names = {s.path: registry.invocation(s, syntax, full=False) for s in usable}
    return ctx.reply(
        "help/index.md.j2", groups=_groups(usable), names=names, asking=_asking(registry, syntax)
    )


def _asking(registry: Registry, syntax: Syntax) -> str:
    """How to ask for help on one command, in the syntax the member uses."""
    if syntax == "slash":
        return "`/help topic:<command>`"
    return f"`{registry.prefixes[0]}help <command>`"


def _groups(specs: list[CommandSpec]) -> dict[str, list[CommandSpec]]:
    groups: dict[str, list[CommandSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.path[0], []).append(spec)
    return groups
