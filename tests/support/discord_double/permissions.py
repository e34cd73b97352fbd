"""Permission bits and the guild-level permission computation Discord performs.

https://discord.com/developers/docs/topics/permissions

Defined here rather than borrowed from ``discord.Permissions`` so the double stays an independent
oracle: a test must not pass merely because the client and the fake share a wrong constant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import IntFlag
from typing import Any


class Permission(IntFlag):
    """The permission flags the forum layer cares about (values from the permissions page)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40


ALL_PERMISSIONS = (1 << 51) - 1
"""What ADMINISTRATOR expands to; wide enough to cover every flag Discord has defined so far."""

EVERYONE_DEFAULT = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.SEND_MESSAGES_IN_THREADS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.CHANGE_NICKNAME
)
"""A typical community's @everyone role."""

MODERATOR_DEFAULT = (
    EVERYONE_DEFAULT
    | Permission.MANAGE_MESSAGES
    | Permission.MANAGE_THREADS
    | Permission.MODERATE_MEMBERS
    | Permission.KICK_MEMBERS
    | Permission.VIEW_AUDIT_LOG
)
"""What the seeded moderator role grants: enough to time out, delete and manage threads."""

BOT_DEFAULT = MODERATOR_DEFAULT | Permission.MANAGE_ROLES
"""The bot's integration role: the forum layer needs moderation rights, not ADMINISTRATOR."""


def base_permissions(*, owner: bool, everyone: int, role_permissions: Iterable[int]) -> int:
    """Guild-level permissions, as in "Permission Overwrites" step one of the permissions page.

    A channel's overwrites come on top (`channel_permissions`).
    """
    if owner:
        return ALL_PERMISSIONS
    value = everyone
    for bits in role_permissions:
        value |= bits
    if value & Permission.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return value


def channel_permissions(
    base: int,
    overwrites: Sequence[Mapping[str, Any]],
    *,
    guild_id: int,
    role_ids: Iterable[int],
    member_id: int,
) -> int:
    """developers/topics/permissions.mdx "Permission Overwrites": the @everyone overwrite, then the
    member's roles' overwrites (denies, then allows, combined), then the member's own; and
    "Implicit Permissions": without VIEW_CHANNEL nothing else in the channel counts."""
    if base & Permission.ADMINISTRATOR:
        return ALL_PERMISSIONS
    by_target = {int(o["id"]): o for o in overwrites}
    value = base
    everyone = by_target.get(guild_id)
    if everyone is not None:
        value = (value & ~int(everyone["deny"])) | int(everyone["allow"])
    allow = deny = 0
    for role_id in role_ids:
        overwrite = by_target.get(role_id)
        if overwrite is not None and int(overwrite.get("type", 0)) == 0:
            allow |= int(overwrite["allow"])
            deny |= int(overwrite["deny"])
    value = (value & ~deny) | allow
    member = by_target.get(member_id)
    if member is not None and int(member.get("type", 1)) == 1:
        value = (value & ~int(member["deny"])) | int(member["allow"])
    if not value & Permission.VIEW_CHANNEL:
        return 0
    return value
