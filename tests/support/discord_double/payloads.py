"""Builders for Discord API objects (users, members, channels, messages, ...).

Each builder returns the JSON object exactly as Discord documents it, with every non-optional
field present.  The double stores these objects as its state, so what a test seeds is what REST
returns and what the gateway sends; a missing field therefore shows up as a discord.py parse error
in the double's own tests instead of a silent difference from production.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .snowflakes import snowflake_time

JsonObject = dict[str, Any]

TEXT_CHANNEL = 0
DM_CHANNEL = 1
CATEGORY_CHANNEL = 4
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
FORUM_CHANNEL = 15
THREAD_TYPES = frozenset({10, PUBLIC_THREAD, PRIVATE_THREAD})

EPHEMERAL_FLAG = 1 << 6
LOADING_FLAG = 1 << 7
REQUIRE_TAG_FLAG = 1 << 4


def iso(moment: datetime) -> str:
    """Discord's ISO8601 flavour (microseconds, explicit +00:00)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def created_at(snowflake: int) -> str:
    """The creation timestamp encoded in an id, so ``timestamp`` and ``id`` never disagree."""
    return iso(snowflake_time(snowflake))


# https://discord.com/developers/docs/resources/user#user-object
def user(
    user_id: int,
    username: str,
    *,
    global_name: str | None = None,
    bot: bool = False,
    avatar: str | None = None,
) -> JsonObject:
    payload: JsonObject = {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": global_name,
        "avatar": avatar,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "collectibles": None,
        "primary_guild": None,
    }
    if bot:
        payload["bot"] = True
    return payload


# https://discord.com/developers/docs/resources/guild#guild-member-object
def member(
    user_payload: JsonObject,
    *,
    roles: Iterable[int] = (),
    joined_at: datetime,
    nick: str | None = None,
    communication_disabled_until: datetime | None = None,
) -> JsonObject:
    return {
        "user": user_payload,
        "nick": nick,
        "avatar": None,
        "banner": None,
        "roles": [str(role_id) for role_id in roles],
        "joined_at": iso(joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": (
            iso(communication_disabled_until) if communication_disabled_until else None
        ),
        "avatar_decoration_data": None,
        "collectibles": None,
    }


def partial_member(member_payload: Mapping[str, Any], *, permissions: int | None = None) -> JsonObject:
    """A member without ``user``/``deaf``/``mute``, as nested in messages and resolved data.

    https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-resolved-data-structure
    """
    payload = {key: value for key, value in member_payload.items() if key not in ("user", "deaf", "mute")}
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


# https://discord.com/developers/docs/topics/permissions#role-object
def role(
    role_id: int,
    name: str,
    *,
    permissions: int,
    position: int,
    color: int = 0,
    hoist: bool = False,
    managed: bool = False,
    mentionable: bool = False,
    bot_id: int | None = None,
) -> JsonObject:
    payload: JsonObject = {
        "id": str(role_id),
        "name": name,
        "color": color,
        "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
        "hoist": hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": managed,
        "mentionable": mentionable,
        "flags": 0,
    }
    if bot_id is not None:
        # https://discord.com/developers/docs/topics/permissions#role-object-role-tags-structure
        payload["tags"] = {"bot_id": str(bot_id)}
    return payload


# https://discord.com/developers/docs/resources/channel#forum-tag-object
def forum_tag(
    tag_id: int, name: str, *, moderated: bool = False, emoji_name: str | None = None
) -> JsonObject:
    return {
        "id": str(tag_id),
        "name": name,
        "moderated": moderated,
        "emoji_id": None,
        "emoji_name": emoji_name,
    }


# https://discord.com/developers/docs/resources/channel#channel-object (type 0, GUILD_TEXT)
def text_channel(
    channel_id: int,
    guild_id: int,
    name: str,
    *,
    position: int,
    parent_id: int | None = None,
    topic: str | None = None,
) -> JsonObject:
    return {
        "id": str(channel_id),
        "type": TEXT_CHANNEL,
        "guild_id": str(guild_id),
        "position": position,
        "permission_overwrites": [],
        "name": name,
        "topic": topic,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "parent_id": str(parent_id) if parent_id else None,
        "last_pin_timestamp": None,
        "default_auto_archive_duration": 4320,
        "default_thread_rate_limit_per_user": 0,
        "flags": 0,
    }


