"""The double's in-memory Discord: users, guilds, DMs, messages, reactions, commands, interactions.

REST handlers and test-side "user actions" both mutate this one model, so whatever a test seeds
or a bot writes is what a later GET returns (including history the bot missed while offline).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import events, payloads
from .clock import DoubleClock
from .guild_state import GuildState
from .intents import PRIVILEGED, Intent
from .payloads import JsonObject
from .permissions import BOT_DEFAULT, EVERYONE_DEFAULT
from .snowflakes import SnowflakeGenerator

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_TEXTUAL_CHANNELS = frozenset({payloads.TEXT_CHANNEL, payloads.DM_CHANNEL, 5, *payloads.THREAD_TYPES})

# https://discord.com/developers/docs/resources/message#message-object-message-types
DEFAULT_MESSAGE = 0
THREAD_CREATED = 18
REPLY = 19
CHAT_INPUT_COMMAND = 20
THREAD_STARTER_MESSAGE = 21
CONTEXT_MENU_COMMAND = 23

# https://discord.com/developers/docs/resources/application#application-object-application-flags
GATEWAY_PRESENCE = 1 << 12
GATEWAY_GUILD_MEMBERS = 1 << 14
GATEWAY_MESSAGE_CONTENT = 1 << 18


class DiscordStateError(LookupError):
    """A lookup for something the double does not know; REST turns it into Discord's 404 JSON."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class InteractionState:
    """An interaction the double dispatched and the bot's responses to it."""

    id: int
    token: str
    type: int
    channel_id: int
    guild_id: int | None
    user: JsonObject
    payload: JsonObject
    name: str | None = None
    source_message_id: int | None = None
    responses: list[JsonObject] = field(default_factory=list)
    """Callback bodies in order: ``{"type": 4, "data": {...}}``."""
    original_message_id: int | None = None
    ephemeral_messages: dict[int, JsonObject] = field(default_factory=dict)
    followup_ids: list[int] = field(default_factory=list)
    created_at: float = 0.0
    """When it was dispatched, on the double's clock (see ``deadlines``)."""
    first_response_at: float | None = None
    """When the first callback was accepted, on the same clock (benchmarks read the delay)."""
    token_invalidated: bool = False
    """Set once the 3-second deadline passed unanswered: Discord invalidates the token."""

    @property
    def acknowledged(self) -> bool:
        return bool(self.responses)

    @property
    def response_types(self) -> list[int]:
        return [response["type"] for response in self.responses]


