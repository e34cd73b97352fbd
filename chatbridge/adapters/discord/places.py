"""Where things are: a channel's place, a guild's default room, a thread's opening post.

Read from discord.py's cache where it can be, else fetched once (archived threads are not cached).
"""

from __future__ import annotations

import contextlib
import logging

import discord

from chatbridge.adapters.discord import failures, translate
from chatbridge.adapters.discord.state import PlatformState
from chatbridge.model import MessagePosted, Room

log = logging.getLogger(__name__)

PLACE_CACHE = 2048


class Places(PlatformState):
    """Lookups of channels, rooms and opening posts, cached or fetched."""

    async def _place(
        self, channel_id: int, channel: object = None, about: str = ""
    ) -> translate.Place | None:
        """A channel's place from the cache, or fetched once (archived threads are not cached).

        A channel that is gone (or out of the bot's reach) is None, with one log line naming
        `about` (the event it was wanted for); a passing failure (a 5xx, a 429, a timeout) is
        raised, so the intake pump asks again instead of skipping the event.
        """
        place = translate.place_of(channel) if channel is not None else None
        if place is None:
            place = translate.place_of(self.client.get_channel(channel_id))
        if place is None:
            place = self._places.get(channel_id)
        if place is None:
            try:
                fetched = await self.client.fetch_channel(channel_id)
            except discord.HTTPException as error:
                if failures.is_passing(error):
                    raise
                log.warning(
                    "Discord channel %s is gone or out of reach (%s); skipping %s",
                    channel_id,
                    failures.summary(error),
                    about or "an event in it",
                )
                return None
            place = translate.place_of(fetched)
        if place is not None:
            self._places[channel_id] = place
            self._places.move_to_end(channel_id)
            while len(self._places) > PLACE_CACHE:
                self._places.popitem(last=False)
        return place

    def can_read(self, room_id: str, user_id: str) -> bool:
        """Whether the member may view the channel, from discord.py's cache (channel overwrites and
        roles); False when the channel or the member is not cached: a private answer is never
        given on a guess."""
        if not room_id.isdigit() or not user_id.isdigit():
            return False
        channel = self.client.get_channel(int(room_id))
        if not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
            return False
        member = channel.guild.get_member(int(user_id)) or self._askers.get((channel.guild.id, int(user_id)))
        if member is None or not channel.permissions_for(member).view_channel:
            return False
        if isinstance(channel, discord.Thread):
            return translate.reads_thread(channel, member)
        return True

    def _remember_asker(self, user: object) -> None:
        """Keep the member who just asked or wrote (roles as Discord sent them with the event):
        the guild's member cache is not filled at start-up, and `can_read` must not fetch."""
        if not isinstance(user, discord.Member):
            return
        key = (user.guild.id, user.id)
        self._askers[key] = user
        self._askers.move_to_end(key)
        while len(self._askers) > PLACE_CACHE:
            self._askers.popitem(last=False)

    def readable_rooms(self, member: discord.Member) -> frozenset[str]:
        """The sub-forum channels a member may view, read from the cache on the event loop, so a
        lookup running in a worker thread (autocomplete) never touches discord.py's state."""
        channels = frozenset(
            str(channel.id)
            for channel in member.guild.channels
            if translate.is_subforum(channel) and channel.permissions_for(member).view_channel
        )
        threads = frozenset(
            str(thread.id)
            for thread in member.guild.threads
            if thread.type is discord.ChannelType.private_thread
            and thread.permissions_for(member).view_channel
            and translate.reads_thread(thread, member)
        )
        return channels | threads

    def _default_room(self, guild: discord.Guild) -> Room | None:
        """Where guild-wide events (joins) are filed: the system channel or the first text channel."""
        channel: discord.abc.GuildChannel | None = guild.system_channel
        if channel is None:
            channel = next(
                (c for c in sorted(guild.channels, key=lambda c: c.position) if translate.is_subforum(c)),
                None,
            )
        place = translate.place_of(channel) if channel is not None else None
        return place.room if place is not None else None

    async def opening(self, thread: discord.Thread) -> MessagePosted | None:
        """The opening post of a text-channel thread: the message it was started from, if any."""
        place = translate.place_of(thread)
        if place is None or place.parent_is_forum:
            return None
        starter: discord.Message | None = thread.starter_message
        if starter is None and isinstance(thread.parent, discord.TextChannel):
            with contextlib.suppress(discord.NotFound, discord.Forbidden):
                starter = await thread.parent.fetch_message(thread.id)
        if starter is not None:
            actor = translate.actor_of(starter.author, webhook=starter.webhook_id is not None)
            text = starter.content
        else:
            owner = thread.owner
            actor = (
                translate.actor_of(owner) if owner is not None else translate.unnamed_actor(thread.owner_id)
            )
            text = ""
        own = self.client.user
        if own is not None and actor.user_id == str(own.id):
            return None
        at = thread.created_at or discord.utils.snowflake_time(thread.id)
        return translate.thread_opened(place=place, actor=actor, text=text, at=at)
