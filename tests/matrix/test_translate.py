"""Matrix payloads <-> the neutral model, on events recorded from Synapse 1.163 (room version 12).

No homeserver here: the adapter's decisions are pure functions of raw events, so each mapping is
checked on the exact JSON a server sends.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chatbridge.adapters.matrix.rooms import (
    Levels,
    NeedPower,
    RoomState,
    community_name,
    muted_power_levels,
    plan_communities,
    restored_power_levels,
)
from chatbridge.adapters.matrix.translate import (
    CONTENT_BUDGET,
    SHORTENED,
    Malformed,
    Where,
    edit_content,
    fit,
    invite_allowed,
    inviter,
    message_content,
    permalink,
    retry_after_seconds,
    thread_root,
    thread_start,
    thread_start_id,
    to_events,
    txn_id,
)
from chatbridge.model import (
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    PlatformName,
    Privilege,
    ReactionAdded,
    Room,
)

ROOM = "!T1gOPR1lexwswX5Ru9EL0QLXR3Ysiujdt7VP3zW_NZU"
SPACE = "!space:chatbridge.localhost"
ALICE, BOB, BOT = (
    "@alice:chatbridge.localhost",
    "@bob:chatbridge.localhost",
    "@chatbridge:chatbridge.localhost",
)
ROOT = "$LO-GE7U-tC9jZC0IDBw-VYWbR6ujpg-L3zleyrrT83E"
REPLY = "$wa7eijRf3d9_odbLgYfSVqNsy4tWxGoEbLFPNd0rceI"
REACTION = "$ht0iOzfW4PFuxDGBm-epdHXjFCBlqBAm8ZeXad2WkIY"

# --- recorded: the room's state as the initial sync gave it ---------------------------------------

STATE: list[dict[str, Any]] = [
    {
        "content": {"m.federate": True, "room_version": "12", "type": ""},
        "event_id": "$T1gOPR1lexwswX5Ru9EL0QLXR3Ysiujdt7VP3zW_NZU",
        "origin_server_ts": 1795699060598,
        "sender": ALICE,
        "state_key": "",
        "type": "m.room.create",
    },
    {
        "content": {"displayname": "Alice", "membership": "join"},
        "event_id": "$6ReXoUK4Z7DdzWQgmotsYZPRkZSe1b0vOcCMNTPahE8",
        "origin_server_ts": 1795699060623,
        "sender": ALICE,
        "state_key": ALICE,
        "type": "m.room.member",
    },
    {
        "content": {
            "ban": 50,
            "events": {"m.room.name": 50, "m.room.power_levels": 100, "m.room.tombstone": 150},
            "events_default": 0,
            "invite": 50,
            "kick": 50,
            "redact": 50,
            "state_default": 50,
            "users": {},
            "users_default": 0,
        },
        "event_id": "$pl",
        "origin_server_ts": 1795699060640,
        "sender": ALICE,
        "state_key": "",
        "type": "m.room.power_levels",
    },
    {
        "content": {"join_rule": "public"},
        "event_id": "$7jcla6FaCDBPjTSyOWsyaWYSWAeG_7ZuxMyN9oqXKt4",
        "origin_server_ts": 1795699060652,
        "sender": ALICE,
        "state_key": "",
        "type": "m.room.join_rules",
    },
    {
        "content": {"name": "General Discussion"},
        "event_id": "$-khw4p2NZ0CrDILbRjT-TDW8HLo2Oi1mJJMYdY7anhc",
        "origin_server_ts": 1795699060653,
        "sender": ALICE,
        "state_key": "",
        "type": "m.room.name",
    },
    {
        "content": {"displayname": "Dr Bob", "membership": "join"},
        "event_id": "$yaknWMiFrgxIxKvQ0bnUNnR_H18ZeDKvcVL3vjc8g3U",
        "origin_server_ts": 1795699060688,
        "sender": BOB,
        "state_key": BOB,
        "type": "m.room.member",
    },
]

# --- recorded: the timeline ------------------------------------------------------------------------

ROOT_MESSAGE = {
    "content": {"body": "Night shifts: tips?", "msgtype": "m.text"},
    "event_id": ROOT,
    "origin_server_ts": 1795699060709,
    "sender": ALICE,
    "type": "m.room.message",
    "unsigned": {"age": 267, "membership": "join", "transaction_id": "a0c36d26-398f-45e6-9411-538bffaddcf2"},
}
THREAD_REPLY = {
    "content": {
        "body": "Sleep in blocks.",
        "m.relates_to": {
            "event_id": ROOT,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": ROOT},
            "rel_type": "m.thread",
        },
        "msgtype": "m.text",
    },
    "event_id": REPLY,
    "origin_server_ts": 1795699060735,
    "sender": BOB,
    "type": "m.room.message",
    "unsigned": {"age": 241, "membership": "join"},
}
REPLY_COMMAND = {
    "content": {
        "body": "> <@bob:chatbridge.localhost> Sleep in blocks.\n\n!like",
        "m.relates_to": {
            "event_id": ROOT,
            "is_falling_back": False,
            "m.in_reply_to": {"event_id": REPLY},
            "rel_type": "m.thread",
        },
        "msgtype": "m.text",
    },
    "event_id": "$vAQnb-ZlFoCG4TRxrUGuY-WDWEEQ8KwK6OSdiwo2768",
    "origin_server_ts": 1795699060756,
    "sender": ALICE,
    "type": "m.room.message",
}
REACTION_EVENT = {
    "content": {"m.relates_to": {"event_id": REPLY, "key": "👍️", "rel_type": "m.annotation"}},
    "event_id": REACTION,
    "origin_server_ts": 1795699060773,
    "sender": ALICE,
    "type": "m.reaction",
}
REDACTED_REACTION = {
    "content": {},
    "event_id": REACTION,
    "origin_server_ts": 1795699060773,
    "sender": ALICE,
    "type": "m.reaction",
    "unsigned": {
        "redacted_because": {
            "content": {"redacts": REACTION},
            "event_id": "$lBwC-Cvo7Cro3ZXYsIMxKJZbpcd466OVv0odutIZ3aw",
            "origin_server_ts": 1795699060805,
            "redacts": REACTION,
            "sender": ALICE,
            "type": "m.room.redaction",
        },
        "redacted_by": "$lBwC-Cvo7Cro3ZXYsIMxKJZbpcd466OVv0odutIZ3aw",
    },
}
EDIT = {
    "content": {
        "body": "* Sleep in blocks, really.",
        "m.new_content": {"body": "Sleep in blocks, really.", "msgtype": "m.text"},
        "m.relates_to": {"event_id": REPLY, "rel_type": "m.replace"},
        "msgtype": "m.text",
    },
    "event_id": "$dDWP6o6bHnBt_z43bPUP-eBtHmj8odWu5a8OKlf7WBw",
    "origin_server_ts": 1795699060789,
    "sender": BOB,
    "type": "m.room.message",
}
UNLIKE = {
    "content": {"redacts": REACTION},
    "event_id": "$lBwC-Cvo7Cro3ZXYsIMxKJZbpcd466OVv0odutIZ3aw",
    "origin_server_ts": 1795699060805,
    "redacts": REACTION,
    "sender": ALICE,
    "type": "m.room.redaction",
}
LEAVE = {
    "content": {"membership": "leave"},
    "event_id": "$Tyu8lHKztckevGgPM1B5pdhvjJxLyZYD1DDE2MagYag",
    "origin_server_ts": 1795699060852,
    "sender": BOB,
    "state_key": BOB,
    "type": "m.room.member",
    "unsigned": {"prev_content": {"displayname": "Dr Bob", "membership": "join"}, "prev_sender": BOB},
}
INVITE_STATE = [
    {"content": {"name": "Private"}, "sender": ALICE, "state_key": "", "type": "m.room.name"},
    {"content": {"membership": "join"}, "sender": ALICE, "state_key": ALICE, "type": "m.room.member"},
    {"content": {"membership": "invite"}, "sender": ALICE, "state_key": BOT, "type": "m.room.member"},
]


@pytest.fixture
def state() -> RoomState:
    room = RoomState(ROOM)
    room.apply_all(STATE)
    return room


@pytest.fixture
def where(state: RoomState) -> Where:
    return Where(Room(PlatformName.MATRIX, SPACE, ROOM, state.label), state, Levels(), BOT)


def never_a_command(text: str) -> bool:
    return False


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# --- room state -------------------------------------------------------------------------------------


def test_the_room_state_names_people_and_knows_the_creator_holds_unlimited_power(state: RoomState) -> None:
    assert (state.label, state.private, state.room_version) == ("General Discussion", False, "12")
    assert state.display_name(BOB) == "Dr Bob"
    assert state.display_name("@zed:example.org") == "zed"
    assert state.privilege(ALICE, Levels()) is Privilege.ADMIN  # the creator, in no `users` map
    assert state.privilege(BOB, Levels()) is Privilege.MEMBER
    assert state.power_level(ALICE) is None and state.power_level(BOB) == 0


# --- timeline events ---------------------------------------------------------------------------------


def test_a_message_in_a_thread_is_a_reply_in_that_thread(where: Where) -> None:
    [event] = to_events(THREAD_REPLY, where)
    assert event == MessagePosted(
        event_id=REPLY,
        at=at(1795699060735),
        room=where.room,
        actor=where.state.actor(BOB, Levels(), bot_user_id=BOT),
        message_id=REPLY,
        text="Sleep in blocks.",
        thread_id=ROOT,
        reply_to=None,  # the in-reply-to of a thread fallback is not an explicit reply
    )
    assert event.actor.display_name == "Dr Bob"
    assert thread_root(THREAD_REPLY) == ROOT and thread_root(ROOT_MESSAGE) is None


def test_a_reply_inside_a_thread_carries_its_target_and_loses_the_quoted_fallback(where: Where) -> None:
    [event] = to_events(REPLY_COMMAND, where)
    assert isinstance(event, MessagePosted)
    assert (event.text, event.thread_id, event.reply_to) == ("!like", ROOT, REPLY)


def test_the_root_of_a_new_thread_becomes_its_opening_post_under_a_derived_id(where: Where) -> None:
    start = thread_start(ROOT_MESSAGE, where, never_a_command)
    assert start is not None
    assert (start.event_id, start.message_id, start.thread_id) == (thread_start_id(ROOT), ROOT, ROOT)
    assert start.starts_thread and start.text == "Night shifts: tips?"
    assert start.event_id != ROOT  # the root itself was already applied as a plain room message
    [plain] = to_events(ROOT_MESSAGE, where)
    assert isinstance(plain, MessagePosted) and plain.thread_id is None and not plain.starts_thread


def test_a_root_that_was_edited_opens_its_thread_with_the_edited_text(where: Where) -> None:
    fetched = {
        **ROOT_MESSAGE,
        "unsigned": {
            "m.relations": {"m.replace": {**EDIT, "content": {"m.new_content": {"body": "Nights?"}}}}
        },
    }
    start = thread_start(fetched, where, never_a_command)
    assert start is not None and start.text == "Nights?"


@pytest.mark.parametrize(
    "root",
    [
        {**ROOT_MESSAGE, "content": {"msgtype": "m.text", "body": "!profile"}},
        {**ROOT_MESSAGE, "sender": BOT},
        {**ROOT_MESSAGE, "content": {"msgtype": "m.notice", "body": "a notice"}},
        THREAD_REPLY,
        REDACTED_REACTION,
    ],
    ids=["a command", "the bot's own", "a notice", "itself in a thread", "redacted"],
)
def test_some_roots_never_open_a_forum_thread(root: dict[str, Any], where: Where) -> None:
    assert thread_start(root, where, lambda text: text.startswith("!")) is None


def test_a_reaction_is_added_under_its_own_event_id_and_its_redaction_takes_it_back(where: Where) -> None:
    [added] = to_events(REACTION_EVENT, where)
    assert isinstance(added, ReactionAdded)
    assert (added.event_id, added.message_id, added.emoji) == (REACTION, REPLY, "👍️")
    [removed] = to_events(UNLIKE, where)
    assert isinstance(removed, MessageDeleted)
    assert removed.message_id == REACTION  # the core maps it back to the like by this id
    assert to_events(REDACTED_REACTION, where) == []  # redacted before we saw it: nothing to add


def test_redactions_name_their_target_in_the_content_or_at_the_top_level(where: Where) -> None:
    old_style = {k: v for k, v in UNLIKE.items() if k != "content"} | {"content": {}}
    new_style = {k: v for k, v in UNLIKE.items() if k != "redacts"}
    for redaction in (old_style, new_style):
        [event] = to_events(redaction, where)
        assert isinstance(event, MessageDeleted) and event.message_id == REACTION


def test_an_edit_replaces_the_text_of_its_target(where: Where) -> None:
    [event] = to_events(EDIT, where)
    assert isinstance(event, MessageEdited)
    assert (event.message_id, event.text) == (REPLY, "Sleep in blocks, really.")


def test_membership_changes_are_joins_and_leaves(where: Where) -> None:
    [left] = to_events(LEAVE, where)
    assert isinstance(left, MemberLeft) and left.actor.user_id == BOB
    [joined] = to_events(STATE[5], where)
    assert isinstance(joined, MemberJoined) and joined.actor.joined_at == at(1795699060688)
    rename = {**STATE[5], "unsigned": {"prev_content": {"membership": "join"}}}
    assert to_events(rename, where) == []


def test_what_the_forum_does_not_use_translates_to_nothing(where: Where) -> None:
    notice = {**ROOT_MESSAGE, "content": {"msgtype": "m.notice", "body": "!help"}}
    own = {**ROOT_MESSAGE, "sender": BOT}
    assert to_events(notice, where) == []
    assert to_events(own, where) == []
    assert to_events(STATE[4], where) == []  # m.room.name


@pytest.mark.parametrize(
    "event",
    [
        {**ROOT_MESSAGE, "content": {"msgtype": "m.text", "body": 42}},
        {**REACTION_EVENT, "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": REPLY}}},
        {**EDIT, "content": {"m.relates_to": {"rel_type": "m.replace", "event_id": REPLY}}},
        {**UNLIKE, "content": {}, "redacts": None},
        {k: v for k, v in ROOT_MESSAGE.items() if k != "origin_server_ts"},
    ],
    ids=[
        "body not text",
        "reaction without key",
        "edit without new content",
        "redaction of nothing",
        "no ts",
    ],
)
def test_malformed_events_are_reported_not_guessed(event: dict[str, Any], where: Where) -> None:
    with pytest.raises(Malformed):
        to_events(event, where)


def test_attachments_and_emotes_keep_a_readable_text(where: Where) -> None:
    image = {**ROOT_MESSAGE, "content": {"msgtype": "m.image", "body": "!rash.png", "url": "mxc://x/y"}}
    emote = {**ROOT_MESSAGE, "content": {"msgtype": "m.emote", "body": "waves"}}
    assert [e.text for e in to_events(image, where) if isinstance(e, MessagePosted)] == ["[image] !rash.png"]
    assert [e.text for e in to_events(emote, where) if isinstance(e, MessagePosted)] == ["* waves"]


# --- invites ----------------------------------------------------------------------------------------


def test_the_inviter_is_read_from_the_invite_state() -> None:
    assert inviter(INVITE_STATE, BOT) == ALICE
    assert inviter(INVITE_STATE[:2], BOT) is None


@pytest.mark.parametrize(
    ("who", "allowed", "accepted"),
    [
        (ALICE, (ALICE,), True),
        (ALICE, (":chatbridge.localhost",), True),
        ("@mallory:evil.example", (":chatbridge.localhost", ALICE), False),
        ("@mallory:chatbridge.localhost.evil", (":chatbridge.localhost",), False),
        (ALICE, (), False),
        (None, (":chatbridge.localhost",), False),
    ],
)
def test_invites_are_accepted_from_configured_users_and_servers_only(
    who: str | None, allowed: tuple[str, ...], accepted: bool
) -> None:
    assert invite_allowed(who, allowed) is accepted


# --- what the bot sends -----------------------------------------------------------------------------


def test_a_message_has_plain_and_html_bodies_and_pings_nobody() -> None:
    content = message_content("**Thread** by @room and <@123>", thread_id=ROOT, reply_to=REPLY)
    assert content["msgtype"] == "m.notice" and content["format"] == "org.matrix.custom.html"
    assert content["formatted_body"].startswith("<strong>Thread</strong>")
    assert "@room" not in content["body"] and "@room" not in content["formatted_body"]
    assert content["m.mentions"] == {}
    assert content["m.relates_to"] == {
        "rel_type": "m.thread",
        "event_id": ROOT,
        "is_falling_back": False,
        "m.in_reply_to": {"event_id": REPLY},
    }
    targeted = message_content("hi", mention_user_ids=(BOB, "not-a-user-id", "@room"))
    assert targeted["m.mentions"] == {"user_ids": [BOB]}
    assert "m.relates_to" not in targeted


def test_a_message_too_large_for_one_event_is_shortened_html_first() -> None:
    huge = message_content("word " * 30_000)
    canonical = json.dumps(huge, ensure_ascii=False, separators=(",", ":")).encode()  # what the server sizes
    assert CONTENT_BUDGET - 100 < len(canonical) <= CONTENT_BUDGET
    assert "formatted_body" not in huge and huge["body"].endswith(SHORTENED)
    medium = fit({"msgtype": "m.notice", "body": "x" * 40_000, "formatted_body": "y" * 40_000})
    assert medium["body"] == "x" * 40_000 and "formatted_body" not in medium
    small = message_content("short")
    assert fit(dict(small)) == small


def test_an_edit_of_the_bots_message_carries_the_new_content() -> None:
    content = edit_content(REPLY, "Case #3 **claimed**")
    assert content["m.relates_to"] == {"rel_type": "m.replace", "event_id": REPLY}
    assert content["m.new_content"]["formatted_body"] == "Case #3 <strong>claimed</strong>"
    assert content["body"].startswith("* ") and content["m.mentions"] == {}


def test_transaction_ids_follow_the_idempotency_key() -> None:
    assert txn_id("outbox-7") == txn_id("outbox-7") != txn_id("outbox-8")
    assert txn_id("outbox-7").isascii() and len(txn_id("x" * 1000)) < 64


def test_a_permalink_routes_through_up_to_three_servers_like_element(state: RoomState) -> None:
    # the creator (unlimited power in room version 12) is the most powerful member
    assert state.via_servers() == ["chatbridge.localhost"]
    room = RoomState(ROOM)
    for n, server in enumerate(["a.org", "a.org", "b.org", "c.org", "c.org", "c.org", "d.org", "10.0.0.1"]):
        room.apply(
            {"type": "m.room.member", "state_key": f"@u{n}:{server}", "content": {"membership": "join"}}
        )
    room.apply({"type": "m.room.power_levels", "state_key": "", "content": {"users": {"@u6:d.org": 50}}})
    assert room.via_servers() == ["d.org", "c.org", "a.org"]  # the moderator's first, then by count
    room.apply({"type": "m.room.server_acl", "state_key": "", "content": {"allow": ["*"], "deny": ["c.org"]}})
    assert room.via_servers() == ["d.org", "a.org", "b.org"]  # never a denied server or an IP address
    link = permalink(ROOM, REPLY, room.via_servers())
    assert link == f"https://matrix.to/#/{ROOM}/{REPLY}?via=d.org&via=a.org&via=b.org"


@pytest.mark.parametrize(
    ("headers", "body", "seconds"),
    [
        ({"Retry-After": "3"}, {"retry_after_ms": 9000}, 3.0),
        ({"Retry-After": "Wed, 01 Jan 2025 00:00:10 GMT"}, None, 10.0),
        ({}, {"retry_after_ms": 1500}, 1.5),
        ({}, {"errcode": "M_LIMIT_EXCEEDED"}, None),
    ],
)
def test_a_rate_limit_says_how_long_to_wait(
    headers: dict[str, str], body: dict[str, Any] | None, seconds: float | None
) -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert retry_after_seconds(headers, body, now) == seconds


# --- communities ------------------------------------------------------------------------------------


def _room(room_id: str, *, joined: bool = True, space: bool = False, name: str | None = None) -> RoomState:
    state = RoomState(room_id, name=name or room_id, room_type="m.space" if space else None)
    if joined:
        state.members[BOT] = "join"
    return state


def _child(space: RoomState, room_id: str, order: str | None, ts: int = 0) -> None:
    content: dict[str, Any] = {"via": ["x"], **({"order": order} if order else {})}
    space.apply({"type": "m.space.child", "state_key": room_id, "content": content, "origin_server_ts": ts})


def test_a_configured_space_makes_its_rooms_sub_forums_in_its_order() -> None:
    space = _room(SPACE, space=True)
    _child(space, "!careers", "02")
    _child(space, "!general", "00")
    _child(space, "!clinical", "01")
    _child(space, "!left", None)
    rooms = {SPACE: space, "!general": _room("!general"), "!careers": _room("!careers"), "!dm": _room("!dm")}
    plan = plan_communities(rooms, [SPACE], bot_user_id=BOT)
    assert plan.order == ("!general", "!careers")
    assert plan.wanted == ("!clinical", "!left")  # not joined yet: the adapter joins them
    assert dict(plan.communities) == {"!general": SPACE, "!careers": SPACE}


def test_without_configuration_every_joined_space_is_a_community() -> None:
    one, two = _room("!one", space=True), _room("!two", space=True)
    _child(one, "!a", None)
    orphan = _room("!b")
    orphan.apply({"type": "m.space.parent", "state_key": "!two", "content": {"via": ["x"]}})
    rooms = {"!one": one, "!two": two, "!a": _room("!a"), "!b": orphan, "!dm": _room("!dm")}
    plan = plan_communities(rooms, [], bot_user_id=BOT)
    assert dict(plan.communities) == {"!a": "!one", "!b": "!two"}


def test_configured_plain_rooms_form_one_community_named_after_the_bot() -> None:
    rooms = {"!a": _room("!a"), "!b": _room("!b")}
    plan = plan_communities(rooms, ["!b", "!a"], bot_user_id=BOT)
    assert plan.order == ("!b", "!a") and set(plan.communities.values()) == {f"rooms@{BOT}"}


def test_a_community_is_called_by_its_spaces_name_else_its_alias() -> None:
    spaces = {room_id: RoomState(room_id, room_type="m.space") for room_id in ("!named", "!aliased", "!bare")}
    spaces["!named"].apply({"type": "m.room.name", "state_key": "", "content": {"name": "Medical Forum"}})
    spaces["!aliased"].apply(
        {"type": "m.room.canonical_alias", "state_key": "", "content": {"alias": "#meds:hs"}}
    )
    rooms = {**spaces, "!a": _room("!a")}
    assert community_name(rooms, "!named") == "Medical Forum"
    assert community_name(rooms, "!aliased") == "#meds:hs"
    assert community_name(rooms, "!bare") is None, "the store keeps the name it has"
    assert community_name(rooms, "!a") is None, "a plain room is no space"
    assert community_name(rooms, f"rooms@{BOT}") is None, "configured plain rooms have no space"


# --- mutes -----------------------------------------------------------------------------------------


def _powered(users: dict[str, int], **levels: int) -> RoomState:
    state = RoomState(ROOM, name="General Discussion")
    content = {
        "users": users,
        "events_default": 0,
        "state_default": 50,
        "events": {"m.room.power_levels": 100},
    }
    state.apply({"type": "m.room.power_levels", "state_key": "", "content": {**content, **levels}})
    return state


def test_a_mute_drops_the_member_below_events_default_and_lifting_restores_exactly() -> None:
    state = _powered({BOT: 100, BOB: 10})
    change = muted_power_levels(state, BOB, bot_user_id=BOT)
    assert change is not None
    content, previous = change
    assert (content["users"][BOB], previous) == (-1, 10)
    state.apply({"type": "m.room.power_levels", "state_key": "", "content": content})
    assert restored_power_levels(state, BOB, previous)["users"][BOB] == 10
    assert BOB not in restored_power_levels(state, BOB, None)["users"]

    by_default = _powered({BOT: 100}, events_default=5, users_default=10)
    change = muted_power_levels(by_default, ALICE, bot_user_id=BOT)
    assert change is not None and change[0]["users"][ALICE] == 4 and change[1] is None  # no explicit level
    assert muted_power_levels(_powered({BOT: 100, BOB: -3}), BOB, bot_user_id=BOT) is None  # already silent


def test_a_mute_the_bot_may_not_make_says_what_it_needs() -> None:
    with pytest.raises(
        NeedPower, match="I need power level 100 in General Discussion to change power levels"
    ):
        muted_power_levels(_powered({BOT: 50}), BOB, bot_user_id=BOT)
    with pytest.raises(NeedPower, match=r"their power level \(100\) is not below mine \(100\)"):
        muted_power_levels(_powered({BOT: 100, BOB: 100}), BOB, bot_user_id=BOT)
