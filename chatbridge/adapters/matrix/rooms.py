"""What the adapter knows about each joined room, built from raw state events: no I/O.

Matrix sends a room's state (names, members, power levels, space links) as events; the adapter
folds them into one `RoomState` per room so that translating a timeline event, deciding which
community a room belongs to, building a permalink or computing a mute never needs a request.
After a restart the first sync asks for the full state, so this is rebuilt from scratch each run.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from chatbridge.model import Actor, PlatformName, Privilege

SPACE = "m.space"
DIRECT_MARKER = "org.chatbridge.direct"
"""State event type the bot puts in a DM room it creates (content: ``user_id``), so it finds the
room again after a restart without keeping anything of its own."""

# Room versions in which the creators hold unlimited power and are not listed in power levels.
_CREATOR_POWER_VERSIONS = frozenset({"12", "org.matrix.hydra.11"})
_DEFAULT_STATE_LEVEL = 50
_MAX_VIA = 3
_VIA_POWER = 50  # Element routes through the top member's server only from moderator level up
_UNLIMITED = 2**63


class NeedPower(Exception):
    """The bot lacks the power level for a change; the message is meant for a moderator."""


@dataclass(frozen=True, slots=True)
class Levels:
    """The Matrix power levels that make a moderator or an admin (from the moderation settings)."""

    moderator: int = 50
    admin: int = 100


@dataclass(frozen=True, slots=True)
class Child:
    """An m.space.child link: the child room, its sort key, and when the link was made."""

    room_id: str
    order: str | None
    ts: int


@dataclass
class RoomState:
    """The state of one room as far as the forum cares about it."""

    room_id: str
    name: str | None = None
    canonical_alias: str | None = None
    join_rule: str = "invite"
    room_type: str | None = None
    room_version: str = "1"
    creators: frozenset[str] = frozenset()
    direct_for: str | None = None
    power: Mapping[str, Any] | None = None
    members: dict[str, str] = field(default_factory=dict)
    """user id -> membership ("join", "invite", "leave", "ban", "knock")."""
    display_names: dict[str, str] = field(default_factory=dict)
    children: dict[str, Child] = field(default_factory=dict)
    parents: set[str] = field(default_factory=set)
    acl_allow: tuple[str, ...] = ("*",)
    acl_deny: tuple[str, ...] = ()

    # -- folding state events ------------------------------------------------------------------

    def apply_all(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: Mapping[str, Any]) -> None:
        """Fold one state event in; anything that is not a well-formed state event is ignored."""
        kind, key, content = event.get("type"), event.get("state_key"), event.get("content")
        if not isinstance(kind, str) or not isinstance(key, str) or not isinstance(content, Mapping):
            return
        if kind == "m.room.member":
            self._member(key, content)
        elif kind == "m.room.name" and key == "":
            self.name = _text(content.get("name"))
        elif kind == "m.room.canonical_alias" and key == "":
            self.canonical_alias = _text(content.get("alias"))
        elif kind == "m.room.join_rules" and key == "":
            self.join_rule = _text(content.get("join_rule")) or "invite"
        elif kind == "m.room.power_levels" and key == "":
            self.power = content
        elif kind == "m.room.create" and key == "":
            self._create(event, content)
        elif kind == DIRECT_MARKER and key == "":
            self.direct_for = _text(content.get("user_id"))
        elif kind == "m.space.child":
            self._child(key, content, event.get("origin_server_ts"))
        elif kind == "m.space.parent":
            if isinstance(content.get("via"), list) and content["via"]:
                self.parents.add(key)
            else:
                self.parents.discard(key)
        elif kind == "m.room.server_acl" and key == "":
            self.acl_allow = _strings(content.get("allow"))
            self.acl_deny = _strings(content.get("deny"))

    def _member(self, user_id: str, content: Mapping[str, Any]) -> None:
        membership = _text(content.get("membership"))
        if membership is None:
            return
        self.members[user_id] = membership
        name = _text(content.get("displayname"))
        if name and name.strip():
            self.display_names[user_id] = name.strip()
        elif membership == "join":
            self.display_names.pop(user_id, None)

    def _create(self, event: Mapping[str, Any], content: Mapping[str, Any]) -> None:
        self.room_version = _text(content.get("room_version")) or "1"
        self.room_type = _text(content.get("type"))
        if self.room_version in _CREATOR_POWER_VERSIONS:
            sender = _text(event.get("sender"))
            extra = _strings(content.get("additional_creators"))
            self.creators = frozenset([*([sender] if sender else []), *extra])

    def _child(self, room_id: str, content: Mapping[str, Any], ts: object) -> None:
        if not isinstance(content.get("via"), list) or not content["via"]:
            self.children.pop(room_id, None)  # an empty content removes the link
            return
        order = _text(content.get("order"))
        self.children[room_id] = Child(room_id, order, ts if isinstance(ts, int) else 0)

    # -- reading it ------------------------------------------------------------------------------

    @property
    def is_space(self) -> bool:
        return self.room_type == SPACE

    @property
    def label(self) -> str:
        """What to call the room in chat and in the store: its name, else its alias, else its id."""
        return self.name or self.canonical_alias or self.room_id

    @property
    def private(self) -> bool:
        """Only rooms anyone (or any space member) may join are public sub-forums."""
        return self.join_rule not in ("public", "restricted", "knock_restricted")

    def joined(self, user_id: str) -> bool:
        return self.members.get(user_id) == "join"

    def display_name(self, user_id: str) -> str:
        return self.display_names.get(user_id) or localpart(user_id)

    def sorted_children(self) -> list[str]:
        """Child rooms in the order Element shows them: `order`, then link age, then id."""
        return [
            c.room_id
            for c in sorted(
                self.children.values(), key=lambda c: (c.order is None, c.order or "", c.ts, c.room_id)
            )
        ]

    def _levels(self) -> Mapping[str, Any]:
        return self.power if self.power is not None else {}

    def power_level(self, user_id: str) -> int | None:
        """A member's power level; None for a creator whose power is unlimited (room version 12)."""
        if user_id in self.creators:
            return None
        power = self._levels()
        users = power.get("users")
        if isinstance(users, Mapping) and _is_int(users.get(user_id)):
            return int(users[user_id])
        default = power.get("users_default", 0)
        return int(default) if _is_int(default) else 0

    @property
    def events_default(self) -> int:
        value = self._levels().get("events_default", 0)
        return int(value) if _is_int(value) else 0

    @property
    def redact_level(self) -> int:
        value = self._levels().get("redact", _DEFAULT_STATE_LEVEL)
        return int(value) if _is_int(value) else _DEFAULT_STATE_LEVEL

    def state_level(self, event_type: str) -> int:
        """The power level needed to send a state event of this type."""
        power = self._levels()
        events = power.get("events")
        if isinstance(events, Mapping) and _is_int(events.get(event_type)):
            return int(events[event_type])
        value = power.get("state_default", _DEFAULT_STATE_LEVEL)
        return int(value) if _is_int(value) else _DEFAULT_STATE_LEVEL

    def privilege(self, user_id: str, levels: Levels) -> Privilege:
        level = self.power_level(user_id)
        if level is None or level >= levels.admin:
            return Privilege.ADMIN
        if level >= levels.moderator:
            return Privilege.MODERATOR
        return Privilege.MEMBER

    def actor(self, user_id: str, levels: Levels, *, bot_user_id: str) -> Actor:
        return Actor(
            PlatformName.MATRIX,
            user_id=user_id,
            display_name=self.display_name(user_id),
            is_bot=user_id == bot_user_id,
            privilege=self.privilege(user_id, levels),
        )

    def via_servers(self) -> list[str]:
        """Up to three servers that can route a permalink to this room, chosen as Element does:
        the server of the most powerful member (if a moderator or above), then the servers with the
        most joined members; never an IP literal or a server the room's ACL denies."""
        joined = [uid for uid, membership in self.members.items() if membership == "join"]
        candidates: list[str] = []
        powerful = [(self._rank(uid), uid) for uid in joined if self._rank(uid) >= _VIA_POWER]
        if powerful:
            candidates.append(server_of(min(powerful, key=lambda pair: (-pair[0], pair[1]))[1]))
        counts = Counter(server_of(uid) for uid in joined)
        candidates.extend(server for server, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        chosen: list[str] = []
        for server in candidates:
            if server and server not in chosen and self._routable(server):
                chosen.append(server)
            if len(chosen) == _MAX_VIA:
                break
        return chosen

    def _rank(self, user_id: str) -> int:
        level = self.power_level(user_id)
        return _UNLIMITED if level is None else level

    def _routable(self, server: str) -> bool:
        host = server.rsplit(":", 1)[0] if server.count(":") == 1 else server
        try:
            ipaddress.ip_address(host.strip("[]"))
            return False
        except ValueError:
            pass
        if any(fnmatchcase(host, pattern) for pattern in self.acl_deny):
            return False
        return any(fnmatchcase(host, pattern) for pattern in self.acl_allow)


# -- communities ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommunityPlan:
    """Which joined rooms are sub-forums of which community.

    With configured rooms (`matrix.community_rooms`), they form one community: the first
    configured space (its children are sub-forums too), or else a community named after the bot
    account, so adding a room to the list later keeps the same community. Without configuration,
    every joined space is a community and its joined child rooms are its sub-forums (a room also
    counts when its own m.space.parent names a joined space). Other rooms (DMs) belong to none.
    """

    communities: Mapping[str, str]
    """sub-forum room id -> community id."""
    wanted: tuple[str, ...]
    """Rooms that belong to a community but are not joined yet, in display order."""
    order: tuple[str, ...]
    """Sub-forum room ids in display order (RoomSeen is emitted in this order)."""


def plan_communities(
    rooms: Mapping[str, RoomState], configured: Iterable[str], *, bot_user_id: str
) -> CommunityPlan:
    configured = tuple(configured)
    members: list[tuple[str, str]] = []  # (room id, community id), display order, may repeat
    if configured:
        spaces = [r for r in configured if r in rooms and rooms[r].is_space]
        community = spaces[0] if spaces else f"rooms@{bot_user_id}"
        for room_id in configured:
            state = rooms.get(room_id)
            if state is not None and state.is_space:
                members.extend((child, community) for child in state.sorted_children())
            else:
                members.append((room_id, community))
    else:
        for space_id in sorted(r for r, s in rooms.items() if s.is_space):
            members.extend((child, space_id) for child in rooms[space_id].sorted_children())
        for room_id in sorted(rooms):
            state = rooms[room_id]
            parents = sorted(p for p in state.parents if p in rooms and rooms[p].is_space)
            if parents and not state.is_space:
                members.append((room_id, parents[0]))
    communities: dict[str, str] = {}
    order: list[str] = []
    wanted: list[str] = []
    for room_id, community in members:
        if room_id in communities or room_id in wanted:
            continue
        state = rooms.get(room_id)
        if state is not None and state.is_space:
            continue
        if state is None or not state.joined(bot_user_id):
            wanted.append(room_id)
            continue
        communities[room_id] = community
        order.append(room_id)
    return CommunityPlan(communities, tuple(wanted), tuple(order))


def community_name(rooms: Mapping[str, RoomState], community_id: str) -> str | None:
    """What members call a community: its space's name (else its alias), None when it is not a
    space (configured plain rooms) or the space has neither, so the store keeps the name it has."""
    space = rooms.get(community_id)
    if space is None or not space.is_space:
        return None
    return space.name or space.canonical_alias


# -- mutes ---------------------------------------------------------------------------------------


def muted_power_levels(
    state: RoomState, user_id: str, *, bot_user_id: str
) -> tuple[dict[str, Any], int | None] | None:
    """The power-levels content that silences `user_id`, and their previous explicit level.

    A muted member's level is one below `events_default`, so they can no longer send messages.
    None when they are already that low (nothing to change). Raises NeedPower when the bot may not
    make the change, in words a moderator can act on.
    """
    required = state.state_level("m.room.power_levels")
    bot_level = state.power_level(bot_user_id)
    if bot_level is not None and bot_level < required:
        raise NeedPower(f"I need power level {required} in {state.label} to change power levels.")
    current = state.power_level(user_id)
    if current is None or (bot_level is not None and current >= bot_level):
        shown = "unlimited" if current is None else str(current)
        raise NeedPower(
            f"I can't mute {user_id} in {state.label}: their power level ({shown}) "
            f"is not below mine ({'unlimited' if bot_level is None else bot_level})."
        )
    target = state.events_default - 1
    if current <= target:
        return None
    content = dict(state.power or {})
    users = dict(content.get("users") or {})
    previous = users.get(user_id)
    users[user_id] = target
    content["users"] = users
    return content, previous if isinstance(previous, int) and not isinstance(previous, bool) else None


def restored_power_levels(state: RoomState, user_id: str, previous: int | None) -> dict[str, Any]:
    """The power-levels content with `user_id` back at `previous` (None: no explicit level)."""
    content = dict(state.power or {})
    users = dict(content.get("users") or {})
    if previous is None:
        users.pop(user_id, None)
    else:
        users[user_id] = previous
    content["users"] = users
    return content


def check_power_to_restore(state: RoomState, *, bot_user_id: str) -> None:
    """Raise NeedPower when the bot can no longer change power levels in this room."""
    required = state.state_level("m.room.power_levels")
    bot_level = state.power_level(bot_user_id)
    if bot_level is not None and bot_level < required:
        raise NeedPower(f"I need power level {required} in {state.label} to change power levels.")


# -- small helpers -------------------------------------------------------------------------------


def localpart(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0] if user_id.startswith("@") else user_id


def server_of(matrix_id: str) -> str:
    """The server part of an id; "" for a room id of version 12 or later, which has none."""
    return matrix_id.split(":", 1)[1] if ":" in matrix_id else ""


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