class World:
    """Everything the fake Discord knows."""

    def __init__(
        self,
        snowflakes: SnowflakeGenerator,
        *,
        bot_name: str = "chatbridge-test",
        portal_intents: int = PRIVILEGED,
    ) -> None:
        self.snowflakes = snowflakes
        self.clock = DoubleClock()
        """Interaction deadlines run on it; tests step past them with ``clock.advance``."""
        self.users: dict[int, JsonObject] = {}
        self.bot_id = self.add_user(bot_name, bot=True)
        self.owner_id = self.add_user("app-owner", global_name="App Owner")
        self.application_id = self.snowflakes.next()
        self.portal_intents = Intent(portal_intents)
        """Privileged intents "enabled in the developer portal"; IDENTIFY asking for more gets 4014."""
        self.guilds: dict[int, GuildState] = {}
        self.dm_channels: dict[int, JsonObject] = {}
        self.messages: dict[int, dict[int, JsonObject]] = {}
        self.reactions: dict[tuple[int, int], dict[str, list[int]]] = {}
        self.burst_reactions: dict[tuple[int, int], dict[str, list[int]]] = {}
        """Super-reactions, apart: one user may have a normal and a super one with the same emoji
        (developers/resources/message.mdx, Reaction Object and Get Reactions' ``type``)."""
        self.reaction_emojis: dict[str, JsonObject] = {}
        self.commands: dict[int | None, list[JsonObject]] = {}
        self.command_versions = 0
        self.interactions: dict[int, InteractionState] = {}
        self.nonces: dict[tuple[int, str], tuple[int, int, float]] = {}
        """(author, nonce) -> (channel, message, when) of sends with ``enforce_nonce`` (see nonces)."""
        self.attachments: dict[int, tuple[str, bytes]] = {}
        self.http_base = ""
        """Origin of the double (``http://127.0.0.1:port``), set when the server starts."""

    # -- users & application ---------------------------------------------------------------

    @property
    def bot_user(self) -> JsonObject:
        return self.users[self.bot_id]

    def add_user(
        self, username: str, *, global_name: str | None = None, bot: bool = False, user_id: int | None = None
    ) -> int:
        new_id = user_id or self.snowflakes.next()
        self.users[new_id] = payloads.user(new_id, username, global_name=global_name, bot=bot)
        return new_id

    def user(self, user_id: int) -> JsonObject:
        try:
            return self.users[user_id]
        except KeyError:
            raise DiscordStateError(404, 10013, "Unknown User") from None

    @property
    def application_flags(self) -> int:
        flags = 0
        if self.portal_intents & Intent.GUILD_PRESENCES:
            flags |= GATEWAY_PRESENCE
        if self.portal_intents & Intent.GUILD_MEMBERS:
            flags |= GATEWAY_GUILD_MEMBERS
        if self.portal_intents & Intent.MESSAGE_CONTENT:
            flags |= GATEWAY_MESSAGE_CONTENT
        return flags

    def application(self) -> JsonObject:
        return payloads.application(
            self.application_id,
            self.bot_user["username"],
            owner=self.user(self.owner_id),
            flags=self.application_flags,
            bot=self.bot_user,
        )

    # -- guilds & channels -----------------------------------------------------------------

    def add_guild(
        self,
        name: str,
        *,
        guild_id: int | None = None,
        owner_id: int | None = None,
        everyone_permissions: int = EVERYONE_DEFAULT,
        bot_permissions: int = BOT_DEFAULT,
    ) -> GuildState:
        """A guild the bot is already in; the owner defaults to the application owner."""
        new_id = guild_id or self.snowflakes.next()
        guild = GuildState(
            self,
            new_id,
            name,
            owner_id=owner_id or self.owner_id,
            everyone_permissions=everyone_permissions,
            bot_permissions=bot_permissions,
        )
        self.guilds[new_id] = guild
        return guild

    def guild(self, guild_id: int) -> GuildState:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise DiscordStateError(404, 10004, "Unknown Guild") from None

    def guild_of(self, channel_id: int) -> GuildState | None:
        for guild in self.guilds.values():
            if channel_id in guild.channels or channel_id in guild.threads:
                return guild
        return None

    def channel(self, channel_id: int) -> JsonObject:
        """Any channel the bot can see: guild channel, thread (as the bot sees it) or DM."""
        guild = self.guild_of(channel_id)
        if guild is not None:
            if channel_id in guild.threads:
                return guild.thread_payload(channel_id)
            return guild.channels[channel_id]
        if channel_id in self.dm_channels:
            return self.dm_channels[channel_id]
        raise DiscordStateError(404, 10003, "Unknown Channel")

    def raw_channel(self, channel_id: int) -> JsonObject:
        """The stored (mutable) channel object; :meth:`channel` returns a view for readers."""
        guild = self.guild_of(channel_id)
        if guild is not None:
            return guild.threads.get(channel_id) or guild.channels[channel_id]
        if channel_id in self.dm_channels:
            return self.dm_channels[channel_id]
        raise DiscordStateError(404, 10003, "Unknown Channel")

    def open_dm(self, user_id: int) -> JsonObject:
        """The DM channel with ``user_id``; the same one every time, as on Discord."""
        recipient = self.user(user_id)
        for channel in self.dm_channels.values():
            if channel["recipients"][0]["id"] == recipient["id"]:
                return channel
        channel_id = self.snowflakes.next()
        self.dm_channels[channel_id] = payloads.dm_channel(channel_id, recipient)
        return self.dm_channels[channel_id]

    # -- messages --------------------------------------------------------------------------

    def _mentions(
        self,
        content: str,
        guild: GuildState | None,
        allowed: Mapping[str, Any] | None,
        replied_author: JsonObject | None,
    ) -> tuple[list[JsonObject], list[int], bool]:
        """Who a message pings, honouring allowed_mentions.

        https://discord.com/developers/docs/resources/message#allowed-mentions-object
        """
        parse = set(allowed.get("parse", [])) if allowed is not None else {"users", "roles", "everyone"}
        allowed_users = {str(u) for u in allowed.get("users", [])} if allowed is not None else set()
        allowed_roles = {str(r) for r in allowed.get("roles", [])} if allowed is not None else set()
        user_ids = [uid for uid in dict.fromkeys(_USER_MENTION.findall(content)) if int(uid) in self.users]
        mentions = [self.users[int(uid)] for uid in user_ids if "users" in parse or uid in allowed_users]
        if replied_author is not None:
            mention_reply = allowed is None or bool(allowed.get("replied_user", False))
            if mention_reply and all(m["id"] != replied_author["id"] for m in mentions):
                mentions.append(replied_author)
        roles: list[int] = []
        if guild is not None:
            roles = [
                int(rid)
                for rid in dict.fromkeys(_ROLE_MENTION.findall(content))
                if int(rid) in guild.roles and ("roles" in parse or rid in allowed_roles)
            ]
        everyone = "everyone" in parse and ("@everyone" in content or "@here" in content)
        return mentions, roles, everyone

    def create_message(
        self,
        channel_id: int,
        author_id: int,
        content: str = "",
        *,
        at: datetime | None = None,
        message_id: int | None = None,
        embeds: Sequence[JsonObject] = (),
        components: Sequence[JsonObject] = (),
        attachments: Sequence[JsonObject] = (),
        reference: Mapping[str, Any] | None = None,
        allowed_mentions: Mapping[str, Any] | None = None,
        flags: int = 0,
        nonce: str | int | None = None,
        tts: bool = False,
        message_type: int | None = None,
        webhook_id: int | None = None,
        application_id: int | None = None,
        interaction_metadata: JsonObject | None = None,
        store: bool = True,
    ) -> JsonObject:
        """Build (and by default store) a message; ``at`` backdates it for backfill scenarios."""
        if self.raw_channel(channel_id)["type"] not in _TEXTUAL_CHANNELS:
            # Forums and categories hold no messages of their own; posts live in their threads.
            raise DiscordStateError(400, 50008, "Cannot send messages in a non-text channel")
        guild = self.guild_of(channel_id)
        new_id = message_id or (self.snowflakes.at(at) if at else self.snowflakes.next())
        referenced: JsonObject | None = None
        reference_payload: JsonObject | None = None
        if reference is not None:
            ref_channel = int(reference.get("channel_id", channel_id))
            ref_id = int(reference["message_id"])
            referenced = self.messages.get(ref_channel, {}).get(ref_id)
            if referenced is None and reference.get("fail_if_not_exists", True):
                raise DiscordStateError(400, 50035, "Invalid Form Body")
            reference_payload = payloads.message_reference(
                ref_id, ref_channel, guild.id if guild else None, reference_type=int(reference.get("type", 0))
            )
        mentions, mention_roles, everyone = self._mentions(
            content, guild, allowed_mentions, referenced["author"] if referenced else None
        )
        if message_type is None:
            message_type = REPLY if referenced is not None else DEFAULT_MESSAGE
        message = payloads.message(
            new_id,
            channel_id,
            self.user(author_id),
            content,
            message_type=message_type,
            embeds=embeds,
            attachments=attachments,
            components=components,
            mentions=mentions,
            mention_roles=mention_roles,
            mention_everyone=everyone,
            reference=reference_payload,
            referenced_message=self.render_message(referenced) if referenced else None,
            flags=flags,
            tts=tts,
            nonce=nonce,
            webhook_id=webhook_id,
            application_id=application_id,
            interaction_metadata=interaction_metadata,
        )
        if store:
            self.store_message(message)
        return message

    def store_message(self, message: JsonObject) -> None:
        channel_id = int(message["channel_id"])
        message_id = int(message["id"])
        self.messages.setdefault(channel_id, {})[message_id] = message
        channel = self.raw_channel(channel_id)
        last = channel.get("last_message_id")
        if last is None or int(last) < message_id:
            channel["last_message_id"] = str(message_id)
        if channel.get("type") in payloads.THREAD_TYPES and int(channel["id"]) != message_id:
            channel["message_count"] = channel.get("message_count", 0) + 1
            channel["total_message_sent"] = channel.get("total_message_sent", 0) + 1

    def message(self, channel_id: int, message_id: int) -> JsonObject:
        try:
            return self.messages[channel_id][message_id]
        except KeyError:
            raise DiscordStateError(404, 10008, "Unknown Message") from None

    def delete_message(self, channel_id: int, message_id: int) -> JsonObject:
        message = self.message(channel_id, message_id)
        del self.messages[channel_id][message_id]
        self.clear_reactions(channel_id, message_id)
        return message

    def history(self, channel_id: int) -> list[JsonObject]:
        """Messages of a channel, newest first (the order Get Channel Messages uses)."""
        stored = self.messages.get(channel_id, {})
        return [stored[mid] for mid in sorted(stored, reverse=True)]

    def render_message(self, message: JsonObject) -> JsonObject:
        """A stored message as Discord returns it: with reaction counts and any started thread."""
        channel_id, message_id = int(message["channel_id"]), int(message["id"])
        rendered = dict(message)
        normal = self.reactions.get((channel_id, message_id), {})
        burst = self.burst_reactions.get((channel_id, message_id), {})
        keys = [key for key in dict.fromkeys([*normal, *burst]) if normal.get(key) or burst.get(key)]
        if keys:
            rendered["reactions"] = [
                payloads.reaction(
                    self.reaction_emojis[key],
                    normal=len(normal.get(key, [])),
                    burst=len(burst.get(key, [])),
                    me=self.bot_id in normal.get(key, []),
                    me_burst=self.bot_id in burst.get(key, []),
                )
                for key in keys
            ]
        guild = self.guild_of(channel_id)
        if guild is not None and message_id in guild.threads and message_id != channel_id:
            rendered["thread"] = guild.thread_payload(message_id)
        return rendered

    def message_event_extras(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """``guild_id``, author ``member`` and mention members for MESSAGE_CREATE/UPDATE."""
        channel_id = int(message["channel_id"])
        guild = self.guild_of(channel_id)
        channel = self.raw_channel(channel_id)
        if guild is None:
            return {"guild_id": None, "channel_type": channel["type"]}
        author_id = int(message["author"]["id"])
        return {
            "guild_id": guild.id,
            "author_member": guild.members.get(author_id),
            "mention_members": {
                m["id"]: guild.members[int(m["id"])]
                for m in message.get("mentions", [])
                if int(m["id"]) in guild.members
            },
            "channel_type": channel["type"],
        }

    def message_create_event(self, message: JsonObject) -> JsonObject:
        return events.message_create(self.render_message(message), **self.message_event_extras(message))

    def message_update_event(self, message: JsonObject) -> JsonObject:
        return events.message_update(self.render_message(message), **self.message_event_extras(message))

    # -- reactions -------------------------------------------------------------------------

    def _reaction_table(self, burst: bool) -> dict[tuple[int, int], dict[str, list[int]]]:
        return self.burst_reactions if burst else self.reactions

    def add_reaction(
        self, channel_id: int, message_id: int, emoji: JsonObject, user_id: int, *, burst: bool = False
    ) -> bool:
        """Record a reaction; ``False`` if the user had already reacted with that emoji (and type)."""
        self.message(channel_id, message_id)
        key = payloads.emoji_key(emoji)
        self.reaction_emojis.setdefault(key, emoji)
        users = self._reaction_table(burst).setdefault((channel_id, message_id), {}).setdefault(key, [])
        if user_id in users:
            return False
        users.append(user_id)
        return True

    def remove_reaction(
        self, channel_id: int, message_id: int, emoji: JsonObject, user_id: int, *, burst: bool = False
    ) -> bool:
        self.message(channel_id, message_id)
        table = self._reaction_table(burst)
        users = table.get((channel_id, message_id), {}).get(payloads.emoji_key(emoji), [])
        if user_id not in users:
            return False
        users.remove(user_id)
        return True

    def reaction_users(self, channel_id: int, message_id: int, key: str, *, burst: bool = False) -> list[int]:
        self.message(channel_id, message_id)
        return list(self._reaction_table(burst).get((channel_id, message_id), {}).get(key, []))

    def clear_reactions(self, channel_id: int, message_id: int, key: str | None = None) -> None:
        """Remove All Reactions (``key`` None) or all of one emoji, normal and super alike."""
        for table in (self.reactions, self.burst_reactions):
            if key is None:
                table.pop((channel_id, message_id), None)
            else:
                table.get((channel_id, message_id), {}).pop(key, None)

    # -- threads ---------------------------------------------------------------------------

    def create_thread(
        self,
        parent_id: int,
        name: str,
        *,
        owner_id: int,
        content: str = "",
        applied_tags: Iterable[int] = (),
        embeds: Sequence[JsonObject] = (),
        components: Sequence[JsonObject] = (),
        allowed_mentions: Mapping[str, Any] | None = None,
        from_message: int | None = None,
        private: bool = False,
        at: datetime | None = None,
    ) -> tuple[int, JsonObject | None]:
        """A forum post (thread + starter message sharing one id) or a text-channel thread.

        Discord gives a forum post's thread and its first message the same id, and a thread
        started from a message the id of that message; bridges rely on both.
        https://discord.com/developers/docs/resources/channel#start-thread-in-forum-or-media-channel
        """
        guild = self.guild_of(parent_id)
        if guild is None or parent_id not in guild.channels:
            raise DiscordStateError(404, 10003, "Unknown Channel")
        parent = guild.channels[parent_id]
        if from_message is not None:
            self.message(parent_id, from_message)
            thread_id = guild.add_thread(parent_id, name, owner_id=owner_id, thread_id=from_message)
            # https://discord.com/developers/docs/resources/message#message-object-message-types
            # THREAD_STARTER_MESSAGE (21): the first message of a thread started from a message,
            # holding only a reference to it; it stays when that message is deleted.
            self.create_message(
                thread_id,
                owner_id,
                message_type=THREAD_STARTER_MESSAGE,
                reference={"message_id": str(from_message), "channel_id": str(parent_id)},
            )
            return thread_id, None
        thread_id = self.snowflakes.at(at) if at else self.snowflakes.next()
        guild.add_thread(
            parent_id,
            name,
            owner_id=owner_id,
            thread_id=thread_id,
            applied_tags=applied_tags,
            private=private,
        )
        if parent["type"] != payloads.FORUM_CHANNEL:
            return thread_id, None
        starter = self.create_message(
            thread_id,
            owner_id,
            content,
            message_id=thread_id,
            embeds=embeds,
            components=components,
            allowed_mentions=allowed_mentions,
        )
        return thread_id, starter

    # -- commands & interactions -----------------------------------------------------------

    def overwrite_commands(
        self, guild_id: int | None, bodies: Sequence[Mapping[str, Any]]
    ) -> list[JsonObject]:
        """Bulk overwrite: keep ids of commands whose (name, type) survives, as Discord does."""
        existing = {(c["name"], c["type"]): c for c in self.commands.get(guild_id, [])}
        stored = []
        for body in bodies:
            self.command_versions += 1
            previous = existing.get((body["name"], body.get("type", 1)))
            command_id = int(previous["id"]) if previous else self.snowflakes.next()
            stored.append(
                payloads.application_command(
                    command_id, self.application_id, body, guild_id=guild_id, version=self.command_versions
                )
            )
        self.commands[guild_id] = stored
        return stored

    def find_command(self, name: str, command_type: int, guild_id: int | None) -> JsonObject | None:
        """A registered command, guild-specific first, as the Discord client resolves it."""
        for scope in (guild_id, None):
            for command in self.commands.get(scope, []):
                if command["name"] == name and command["type"] == command_type:
                    return command
        return None

    def new_interaction_token(self) -> str:
        return "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)

    def interaction_by_token(self, token: str) -> InteractionState:
        for state in self.interactions.values():
            if state.token == token:
                return state
        raise DiscordStateError(404, 10015, "Unknown Webhook")

    # -- attachments -----------------------------------------------------------------------

    def store_attachment(
        self, channel_id: int, filename: str, data: bytes, content_type: str | None
    ) -> JsonObject:
        attachment_id = self.snowflakes.next()
        self.attachments[attachment_id] = (filename, data)
        url = f"{self.http_base}/attachments/{channel_id}/{attachment_id}/{filename}"
        return payloads.attachment(
            attachment_id, filename, size=len(data), url=url, content_type=content_type
        )
