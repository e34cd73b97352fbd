"""Channel message and reaction routes.

https://discord.com/developers/docs/resources/message

Mutations echo the gateway events Discord sends for them (MESSAGE_CREATE for the bot's own
messages included), so a bot that reacts to its own echo is caught by tests.
"""

from __future__ import annotations

from typing import Any

from . import events, nonces, payloads
from .access_rules import reads_history, require, require_send
from .intents import Intent, strip_message_content
from .payloads import JsonObject
from .permissions import Permission
from .rest_app import NO_CONTENT, ApiError, Reply, RestRequest, Router, invalid_form
from .rest_common import Dispatcher, apply_message_edit, upload_attachments, validate_message_body
from .state import World
from .thread_rules import check_unchanged_thread, prepare_send

# https://discord.com/developers/docs/resources/audit-log#audit-log-entry-object-audit-log-events
MESSAGE_DELETE_ACTION = 72


def _limit(request: RestRequest, *, default: int, maximum: int) -> int:
    raw = request.query.get("limit")
    limit = int(raw) if raw is not None else default
    if not 1 <= limit <= maximum:
        raise invalid_form("limit", "NUMBER_TYPE_MAX", f"int value should be between 1 and {maximum}.")
    return limit


class MessageRoutes:
    def __init__(self, world: World, dispatch: Dispatcher) -> None:
        self.world = world
        self.dispatch = dispatch

    def register(self, router: Router) -> None:
        base = "/channels/{channel_id}/messages"
        router.add("POST", base, self.create)
        router.add("GET", base, self.list)
        router.add("POST", base + "/bulk-delete", self.bulk_delete)
        router.add("GET", base + "/{message_id}", self.get)
        router.add("PATCH", base + "/{message_id}", self.edit)
        router.add("DELETE", base + "/{message_id}", self.delete)
        reactions = base + "/{message_id}/reactions"
        router.add("PUT", reactions + "/{emoji}/@me", self.add_own_reaction)
        router.add("DELETE", reactions + "/{emoji}/@me", self.remove_own_reaction)
        router.add("DELETE", reactions + "/{emoji}/{user_id}", self.remove_user_reaction)
        router.add("GET", reactions + "/{emoji}", self.reaction_users)
        router.add("DELETE", reactions + "/{emoji}", self.remove_emoji)
        router.add("DELETE", reactions, self.remove_all_reactions)
        router.add("POST", "/channels/{channel_id}/typing", self.typing)

    # -- helpers ---------------------------------------------------------------------------

    def visible(self, message: JsonObject) -> JsonObject:
        """A message as the REST API shows it to this application (portal MESSAGE_CONTENT applies).

        Without its nonce: the nonce "will appear in the Message Create event"
        (developers/resources/message.mdx, Create Message) and is not kept with the message, so
        a message read back later does not carry it.
        """
        rendered = self.world.render_message(message)
        rendered.pop("nonce", None)
        if self.world.portal_intents & Intent.MESSAGE_CONTENT:
            return rendered
        return self._strip(rendered)

    def _guild_marker(self, message: JsonObject) -> dict[str, Any]:
        guild = self.world.guild_of(int(message["channel_id"]))
        return {"guild_id": str(guild.id)} if guild else {}

    def _strip(self, rendered: JsonObject) -> JsonObject:
        marked = {**rendered, **self._guild_marker(rendered)}
        stripped = strip_message_content(marked, str(self.world.bot_id))
        if "guild_id" not in rendered:
            stripped.pop("guild_id", None)
        return stripped

    def _require_manage_messages(self, channel_id: int) -> None:
        guild = self.world.guild_of(channel_id)
        if guild is not None and not guild.bot_permissions & Permission.MANAGE_MESSAGES:
            raise ApiError(403, 50013, "Missing Permissions")

    # -- messages --------------------------------------------------------------------------

    async def create(self, request: RestRequest) -> Reply:
        channel_id = request.id("channel_id")
        body = request.body() if request.json is not None else {}
        validate_message_body(body, request.files, creating=True)
        require_send(self.world, channel_id)
        first = nonces.repeated(self.world, self.world.bot_id, body)
        if first is not None:
            return Reply(200, self.world.render_message(first))
        await prepare_send(self.world, channel_id, self.dispatch)
        message = self.world.create_message(
            channel_id,
            self.world.bot_id,
            body.get("content") or "",
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            attachments=upload_attachments(self.world, channel_id, request.files),
            reference=body.get("message_reference"),
            allowed_mentions=body.get("allowed_mentions"),
            flags=int(body.get("flags") or 0),
            nonce=body.get("nonce"),
            tts=bool(body.get("tts", False)),
        )
        nonces.remember(self.world, self.world.bot_id, body, message)
        await self.dispatch("MESSAGE_CREATE", self.world.message_create_event(message))
        return Reply(200, self.world.render_message(message))

    async def list(self, request: RestRequest) -> Reply:
        """Get Channel Messages: newest first whatever the anchor, like Discord."""
        channel_id = request.id("channel_id")
        self.world.raw_channel(channel_id)
        require(self.world, channel_id)
        if not reads_history(self.world, channel_id):
            return Reply(200, [])
        limit = _limit(request, default=50, maximum=100)
        anchors = [key for key in ("before", "after", "around") if key in request.query]
        history = self.world.history(channel_id)  # newest first
        if not anchors:
            selected = history[:limit]
        else:
            anchor = int(request.query[anchors[0]])
            if anchors[0] == "before":
                selected = [m for m in history if int(m["id"]) < anchor][:limit]
            elif anchors[0] == "after":
                # The `limit` messages immediately after the anchor, still returned newest first.
                selected = [m for m in history if int(m["id"]) > anchor][-limit:]
            else:
                newer = [m for m in history if int(m["id"]) > anchor][-(limit // 2) :] if limit > 1 else []
                rest = [m for m in history if int(m["id"]) <= anchor][: limit - len(newer)]
                selected = newer + rest
        return Reply(200, [self.visible(m) for m in selected])

    async def get(self, request: RestRequest) -> Reply:
        require(self.world, request.id("channel_id"), Permission.READ_MESSAGE_HISTORY)
        message = self.world.message(request.id("channel_id"), request.id("message_id"))
        return Reply(200, self.visible(message))

    async def edit(self, request: RestRequest) -> Reply:
        channel_id, message_id = request.id("channel_id"), request.id("message_id")
        message = self.world.message(channel_id, message_id)
        body = request.body()
        if int(message["author"]["id"]) != self.world.bot_id and set(body) - {"flags"}:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        check_unchanged_thread(self.world, channel_id)
        apply_message_edit(self.world, message, body, request.files)
        await self.dispatch("MESSAGE_UPDATE", self.world.message_update_event(message))
        return Reply(200, self.world.render_message(message))

    async def delete(self, request: RestRequest) -> Reply:
        channel_id, message_id = request.id("channel_id"), request.id("message_id")
        message = self.world.message(channel_id, message_id)
        author_id = int(message["author"]["id"])
        guild = self.world.guild_of(channel_id)
        if author_id != self.world.bot_id:
            self._require_manage_messages(channel_id)
        self.world.delete_message(channel_id, message_id)
        if guild is not None and author_id != self.world.bot_id:
            entry = guild.add_audit_log_entry(
                MESSAGE_DELETE_ACTION,
                user_id=self.world.bot_id,
                target_id=author_id,
                reason=request.audit_log_reason,
                options={"channel_id": str(channel_id), "count": "1"},
            )
            await self.dispatch(
                "GUILD_AUDIT_LOG_ENTRY_CREATE", events.guild_audit_log_entry_create(guild.id, entry)
            )
        await self.dispatch(
            "MESSAGE_DELETE", events.message_delete(message_id, channel_id, guild.id if guild else None)
        )
        return NO_CONTENT

    async def bulk_delete(self, request: RestRequest) -> Reply:
        channel_id = request.id("channel_id")
        self._require_manage_messages(channel_id)
        ids = [int(mid) for mid in request.body().get("messages", [])]
        if not 2 <= len(ids) <= 100:
            raise invalid_form("messages", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
        for message_id in ids:
            self.world.delete_message(channel_id, message_id)
        guild = self.world.guild_of(channel_id)
        await self.dispatch(
            "MESSAGE_DELETE_BULK", events.message_delete_bulk(ids, channel_id, guild.id if guild else None)
        )
        return NO_CONTENT

    async def typing(self, request: RestRequest) -> Reply:
        self.world.raw_channel(request.id("channel_id"))
        return NO_CONTENT

    # -- reactions -------------------------------------------------------------------------

    async def _react(
        self, channel_id: int, message_id: int, emoji_key: str, user_id: int, *, add: bool
    ) -> None:
        emoji = payloads.emoji_from_key(emoji_key)
        check_unchanged_thread(self.world, channel_id, reacting=True)
        guild = self.world.guild_of(channel_id)
        guild_id = guild.id if guild else None
        if add:
            if not self.world.add_reaction(channel_id, message_id, emoji, user_id):
                return
            message = self.world.message(channel_id, message_id)
            await self.dispatch(
                "MESSAGE_REACTION_ADD",
                events.message_reaction_add(
                    user_id=user_id,
                    channel_id=channel_id,
                    message_id=message_id,
                    emoji_payload=emoji,
                    guild_id=guild_id,
                    member=guild.members.get(user_id) if guild else None,
                    message_author_id=int(message["author"]["id"]),
                ),
            )
        elif self.world.remove_reaction(channel_id, message_id, emoji, user_id):
            await self.dispatch(
                "MESSAGE_REACTION_REMOVE",
                events.message_reaction_remove(
                    user_id=user_id,
                    channel_id=channel_id,
                    message_id=message_id,
                    emoji_payload=emoji,
                    guild_id=guild_id,
                ),
            )

    async def add_own_reaction(self, request: RestRequest) -> Reply:
        await self._react(
            request.id("channel_id"),
            request.id("message_id"),
            request.params["emoji"],
            self.world.bot_id,
            add=True,
        )
        return NO_CONTENT

    async def remove_own_reaction(self, request: RestRequest) -> Reply:
        await self._react(
            request.id("channel_id"),
            request.id("message_id"),
            request.params["emoji"],
            self.world.bot_id,
            add=False,
        )
        return NO_CONTENT

    async def remove_user_reaction(self, request: RestRequest) -> Reply:
        channel_id = request.id("channel_id")
        self._require_manage_messages(channel_id)
        await self._react(
            channel_id, request.id("message_id"), request.params["emoji"], request.id("user_id"), add=False
        )
        return NO_CONTENT

    async def reaction_users(self, request: RestRequest) -> Reply:
        """Get Reactions: users ordered by id, paged with ``after`` (a user id) and ``limit``;
        ``type`` 0 lists normal reactions (the default), 1 super-reactions (message.mdx)."""
        limit = _limit(request, default=25, maximum=100)
        after = int(request.query.get("after", 0))
        user_ids = sorted(
            self.world.reaction_users(
                request.id("channel_id"),
                request.id("message_id"),
                request.params["emoji"],
                burst=request.query.get("type") == "1",
            )
        )
        page = [uid for uid in user_ids if uid > after][:limit]
        return Reply(200, [self.world.user(uid) for uid in page])

    async def remove_emoji(self, request: RestRequest) -> Reply:
        channel_id, message_id = request.id("channel_id"), request.id("message_id")
        self._require_manage_messages(channel_id)
        self.world.message(channel_id, message_id)
        key = request.params["emoji"]
        self.world.clear_reactions(channel_id, message_id, key)
        guild = self.world.guild_of(channel_id)
        await self.dispatch(
            "MESSAGE_REACTION_REMOVE_EMOJI",
            events.message_reaction_remove_emoji(
                channel_id=channel_id,
                message_id=message_id,
                emoji_payload=payloads.emoji_from_key(key),
                guild_id=guild.id if guild else None,
            ),
        )
        return NO_CONTENT

    async def remove_all_reactions(self, request: RestRequest) -> Reply:
        channel_id, message_id = request.id("channel_id"), request.id("message_id")
        self._require_manage_messages(channel_id)
        self.world.message(channel_id, message_id)
        self.world.clear_reactions(channel_id, message_id)
        guild = self.world.guild_of(channel_id)
        await self.dispatch(
            "MESSAGE_REACTION_REMOVE_ALL",
            events.message_reaction_remove_all(
                channel_id=channel_id, message_id=message_id, guild_id=guild.id if guild else None
            ),
        )
        return NO_CONTENT
