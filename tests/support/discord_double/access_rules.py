"""What the bot may do in a channel, its permission overwrites applied.

- developers/topics/permissions.mdx: overwrites, implicit permissions, and threads inheriting their
  parent's permissions except SEND_MESSAGES (a thread needs SEND_MESSAGES_IN_THREADS); SEND_MESSAGES
  "allows ... creating threads in a forum".
- developers/resources/message.mdx: Get Channel Messages needs VIEW_CHANNEL and returns no
  messages without READ_MESSAGE_HISTORY; Get Channel Message needs both.
- developers/resources/channel.mdx: Start Thread needs CREATE_PUBLIC_THREADS (or
  CREATE_PRIVATE_THREADS for a private one).

No VIEW_CHANNEL is 403 50001 Missing Access; a missing permission otherwise is 403 50013.
"""

from __future__ import annotations

from .permissions import Permission
from .rest_app import ApiError
from .state import World


def bot_permissions_in(world: World, channel_id: int) -> int | None:
    """None outside a guild (DMs have no overwrites)."""
    guild = world.guild_of(channel_id)
    return guild.bot_permissions_in(channel_id) if guild is not None else None


def require(world: World, channel_id: int, needed: int = 0) -> None:
    permissions = bot_permissions_in(world, channel_id)
    if permissions is None:
        return
    if not permissions & Permission.VIEW_CHANNEL:
        raise ApiError(403, 50001, "Missing Access")
    if permissions & needed != needed:
        raise ApiError(403, 50013, "Missing Permissions")


def require_send(world: World, channel_id: int) -> None:
    guild = world.guild_of(channel_id)
    in_thread = guild is not None and channel_id in guild.threads
    require(world, channel_id, Permission.SEND_MESSAGES_IN_THREADS if in_thread else Permission.SEND_MESSAGES)


def reads_history(world: World, channel_id: int) -> bool:
    """Whether history is shown (VIEW_CHANNEL is required before this is asked)."""
    permissions = bot_permissions_in(world, channel_id)
    return permissions is None or bool(permissions & Permission.READ_MESSAGE_HISTORY)
