"""Gateway events into intake jobs: guilds, channels, messages, reactions, threads, members.

Each handler reads what it can at once (the clock, the cached member) and queues the rest as a
job, so events are resolved and submitted in arrival order.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

import discord

from chatbridge.adapters.discord import likes, translate
from chatbridge.adapters.discord.catchup import CatchUp
from chatbridge.adapters.discord.member_lists import rate_limited_frame
from chatbridge.adapters.discord.posted import remember_nonce
from chatbridge.adapters.discord.state import Job
from chatbridge.adapters.discord.timeouts import OwnTimeouts, to_second
from chatbridge.model import ChatEvent

log = logging.getLogger(__name__)


class GatewayEvents(CatchUp, OwnTimeouts):
    """What BridgeClient calls for each gateway event the forum reads."""

    def guild_available(self, guild: discord.Guild) -> None:
        """A guild (re)appeared after an IDENTIFY: announce its sub-forums, then catch up."""
        at = self.core.clock()

        async def rooms() -> list[ChatEvent]:
            return list(translate.rooms_seen(guild, at))

        self._enqueue(rooms)
        if not self._closing and self._gate is not None:
            self._catchup.spawn(self._backfill(guild, at), name=f"guild {guild.id}")
            self._catchup.spawn(self._watch_members(guild), name=f"members of guild {guild.id}")

    def gateway_frame(self, raw: object) -> None:
        """A received gateway frame; only RATE_LIMITED is read here (discord.py ignores it)."""
        limited = rate_limited_frame(raw)
        if limited is None:
            return
        guild_id, retry_after = limited
        log.warning(
            "Discord rate-limited a gateway request (the member list of guild %s; again in %s s)",
            guild_id,
            retry_after,
        )
        self._member_lists.rate_limited(guild_id, retry_after)

    def guild_renamed(self, guild: discord.Guild) -> None:
        """GUILD_UPDATE with a new name: announce the sub-forums again, with the guild's new name."""
        at = self.core.clock()

        async def rooms() -> list[ChatEvent]:
            return list(translate.rooms_seen(guild, at))

        self._enqueue(rooms)

    def forum_changed(self, before: discord.abc.GuildChannel, after: discord.abc.GuildChannel) -> None:
        """A forum's tag renamed or removed: every stored thread of the forum follows."""
        if not isinstance(before, discord.ForumChannel) or not isinstance(after, discord.ForumChannel):
            return
        event = translate.forum_tags_changed(before, after, self.core.clock())
        if event is None:
            return

        async def changed() -> list[ChatEvent]:
            return [event]

        self._enqueue(changed)

    def thread_changed(self, payload: discord.RawThreadUpdateEvent) -> None:
        """A forum post's tags as they are now (THREAD_UPDATE carries them on every update)."""
        forum = self.client.get_channel(payload.parent_id)
        applied = payload.data.get("applied_tags")
        if not isinstance(forum, discord.ForumChannel) or applied is None:
            return
        event = translate.thread_retagged(forum, payload.thread_id, applied, self.core.clock())

        async def retagged() -> list[ChatEvent]:
            return [event]

        self._enqueue(retagged)

    def channel_seen(self, channel: discord.abc.GuildChannel) -> None:
        if isinstance(channel, discord.TextChannel | discord.ForumChannel):
            at = self.core.clock()

            async def seen() -> list[ChatEvent]:
                return [translate.room_seen(channel, at)]

            self._enqueue(seen)

    def message(self, message: discord.Message) -> None:
        own = self.client.user
        if own is not None and message.author.id == own.id and message.nonce is not None:
            remember_nonce(self._own_nonces, message.id, str(message.nonce))
        if message.guild is None:
            return
        if own is not None and message.author.id == own.id:
            self._enqueue(self._own_message(message))
            return

        self._remember_asker(message.author)

        async def posted() -> list[ChatEvent]:
            place = await self._place(message.channel.id, message.channel, f"message {message.id}")
            if place is None:
                return []
            event = translate.message_posted(message, place)
            return [event] if event is not None else []

        self._enqueue(posted)

    def _own_message(self, message: discord.Message) -> Job:
        """The bot's own posts are not forum posts, but a thread's position may move past them
        (in order, after the members' messages before them), so backfill does not re-read them."""

        async def passed() -> list[ChatEvent]:
            channel = message.channel
            if isinstance(channel, discord.Thread) and message.guild is not None:
                scope = translate.thread_scope(message.guild.id, channel.id)
                self._book.applied(message.guild.id, scope, message.id)
            return []

        return passed

    def message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if payload.guild_id is None or not self.config.message_content:
            return  # without the content intent an edit carries no text worth storing
        message = payload.message

        async def edited() -> list[ChatEvent]:
            place = await self._place(
                payload.channel_id, message.channel, f"the edit of message {message.id}"
            )
            if place is None:
                return []
            event = translate.edited(
                message_id=message.id,
                place=place,
                actor=translate.actor_of(message.author),
                content=message.content,
                edited_at=message.edited_at,
            )
            return [event] if event is not None else []

        self._enqueue(edited)

    def message_delete(self, guild_id: int | None, channel_id: int, message_ids: Sequence[int]) -> None:
        if guild_id is None:
            return
        for message_id in message_ids:
            self._backfilling.get(guild_id, set()).add(message_id)
        at = self.core.clock()

        async def deleted() -> list[ChatEvent]:
            place = await self._place(channel_id, about=f"the deletion of messages {list(message_ids)}")
            if place is None:
                return []
            return [translate.deleted(message_id=m, place=place, at=at) for m in message_ids]

        self._enqueue(deleted)

    def reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        own = self.client.user
        if payload.guild_id is None or (own is not None and payload.user_id == own.id):
            return
        at = self.core.clock()
        guild = self.client.get_guild(payload.guild_id)
        member = payload.member or (guild.get_member(payload.user_id) if guild is not None else None)
        actor = translate.actor_of(member) if member is not None else translate.unnamed_actor(payload.user_id)

        async def reacted() -> list[ChatEvent]:
            place = await self._place(
                payload.channel_id, about=f"a reaction by {payload.user_id} to message {payload.message_id}"
            )
            if place is None:
                return []
            return [
                translate.reaction(
                    added=added,
                    message_id=payload.message_id,
                    place=place,
                    actor=actor,
                    emoji=translate.reaction_key(payload.emoji, burst=payload.burst),
                    at=at,
                    observation=uuid.uuid4().hex[:12],
                )
            ]

        self._enqueue(reacted)

    def reactions_cleared(
        self, guild_id: int | None, channel_id: int, message_id: int, emoji: str | None
    ) -> None:
        """A moderator removed all of a message's reactions (or all with one emoji): each like
        they carried is taken back, by asking the store whose likes those were."""
        if guild_id is None:
            return
        like_keys = self.core.ingestor.rules.like_keys
        keys = like_keys if emoji is None else {k for k in (self.core.like_key(emoji),) if k is not None}
        if not keys:
            return
        keys = translate.with_super_reactions(keys)  # a clear takes both kinds

        async def place() -> translate.Place | None:
            return await self._place(channel_id, about=f"the cleared reactions of message {message_id}")

        self._enqueue(self._likes_job(place, lambda where: [likes.cleared(where, message_id, keys)], None))

    def thread_created(self, thread: discord.Thread) -> None:
        """A thread in a text channel opens a forum thread (a forum post opens with its message)."""
        if isinstance(thread.parent, discord.ForumChannel) or not translate.is_subforum(thread.parent):
            return

        async def opened() -> list[ChatEvent]:
            event = await self.opening(thread)
            return [event] if event is not None else []

        self._enqueue(opened)

    def thread_deleted(self, payload: discord.RawThreadDeleteEvent) -> None:
        """A deleted thread takes its opening post, and so the forum thread, with it."""
        parent = self.client.get_channel(payload.parent_id)
        place = translate.Place(
            guild_id=payload.guild_id,
            channel_id=payload.thread_id,
            name="",
            parent_id=payload.parent_id,
            parent_name=getattr(parent, "name", ""),
        )
        at = self.core.clock()

        async def deleted() -> list[ChatEvent]:
            return [translate.deleted(message_id=payload.thread_id, place=place, at=at)]

        self._enqueue(deleted)

    def member_joined(self, member: discord.Member) -> None:
        room = self._default_room(member.guild)
        if room is None:
            return
        event = translate.member_joined(room=room, actor=translate.actor_of(member), at=self.core.clock())

        async def joined() -> list[ChatEvent]:
            return [event]

        self._enqueue(joined)

    def audit_entry(self, entry: discord.AuditLogEntry) -> None:
        """A timeout given or lifted by hand goes to the case log; the bot's own are logged already."""
        if entry.action is not discord.AuditLogAction.member_update or entry.target is None:
            return
        if self.client.user is not None and entry.user_id == self.client.user.id:
            return
        room = self._default_room(entry.guild)
        if room is None:
            return
        event = translate.hand_timeout(
            room=room,
            target_id=int(entry.target.id),
            actor_id=entry.user_id,
            before=getattr(entry.changes.before, "timed_out_until", None),
            after=getattr(entry.changes.after, "timed_out_until", None),
            reason=entry.reason,
            at=entry.created_at,
        )
        if event is None:
            return

        async def observed() -> list[ChatEvent]:
            return [event]

        self._enqueue(observed)

    def member_updated(self, before: discord.Member, after: discord.Member) -> None:
        """Without View Audit Log no audit entry says a moderator timed someone out by hand, but
        the member's `communication_disabled_until` changes all the same: logged without a
        moderator, unless the bot made the change itself. With the permission the audit entry
        (which names the moderator and the reason) is the record; the shared event id keeps the
        case log at one entry should both arrive."""
        if before.timed_out_until == after.timed_out_until:
            return
        guild = after.guild
        if guild.me is not None and guild.me.guild_permissions.view_audit_log:
            return
        if self._own_timeouts.pop((guild.id, after.id, to_second(after.timed_out_until)), False):
            return
        room = self._default_room(guild)
        if room is None:
            return
        event = translate.hand_timeout(
            room=room,
            target_id=after.id,
            actor_id=None,
            before=before.timed_out_until,
            after=after.timed_out_until,
            reason=None,
            at=self.core.clock(),
        )
        if event is None:
            return

        async def observed() -> list[ChatEvent]:
            return [event]

        self._enqueue(observed)

    def member_left(self, payload: discord.RawMemberRemoveEvent) -> None:
        guild = self.client.get_guild(payload.guild_id)
        room = self._default_room(guild) if guild is not None else None
        if room is None:
            return
        event = translate.member_left(
            room=room,
            actor=translate.actor_of(payload.user),
            at=self.core.clock(),
            observation=uuid.uuid4().hex[:12],
        )

        async def left() -> list[ChatEvent]:
            return [event]

        self._enqueue(left)
