"""Channel and thread routes, including forum posts.

https://discord.com/developers/docs/resources/channel
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import events, payloads
from .access_rules import require
from .payloads import JsonObject
from .permissions import Permission
from .rest_app import ApiError, Reply, RestRequest, Router, invalid_form
from .rest_common import Dispatcher, validate_message_body
from .state import World
from .thread_rules import check_thread_edit, check_thread_name

_THREAD_EDITABLE = ("name", "rate_limit_per_user", "flags")
_THREAD_METADATA_EDITABLE = ("archived", "locked", "auto_archive_duration", "invitable")
_CHANNEL_EDITABLE = (
    "name",
    "topic",
    "nsfw",
    "rate_limit_per_user",
    "position",
    "parent_id",
    "available_tags",
    "default_reaction_emoji",
    "default_auto_archive_duration",
    "default_thread_rate_limit_per_user",
    "flags",
)


class ChannelRoutes:
    def __init__(self, world: World, dispatch: Dispatcher) -> None:
        self.world = world
        self.dispatch = dispatch

    def register(self, router: Router) -> None:
        router.add("GET", "/channels/{channel_id}", self.get)
        router.add("PATCH", "/channels/{channel_id}", self.edit)
        router.add("DELETE", "/channels/{channel_id}", self.delete)
        router.add("POST", "/channels/{channel_id}/threads", self.start_thread)
        router.add(
            "POST", "/channels/{channel_id}/messages/{message_id}/threads", self.start_thread_from_message
        )
        router.add("PUT", "/channels/{channel_id}/thread-members/@me", self.join_thread)
        router.add("DELETE", "/channels/{channel_id}/thread-members/@me", self.leave_thread)
        router.add("GET", "/channels/{channel_id}/threads/archived/public", self.archived_public_threads)
        router.add("GET", "/channels/{channel_id}/threads/archived/private", self.archived_private_threads)
        router.add("GET", "/guilds/{guild_id}/threads/active", self.active_threads)

    async def get(self, request: RestRequest) -> Reply:
        return Reply(200, self.world.channel(request.id("channel_id")))

    async def edit(self, request: RestRequest) -> Reply:
        """Modify Channel; for threads this is how posts get archived, locked and (re)tagged."""
        channel_id = request.id("channel_id")
        channel = self.world.raw_channel(channel_id)
        body = request.body()
        guild = self.world.guild_of(channel_id)
        if channel["type"] in payloads.THREAD_TYPES:
            if "name" in body:
                check_thread_name(body["name"])
            check_thread_edit(self.world, channel_id, body)
            for key in _THREAD_EDITABLE:
                if key in body:
                    channel[key] = body[key]
            if "applied_tags" in body:
                channel["applied_tags"] = [str(tag) for tag in body["applied_tags"]]
            metadata = channel["thread_metadata"]
            for key in _THREAD_METADATA_EDITABLE:
                if key in body:
                    metadata[key] = body[key]
            if "archived" in body:
                metadata["archive_timestamp"] = payloads.iso(payloads.now())
            event = "THREAD_UPDATE"
            data = guild.thread_payload(channel_id) if guild else channel
        else:
            for key in _CHANNEL_EDITABLE:
                if key in body:
                    channel[key] = body[key]
            event, data = "CHANNEL_UPDATE", channel
        await self.dispatch(event, events.channel_event(data))
        return Reply(200, self.world.channel(channel_id))

    async def delete(self, request: RestRequest) -> Reply:
        channel_id = request.id("channel_id")
        channel = self.world.channel(channel_id)
        guild = self.world.guild_of(channel_id)
        if guild is None:
            raise ApiError(403, 50003, "Cannot execute action on a DM channel")
        if channel_id in guild.threads:
            del guild.threads[channel_id]
            await self.dispatch("THREAD_DELETE", events.thread_delete(channel))
        else:
            del guild.channels[channel_id]
            await self.dispatch("CHANNEL_DELETE", events.channel_event(channel))
        self.world.messages.pop(channel_id, None)
        return Reply(200, channel)

    async def _announce_thread(self, thread_id: int, starter: JsonObject | None) -> JsonObject:
        guild = self.world.guild_of(thread_id)
        assert guild is not None
        created = guild.thread_payload(thread_id)
        await self.dispatch("THREAD_CREATE", events.thread_create(created, newly_created=True))
        if starter is not None:
            await self.dispatch("MESSAGE_CREATE", self.world.message_create_event(starter))
        return created

    async def start_thread(self, request: RestRequest) -> Reply:
        """Forum post (with ``message``) or thread without a message in a text channel."""
        channel_id = request.id("channel_id")
        parent = self.world.raw_channel(channel_id)
        body = request.body()
        name = body.get("name")
        if not name:
            raise invalid_form("name", "BASE_TYPE_REQUIRED", "This field is required")
        check_thread_name(name)
        if parent["type"] == payloads.FORUM_CHANNEL:
            require(self.world, channel_id, Permission.SEND_MESSAGES)
            return await self._forum_post(request, parent, body)
        if parent["type"] != payloads.TEXT_CHANNEL:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        # "type" defaults to PRIVATE_THREAD in API v9+ when omitted.
        private = int(body.get("type") or payloads.PRIVATE_THREAD) == payloads.PRIVATE_THREAD
        require(
            self.world,
            channel_id,
            Permission.CREATE_PRIVATE_THREADS if private else Permission.CREATE_PUBLIC_THREADS,
        )
        thread_id, _ = self.world.create_thread(channel_id, name, owner_id=self.world.bot_id, private=private)
        self._apply_thread_options(thread_id, body)
        return Reply(201, await self._announce_thread(thread_id, None))

    async def _forum_post(self, request: RestRequest, forum: JsonObject, body: dict[str, Any]) -> Reply:
        message_body = body.get("message")
        if not isinstance(message_body, dict):
            raise invalid_form("message", "BASE_TYPE_REQUIRED", "This field is required")
        validate_message_body(message_body, request.files, creating=True)
        tags = [int(tag) for tag in body.get("applied_tags") or []]
        known = {int(tag["id"]): tag for tag in forum["available_tags"]}
        if forum["flags"] & payloads.REQUIRE_TAG_FLAG and not tags:
            raise ApiError(400, 40067, "A tag is required to create a forum post in this channel")
        if any(tag not in known for tag in tags):
            raise invalid_form(
                "applied_tags", "BASE_TYPE_CHOICES", "Value must be one of the channel's tags."
            )
        guild = self.world.guild_of(int(forum["id"]))
        assert guild is not None
        if (
            any(known[tag]["moderated"] for tag in tags)
            and not guild.bot_permissions & Permission.MANAGE_THREADS
        ):
            raise ApiError(403, 50013, "Missing Permissions")
        thread_id, starter = self.world.create_thread(
            int(forum["id"]),
            body["name"],
            owner_id=self.world.bot_id,
            content=message_body.get("content") or "",
            applied_tags=tags,
            embeds=message_body.get("embeds") or [],
            components=message_body.get("components") or [],
            allowed_mentions=message_body.get("allowed_mentions"),
        )
        assert starter is not None
        if request.files:
            starter["attachments"] = [
                self.world.store_attachment(thread_id, f.filename, f.data, f.content_type)
                for f in request.files
            ]
        self._apply_thread_options(thread_id, body)
        created = await self._announce_thread(thread_id, starter)
        return Reply(201, {**created, "message": self.world.render_message(starter)})

    def _apply_thread_options(self, thread_id: int, body: dict[str, Any]) -> None:
        thread = self.world.raw_channel(thread_id)
        if body.get("auto_archive_duration"):
            thread["thread_metadata"]["auto_archive_duration"] = int(body["auto_archive_duration"])
        if body.get("rate_limit_per_user") is not None:
            thread["rate_limit_per_user"] = int(body["rate_limit_per_user"])

    async def start_thread_from_message(self, request: RestRequest) -> Reply:
        """The thread takes the message's id, as on Discord."""
        channel_id, message_id = request.id("channel_id"), request.id("message_id")
        body = request.body()
        check_thread_name(body.get("name"))
        require(self.world, channel_id, Permission.CREATE_PUBLIC_THREADS)
        guild = self.world.guild_of(channel_id)
        if guild is not None and message_id in guild.threads:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread_id, _ = self.world.create_thread(
            channel_id, body.get("name") or "thread", owner_id=self.world.bot_id, from_message=message_id
        )
        self._apply_thread_options(thread_id, body)
        created = await self._announce_thread(thread_id, None)
        message = self.world.message(channel_id, message_id)
        await self.dispatch("MESSAGE_UPDATE", self.world.message_update_event(message))
        return Reply(201, created)

    async def join_thread(self, request: RestRequest) -> Reply:
        thread_id = request.id("channel_id")
        guild = self.world.guild_of(thread_id)
        if guild is None or thread_id not in guild.threads:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        guild.join_thread(thread_id, self.world.bot_id)
        return Reply(204)

    async def leave_thread(self, request: RestRequest) -> Reply:
        thread_id = request.id("channel_id")
        guild = self.world.guild_of(thread_id)
        if guild is None or thread_id not in guild.threads:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        guild.thread_members.get(thread_id, {}).pop(self.world.bot_id, None)
        return Reply(204)

    async def active_threads(self, request: RestRequest) -> Reply:
        guild = self.world.guild(request.id("guild_id"))
        threads = guild.active_threads()
        members = [m for thread in threads if (m := guild.bot_thread_member(int(thread["id"]))) is not None]
        return Reply(200, {"threads": threads, "members": members})

    async def archived_public_threads(self, request: RestRequest) -> Reply:
        """Archived public threads, newest archive first, paged by ``before`` (an ISO timestamp).

        https://discord.com/developers/docs/resources/channel#list-public-archived-threads
        """
        return self._archived(request, payloads.PUBLIC_THREAD)

    async def archived_private_threads(self, request: RestRequest) -> Reply:
        """Archived private threads; like Discord, only for a bot with MANAGE_THREADS (else 50013).

        https://discord.com/developers/docs/resources/channel#list-private-archived-threads
        """
        guild = self.world.guild_of(request.id("channel_id"))
        if guild is not None and not guild.bot_permissions & Permission.MANAGE_THREADS:
            raise ApiError(403, 50013, "Missing Permissions")
        return self._archived(request, payloads.PRIVATE_THREAD)

    def _archived(self, request: RestRequest, thread_type: int) -> Reply:
        channel_id = request.id("channel_id")
        guild = self.world.guild_of(channel_id)
        if guild is None:
            raise ApiError(404, 10003, "Unknown Channel")
        limit = int(request.query.get("limit", 50))
        before = request.query.get("before")
        cutoff = datetime.fromisoformat(before) if before else None
        archived = [
            guild.thread_payload(tid)
            for tid, thread in guild.threads.items()
            if int(thread["parent_id"]) == channel_id
            and thread["type"] == thread_type
            and thread["thread_metadata"]["archived"]
        ]
        archived.sort(key=lambda t: t["thread_metadata"]["archive_timestamp"], reverse=True)
        if cutoff is not None:
            archived = [
                t
                for t in archived
                if datetime.fromisoformat(t["thread_metadata"]["archive_timestamp"]) < cutoff
            ]
        page = archived[:limit]
        members = [m for thread in page if (m := guild.bot_thread_member(int(thread["id"]))) is not None]
        return Reply(200, {"threads": page, "members": members, "has_more": len(archived) > limit})
