"""Things *people* do on Discord, performed against the double.

Each action updates the double's state first and then dispatches the gateway event Discord would
send, so REST reads stay consistent with what the bot was told.  Pass ``dispatch=False`` (where
offered) to make something happen "while the bot was offline": it is then only visible through
REST, which is exactly what backfill has to cope with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from . import events, payloads
from . import interactions as ix
from . import options as opt
from .guild_state import GuildState
from .payloads import JsonObject
from .state import InteractionState, World

# https://discord.com/developers/docs/resources/audit-log#audit-log-entry-object-audit-log-events
MEMBER_UPDATE = 24
MESSAGE_DELETE_ACTION = 72


class UserActions:
    """Mixed into :class:`~.server.DiscordDouble`; needs ``world`` and ``dispatch``."""

    world: World

    async def dispatch(
        self, event: str, data: Mapping[str, Any], *, shard_id: int | None = None
    ) -> list[str]:
        raise NotImplementedError

    def _guild_for(self, channel_id: int) -> GuildState:
        guild = self.world.guild_of(channel_id)
        if guild is None:
            raise ValueError(f"channel {channel_id} is not in a guild")
        return guild

    # -- messages --------------------------------------------------------------------------

    async def post_message(
        self,
        channel_id: int,
        author_id: int,
        content: str = "",
        *,
        at: datetime | None = None,
        reply_to: int | None = None,
        embeds: Sequence[JsonObject] = (),
        components: Sequence[JsonObject] = (),
        attachments: Sequence[JsonObject] = (),
        dispatch: bool = True,
    ) -> JsonObject:
        """A member posts in a channel or thread; ``at`` backdates the id and timestamp."""
        reference = {"message_id": str(reply_to), "channel_id": str(channel_id)} if reply_to else None
        message = self.world.create_message(
            channel_id,
            author_id,
            content,
            at=at,
            embeds=embeds,
            components=components,
            attachments=attachments,
            reference=reference,
        )
        if dispatch:
            await self.dispatch("MESSAGE_CREATE", self.world.message_create_event(message))
        return message

    async def edit_message(
        self, channel_id: int, message_id: int, content: str, *, dispatch: bool = True
    ) -> JsonObject:
        message = self.world.message(channel_id, message_id)
        rebuilt = self.world.create_message(channel_id, int(message["author"]["id"]), content, store=False)
        message.update(
            content=content,
            mentions=rebuilt["mentions"],
            mention_roles=rebuilt["mention_roles"],
            mention_everyone=rebuilt["mention_everyone"],
            edited_timestamp=payloads.iso(payloads.now()),
        )
        if dispatch:
            await self.dispatch("MESSAGE_UPDATE", self.world.message_update_event(message))
        return message

    async def delete_message(
        self, channel_id: int, message_id: int, *, by: int | None = None, dispatch: bool = True
    ) -> None:
        """Delete a message; ``by`` a moderator other than the author also writes the audit log entry."""
        message = self.world.delete_message(channel_id, message_id)
        guild = self.world.guild_of(channel_id)
        author_id = int(message["author"]["id"])
        if guild is not None and by is not None and by != author_id:
            entry = guild.add_audit_log_entry(
                MESSAGE_DELETE_ACTION,
                user_id=by,
                target_id=author_id,
                options={"channel_id": str(channel_id), "count": "1"},
            )
            if dispatch:
                await self.dispatch(
                    "GUILD_AUDIT_LOG_ENTRY_CREATE", events.guild_audit_log_entry_create(guild.id, entry)
                )
        if dispatch:
            await self.dispatch(
                "MESSAGE_DELETE", events.message_delete(message_id, channel_id, guild.id if guild else None)
            )

    async def add_reaction(
        self,
        channel_id: int,
        message_id: int,
        emoji: str,
        user_id: int,
        *,
        dispatch: bool = True,
        burst: bool = False,
    ) -> None:
        """``emoji`` as in REST paths: ``"👍"`` or ``"name:id"`` for a custom emoji; ``burst`` for a
        super-reaction (kept apart from a normal one with the same emoji)."""
        emoji_payload = payloads.emoji_from_key(emoji)
        added = self.world.add_reaction(channel_id, message_id, emoji_payload, user_id, burst=burst)
        if not added or not dispatch:
            return
        guild = self.world.guild_of(channel_id)
        message = self.world.message(channel_id, message_id)
        await self.dispatch(
            "MESSAGE_REACTION_ADD",
            events.message_reaction_add(
                user_id=user_id,
                channel_id=channel_id,
                message_id=message_id,
                emoji_payload=emoji_payload,
                guild_id=guild.id if guild else None,
                member=guild.members.get(user_id) if guild else None,
                message_author_id=int(message["author"]["id"]),
                burst=burst,
            ),
        )

    async def remove_reaction(
        self,
        channel_id: int,
        message_id: int,
        emoji: str,
        user_id: int,
        *,
        dispatch: bool = True,
        burst: bool = False,
    ) -> None:
        emoji_payload = payloads.emoji_from_key(emoji)
        removed = self.world.remove_reaction(channel_id, message_id, emoji_payload, user_id, burst=burst)
        if not removed or not dispatch:
            return
        guild = self.world.guild_of(channel_id)
        await self.dispatch(
            "MESSAGE_REACTION_REMOVE",
            events.message_reaction_remove(
                user_id=user_id,
                channel_id=channel_id,
                message_id=message_id,
                emoji_payload=emoji_payload,
                guild_id=guild.id if guild else None,
                burst=burst,
            ),
        )

    async def clear_reactions(
        self, channel_id: int, message_id: int, emoji: str | None = None, *, dispatch: bool = True
    ) -> None:
        """A moderator removes every reaction from a message, or every reaction with ``emoji``.

        Discord sends one event without user ids: MESSAGE_REACTION_REMOVE_ALL or _REMOVE_EMOJI.
        """
        self.world.message(channel_id, message_id)
        guild = self.world.guild_of(channel_id)
        guild_id = guild.id if guild else None
        if emoji is None:
            self.world.clear_reactions(channel_id, message_id)
            if dispatch:
                await self.dispatch(
                    "MESSAGE_REACTION_REMOVE_ALL",
                    events.message_reaction_remove_all(
                        channel_id=channel_id, message_id=message_id, guild_id=guild_id
                    ),
                )
            return
        emoji_payload = payloads.emoji_from_key(emoji)
        self.world.clear_reactions(channel_id, message_id, payloads.emoji_key(emoji_payload))
        if dispatch:
            await self.dispatch(
                "MESSAGE_REACTION_REMOVE_EMOJI",
                events.message_reaction_remove_emoji(
                    channel_id=channel_id,
                    message_id=message_id,
                    emoji_payload=emoji_payload,
                    guild_id=guild_id,
                ),
            )

    async def delete_messages_in_bulk(
        self, channel_id: int, message_ids: Sequence[int], *, dispatch: bool = True
    ) -> None:
        """A moderator (or a moderation bot) bulk-deletes messages: one MESSAGE_DELETE_BULK."""
        for message_id in message_ids:
            self.world.delete_message(channel_id, message_id)
        guild = self.world.guild_of(channel_id)
        if dispatch:
            await self.dispatch(
                "MESSAGE_DELETE_BULK",
                events.message_delete_bulk(message_ids, channel_id, guild.id if guild else None),
            )

    # -- threads & forum posts -------------------------------------------------------------

    async def create_forum_post(
        self,
        forum_id: int,
        author_id: int,
        title: str,
        content: str,
        *,
        tags: Iterable[str] = (),
        at: datetime | None = None,
        dispatch: bool = True,
    ) -> tuple[int, JsonObject]:
        """A member opens a forum post; returns (thread id, starter message), which share one id."""
        guild = self._guild_for(forum_id)
        thread_id, starter = self.world.create_thread(
            forum_id,
            title,
            owner_id=author_id,
            content=content,
            applied_tags=[guild.tag_id(forum_id, tag) for tag in tags],
            at=at,
        )
        assert starter is not None
        if dispatch:
            await self.dispatch(
                "THREAD_CREATE", events.thread_create(guild.thread_payload(thread_id), newly_created=True)
            )
            await self.dispatch("MESSAGE_CREATE", self.world.message_create_event(starter))
        return thread_id, starter

    async def create_thread(
        self,
        channel_id: int,
        author_id: int,
        name: str,
        *,
        from_message: int | None = None,
        private: bool = False,
        dispatch: bool = True,
    ) -> int:
        """A member starts a thread in a text channel, optionally from one of its messages."""
        guild = self._guild_for(channel_id)
        thread_id, _ = self.world.create_thread(
            channel_id, name, owner_id=author_id, from_message=from_message, private=private
        )
        if dispatch:
            await self.dispatch(
                "THREAD_CREATE", events.thread_create(guild.thread_payload(thread_id), newly_created=True)
            )
        return thread_id

    async def archive_thread(self, thread_id: int, *, dispatch: bool = True) -> None:
        """The thread goes quiet and Discord archives it (it leaves the guild's active threads)."""
        guild = self._guild_for(thread_id)
        metadata = guild.threads[thread_id]["thread_metadata"]
        metadata["archived"] = True
        metadata["archive_timestamp"] = payloads.iso(payloads.now())
        if dispatch:
            await self.dispatch("THREAD_UPDATE", events.thread_update(guild.thread_payload(thread_id)))

    async def edit_forum_tags(
        self,
        forum_id: int,
        *,
        renamed: Mapping[str, str] | None = None,
        removed: Iterable[str] = (),
        dispatch: bool = True,
    ) -> None:
        """A moderator renames or deletes forum tags (Forum settings > Tags): one CHANNEL_UPDATE.

        A renamed tag keeps its id (channel.mdx, forum tag object); a deleted one leaves the
        forum's ``available_tags``. Posts keep their ``applied_tags`` ids and get no THREAD_UPDATE.
        """
        guild = self._guild_for(forum_id)
        forum = guild.channels[forum_id]
        gone = set(removed)
        tags = [dict(tag) for tag in forum["available_tags"] if tag["name"] not in gone]
        for tag in tags:
            tag["name"] = (renamed or {}).get(tag["name"], tag["name"])
        forum["available_tags"] = tags
        if dispatch:
            await self.dispatch("CHANNEL_UPDATE", events.channel_event(self.world.channel(forum_id)))

    async def retag_post(self, thread_id: int, tags: Iterable[str], *, dispatch: bool = True) -> None:
        """The post's author (or a moderator) edits its tags: THREAD_UPDATE with ``applied_tags``."""
        guild = self._guild_for(thread_id)
        thread = guild.threads[thread_id]
        thread["applied_tags"] = [str(guild.tag_id(int(thread["parent_id"]), tag)) for tag in tags]
        if dispatch:
            await self.dispatch("THREAD_UPDATE", events.thread_update(guild.thread_payload(thread_id)))

    # -- the guild -------------------------------------------------------------------------

    async def rename_guild(self, guild_id: int, name: str, *, dispatch: bool = True) -> None:
        """An admin renames the server (Server Settings > Overview): GUILD_UPDATE."""
        guild = self.world.guild(guild_id)
        guild.name = name
        guild.data["name"] = name
        if dispatch:
            await self.dispatch("GUILD_UPDATE", events.guild_update(guild.guild_payload()))

    # -- members & moderation --------------------------------------------------------------

    async def member_joins(
        self, guild_id: int, user_id: int, *, roles: Iterable[int] = (), dispatch: bool = True
    ) -> JsonObject:
        guild = self.world.guild(guild_id)
        member = guild.add_member(user_id, roles=roles)
        if dispatch:
            await self.dispatch("GUILD_MEMBER_ADD", events.guild_member_add(guild_id, member))
        return member

    async def member_leaves(self, guild_id: int, user_id: int, *, dispatch: bool = True) -> None:
        guild = self.world.guild(guild_id)
        member = guild.members.pop(user_id)
        if dispatch:
            await self.dispatch("GUILD_MEMBER_REMOVE", events.guild_member_remove(guild_id, member["user"]))

    async def timeout_by_hand(
        self,
        guild_id: int,
        moderator_id: int,
        target_id: int,
        until: datetime | None,
        *,
        reason: str | None = None,
        dispatch: bool = True,
    ) -> JsonObject:
        """A moderator times someone out in the Discord client (not through the bot).

        The bot learns about it from GUILD_MEMBER_UPDATE and GUILD_AUDIT_LOG_ENTRY_CREATE (the
        only place the moderator and reason appear), so both are sent, audit entry first as on
        Discord.  ``until=None`` removes the timeout.
        """
        guild = self.world.guild(guild_id)
        member = guild.members[target_id]
        new_value = payloads.iso(until) if until else None
        entry = guild.add_audit_log_entry(
            MEMBER_UPDATE,
            user_id=moderator_id,
            target_id=target_id,
            changes=[
                payloads.audit_log_change(
                    "communication_disabled_until",
                    new_value=new_value,
                    old_value=member["communication_disabled_until"],
                )
            ],
            reason=reason,
        )
        member["communication_disabled_until"] = new_value
        if dispatch:
            await self.dispatch(
                "GUILD_AUDIT_LOG_ENTRY_CREATE", events.guild_audit_log_entry_create(guild_id, entry)
            )
            await self.dispatch("GUILD_MEMBER_UPDATE", events.guild_member_update(guild_id, member))
        return entry

    # -- interactions ----------------------------------------------------------------------

    async def _invoke(
        self,
        interaction_type: int,
        data: JsonObject,
        *,
        user_id: int,
        channel_id: int,
        name: str | None = None,
        message: JsonObject | None = None,
    ) -> InteractionState:
        world = self.world
        channel = world.channel(channel_id)
        guild = world.guild_of(channel_id)
        interaction_id = world.snowflakes.next()
        token = world.new_interaction_token()
        payload = ix.interaction(
            interaction_id=interaction_id,
            application_id=world.application_id,
            interaction_type=interaction_type,
            token=token,
            data=data,
            channel=channel,
            guild_id=guild.id if guild else None,
            member=guild.members[user_id] if guild else None,
            user=world.user(user_id),
            # Interactions carry permissions in the channel, overwrites applied
            # (receiving-and-responding.mdx: member.permissions, app_permissions).
            member_permissions=guild.permissions_in(user_id, channel_id) if guild else 0,
            app_permissions=guild.bot_permissions_in(channel_id) if guild else 0,
            message=message,
        )
        state = InteractionState(
            id=interaction_id,
            token=token,
            type=interaction_type,
            channel_id=channel_id,
            guild_id=guild.id if guild else None,
            user=world.user(user_id),
            payload=payload,
            name=name,
            source_message_id=int(message["id"]) if message else None,
            created_at=world.clock.now(),
        )
        world.interactions[interaction_id] = state
        await self.dispatch("INTERACTION_CREATE", events.interaction_create(payload))
        return state

    def _command(
        self, name: str, command_type: int, channel_id: int, command_guild_id: int | None
    ) -> JsonObject:
        """The registered command's id and scope; unregistered commands get a fresh id."""
        guild = self.world.guild_of(channel_id)
        registered = self.world.find_command(name, command_type, guild.id if guild else None)
        if registered is not None:
            return registered
        command: JsonObject = {"id": str(self.world.snowflakes.next()), "name": name, "type": command_type}
        if command_guild_id is not None:
            command["guild_id"] = str(command_guild_id)
        return command

    def _command_data(
        self,
        name: str,
        command_type: int,
        channel_id: int,
        command_guild_id: int | None,
        *,
        options: Sequence[opt.Option] = (),
        resolved: JsonObject | None = None,
        target_id: int | None = None,
    ) -> JsonObject:
        command = self._command(name, command_type, channel_id, command_guild_id)
        return ix.command_data(
            command_id=int(command["id"]),
            name=name,
            command_type=command_type,
            options=options,
            resolved=resolved,
            command_guild_id=int(command["guild_id"]) if command.get("guild_id") else None,
            target_id=target_id,
        )

    async def run_slash_command(
        self,
        name: str,
        *options: opt.Option,
        user_id: int,
        channel_id: int,
        command_guild_id: int | None = None,
    ) -> InteractionState:
        """``/name`` with options (subcommand groups/subcommands are options too, see :mod:`.options`)."""
        data = self._command_data(name, ix.CHAT_INPUT, channel_id, command_guild_id, options=options)
        qualified = " ".join([name, *_subcommand_path(options)])
        return await self._invoke(
            ix.APPLICATION_COMMAND, data, user_id=user_id, channel_id=channel_id, name=qualified
        )

    async def autocomplete(
        self,
        name: str,
        *options: opt.Option,
        user_id: int,
        channel_id: int,
        command_guild_id: int | None = None,
    ) -> InteractionState:
        """Typing in an option: exactly one option (possibly nested) must have ``focused=True``."""
        data = self._command_data(name, ix.CHAT_INPUT, channel_id, command_guild_id, options=options)
        return await self._invoke(
            ix.APPLICATION_COMMAND_AUTOCOMPLETE, data, user_id=user_id, channel_id=channel_id, name=name
        )

    async def use_message_command(
        self,
        name: str,
        *,
        channel_id: int,
        message_id: int,
        user_id: int,
        command_guild_id: int | None = None,
    ) -> InteractionState:
        """Apps → ``name`` on a message; the target travels in ``resolved.messages`` (content included)."""
        target = self.world.render_message(self.world.message(channel_id, message_id))
        data = self._command_data(
            name,
            ix.MESSAGE_COMMAND,
            channel_id,
            command_guild_id,
            resolved=ix.message_command_resolved(target),
            target_id=message_id,
        )
        return await self._invoke(
            ix.APPLICATION_COMMAND, data, user_id=user_id, channel_id=channel_id, name=name
        )

    async def use_user_command(
        self, name: str, *, target_id: int, channel_id: int, user_id: int, command_guild_id: int | None = None
    ) -> InteractionState:
        """Apps → ``name`` on a user; resolved carries the user and, in guilds, the member."""
        guild = self.world.guild_of(channel_id)
        member = guild.members.get(target_id) if guild else None
        data = self._command_data(
            name,
            ix.USER_COMMAND,
            channel_id,
            command_guild_id,
            resolved=ix.user_command_resolved(self.world.user(target_id), member),
            target_id=target_id,
        )
        return await self._invoke(
            ix.APPLICATION_COMMAND, data, user_id=user_id, channel_id=channel_id, name=name
        )

    async def click_button(
        self, message: JsonObject, custom_id: str, *, user_id: int, values: Sequence[str] | None = None
    ) -> InteractionState:
        """Press a button (or pick ``values`` in a string select) on ``message``."""
        component_type = ix.STRING_SELECT if values is not None else ix.BUTTON
        data = ix.component_data(custom_id, component_type=component_type, values=values)
        rendered = self.world.render_message(message)
        return await self._invoke(
            ix.MESSAGE_COMPONENT,
            data,
            user_id=user_id,
            channel_id=int(message["channel_id"]),
            message=rendered,
        )

    async def submit_modal(
        self, opened_by: InteractionState, values: Mapping[str, str], *, user_id: int | None = None
    ) -> InteractionState:
        """Fill in and submit the modal the bot answered ``opened_by`` with (callback type 9)."""
        modals = [r["data"] for r in opened_by.responses if r["type"] == 9]
        if not modals:
            raise AssertionError(
                f"interaction {opened_by.id} was not answered with a modal: {opened_by.responses}"
            )
        modal = modals[-1]
        data = ix.modal_data(modal["custom_id"], ix.modal_submit_components(modal, values))
        message = None
        if opened_by.source_message_id is not None:
            message = self.world.render_message(
                self.world.message(opened_by.channel_id, opened_by.source_message_id)
            )
        return await self._invoke(
            ix.MODAL_SUBMIT,
            data,
            user_id=user_id or int(opened_by.user["id"]),
            channel_id=opened_by.channel_id,
            message=message,
        )


def _subcommand_path(options: Sequence[opt.Option]) -> list[str]:
    path: list[str] = []
    current = list(options)
    while current and current[0].type in (opt.SUB_COMMAND, opt.SUB_COMMAND_GROUP):
        path.append(current[0].name)
        current = list(current[0].options)
    return path
