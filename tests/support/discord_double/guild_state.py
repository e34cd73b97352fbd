"""One guild's roles, members, channels, threads and audit log.

Setup methods return plain ids (``int``) so tests can hand them straight to discord.py
(``client.get_channel(general)``); the JSON objects stay here and are what REST and the gateway
serve.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from . import payloads
from .payloads import JsonObject, now
from .permissions import EVERYONE_DEFAULT, base_permissions, channel_permissions

if TYPE_CHECKING:
    from .state import World


class GuildState:
    """A guild the bot is in.  Create through :meth:`World.add_guild`."""

    def __init__(
        self,
        world: World,
        guild_id: int,
        name: str,
        *,
        owner_id: int,
        everyone_permissions: int,
        bot_permissions: int,
    ) -> None:
        self.world = world
        self.id = guild_id
        self.name = name
        self.owner_id = owner_id
        self.data: JsonObject = payloads.guild(guild_id, name, owner_id=owner_id, roles=[])
        self.roles: dict[int, JsonObject] = {
            guild_id: payloads.role(guild_id, "@everyone", permissions=everyone_permissions, position=0)
        }
        self.members: dict[int, JsonObject] = {}
        self.channels: dict[int, JsonObject] = {}
        self.threads: dict[int, JsonObject] = {}
        self.thread_members: dict[int, dict[int, JsonObject]] = {}
        self.audit_log: list[JsonObject] = []
        self.bot_joined_at: datetime = now()
        self.bot_role_id = self.add_role(
            world.bot_user["username"], permissions=bot_permissions, managed=True, bot_id=world.bot_id
        )
        self.add_member(world.bot_id, roles=[self.bot_role_id], joined_at=self.bot_joined_at)
        if owner_id not in self.members and owner_id in world.users:
            self.add_member(owner_id)

    # -- setup -----------------------------------------------------------------------------

    def add_role(
        self,
        name: str,
        *,
        permissions: int = EVERYONE_DEFAULT,
        hoist: bool = False,
        mentionable: bool = True,
        managed: bool = False,
        bot_id: int | None = None,
    ) -> int:
        role_id = self.world.snowflakes.next()
        self.roles[role_id] = payloads.role(
            role_id,
            name,
            permissions=permissions,
            position=len(self.roles),
            hoist=hoist,
            mentionable=mentionable,
            managed=managed,
            bot_id=bot_id,
        )
        return role_id

    def add_member(
        self,
        user_id: int,
        *,
        roles: Iterable[int] = (),
        nick: str | None = None,
        joined_at: datetime | None = None,
    ) -> JsonObject:
        member = payloads.member(
            self.world.user(user_id), roles=roles, nick=nick, joined_at=joined_at or now()
        )
        self.members[user_id] = member
        return member

    def _next_position(self) -> int:
        return len(self.channels)

    def add_category(self, name: str) -> int:
        channel_id = self.world.snowflakes.next()
        self.channels[channel_id] = payloads.category_channel(
            channel_id, self.id, name, position=self._next_position()
        )
        return channel_id

    def add_text_channel(self, name: str, *, topic: str | None = None, category: int | None = None) -> int:
        channel_id = self.world.snowflakes.next()
        self.channels[channel_id] = payloads.text_channel(
            channel_id, self.id, name, position=self._next_position(), parent_id=category, topic=topic
        )
        if self.data["system_channel_id"] is None:
            self.data["system_channel_id"] = str(channel_id)
        return channel_id

    def add_forum_channel(
        self,
        name: str,
        *,
        tags: Sequence[str] = (),
        moderated_tags: Sequence[str] = (),
        require_tag: bool = False,
        topic: str | None = None,
        category: int | None = None,
    ) -> int:
        """A forum (type 15); ``moderated_tags`` can only be applied by members with MANAGE_THREADS."""
        channel_id = self.world.snowflakes.next()
        available = [payloads.forum_tag(self.world.snowflakes.next(), tag) for tag in tags]
        available += [
            payloads.forum_tag(self.world.snowflakes.next(), tag, moderated=True) for tag in moderated_tags
        ]
        self.channels[channel_id] = payloads.forum_channel(
            channel_id,
            self.id,
            name,
            position=self._next_position(),
            available_tags=available,
            parent_id=category,
            topic=topic,
            require_tag=require_tag,
        )
        return channel_id

    def tag_id(self, forum_id: int, name: str) -> int:
        """The id of a forum tag by name, for ``applied_tags`` assertions."""
        for tag in self.channels[forum_id]["available_tags"]:
            if tag["name"] == name:
                return int(tag["id"])
        raise KeyError(f"forum {forum_id} has no tag {name!r}")

    def add_thread(
        self,
        parent_id: int,
        name: str,
        *,
        owner_id: int,
        thread_id: int | None = None,
        applied_tags: Iterable[int] = (),
        private: bool = False,
        archived: bool = False,
        locked: bool = False,
    ) -> int:
        """Register a thread (no messages); see :meth:`World.create_thread` for a forum post."""
        new_id = thread_id or self.world.snowflakes.next()
        self.threads[new_id] = payloads.thread(
            new_id,
            self.id,
            parent_id,
            owner_id,
            name,
            thread_type=payloads.PRIVATE_THREAD if private else payloads.PUBLIC_THREAD,
            applied_tags=applied_tags,
            archived=archived,
            locked=locked,
        )
        self.join_thread(new_id, owner_id)
        parent = self.channels.get(parent_id)
        if parent is not None and parent["type"] == payloads.FORUM_CHANNEL:
            parent["last_message_id"] = str(new_id)
        return new_id

    def join_thread(self, thread_id: int, user_id: int) -> JsonObject:
        members = self.thread_members.setdefault(thread_id, {})
        if user_id not in members:
            members[user_id] = payloads.thread_member(thread_id, user_id, joined=now())
            self.threads[thread_id]["member_count"] = min(50, len(members))
        return members[user_id]

    # -- queries ---------------------------------------------------------------------------

    def member(self, user_id: int) -> JsonObject:
        return self.members[user_id]

    def permissions_of(self, user_id: int) -> int:
        member = self.members.get(user_id)
        role_ids = [int(role_id) for role_id in member["roles"]] if member else []
        return base_permissions(
            owner=user_id == self.owner_id,
            everyone=int(self.roles[self.id]["permissions"]),
            role_permissions=(int(self.roles[r]["permissions"]) for r in role_ids if r in self.roles),
        )

    @property
    def bot_permissions(self) -> int:
        return self.permissions_of(self.world.bot_id)

    def permissions_in(self, user_id: int, channel_id: int) -> int:
        """Permissions in a channel, its overwrites applied; a thread takes its parent's
        (permissions.mdx "Inherited Permissions (Threads)")."""
        base = self.permissions_of(user_id)
        if user_id == self.owner_id:
            return base
        channel = self.threads.get(channel_id) or self.channels.get(channel_id)
        if channel is not None and channel_id in self.threads and channel.get("parent_id"):
            channel = self.channels.get(int(channel["parent_id"]), channel)
        member = self.members.get(user_id)
        return channel_permissions(
            base,
            (channel or {}).get("permission_overwrites") or [],
            guild_id=self.id,
            role_ids=[int(r) for r in member["roles"]] if member else [],
            member_id=user_id,
        )

    def bot_permissions_in(self, channel_id: int) -> int:
        return self.permissions_in(self.world.bot_id, channel_id)

    def guild_payload(self) -> JsonObject:
        """The guild object with its current roles, as REST's Get Guild returns it."""
        return {**self.data, "roles": list(self.roles.values())}

    def bot_thread_member(self, thread_id: int) -> JsonObject | None:
        return self.thread_members.get(thread_id, {}).get(self.world.bot_id)

    def thread_payload(self, thread_id: int) -> JsonObject:
        """A thread as the bot sees it: with its own thread-member object if it has joined."""
        payload = dict(self.threads[thread_id])
        member = self.bot_thread_member(thread_id)
        if member is not None:
            payload["member"] = member
        return payload

    def active_threads(self) -> list[JsonObject]:
        return [
            self.thread_payload(thread_id)
            for thread_id, thread in self.threads.items()
            if not thread["thread_metadata"]["archived"]
        ]

    def add_audit_log_entry(
        self,
        action_type: int,
        *,
        user_id: int | None,
        target_id: int | None,
        changes: Sequence[JsonObject] = (),
        reason: str | None = None,
        options: JsonObject | None = None,
    ) -> JsonObject:
        entry = payloads.audit_log_entry(
            self.world.snowflakes.next(),
            action_type,
            user_id=user_id,
            target_id=target_id,
            changes=changes,
            reason=reason,
            options=options,
        )
        self.audit_log.append(entry)
        return entry
