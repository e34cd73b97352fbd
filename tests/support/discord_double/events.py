"""Builders for the ``d`` of gateway dispatch events.

Events wrap API objects (see :mod:`.payloads`) with the extra fields the gateway adds, such as
``guild_id`` and the author's ``member`` on MESSAGE_CREATE.  Getting those extras right matters:
discord.py builds ``Message.author`` as a ``Member`` only when ``member`` is present, and the
forum layer's moderation checks depend on that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .payloads import JsonObject, partial_member, unavailable_guild

API_VERSION = 10


# https://discord.com/developers/docs/events/gateway-events#ready
def ready(
    *,
    bot_user: JsonObject,
    guild_ids: Iterable[int],
    session_id: str,
    resume_gateway_url: str,
    application_id: int,
    application_flags: int,
    shard: tuple[int, int] | None,
) -> JsonObject:
    payload: JsonObject = {
        "v": API_VERSION,
        "user": {**bot_user, "verified": True, "mfa_enabled": False, "email": None},
        "guilds": [unavailable_guild(guild_id) for guild_id in guild_ids],
        "session_id": session_id,
        "resume_gateway_url": resume_gateway_url,
        "application": {"id": str(application_id), "flags": application_flags},
    }
    if shard is not None:
        payload["shard"] = list(shard)
    return payload


# https://discord.com/developers/docs/events/gateway-events#resumed
def resumed() -> JsonObject:
    # An object, never null: discord.py writes its shard id into it.
    return {}


# https://discord.com/developers/docs/events/gateway-events#guild-create
def guild_create(
    guild_payload: Mapping[str, Any],
    *,
    channels: Sequence[JsonObject],
    threads: Sequence[JsonObject],
    members: Sequence[JsonObject],
    member_count: int,
    joined_at: str,
    large: bool,
) -> JsonObject:
    return {
        **guild_payload,
        "joined_at": joined_at,
        "large": large,
        "unavailable": False,
        "member_count": member_count,
        "voice_states": [],
        "members": list(members),
        "channels": [{k: v for k, v in channel.items() if k != "guild_id"} for channel in channels],
        "threads": list(threads),
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


# https://discord.com/developers/docs/topics/gateway-events#guild-update
def guild_update(guild_payload: Mapping[str, Any]) -> JsonObject:
    """The whole guild object (roles included: discord.py rebuilds its roles from it), no more."""
    return dict(guild_payload)


def _message_event(
    message_payload: Mapping[str, Any],
    *,
    guild_id: int | None,
    author_member: Mapping[str, Any] | None,
    mention_members: Mapping[str, Mapping[str, Any]],
    channel_type: int | None,
) -> JsonObject:
    payload: JsonObject = dict(message_payload)
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        if author_member is not None and "webhook_id" not in payload:
            payload["member"] = partial_member(author_member)
        payload["mentions"] = [
            {**mentioned, "member": partial_member(mention_members[mentioned["id"]])}
            if mentioned["id"] in mention_members
            else mentioned
            for mentioned in payload.get("mentions", [])
        ]
    if channel_type is not None:
        payload["channel_type"] = channel_type
    return payload


# https://discord.com/developers/docs/events/gateway-events#message-create
def message_create(
    message_payload: Mapping[str, Any],
    *,
    guild_id: int | None = None,
    author_member: Mapping[str, Any] | None = None,
    mention_members: Mapping[str, Mapping[str, Any]] | None = None,
    channel_type: int | None = None,
) -> JsonObject:
    return _message_event(
        message_payload,
        guild_id=guild_id,
        author_member=author_member,
        mention_members=mention_members or {},
        channel_type=channel_type,
    )


# https://discord.com/developers/docs/events/gateway-events#message-update
def message_update(
    message_payload: Mapping[str, Any],
    *,
    guild_id: int | None = None,
    author_member: Mapping[str, Any] | None = None,
    mention_members: Mapping[str, Mapping[str, Any]] | None = None,
    channel_type: int | None = None,
) -> JsonObject:
    payload = _message_event(
        message_payload,
        guild_id=guild_id,
        author_member=author_member,
        mention_members=mention_members or {},
        channel_type=channel_type,
    )
    payload["tts"] = False  # "The value for tts will always be false in message updates."
    return payload


# https://discord.com/developers/docs/events/gateway-events#message-delete
def message_delete(message_id: int, channel_id: int, guild_id: int | None = None) -> JsonObject:
    payload: JsonObject = {"id": str(message_id), "channel_id": str(channel_id)}
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    return payload


# https://discord.com/developers/docs/events/gateway-events#message-delete-bulk
def message_delete_bulk(
    message_ids: Iterable[int], channel_id: int, guild_id: int | None = None
) -> JsonObject:
    payload: JsonObject = {"ids": [str(mid) for mid in message_ids], "channel_id": str(channel_id)}
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    return payload


# https://discord.com/developers/docs/events/gateway-events#message-reaction-add
def message_reaction_add(
    *,
    user_id: int,
    channel_id: int,
    message_id: int,
    emoji_payload: JsonObject,
    guild_id: int | None = None,
    member: Mapping[str, Any] | None = None,
    message_author_id: int | None = None,
    burst: bool = False,
) -> JsonObject:
    """``burst``/``type`` 1 for a super-reaction (gateway-events.mdx, Message Reaction Add)."""
    payload: JsonObject = {
        "user_id": str(user_id),
        "channel_id": str(channel_id),
        "message_id": str(message_id),
        "emoji": emoji_payload,
        "burst": burst,
        "burst_colors": ["#ffcc4d"] if burst else [],
        "type": 1 if burst else 0,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        if member is not None:
            payload["member"] = dict(member)
    if message_author_id is not None:
        payload["message_author_id"] = str(message_author_id)
    return payload


# https://discord.com/developers/docs/events/gateway-events#message-reaction-remove
def message_reaction_remove(
    *,
    user_id: int,
    channel_id: int,
    message_id: int,
    emoji_payload: JsonObject,
    guild_id: int | None = None,
    burst: bool = False,
) -> JsonObject:
    payload: JsonObject = {
        "user_id": str(user_id),
        "channel_id": str(channel_id),
        "message_id": str(message_id),
        "emoji": emoji_payload,
        "burst": burst,
        "type": 1 if burst else 0,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    return payload


# https://discord.com/developers/docs/events/gateway-events#message-reaction-remove-all
def message_reaction_remove_all(
    *, channel_id: int, message_id: int, guild_id: int | None = None
) -> JsonObject:
    payload: JsonObject = {"channel_id": str(channel_id), "message_id": str(message_id)}
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    return payload


# https://discord.com/developers/docs/events/gateway-events#message-reaction-remove-emoji
def message_reaction_remove_emoji(
    *, channel_id: int, message_id: int, emoji_payload: JsonObject, guild_id: int | None = None
) -> JsonObject:
    payload: JsonObject = {
        "channel_id": str(channel_id),
        "message_id": str(message_id),
        "emoji": emoji_payload,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    return payload


# https://discord.com/developers/docs/events/gateway-events#guild-member-add
def guild_member_add(guild_id: int, member_payload: Mapping[str, Any]) -> JsonObject:
    return {**member_payload, "guild_id": str(guild_id)}


# https://discord.com/developers/docs/events/gateway-events#guild-member-remove
def guild_member_remove(guild_id: int, user_payload: Mapping[str, Any]) -> JsonObject:
    return {"guild_id": str(guild_id), "user": dict(user_payload)}


# https://discord.com/developers/docs/events/gateway-events#guild-member-update
def guild_member_update(guild_id: int, member_payload: Mapping[str, Any]) -> JsonObject:
    keys = (
        "roles",
        "user",
        "nick",
        "avatar",
        "banner",
        "joined_at",
        "premium_since",
        "deaf",
        "mute",
        "pending",
        "communication_disabled_until",
        "flags",
        "avatar_decoration_data",
        "collectibles",
    )
    payload: JsonObject = {key: member_payload[key] for key in keys if key in member_payload}
    payload["guild_id"] = str(guild_id)
    return payload


# https://discord.com/developers/docs/events/gateway-events#guild-members-chunk
def guild_members_chunk(
    guild_id: int,
    members: Sequence[JsonObject],
    *,
    chunk_index: int = 0,
    chunk_count: int = 1,
    not_found: Sequence[str] = (),
    nonce: str | None = None,
) -> JsonObject:
    payload: JsonObject = {
        "guild_id": str(guild_id),
        "members": list(members),
        "chunk_index": chunk_index,
        "chunk_count": chunk_count,
    }
    if not_found:
        payload["not_found"] = list(not_found)
    if nonce is not None:
        payload["nonce"] = nonce
    return payload


# https://discord.com/developers/docs/events/gateway-events#channel-create (also -update, -delete)
def channel_event(channel_payload: Mapping[str, Any]) -> JsonObject:
    return dict(channel_payload)


# https://discord.com/developers/docs/events/gateway-events#thread-create
def thread_create(
    thread_payload: Mapping[str, Any], *, newly_created: bool = True, member: JsonObject | None = None
) -> JsonObject:
    payload: JsonObject = dict(thread_payload)
    if newly_created:
        payload["newly_created"] = True
    if member is not None:
        payload["member"] = member
    return payload


# https://discord.com/developers/docs/events/gateway-events#thread-update
def thread_update(thread_payload: Mapping[str, Any]) -> JsonObject:
    return dict(thread_payload)


# https://discord.com/developers/docs/events/gateway-events#thread-delete
def thread_delete(thread_payload: Mapping[str, Any]) -> JsonObject:
    return {key: thread_payload[key] for key in ("id", "guild_id", "parent_id", "type")}


# https://discord.com/developers/docs/events/gateway-events#guild-audit-log-entry-create
def guild_audit_log_entry_create(guild_id: int, entry: Mapping[str, Any]) -> JsonObject:
    return {**entry, "guild_id": str(guild_id)}


# https://discord.com/developers/docs/events/gateway-events#interaction-create
def interaction_create(interaction_payload: Mapping[str, Any]) -> JsonObject:
    return dict(interaction_payload)