# https://discord.com/developers/docs/resources/channel#channel-object (type 4, GUILD_CATEGORY)
def category_channel(channel_id: int, guild_id: int, name: str, *, position: int) -> JsonObject:
    return {
        "id": str(channel_id),
        "type": CATEGORY_CHANNEL,
        "guild_id": str(guild_id),
        "position": position,
        "permission_overwrites": [],
        "name": name,
        "nsfw": False,
        "parent_id": None,
        "flags": 0,
    }


# https://discord.com/developers/docs/resources/channel#channel-object (type 15, GUILD_FORUM)
def forum_channel(
    channel_id: int,
    guild_id: int,
    name: str,
    *,
    position: int,
    available_tags: Sequence[JsonObject] = (),
    parent_id: int | None = None,
    topic: str | None = None,
    require_tag: bool = False,
) -> JsonObject:
    return {
        "id": str(channel_id),
        "type": FORUM_CHANNEL,
        "guild_id": str(guild_id),
        "position": position,
        "permission_overwrites": [],
        "name": name,
        "topic": topic,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "parent_id": str(parent_id) if parent_id else None,
        "default_auto_archive_duration": 4320,
        "default_thread_rate_limit_per_user": 0,
        "available_tags": list(available_tags),
        "default_reaction_emoji": None,
        "default_sort_order": None,
        "default_forum_layout": 0,
        "flags": REQUIRE_TAG_FLAG if require_tag else 0,
    }


# https://discord.com/developers/docs/resources/channel#thread-metadata-object
def thread_metadata(
    *, created: datetime, archived: bool = False, locked: bool = False, auto_archive_duration: int = 4320
) -> JsonObject:
    return {
        "archived": archived,
        "auto_archive_duration": auto_archive_duration,
        "archive_timestamp": iso(created),
        "locked": locked,
        "create_timestamp": iso(created),
    }


# https://discord.com/developers/docs/resources/channel#thread-member-object
def thread_member(thread_id: int, user_id: int, *, joined: datetime) -> JsonObject:
    return {"id": str(thread_id), "user_id": str(user_id), "join_timestamp": iso(joined), "flags": 0}


# https://discord.com/developers/docs/resources/channel#channel-object (types 11/12, threads)
def thread(
    thread_id: int,
    guild_id: int,
    parent_id: int,
    owner_id: int,
    name: str,
    *,
    thread_type: int = PUBLIC_THREAD,
    applied_tags: Iterable[int] = (),
    message_count: int = 0,
    archived: bool = False,
    locked: bool = False,
    auto_archive_duration: int = 4320,
    last_message_id: int | None = None,
) -> JsonObject:
    return {
        "id": str(thread_id),
        "type": thread_type,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": str(last_message_id) if last_message_id else None,
        "rate_limit_per_user": 0,
        "message_count": message_count,
        "member_count": 1,
        "total_message_sent": message_count,
        "thread_metadata": thread_metadata(
            created=snowflake_time(thread_id),
            archived=archived,
            locked=locked,
            auto_archive_duration=auto_archive_duration,
        ),
        "applied_tags": [str(tag) for tag in applied_tags],
        "flags": 0,
    }


# https://discord.com/developers/docs/resources/channel#channel-object (type 1, DM)
def dm_channel(channel_id: int, recipient: JsonObject, *, last_message_id: int | None = None) -> JsonObject:
    return {
        "id": str(channel_id),
        "type": DM_CHANNEL,
        "last_message_id": str(last_message_id) if last_message_id else None,
        "recipients": [recipient],
        "flags": 0,
    }


