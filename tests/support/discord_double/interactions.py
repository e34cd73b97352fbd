"""Builders for interaction objects delivered by INTERACTION_CREATE.

The envelope is shared by every interaction type; only ``type``, ``data`` and (for components and
modals) ``message`` differ.  The envelope carries the invoker's ``member`` with computed
``permissions`` and the bot's ``app_permissions`` because discord.py exposes both and permission
checks in the forum layer read them instead of recomputing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import options as opt
from .payloads import JsonObject, partial_member

# https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-interaction-type
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
APPLICATION_COMMAND_AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-types
CHAT_INPUT = 1
USER_COMMAND = 2
MESSAGE_COMMAND = 3

# https://discord.com/developers/docs/components/reference#component-object-component-types
ACTION_ROW = 1
BUTTON = 2
STRING_SELECT = 3
TEXT_INPUT = 4
LABEL = 18

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

_PARTIAL_CHANNEL_KEYS = (
    "id",
    "type",
    "guild_id",
    "name",
    "position",
    "parent_id",
    "topic",
    "nsfw",
    "last_message_id",
    "rate_limit_per_user",
    "flags",
    "thread_metadata",
    "owner_id",
    "applied_tags",
    "available_tags",
    "message_count",
    "member_count",
    "total_message_sent",
    "recipients",
)


# https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object
def interaction(
    *,
    interaction_id: int,
    application_id: int,
    interaction_type: int,
    token: str,
    data: JsonObject | None,
    channel: Mapping[str, Any],
    guild_id: int | None,
    member: Mapping[str, Any] | None = None,
    user: Mapping[str, Any] | None = None,
    member_permissions: int = 0,
    app_permissions: int = 0,
    message: JsonObject | None = None,
    locale: str = "en-US",
) -> JsonObject:
    """The shared envelope: ``member`` for guild invocations, ``user`` for DMs (as documented)."""
    payload: JsonObject = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": interaction_type,
        "channel": {key: channel[key] for key in _PARTIAL_CHANNEL_KEYS if key in channel}
        | {"permissions": str(member_permissions)},
        "channel_id": channel["id"],
        "token": token,
        "version": 1,
        "app_permissions": str(app_permissions),
        "locale": locale,
        "entitlements": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if data is not None:
        payload["data"] = data
    if guild_id is not None:
        if member is None:
            raise ValueError("guild interactions carry the invoking member")
        payload["guild_id"] = str(guild_id)
        payload["guild"] = {"id": str(guild_id), "locale": "en-US", "features": ["COMMUNITY"]}
        payload["guild_locale"] = "en-US"
        payload["member"] = {**member, "permissions": str(member_permissions)}
        payload["authorizing_integration_owners"] = {"0": str(guild_id)}
        payload["context"] = 0
    else:
        if user is None:
            raise ValueError("DM interactions carry the invoking user")
        payload["user"] = dict(user)
        payload["authorizing_integration_owners"] = {"0": "0"}
        payload["context"] = 1
    if message is not None:
        payload["message"] = message
    return payload


# https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-application-command-data-structure
def command_data(
    *,
    command_id: int,
    name: str,
    command_type: int = CHAT_INPUT,
    options: Sequence[opt.Option] = (),
    resolved: JsonObject | None = None,
    command_guild_id: int | None = None,
    target_id: int | None = None,
) -> JsonObject:
    """``command_guild_id`` is where the command is *registered*, absent for global commands."""
    data: JsonObject = {"id": str(command_id), "name": name, "type": command_type}
    if options:
        data["options"] = [option.to_payload() for option in options]
    merged = dict(resolved or {})
    for kind, objects in opt.collect_resolved(list(options)).items():
        merged[kind] = {**merged.get(kind, {}), **objects}
    if merged:
        data["resolved"] = merged
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    if target_id is not None:
        data["target_id"] = str(target_id)
    return data


def message_command_resolved(message_payload: JsonObject) -> JsonObject:
    """Resolved data for a message context menu: the target message, keyed by id.

    https://discord.com/developers/docs/interactions/application-commands#message-commands
    """
    return {"messages": {message_payload["id"]: message_payload}}


def user_command_resolved(user_payload: JsonObject, member_payload: JsonObject | None) -> JsonObject:
    """Resolved data for a user context menu: the target user and, in guilds, the member.

    https://discord.com/developers/docs/interactions/application-commands#user-commands
    """
    resolved: JsonObject = {"users": {user_payload["id"]: user_payload}}
    if member_payload is not None:
        resolved["members"] = {user_payload["id"]: partial_member(member_payload)}
    return resolved


# https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-message-component-data-structure
def component_data(
    custom_id: str, *, component_type: int = BUTTON, values: Sequence[str] | None = None
) -> JsonObject:
    data: JsonObject = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:
        data["values"] = list(values)
    return data


# https://discord.com/developers/docs/components/reference#text-input-text-input-interaction-response-structure
def text_input_value(custom_id: str, value: str, *, component_id: int) -> JsonObject:
    return {"type": TEXT_INPUT, "id": component_id, "custom_id": custom_id, "value": value}


def modal_submit_components(modal: Mapping[str, Any], values: Mapping[str, str]) -> list[JsonObject]:
    """What the Discord client submits for ``modal`` (the bot's type-9 callback data).

    The submitted tree mirrors the modal's own layout (legacy action rows or labels), so tests
    exercise whichever layout the bot actually sent.  Inputs without a value in ``values`` are
    submitted empty, like an untouched optional field.
    https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-modal-submit-data-structure
    """
    next_id = iter(range(1, 1000))

    def convert(component: Mapping[str, Any]) -> JsonObject:
        component_id = component.get("id") or next(next_id)
        kind = component["type"]
        if kind == ACTION_ROW:
            return {
                "type": ACTION_ROW,
                "id": component_id,
                "components": [convert(c) for c in component["components"]],
            }
        if kind == LABEL:
            return {"type": LABEL, "id": component_id, "component": convert(component["component"])}
        if kind == TEXT_INPUT:
            return text_input_value(
                component["custom_id"], values.get(component["custom_id"], ""), component_id=component_id
            )
        return {"type": kind, "id": component_id}

    return [convert(component) for component in modal.get("components", [])]


# https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-modal-submit-data-structure
def modal_data(custom_id: str, components: Sequence[JsonObject]) -> JsonObject:
    return {"custom_id": custom_id, "components": list(components)}
