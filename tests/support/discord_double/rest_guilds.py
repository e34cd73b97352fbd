"""Login, user, DM, guild, member and audit-log routes.

https://discord.com/developers/docs/resources/guild
https://discord.com/developers/docs/resources/audit-log
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from . import events, payloads
from .payloads import JsonObject
from .permissions import Permission
from .rest_app import NO_CONTENT, ApiError, Reply, RestRequest, Router, invalid_form
from .rest_common import Dispatcher
from .state import World

# https://discord.com/developers/docs/resources/audit-log#audit-log-entry-object-audit-log-events
MEMBER_KICK = 20
MEMBER_UPDATE = 24
MEMBER_ROLE_UPDATE = 25

MAX_TIMEOUT = timedelta(days=28)


class GuildRoutes:
    def __init__(
        self, world: World, dispatch: Dispatcher, *, gateway_info: Callable[[], tuple[str, int]]
    ) -> None:
        self.world = world
        self.dispatch = dispatch
        self.gateway_info = gateway_info
        """Returns (gateway URL, recommended shard count); read per request so tests can change it."""

    def register(self, router: Router) -> None:
        router.add("GET", "/gateway", self.gateway, authenticated=False)
        router.add("GET", "/gateway/bot", self.gateway_bot)
        router.add("GET", "/users/@me", self.current_user)
        router.add("GET", "/users/{user_id}", self.get_user)
        router.add("POST", "/users/@me/channels", self.open_dm)
        router.add("GET", "/oauth2/applications/@me", self.application)
        router.add("GET", "/applications/@me", self.application)
        router.add("GET", "/guilds/{guild_id}", self.get_guild)
        router.add("GET", "/guilds/{guild_id}/channels", self.guild_channels)
        router.add("GET", "/guilds/{guild_id}/roles", self.guild_roles)
        router.add("GET", "/guilds/{guild_id}/members", self.list_members)
        router.add("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)
        router.add("PATCH", "/guilds/{guild_id}/members/{user_id}", self.edit_member)
        router.add("DELETE", "/guilds/{guild_id}/members/{user_id}", self.kick_member)
        router.add("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.add_member_role)
        router.add("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.remove_member_role)
        router.add("GET", "/guilds/{guild_id}/audit-logs", self.audit_log)

    # -- login -----------------------------------------------------------------------------

    async def gateway(self, request: RestRequest) -> Reply:
        # https://discord.com/developers/docs/events/gateway#get-gateway
        return Reply(200, {"url": self.gateway_info()[0]})

    async def gateway_bot(self, request: RestRequest) -> Reply:
        # https://discord.com/developers/docs/events/gateway#get-gateway-bot
        url, shards = self.gateway_info()
        return Reply(
            200,
            {
                "url": url,
                "shards": shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            },
        )

    async def current_user(self, request: RestRequest) -> Reply:
        return Reply(200, {**self.world.bot_user, "verified": True, "mfa_enabled": False, "email": None})

    async def get_user(self, request: RestRequest) -> Reply:
        return Reply(200, self.world.user(request.id("user_id")))

    async def application(self, request: RestRequest) -> Reply:
        return Reply(200, self.world.application())

    async def open_dm(self, request: RestRequest) -> Reply:
        # https://discord.com/developers/docs/resources/user#create-dm
        recipient = request.body().get("recipient_id")
        if recipient is None:
            raise invalid_form("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")
        return Reply(200, self.world.open_dm(int(recipient)))

    # -- guilds ----------------------------------------------------------------------------

    async def get_guild(self, request: RestRequest) -> Reply:
        guild = self.world.guild(request.id("guild_id"))
        body = guild.guild_payload()
        if request.query.get("with_counts") in ("true", "1"):
            body |= {"approximate_member_count": len(guild.members), "approximate_presence_count": 0}
        return Reply(200, body)

    async def guild_channels(self, request: RestRequest) -> Reply:
        return Reply(200, list(self.world.guild(request.id("guild_id")).channels.values()))

    async def guild_roles(self, request: RestRequest) -> Reply:
        return Reply(200, list(self.world.guild(request.id("guild_id")).roles.values()))

    async def list_members(self, request: RestRequest) -> Reply:
        """List Guild Members: ordered by user id, paged with ``after``; limit 1-1000, default 1."""
        guild = self.world.guild(request.id("guild_id"))
        limit = int(request.query.get("limit", 1))
        if not 1 <= limit <= 1000:
            raise invalid_form("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 1000.")
        after = int(request.query.get("after", 0))
        ids = [uid for uid in sorted(guild.members) if uid > after][:limit]
        return Reply(200, [guild.members[uid] for uid in ids])

    def _member(self, request: RestRequest) -> tuple[Any, int, JsonObject]:
        guild = self.world.guild(request.id("guild_id"))
        user_id = request.id("user_id")
        member = guild.members.get(user_id)
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return guild, user_id, member

    async def get_member(self, request: RestRequest) -> Reply:
        _guild, _user_id, member = self._member(request)
        return Reply(200, member)

    async def edit_member(self, request: RestRequest) -> Reply:
        """Modify Guild Member: nick, roles and timeouts, each with its permission and audit entry.

        https://discord.com/developers/docs/resources/guild#modify-guild-member
        """
        guild, user_id, member = self._member(request)
        body = request.body()
        bot_permissions = guild.bot_permissions
        changes: list[JsonObject] = []
        if "communication_disabled_until" in body:
            target_permissions = guild.permissions_of(user_id)
            if not bot_permissions & Permission.MODERATE_MEMBERS or (
                user_id == guild.owner_id or target_permissions & Permission.ADMINISTRATOR
            ):
                raise ApiError(403, 50013, "Missing Permissions")
            until = body["communication_disabled_until"]
            if until is not None and datetime.fromisoformat(until) - payloads.now() > MAX_TIMEOUT:
                raise invalid_form(
                    "communication_disabled_until",
                    "COMMUNICATION_DISABLED_UNTIL_TOO_LARGE",
                    "Timeout cannot be longer than 28 days.",
                )
            changes.append(
                payloads.audit_log_change(
                    "communication_disabled_until",
                    new_value=until,
                    old_value=member["communication_disabled_until"],
                )
            )
            member["communication_disabled_until"] = until
        if "nick" in body:
            changes.append(
                payloads.audit_log_change("nick", new_value=body["nick"], old_value=member["nick"])
            )
            member["nick"] = body["nick"]
        role_changes: list[JsonObject] = []
        if "roles" in body:
            if not bot_permissions & Permission.MANAGE_ROLES:
                raise ApiError(403, 50013, "Missing Permissions")
            old, new = set(member["roles"]), {str(r) for r in body["roles"]}
            added = [{"id": r, "name": guild.roles[int(r)]["name"]} for r in sorted(new - old)]
            removed = [{"id": r, "name": guild.roles[int(r)]["name"]} for r in sorted(old - new)]
            if added:
                role_changes.append(payloads.audit_log_change("$add", new_value=added))
            if removed:
                role_changes.append(payloads.audit_log_change("$remove", new_value=removed))
            member["roles"] = sorted(new)
        reason = request.audit_log_reason
        for action, entry_changes in ((MEMBER_UPDATE, changes), (MEMBER_ROLE_UPDATE, role_changes)):
            if entry_changes:
                entry = guild.add_audit_log_entry(
                    action, user_id=self.world.bot_id, target_id=user_id, changes=entry_changes, reason=reason
                )
                await self.dispatch(
                    "GUILD_AUDIT_LOG_ENTRY_CREATE", events.guild_audit_log_entry_create(guild.id, entry)
                )
        await self.dispatch("GUILD_MEMBER_UPDATE", events.guild_member_update(guild.id, member))
        return Reply(200, member)

    async def add_member_role(self, request: RestRequest) -> Reply:
        """Add Guild Member Role: https://discord.com/developers/docs/resources/guild#add-guild-member-role"""
        return await self._member_role(request, added=True)

    async def remove_member_role(self, request: RestRequest) -> Reply:
        """Remove Guild Member Role: https://discord.com/developers/docs/resources/guild#remove-guild-member-role"""
        return await self._member_role(request, added=False)

    async def _member_role(self, request: RestRequest, *, added: bool) -> Reply:
        """Discord refuses (50013) without Manage Roles, or for a role not below the bot's highest."""
        guild, user_id, member = self._member(request)
        role_id = request.id("role_id")
        role = guild.roles.get(role_id)
        if role is None:
            raise ApiError(404, 10011, "Unknown Role")
        bot_roles = [guild.roles[int(r)] for r in guild.member(self.world.bot_id)["roles"]]
        top = max((int(r["position"]) for r in bot_roles), default=0)
        if not guild.bot_permissions & Permission.MANAGE_ROLES or int(role["position"]) >= top:
            raise ApiError(403, 50013, "Missing Permissions")
        held = set(member["roles"])
        if (str(role_id) in held) == added:
            return NO_CONTENT
        member["roles"] = sorted(held | {str(role_id)} if added else held - {str(role_id)})
        change = payloads.audit_log_change(
            "$add" if added else "$remove", new_value=[{"id": str(role_id), "name": role["name"]}]
        )
        entry = guild.add_audit_log_entry(
            MEMBER_ROLE_UPDATE,
            user_id=self.world.bot_id,
            target_id=user_id,
            changes=[change],
            reason=request.audit_log_reason,
        )
        await self.dispatch(
            "GUILD_AUDIT_LOG_ENTRY_CREATE", events.guild_audit_log_entry_create(guild.id, entry)
        )
        await self.dispatch("GUILD_MEMBER_UPDATE", events.guild_member_update(guild.id, member))
        return NO_CONTENT

    async def kick_member(self, request: RestRequest) -> Reply:
        guild, user_id, member = self._member(request)
        if not guild.bot_permissions & Permission.KICK_MEMBERS or user_id == guild.owner_id:
            raise ApiError(403, 50013, "Missing Permissions")
        del guild.members[user_id]
        entry = guild.add_audit_log_entry(
            MEMBER_KICK, user_id=self.world.bot_id, target_id=user_id, reason=request.audit_log_reason
        )
        await self.dispatch(
            "GUILD_AUDIT_LOG_ENTRY_CREATE", events.guild_audit_log_entry_create(guild.id, entry)
        )
        await self.dispatch("GUILD_MEMBER_REMOVE", events.guild_member_remove(guild.id, member["user"]))
        return NO_CONTENT

    async def audit_log(self, request: RestRequest) -> Reply:
        """Get Guild Audit Log: newest first, except that ``after`` pages oldest first (as Discord)."""
        guild = self.world.guild(request.id("guild_id"))
        if not guild.bot_permissions & Permission.VIEW_AUDIT_LOG:
            raise ApiError(403, 50013, "Missing Permissions")
        limit = int(request.query.get("limit", 50))
        if not 1 <= limit <= 100:
            raise invalid_form("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
        entries = list(guild.audit_log)
        if "user_id" in request.query:
            entries = [e for e in entries if e["user_id"] == request.query["user_id"]]
        if "action_type" in request.query:
            entries = [e for e in entries if e["action_type"] == int(request.query["action_type"])]
        if "after" in request.query:
            after = int(request.query["after"])
            entries = sorted((e for e in entries if int(e["id"]) > after), key=lambda e: int(e["id"]))[:limit]
        else:
            before = int(request.query.get("before", 1 << 63))
            entries = sorted(
                (e for e in entries if int(e["id"]) < before), key=lambda e: int(e["id"]), reverse=True
            )[:limit]
        user_ids = {int(uid) for e in entries for uid in (e["user_id"], e["target_id"]) if uid}
        return Reply(
            200,
            {
                "audit_log_entries": entries,
                "users": [self.world.users[uid] for uid in sorted(user_ids) if uid in self.world.users],
                "integrations": [],
                "threads": [],
                "webhooks": [],
                "application_commands": [],
                "auto_moderation_rules": [],
                "guild_scheduled_events": [],
            },
        )