# https://discord.com/developers/docs/resources/guild#guild-object
def guild(
    guild_id: int,
    name: str,
    *,
    owner_id: int,
    roles: Sequence[JsonObject],
    system_channel_id: int | None = None,
    features: Sequence[str] = ("COMMUNITY",),
) -> JsonObject:
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "icon_hash": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "roles": list(roles),
        "emojis": [],
        "features": list(features),
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": str(system_channel_id) if system_channel_id else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "max_presences": None,
        "max_members": 500000,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": False,
        "safety_alerts_channel_id": None,
        "incidents_data": None,
    }


# https://discord.com/developers/docs/resources/guild#unavailable-guild-object
def unavailable_guild(guild_id: int) -> JsonObject:
    return {"id": str(guild_id), "unavailable": True}


# https://discord.com/developers/docs/resources/emoji#emoji-object (partial, as used by reactions)
def emoji(name: str, emoji_id: int | None = None, *, animated: bool = False) -> JsonObject:
    payload: JsonObject = {"id": str(emoji_id) if emoji_id else None, "name": name}
    if emoji_id:
        payload["animated"] = animated
    return payload


def emoji_key(emoji_payload: Mapping[str, Any]) -> str:
    """The form the REST routes use for an emoji: ``👍`` or ``name:id``.

    https://discord.com/developers/docs/resources/message#create-reaction
    """
    if emoji_payload.get("id"):
        return f"{emoji_payload['name']}:{emoji_payload['id']}"
    return str(emoji_payload["name"])


def emoji_from_key(key: str) -> JsonObject:
    """Inverse of :func:`emoji_key`; accepts ``name:id`` and ``a:name:id`` as Discord does."""
    parts = key.split(":")
    if len(parts) >= 2 and parts[-1].isdigit():
        return emoji(parts[-2], int(parts[-1]), animated=parts[0] == "a" and len(parts) == 3)
    return emoji(key)


# https://discord.com/developers/docs/resources/message#reaction-object
def reaction(
    emoji_payload: JsonObject, *, normal: int, burst: int = 0, me: bool, me_burst: bool = False
) -> JsonObject:
    """``count`` includes super-reactions; ``count_details`` splits them (message.mdx)."""
    return {
        "count": normal + burst,
        "count_details": {"burst": burst, "normal": normal},
        "me": me,
        "me_burst": me_burst,
        "emoji": emoji_payload,
        "burst_colors": ["#ffcc4d"] if burst else [],
    }


# https://discord.com/developers/docs/resources/message#attachment-object
def attachment(
    attachment_id: int, filename: str, *, size: int, url: str, content_type: str | None = None
) -> JsonObject:
    payload: JsonObject = {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
    }
    if content_type:
        payload["content_type"] = content_type
    return payload


# https://discord.com/developers/docs/resources/message#message-reference-structure
def message_reference(
    message_id: int, channel_id: int, guild_id: int | None = None, *, reference_type: int = 0
) -> JsonObject:
    payload: JsonObject = {
        "type": reference_type,
        "message_id": str(message_id),
        "channel_id": str(channel_id),
    }
    if guild_id:
        payload["guild_id"] = str(guild_id)
    return payload


# https://discord.com/developers/docs/resources/message#message-object
def message(
    message_id: int,
    channel_id: int,
    author: JsonObject,
    content: str = "",
    *,
    message_type: int = 0,
    embeds: Sequence[JsonObject] = (),
    attachments: Sequence[JsonObject] = (),
    components: Sequence[JsonObject] = (),
    mentions: Sequence[JsonObject] = (),
    mention_roles: Iterable[int] = (),
    mention_everyone: bool = False,
    reference: JsonObject | None = None,
    referenced_message: JsonObject | None = None,
    flags: int = 0,
    tts: bool = False,
    nonce: str | int | None = None,
    webhook_id: int | None = None,
    application_id: int | None = None,
    interaction_metadata: JsonObject | None = None,
    edited_at: datetime | None = None,
    pinned: bool = False,
) -> JsonObject:
    payload: JsonObject = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": created_at(message_id),
        "edited_timestamp": iso(edited_at) if edited_at else None,
        "tts": tts,
        "mention_everyone": mention_everyone,
        "mentions": list(mentions),
        "mention_roles": [str(role_id) for role_id in mention_roles],
        "attachments": list(attachments),
        "embeds": list(embeds),
        "pinned": pinned,
        "type": message_type,
        "flags": flags,
        "components": list(components),
    }
    if reference is not None:
        payload["message_reference"] = reference
        payload["referenced_message"] = referenced_message
    if nonce is not None:
        payload["nonce"] = nonce
    if webhook_id is not None:
        payload["webhook_id"] = str(webhook_id)
    if application_id is not None:
        payload["application_id"] = str(application_id)
    if interaction_metadata is not None:
        payload["interaction_metadata"] = interaction_metadata
    return payload


