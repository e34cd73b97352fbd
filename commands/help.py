"""Help generated from the declarations, so it can never disagree with the parser."""

from __future__ import annotations

from typing import Annotated

from chatbridge.context import Context
from chatbridge.errors import CommandError
from chatbridge.model import OutgoingMessage
from chatbridge.registry import CommandSpec, Param, command


@command("help", help="List the commands you can use, or explain one.", ephemeral=True)
async def help_(
    ctx: Context,
    topic: Annotated[
        str | None, Param("A command or group, like 'thread' or 'profile set'", rest=True)
    ] = None,
) -> OutgoingMessage:
    registry = ctx.core.registry
    prefix = registry.prefixes[0]
    usable = [s for s in registry if s.privilege <= ctx.privilege]
    if topic:
        words = tuple(topic.lower().removeprefix(prefix).split())
        chosen = [s for s in usable if s.path[: len(words)] == words]
        if not chosen:
            raise CommandError(f"There is no command `{topic}` you can use. Try `{prefix}help`.")
        return ctx.reply("help/topic.md.j2", specs=chosen, prefix=prefix)
    return ctx.reply("help/index.md.j2", groups=_groups(usable), prefix=prefix)


def _groups(specs: list[CommandSpec]) -> dict[str, list[CommandSpec]]:
    groups: dict[str, list[CommandSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.path[0], []).append(spec)
    return groups
