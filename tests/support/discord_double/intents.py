"""Gateway intents: which dispatches a session receives, and what MESSAGE_CONTENT hides.

https://discord.com/developers/docs/events/gateway#gateway-intents

A bot that forgets an intent in production silently receives nothing (or empty message
content).  The double applies the same filter so a missing intent fails a test instead of a
deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntFlag
from types import MappingProxyType
from typing import Any

from .payloads import JsonObject


class Intent(IntFlag):
    """Intent bits as listed on the gateway page."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16
    AUTO_MODERATION_CONFIGURATION = 1 << 20
    AUTO_MODERATION_EXECUTION = 1 << 21
    GUILD_MESSAGE_POLLS = 1 << 24
    DIRECT_MESSAGE_POLLS = 1 << 25


PRIVILEGED = Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT
ALL_KNOWN = Intent(sum(int(flag) for flag in Intent))

_GUILD_ONLY: Mapping[str, Intent] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "GUILD_CREATE",
                "GUILD_UPDATE",
                "GUILD_DELETE",
                "GUILD_ROLE_CREATE",
                "GUILD_ROLE_UPDATE",
                "GUILD_ROLE_DELETE",
                "CHANNEL_CREATE",
                "CHANNEL_UPDATE",
                "CHANNEL_DELETE",
                "THREAD_CREATE",
                "THREAD_UPDATE",
                "THREAD_DELETE",
                "THREAD_LIST_SYNC",
                "THREAD_MEMBER_UPDATE",
                "THREAD_MEMBERS_UPDATE",
                "STAGE_INSTANCE_CREATE",
                "STAGE_INSTANCE_UPDATE",
                "STAGE_INSTANCE_DELETE",
            ),
            Intent.GUILDS,
        ),
        **dict.fromkeys(
            ("GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE"), Intent.GUILD_MEMBERS
        ),
        **dict.fromkeys(
            ("GUILD_AUDIT_LOG_ENTRY_CREATE", "GUILD_BAN_ADD", "GUILD_BAN_REMOVE"), Intent.GUILD_MODERATION
        ),
        **dict.fromkeys(("GUILD_EMOJIS_UPDATE", "GUILD_STICKERS_UPDATE"), Intent.GUILD_EXPRESSIONS),
        **dict.fromkeys(("INVITE_CREATE", "INVITE_DELETE"), Intent.GUILD_INVITES),
        "WEBHOOKS_UPDATE": Intent.GUILD_WEBHOOKS,
        "VOICE_STATE_UPDATE": Intent.GUILD_VOICE_STATES,
        "PRESENCE_UPDATE": Intent.GUILD_PRESENCES,
        "MESSAGE_DELETE_BULK": Intent.GUILD_MESSAGES,
    }
)

# Events whose intent depends on whether they happened in a guild or a DM.
_GUILD_OR_DM: Mapping[str, tuple[Intent, Intent]] = MappingProxyType(
    {
        **dict.fromkeys(
            ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"),
            (Intent.GUILD_MESSAGES, Intent.DIRECT_MESSAGES),
        ),
        **dict.fromkeys(
            (
                "MESSAGE_REACTION_ADD",
                "MESSAGE_REACTION_REMOVE",
                "MESSAGE_REACTION_REMOVE_ALL",
                "MESSAGE_REACTION_REMOVE_EMOJI",
            ),
            (Intent.GUILD_MESSAGE_REACTIONS, Intent.DIRECT_MESSAGE_REACTIONS),
        ),
        "TYPING_START": (Intent.GUILD_MESSAGE_TYPING, Intent.DIRECT_MESSAGE_TYPING),
        "CHANNEL_PINS_UPDATE": (Intent.GUILDS, Intent.DIRECT_MESSAGES),
        **dict.fromkeys(
            ("MESSAGE_POLL_VOTE_ADD", "MESSAGE_POLL_VOTE_REMOVE"),
            (Intent.GUILD_MESSAGE_POLLS, Intent.DIRECT_MESSAGE_POLLS),
        ),
    }
)

_CONTENT_FIELDS = ("content", "embeds", "attachments", "components")


def required_intent(event: str, data: Mapping[str, Any]) -> Intent | None:
    """The intent gating ``event``, or ``None`` for events every session receives."""
    if event in _GUILD_ONLY:
        return _GUILD_ONLY[event]
    if event in _GUILD_OR_DM:
        guild_intent, dm_intent = _GUILD_OR_DM[event]
        return guild_intent if data.get("guild_id") else dm_intent
    return None


def _hides_content(data: Mapping[str, Any], bot_id: str) -> bool:
    # Exceptions from the "Message Content Intent" section: DMs, the bot's own messages, and
    # messages that mention the bot keep their content.
    if not data.get("guild_id"):
        return False
    if data.get("author", {}).get("id") == bot_id:
        return False
    return all(mentioned.get("id") != bot_id for mentioned in data.get("mentions", []))


def strip_message_content(data: Mapping[str, Any], bot_id: str) -> JsonObject:
    """A copy of a message payload as a bot without MESSAGE_CONTENT sees it."""
    stripped: JsonObject = dict(data)
    if not _hides_content(data, bot_id):
        return stripped
    stripped["content"] = ""
    for key in _CONTENT_FIELDS[1:]:
        stripped[key] = []
    stripped.pop("poll", None)
    return stripped


def filter_dispatch(event: str, data: JsonObject, *, intents: int, bot_id: str) -> JsonObject | None:
    """What a session with ``intents`` receives for ``event``: the payload, a stripped copy, or nothing."""
    needed = required_intent(event, data)
    if event == "GUILD_MEMBER_UPDATE" and data.get("user", {}).get("id") == bot_id:
        needed = None  # "sent for current-user updates regardless of whether GUILD_MEMBERS is set"
    if needed is not None and not intents & needed:
        return None
    if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not intents & Intent.MESSAGE_CONTENT:
        return strip_message_content(data, bot_id)
    return data