# https://discord.com/developers/docs/resources/message#message-interaction-metadata-object
def interaction_metadata(
    interaction_id: int, interaction_type: int, invoker: JsonObject, *, guild_id: int | None, name: str | None
) -> JsonObject:
    payload: JsonObject = {
        "id": str(interaction_id),
        "type": interaction_type,
        "user": invoker,
        "authorizing_integration_owners": {"0": str(guild_id)} if guild_id else {"1": invoker["id"]},
    }
    if name is not None:
        payload["name"] = name
    return payload


# https://discord.com/developers/docs/resources/application#application-object
def application(
    application_id: int, name: str, *, owner: JsonObject, flags: int, bot: JsonObject
) -> JsonObject:
    return {
        "id": str(application_id),
        "name": name,
        "icon": None,
        "description": "chatbridge test double",
        "rpc_origins": [],
        "bot_public": False,
        "bot_require_code_grant": False,
        "bot": bot,
        "terms_of_service_url": None,
        "privacy_policy_url": None,
        "owner": owner,
        "verify_key": "0" * 64,
        "team": None,
        "guild_id": None,
        "flags": flags,
        "approximate_guild_count": 1,
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "tags": [],
        "integration_types_config": {"0": {}},
    }


# https://discord.com/developers/docs/interactions/application-commands#application-command-object
def application_command(
    command_id: int, application_id: int, body: Mapping[str, Any], *, guild_id: int | None, version: int
) -> JsonObject:
    payload: JsonObject = {
        "id": str(command_id),
        "type": body.get("type", 1),
        "application_id": str(application_id),
        "name": body["name"],
        "name_localizations": body.get("name_localizations"),
        "description": body.get("description", ""),
        "description_localizations": body.get("description_localizations"),
        "options": list(body.get("options", [])),
        "default_member_permissions": body.get("default_member_permissions"),
        "nsfw": body.get("nsfw", False),
        "contexts": body.get("contexts"),
        "integration_types": body.get("integration_types", [0]),
        "version": str(version),
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    return payload


# https://discord.com/developers/docs/resources/audit-log#audit-log-change-object
def audit_log_change(key: str, *, new_value: Any = None, old_value: Any = None) -> JsonObject:
    change: JsonObject = {"key": key}
    if new_value is not None:
        change["new_value"] = new_value
    if old_value is not None:
        change["old_value"] = old_value
    return change


# https://discord.com/developers/docs/resources/audit-log#audit-log-entry-object
def audit_log_entry(
    entry_id: int,
    action_type: int,
    *,
    user_id: int | None,
    target_id: int | None,
    changes: Sequence[JsonObject] = (),
    reason: str | None = None,
    options: JsonObject | None = None,
) -> JsonObject:
    payload: JsonObject = {
        "id": str(entry_id),
        "action_type": action_type,
        "user_id": str(user_id) if user_id else None,
        "target_id": str(target_id) if target_id else None,
        "changes": list(changes),
    }
    if reason is not None:
        payload["reason"] = reason
    if options is not None:
        payload["options"] = options
    return payload


def now() -> datetime:
    """Timezone-aware "now", the only clock payload builders use."""
    return datetime.now(UTC)
