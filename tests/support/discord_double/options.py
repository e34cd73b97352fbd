"""Typed slash-command options for INTERACTION_CREATE payloads.

https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-application-command-interaction-data-option-structure

Snowflake-valued options (user, channel, role, mentionable, attachment) only carry an id in
``options``; the object itself travels in ``data.resolved``.  Each :class:`Option` therefore
carries its share of ``resolved`` so a test writes ``options.user("patient", alice)`` once and the
builder assembles both halves, the way the Discord client would.

Use as a namespace: ``from support.discord_double import options as opt``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .payloads import JsonObject, partial_member

# https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-option-type
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
ROLE = 8
MENTIONABLE = 9
NUMBER = 10
ATTACHMENT = 11

_RESOLVED_KINDS = ("users", "members", "roles", "channels", "attachments", "messages")


@dataclass(frozen=True)
class Option:
    """One entry of ``data.options`` plus the ``resolved`` objects it refers to."""

    name: str
    type: int
    value: Any = None
    options: tuple[Option, ...] = ()
    focused: bool = False
    resolved: Mapping[str, Mapping[str, JsonObject]] = field(default_factory=dict)

    def to_payload(self) -> JsonObject:
        payload: JsonObject = {"name": self.name, "type": self.type}
        if self.type in (SUB_COMMAND, SUB_COMMAND_GROUP):
            payload["options"] = [child.to_payload() for child in self.options]
        else:
            payload["value"] = self.value
        if self.focused:
            payload["focused"] = True
        return payload


# https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-resolved-data-structure
def collect_resolved(options: tuple[Option, ...] | list[Option]) -> JsonObject:
    """Merge the ``resolved`` shares of a whole option tree into one resolved-data object."""
    merged: dict[str, dict[str, JsonObject]] = {}
    stack = list(options)
    while stack:
        option = stack.pop()
        stack.extend(option.options)
        for kind, objects in option.resolved.items():
            merged.setdefault(kind, {}).update(objects)
    return {kind: merged[kind] for kind in _RESOLVED_KINDS if kind in merged}


# STRING: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-application-command-interaction-data-option-structure
def string(name: str, value: str, *, focused: bool = False) -> Option:
    return Option(name, STRING, value, focused=focused)


# INTEGER: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-application-command-interaction-data-option-structure
def integer(name: str, value: int | str, *, focused: bool = False) -> Option:
    """``value`` may be a partial string while autocompleting, exactly as Discord sends it."""
    return Option(name, INTEGER, value, focused=focused)


# NUMBER: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-application-command-interaction-data-option-structure
def number(name: str, value: float | str, *, focused: bool = False) -> Option:
    return Option(name, NUMBER, value, focused=focused)


# BOOLEAN: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-application-command-interaction-data-option-structure
def boolean(name: str, value: bool) -> Option:
    return Option(name, BOOLEAN, value)


# USER, plus resolved.users/members: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-resolved-data-structure
def user(name: str, user_payload: JsonObject, member_payload: JsonObject | None = None) -> Option:
    """A user option; pass the member too for guild commands so discord.py resolves a ``Member``."""
    resolved: dict[str, dict[str, JsonObject]] = {"users": {user_payload["id"]: user_payload}}
    if member_payload is not None:
        resolved["members"] = {user_payload["id"]: partial_member(member_payload)}
    return Option(name, USER, user_payload["id"], resolved=resolved)


# CHANNEL, plus resolved.channels: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-resolved-data-structure
def channel(name: str, channel_payload: JsonObject, *, permissions: int) -> Option:
    """A channel option; ``permissions`` is the invoker's computed permissions in that channel."""
    keys = (
        "id",
        "name",
        "type",
        "last_message_id",
        "last_pin_timestamp",
        "nsfw",
        "parent_id",
        "guild_id",
        "flags",
        "rate_limit_per_user",
        "topic",
        "position",
        "thread_metadata",
    )
    partial = {key: channel_payload[key] for key in keys if key in channel_payload}
    partial["permissions"] = str(permissions)
    return Option(
        name, CHANNEL, channel_payload["id"], resolved={"channels": {channel_payload["id"]: partial}}
    )


# ROLE, plus resolved.roles: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-resolved-data-structure
def role(name: str, role_payload: JsonObject) -> Option:
    return Option(name, ROLE, role_payload["id"], resolved={"roles": {role_payload["id"]: role_payload}})


# MENTIONABLE, plus resolved users or roles: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-resolved-data-structure
def mentionable(name: str, target: JsonObject, member_payload: JsonObject | None = None) -> Option:
    """A user or a role; a payload with ``username`` is treated as a user."""
    base = user(name, target, member_payload) if "username" in target else role(name, target)
    return Option(name, MENTIONABLE, base.value, resolved=base.resolved)


# ATTACHMENT, plus resolved.attachments: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-resolved-data-structure
def attachment(name: str, attachment_payload: JsonObject) -> Option:
    return Option(
        name,
        ATTACHMENT,
        attachment_payload["id"],
        resolved={"attachments": {attachment_payload["id"]: attachment_payload}},
    )


# SUB_COMMAND: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-application-command-interaction-data-option-structure
def subcommand(name: str, *options: Option) -> Option:
    return Option(name, SUB_COMMAND, options=options)


# SUB_COMMAND_GROUP: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-application-command-interaction-data-option-structure
def subcommand_group(name: str, *subcommands: Option) -> Option:
    return Option(name, SUB_COMMAND_GROUP, options=subcommands)
