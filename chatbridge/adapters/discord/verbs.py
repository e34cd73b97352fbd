"""The Platform verbs on Discord: send, respond, react, permalink, threads, mutes, edits,
deletions, direct messages and privileges."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import discord

from chatbridge.adapters.discord import failures, translate
from chatbridge.adapters.discord.interactions import action_view
from chatbridge.adapters.discord.posted import chunk_nonce, posted_before
from chatbridge.adapters.discord.timeouts import OwnTimeouts
from chatbridge.model import CommandInvoked, MessageRef, OutgoingMessage, Privilege, Room
from chatbridge.platform import MuteResult, PlatformError, ThreadTags
from chatbridge.render.escape import name_list

T = TypeVar("T")

THREAD_ARCHIVED = 50083
"""Discord's code for an edit or reaction in an archived thread (a send unarchives it itself)."""
TAG_REQUIRED = 40067
"""Discord's code for a post without a tag in a forum that requires one."""
THREAD_LOCKED = 160005
"""Discord's code for changing messages in a locked thread without Manage Threads."""
CLOSED_THREAD = "That thread is archived and locked, and I may not reopen it, so I left it as it is."


class Verbs(OwnTimeouts):
    """The `chatbridge.platform.Platform` verbs, through discord.py's client and HTTP calls."""

    def _messageable(self, channel_id: str) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(int(channel_id))

    @failures.outbox_verb("post a message")
    async def send(
        self, room: Room, message: OutgoingMessage, *, thread_id: str | None = None, idempotency_key: str
    ) -> MessageRef:
        """Post in a channel or thread; Discord drops a repeat with the same nonce (the key) for a
        few minutes, and after that a retry looks for what an earlier try posted (`posted`)."""
        channel = self._messageable(thread_id or room.room_id)
        rendered = translate.render(message)
        already = await self._posted_before(channel, idempotency_key, rendered.chunks)
        first: discord.Message | None = None
        for index, chunk in enumerate(rendered.chunks):
            if index in already:
                first = first or already[index]
                continue
            extra: dict[str, Any] = {}
            view = action_view(rendered.actions) if index == len(rendered.chunks) - 1 else None
            if view is not None:
                extra["view"] = view
            try:
                sent = await channel.send(
                    chunk,
                    allowed_mentions=rendered.allowed_mentions,
                    nonce=chunk_nonce(idempotency_key, index),
                    **extra,
                )
            except discord.Forbidden as error:
                raise PlatformError(f"I'm not allowed to post in <#{channel.id}>.") from error
            except discord.HTTPException as error:
                if error.code == THREAD_ARCHIVED:  # a send reopens a thread unless it is locked
                    raise PlatformError(CLOSED_THREAD) from error
                raise
            first = first or sent
        assert first is not None
        return MessageRef(self.name, room.room_id, str(first.id), thread_id, room.community_id)

    async def _posted_before(
        self, channel: discord.abc.Messageable, key: str, chunks: Sequence[str]
    ) -> dict[int, discord.Message]:
        own = self.client.user
        if own is None:
            return {}
        return await posted_before(channel, own.id, key, chunks, self._own_nonces, self.core.engine)

    async def respond(self, invocation: CommandInvoked, message: OutgoingMessage) -> None:
        """Answer an interaction through it; a typed command with a reply (ephemeral: by DM)."""
        if await self._desk.respond(invocation, message):
            return
        kind, _, message_id = invocation.event_id.partition(":")
        typed = kind == "message" and message_id.isdigit()
        hidden = False
        if message.conceal_invocation and typed:  # slash commands and menus are never shown to others
            hidden = await self._conceal(invocation, message_id)
            if not hidden:
                note = (
                    "I could not hide your command here (I need the Manage Messages permission), so "
                    "others can still read it; you can delete it yourself."
                )
                message = message.with_private_note(note)
        channel = self._messageable(invocation.thread_id or invocation.room.room_id)
        rendered = translate.render(message)
        if message.ephemeral:
            if await self._direct(invocation.actor.user_id, rendered):
                return
            notice = OutgoingMessage(
                f"<@{invocation.actor.user_id}> I couldn't send you a private answer. Allow direct "
                "messages from server members, or use the slash command.",
                mention_user_ids=(invocation.actor.user_id,),
            )
            rendered = translate.render(notice)
        reference = None
        if typed and not hidden:
            reference = discord.MessageReference(
                message_id=int(message_id), channel_id=channel.id, fail_if_not_exists=False
            )
        for index, chunk in enumerate(rendered.chunks):
            extra: dict[str, Any] = {"reference": reference} if reference is not None and index == 0 else {}
            view = action_view(rendered.actions) if index == len(rendered.chunks) - 1 else None
            if view is not None:
                extra["view"] = view
            await channel.send(chunk, allowed_mentions=rendered.allowed_mentions, **extra)

    async def _conceal(self, invocation: CommandInvoked, message_id: str) -> bool:
        """Delete a typed command whose words or sender are private; False when refused."""
        ref = MessageRef(self.name, invocation.room.room_id, message_id, invocation.thread_id)
        try:
            await self.delete_message(ref, "")
        except (PlatformError, discord.HTTPException):
            return False
        return True

    async def _direct(self, user_id: str, rendered: translate.Rendered) -> bool:
        try:
            user = self.client.get_user(int(user_id)) or await self.client.fetch_user(int(user_id))
            for chunk in rendered.chunks:
                await user.send(chunk, allowed_mentions=rendered.allowed_mentions)
        except discord.HTTPException:
            return False
        return True

    @failures.outbox_verb("react to a message")
    async def react(self, ref: MessageRef, emoji: str) -> None:
        channel = self._messageable(ref.thread_id or ref.room_id)
        message = channel.get_partial_message(int(ref.message_id))
        await self._reopening(channel.id, lambda: message.add_reaction(emoji))

    async def _reopening(self, channel_id: int, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt`, and if the thread is archived: reopen it, attempt again, archive it again.

        Discord refuses edits and reactions in an archived thread (50083); anyone who may post
        there may unarchive it, but a locked one only with Manage Threads. Where the bot may not
        reopen it, it leaves the thread alone and says so.
        """
        try:
            return await attempt()
        except discord.HTTPException as error:
            if error.code != THREAD_ARCHIVED:
                raise
        try:
            await self.client.http.edit_channel(channel_id, archived=False)
        except discord.HTTPException as error:
            raise PlatformError(CLOSED_THREAD) from error
        try:
            return await attempt()
        finally:
            with contextlib.suppress(discord.HTTPException):
                await self.client.http.edit_channel(channel_id, archived=True)

    def permalink(self, ref: MessageRef) -> str:
        """https://discord.com/channels/<guild>/<channel>/<message>, channel being where it lives.

        A thread's messages live in the thread, except the message a text-channel thread was
        started from, which lives in the parent channel.
        """
        channel_id = ref.thread_id or ref.room_id
        parent = self.client.get_channel(int(ref.room_id)) if ref.room_id.isdigit() else None
        if (
            ref.thread_id is not None
            and ref.thread_id == ref.message_id
            and isinstance(parent, discord.TextChannel)
        ):
            channel_id = ref.room_id
        guild_id = ref.community_id
        if guild_id is None:
            found = parent or self.client.get_channel(int(channel_id))
            guild = getattr(found, "guild", None)
            guild_id = str(guild.id) if guild is not None else "@me"
        return translate.permalink(guild_id, channel_id, ref.message_id)

    def thread_tags(self, room: Room) -> ThreadTags | None:
        """A forum's tags from the gateway cache, moderated ones left out: only members with
        Manage Threads may apply those, and the bot must not apply them on anyone's behalf."""
        channel = self.client.get_channel(int(room.room_id)) if room.room_id.isdigit() else None
        if not isinstance(channel, discord.ForumChannel):
            return None
        names = tuple(tag.name for tag in channel.available_tags if not tag.moderated)
        return ThreadTags(names, required=channel.flags.require_tag)

    @failures.outbox_verb("start a thread")
    async def create_thread(
        self, room: Room, title: str, message: OutgoingMessage, *, tags: Sequence[str] = ()
    ) -> MessageRef:
        """A forum post in a forum channel (with `tags` applied); in a text channel, a message
        with a thread started on it (a text channel's threads have no tags)."""
        channel = self.client.get_channel(int(room.room_id))
        if channel is None:
            try:
                channel = await self.client.fetch_channel(int(room.room_id))
            except discord.HTTPException as error:
                if failures.is_passing(error):
                    raise
                raise PlatformError("I can't see that channel any more.") from error
        rendered = translate.render(message)
        name = translate.thread_name(title)
        chunks = list(rendered.chunks)
        try:
            if isinstance(channel, discord.ForumChannel):
                applied = _forum_tags(channel, tags)
                created = await channel.create_thread(
                    name=name,
                    content=chunks[0],
                    allowed_mentions=rendered.allowed_mentions,
                    applied_tags=applied,
                )
                thread, opening = created.thread, created.message
            elif isinstance(channel, discord.TextChannel):
                opening = await channel.send(chunks[0], allowed_mentions=rendered.allowed_mentions)
                thread = await opening.create_thread(name=name)
            else:
                raise PlatformError("Threads can be started in text channels and forums only.")
            for chunk in chunks[1:]:
                await thread.send(chunk, allowed_mentions=rendered.allowed_mentions)
        except discord.Forbidden as error:
            raise PlatformError(
                f"I can't start threads in <#{room.room_id}>: I need the Send Messages and "
                "Create Public Threads permissions there."
            ) from error
        except discord.HTTPException as error:
            if error.code != TAG_REQUIRED:
                raise
            offered = self.thread_tags(room)
            choose = f": choose one of {name_list(offered.names)}" if offered else ""
            raise PlatformError(f"Posts in <#{room.room_id}> need a tag{choose}.") from error
        return MessageRef(self.name, room.room_id, str(opening.id), str(thread.id), room.community_id)

    @failures.outbox_verb("time out a member")
    async def apply_mute(self, community_id: str, user_id: str, until: datetime, reason: str) -> MuteResult:
        """A timeout, reaching at most 28 days ahead (Discord's cap).

        `applied_until` is how far it reaches; for a longer mute the caller renews it (calls this
        again) before then. `previous_state` holds the timeout it replaced, for `lift_mute`.
        """
        member = await self._member(community_id, user_id)
        now = self.core.clock()
        applied = translate.timeout_until(until, now)
        if applied <= now:
            raise PlatformError("That mute has already ended.")
        before = member.timed_out_until
        self._timing_out(member.guild.id, member.id, applied)
        try:
            await member.edit(timed_out_until=applied, reason=reason[:512] or None)
        except discord.Forbidden as error:
            raise PlatformError(translate.timeout_refused(member.display_name)) from error
        except discord.HTTPException as error:
            if failures.is_passing(error):
                raise
            raise PlatformError(f"Discord refused to time out {member.display_name}: {error.text}") from error
        previous = before.isoformat() if before is not None and before > now else None
        return MuteResult(applied, {"communication_disabled_until": previous})

    @failures.outbox_verb("lift a timeout")
    async def lift_mute(self, community_id: str, user_id: str, previous_state: Mapping[str, object]) -> None:
        """Clear the timeout, or put back one that was there before the mute and is still running."""
        try:
            member = await self._member(community_id, user_id)
        except PlatformError:
            return  # gone from the server: nothing to lift
        now = self.core.clock()
        restore: datetime | None = None
        previous = previous_state.get("communication_disabled_until")
        if isinstance(previous, str):
            with contextlib.suppress(ValueError):
                restore = datetime.fromisoformat(previous)
        if restore is not None and restore <= now:
            restore = None
        self._timing_out(member.guild.id, member.id, restore)
        try:
            await member.edit(timed_out_until=restore)
        except discord.Forbidden as error:
            raise PlatformError(translate.timeout_refused(member.display_name, lifting=True)) from error

    @failures.outbox_verb("edit a message")
    async def edit_message(self, ref: MessageRef, message: OutgoingMessage) -> None:
        """Rewrite one of the bot's messages; its buttons become the message's `actions` (or none)."""
        rendered = translate.render(message)
        content = rendered.chunks[0] if len(rendered.chunks) == 1 else "\n".join(rendered.chunks)
        channel = self._messageable(ref.thread_id or ref.room_id)
        partial = channel.get_partial_message(int(ref.message_id))
        try:
            await self._reopening(
                channel.id,
                lambda: partial.edit(
                    content=content[: translate.MAX_CONTENT],
                    allowed_mentions=rendered.allowed_mentions,
                    view=action_view(rendered.actions),
                ),
            )
        except discord.NotFound as error:
            raise PlatformError("That message is gone, so I can't update it.") from error
        except discord.Forbidden as error:
            if error.code == THREAD_LOCKED:
                raise PlatformError("That thread is locked, so I left my message there as it is.") from error
            raise PlatformError("I can only edit my own messages.") from error

    @failures.outbox_verb("delete a message")
    async def delete_message(self, ref: MessageRef, reason: str) -> None:
        """Remove a message for moderation; a message already gone counts as removed."""
        channel_id = int(ref.thread_id or ref.room_id)
        try:
            await self.client.http.delete_message(
                channel_id, int(ref.message_id), reason=reason[:512] or None
            )
        except discord.NotFound:
            return
        except discord.Forbidden as error:
            raise PlatformError(
                f"I can't delete messages in <#{channel_id}>: I need the Manage Messages permission there."
            ) from error

    @failures.outbox_verb("set slow mode")
    async def set_slowmode(self, room: Room, thread_id: str | None, seconds: int) -> None:
        """Discord's own slow mode on the thread (or channel): `rate_limit_per_user`, at most 6 h."""
        channel_id = int(thread_id or room.room_id)
        try:
            await self.client.http.edit_channel(
                channel_id, rate_limit_per_user=max(0, min(seconds, 21600)), reason="pile-on case"
            )
        except discord.NotFound as error:
            raise PlatformError("That thread is gone, so there is nothing to slow down.") from error
        except discord.Forbidden as error:
            raise PlatformError(
                f"I can't set slow mode in <#{channel_id}>: I need the Manage Channels "
                "(or Manage Threads) permission there."
            ) from error

    @failures.outbox_verb("send a direct message")
    async def send_dm(
        self, community_id: str, user_id: str, message: OutgoingMessage, *, idempotency_key: str
    ) -> MessageRef:
        """Write to a member privately; closed DMs are a refusal (PlatformError), not worth retrying."""
        rendered = translate.render(message)
        try:
            user = self.client.get_user(int(user_id)) or await self.client.fetch_user(int(user_id))
            channel = user.dm_channel or await user.create_dm()
            already = await self._posted_before(channel, idempotency_key, rendered.chunks)
            first: discord.Message | None = None
            for index, chunk in enumerate(rendered.chunks):
                if index in already:
                    first = first or already[index]
                    continue
                sent = await channel.send(
                    chunk,
                    allowed_mentions=rendered.allowed_mentions,
                    nonce=chunk_nonce(idempotency_key, index),
                )
                first = first or sent
        except discord.NotFound as error:
            raise PlatformError("That member's Discord account no longer exists.") from error
        except discord.Forbidden as error:
            raise PlatformError("They don't accept direct messages from this server's members.") from error
        assert first is not None
        return MessageRef(self.name, str(channel.id), str(first.id), None, community_id)

    async def set_role(self, community_id: str, user_id: str, role_id: str, *, present: bool) -> None:
        """Add or remove a verified clinician's role; Discord lets a bot manage only roles below
        its own highest role, and says so here in words the moderator can act on."""
        member = await self._member(community_id, user_id)
        guild = member.guild
        role = guild.get_role(int(role_id)) if role_id.isdigit() else None
        if role is None:
            raise PlatformError(
                f"There is no role {role_id} in {guild.name}; check credentials.discord_role_id."
            )
        me = guild.me
        if me is None or me.top_role <= role:
            raise PlatformError(
                f"My highest role is not above the role {role.name}, so Discord won't let me "
                f"{'give' if present else 'take'} it: move my role above it in Server Settings → Roles."
            )
        try:
            if present:
                await member.add_roles(role, reason="verified clinician badge")
            else:
                await member.remove_roles(role, reason="verified clinician badge removed")
        except discord.Forbidden as error:
            raise PlatformError(
                f"I need the Manage Roles permission to {'give' if present else 'take'} the role {role.name}."
            ) from error
        except discord.HTTPException as error:
            if failures.is_passing(error):
                raise
            raise PlatformError(
                f"Discord refused to change {member.display_name}'s roles: {error.text}"
            ) from error

    async def member_privilege(self, community_id: str, user_id: str) -> Privilege:
        """The member's privilege from their current roles; MEMBER if they are not in the guild."""
        try:
            member = await self._member(community_id, user_id)
        except PlatformError:
            return Privilege.MEMBER
        return translate.actor_of(member).privilege

    async def _member(self, community_id: str, user_id: str) -> discord.Member:
        guild = self.client.get_guild(int(community_id))
        if guild is None:
            raise PlatformError("I'm not in that server any more.")
        try:
            member = await guild.fetch_member(int(user_id))
        except discord.NotFound as error:
            raise PlatformError(f"That member is no longer in {guild.name}.") from error
        return member


def _forum_tags(forum: discord.ForumChannel, names: Sequence[str]) -> list[discord.ForumTag]:
    """The forum's tags named `names`; a name it no longer has (renamed or removed since the
    command was typed) is a refusal that lists what it has now."""
    by_name = {tag.name: tag for tag in forum.available_tags if not tag.moderated}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise PlatformError(
            f"<#{forum.id}> has no tag {name_list(missing)} now: choose from {name_list(list(by_name))}."
        )
    return [by_name[name] for name in dict.fromkeys(names)]
