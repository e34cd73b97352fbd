"""Matrix payloads <-> the neutral model, as pure functions: no I/O, no clock, no client.

In the sans-I/O style of matrix-nio's ``api.py``: the shell (`client.py`) fetches raw
client-server JSON and sends what these functions build, so every mapping decision below can be
tested on recorded payloads.

The mapping (see docs/matrix.md):

* a sub-forum is a room; a thread is an ``m.thread`` root; a reply is an event whose
  ``m.relates_to`` has ``rel_type: m.thread``.
* Matrix has no "thread created" event, so a thread exists from its first reply: before that
  reply the adapter emits ``MessagePosted(starts_thread=True)`` for the root (`thread_start`),
  under a derived event id so it is applied once even though the root itself was already seen
  as a plain room message. Plain room messages are not forum posts (no trophy, no count) but are
  still delivered, so commands work anywhere.
* a like is an ``m.annotation`` reaction (the core decides which keys count) and the unlike is
  the reaction's redaction: ``ReactionAdded.event_id`` is the reaction's own event id, which
  the core stores to map the later redaction back to the like.
* an edit is ``m.replace`` (the text is ``m.new_content``); a deletion is a redaction; joins
  and leaves are ``m.room.member`` transitions.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from chatbridge.adapters.matrix.rooms import Levels, RoomState
from chatbridge.model import (
    ASK_OPTION,
    Action,
    Actor,
    ChatEvent,
    CommandInvoked,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
    ModerationObserved,
    PlatformName,
    ReactionAdded,
    Room,
)
from chatbridge.render.markdown import to_matrix

THREAD = "m.thread"
REPLACE = "m.replace"
ANNOTATION = "m.annotation"
ACTIONS_KEY = "org.chatbridge.actions"
"""Where a message the bot sends keeps its `Action`s (a case card's Claim, Dismiss...), so a
reaction on it can run one, also after a restart: Matrix has no buttons, reactions stand in."""
ACTION_KEYS = tuple(f"{n}\ufe0f\u20e3" for n in range(1, 10))
"""The reactions that stand for a message's actions, in order: 1️⃣ 2️⃣ ... 9️⃣."""

EVENT_SIZE_LIMIT = 65_536
"""Bytes a whole Matrix event may take (the spec's PDU limit), envelope and signatures included."""
CONTENT_BUDGET = 60_000
"""Bytes of content JSON the bot sends, leaving room for the envelope the server adds."""
EDIT_FALLBACK_CHARS = 1000
"""An edit repeats the text for clients without edit support; that copy is kept short."""
SHORTENED = "\n\n… (shortened: the full text does not fit in one Matrix message)"
_THREAD_START_SUFFIX = "#thread-start"
_MAX_ID = 255
_USER_ID = re.compile(r"^@[^:\s]+:[^\s]+$")


class Malformed(ValueError):
    """An event of a kind we read whose content does not have the shape the spec gives it."""


@dataclass(frozen=True, slots=True)
class Relation:
    """The parts of ``m.relates_to`` the forum reads."""

    rel_type: str | None = None
    event_id: str | None = None
    key: str | None = None
    in_reply_to: str | None = None
    is_falling_back: bool = False


@dataclass(frozen=True, slots=True)
class Where:
    """What translating an event of one room needs: the neutral room and the room's state."""

    room: Room
    state: RoomState
    levels: Levels
    bot_user_id: str


# -- incoming ------------------------------------------------------------------------------------


def relation(content: Mapping[str, Any]) -> Relation:
    relates = content.get("m.relates_to")
    if not isinstance(relates, Mapping):
        return Relation()
    reply = relates.get("m.in_reply_to")
    in_reply_to = reply.get("event_id") if isinstance(reply, Mapping) else None
    return Relation(
        rel_type=_str(relates.get("rel_type")),
        event_id=_str(relates.get("event_id")),
        key=_str(relates.get("key")),
        in_reply_to=_str(in_reply_to),
        is_falling_back=relates.get("is_falling_back") is True,
    )


def thread_root(event: Mapping[str, Any]) -> str | None:
    """The root of the thread this event is a reply in, if it is one."""
    content = event.get("content")
    if event.get("type") != "m.room.message" or not isinstance(content, Mapping) or is_redacted(event):
        return None
    rel = relation(content)
    return rel.event_id if rel.rel_type == THREAD else None


def edit_target(event: Mapping[str, Any]) -> str | None:
    """The event an ``m.replace`` edit changes, if this is one."""
    content = event.get("content")
    if event.get("type") != "m.room.message" or not isinstance(content, Mapping):
        return None
    rel = relation(content)
    return rel.event_id if rel.rel_type == REPLACE else None


def is_redacted(event: Mapping[str, Any]) -> bool:
    unsigned = event.get("unsigned")
    return isinstance(unsigned, Mapping) and "redacted_because" in unsigned


def is_state(event: Mapping[str, Any]) -> bool:
    return isinstance(event.get("state_key"), str)


def event_time(event: Mapping[str, Any]) -> datetime:
    ts = event.get("origin_server_ts")
    if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
        raise Malformed("origin_server_ts is missing")
    return datetime.fromtimestamp(ts / 1000, UTC)


def timestamp_ms(event: Mapping[str, Any]) -> int | None:
    ts = event.get("origin_server_ts")
    return ts if isinstance(ts, int) and not isinstance(ts, bool) else None


def to_events(event: Mapping[str, Any], where: Where) -> list[ChatEvent]:
    """The neutral events one timeline event means; [] for kinds the forum does not use.

    The bot's own events are dropped except redactions (a moderator's deletion through the bot
    still takes a post out of the counts). Redacted events have lost their content and mean
    nothing by themselves; their redaction event carries the deletion.
    """
    kind, sender, event_id = event.get("type"), event.get("sender"), event.get("event_id")
    if not isinstance(kind, str) or not isinstance(sender, str) or not isinstance(event_id, str):
        raise Malformed("type, sender or event_id is missing")
    if is_redacted(event) or (sender == where.bot_user_id and kind != "m.room.redaction"):
        return []
    content = event.get("content")
    if not isinstance(content, Mapping):
        raise Malformed("content is not an object")
    if kind == "m.room.message":
        return _message(event, event_id, sender, content, where)
    if kind == "m.reaction":
        rel = relation(content)
        if rel.rel_type != ANNOTATION:
            return []
        if rel.event_id is None or rel.key is None:
            raise Malformed("a reaction without a target or a key")
        return [
            ReactionAdded(
                event_id=event_id,
                at=event_time(event),
                room=where.room,
                actor=_actor(sender, where),
                message_id=rel.event_id,
                emoji=rel.key,
            )
        ]
    if kind == "m.room.redaction":
        redacts = _str(content.get("redacts")) or _str(event.get("redacts"))
        if redacts is None:
            raise Malformed("a redaction without a target")
        return [
            MessageDeleted(
                event_id=event_id,
                at=event_time(event),
                room=where.room,
                message_id=redacts,
                actor=_actor(sender, where),
            )
        ]
    if kind == "m.room.member":
        return _membership(event, event_id, content, where)
    if kind == "m.room.power_levels" and event.get("state_key") == "":
        return _silenced_by_hand(event, event_id, sender, content, where)
    return []


def _silenced_by_hand(
    event: Mapping[str, Any], event_id: str, sender: str, content: Mapping[str, Any], where: Where
) -> list[ChatEvent]:
    """Members someone other than the bot moved below `events_default` (a mute by hand) or back
    above it, from the change's previous content; nothing when the server did not send it."""
    unsigned = event.get("unsigned")
    before = unsigned.get("prev_content") if isinstance(unsigned, Mapping) else None
    if not isinstance(before, Mapping):
        return []
    named = {u for levels in (before, content) for u in _levels_of(levels) if u != where.bot_user_id}
    out: list[ChatEvent] = []
    for user_id in sorted(named):
        could, can = _may_speak(before, user_id), _may_speak(content, user_id)
        if could == can:
            continue
        out.append(
            ModerationObserved(
                event_id=f"{event_id}:{user_id}",
                at=event_time(event),
                room=where.room,
                action="hand_unmute" if can else "hand_mute",
                subject_user_id=user_id,
                actor_user_id=sender,
                where=where.room.room_id,
            )
        )
    return out


def _levels_of(levels: Mapping[str, Any]) -> dict[str, int]:
    users = levels.get("users")
    if not isinstance(users, Mapping):
        return {}
    return {u: v for u, v in users.items() if isinstance(u, str) and isinstance(v, int)}


def _may_speak(levels: Mapping[str, Any], user_id: str) -> bool:
    default = levels.get("users_default", 0)
    needed = levels.get("events_default", 0)
    level = _levels_of(levels).get(user_id, default if isinstance(default, int) else 0)
    return level >= (needed if isinstance(needed, int) else 0)


def _message(
    event: Mapping[str, Any], event_id: str, sender: str, content: Mapping[str, Any], where: Where
) -> list[ChatEvent]:
    rel = relation(content)
    if rel.rel_type == REPLACE:
        new = content.get("m.new_content")
        if rel.event_id is None or not isinstance(new, Mapping) or not isinstance(new.get("body"), str):
            raise Malformed("an edit without a target or new content")
        return [
            MessageEdited(
                event_id=event_id,
                at=event_time(event),
                room=where.room,
                actor=_actor(sender, where),
                message_id=rel.event_id,
                text=_text_of(new, Relation()),
            )
        ]
    if content.get("msgtype") == "m.notice":
        return []  # by convention from bots: never a command, never a post
    if not isinstance(content.get("body"), str) or not isinstance(content.get("msgtype"), str):
        raise Malformed("a message without a body or msgtype")
    in_thread = rel.rel_type == THREAD and rel.event_id is not None
    explicit_reply = rel.in_reply_to is not None and not (in_thread and rel.is_falling_back)
    return [
        MessagePosted(
            event_id=event_id,
            at=event_time(event),
            room=where.room,
            actor=_actor(sender, where),
            message_id=event_id,
            text=_text_of(content, rel),
            thread_id=rel.event_id if in_thread else None,
            reply_to=rel.in_reply_to if explicit_reply else None,
        )
    ]


def thread_start(
    root: Mapping[str, Any], where: Where, is_command: Callable[[str], bool]
) -> MessagePosted | None:
    """The opening post of a thread, emitted before the first reply to `root` is applied.

    None when the root cannot open a forum thread: a redacted or bot-sent root, a reply that is
    itself in a thread, a notice, or a command (a thread under a command is a conversation with
    the bot, and replaying the command text would run it again).
    """
    kind, sender, root_id = root.get("type"), root.get("sender"), root.get("event_id")
    content = root.get("content")
    if (
        kind != "m.room.message"
        or not isinstance(sender, str)
        or not isinstance(root_id, str)
        or not isinstance(content, Mapping)
        or is_redacted(root)
        or sender == where.bot_user_id
        or content.get("msgtype") == "m.notice"
        or not isinstance(content.get("body"), str)
    ):
        return None
    rel = relation(content)
    if rel.rel_type in (THREAD, REPLACE):
        return None
    current = _latest_edit(root) or content
    text = _text_of(current, rel if current is content else Relation())
    if content.get("msgtype") == "m.text" and is_command(text):
        return None
    return MessagePosted(
        event_id=thread_start_id(root_id),
        at=event_time(root),
        room=where.room,
        actor=_actor(sender, where),
        message_id=root_id,
        text=text,
        thread_id=root_id,
        starts_thread=True,
    )


def thread_start_id(root_id: str) -> str:
    """The event id under which a root's thread start is recorded (never a real Matrix id)."""
    derived = root_id + _THREAD_START_SUFFIX
    if len(derived) <= _MAX_ID:
        return derived
    return "thread-start:" + hashlib.sha256(root_id.encode()).hexdigest()


def _latest_edit(root: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The newest m.new_content the server bundled with an event (``unsigned.m.relations``)."""
    unsigned = root.get("unsigned")
    relations = unsigned.get("m.relations") if isinstance(unsigned, Mapping) else None
    replace = relations.get(REPLACE) if isinstance(relations, Mapping) else None
    content = replace.get("content") if isinstance(replace, Mapping) else None
    new = content.get("m.new_content") if isinstance(content, Mapping) else None
    return new if isinstance(new, Mapping) and isinstance(new.get("body"), str) else None


def _membership(
    event: Mapping[str, Any], event_id: str, content: Mapping[str, Any], where: Where
) -> list[ChatEvent]:
    user_id = event.get("state_key")
    if not isinstance(user_id, str) or user_id == where.bot_user_id:
        return []
    now = _str(content.get("membership"))
    unsigned = event.get("unsigned")
    prev_content = unsigned.get("prev_content") if isinstance(unsigned, Mapping) else None
    before = _str(prev_content.get("membership")) if isinstance(prev_content, Mapping) else None
    at = event_time(event)
    actor = _actor(user_id, where)
    if now == "join" and before != "join":
        return [MemberJoined(event_id=event_id, at=at, room=where.room, actor=replace(actor, joined_at=at))]
    if now in ("leave", "ban") and before == "join":
        return [MemberLeft(event_id=event_id, at=at, room=where.room, actor=actor)]
    return []


def _actor(user_id: str, where: Where) -> Actor:
    return where.state.actor(user_id, where.levels, bot_user_id=where.bot_user_id)


def _text_of(content: Mapping[str, Any], rel: Relation) -> str:
    """The plain text of a message, without the reply fallback older clients still prepend."""
    body = content.get("body")
    text = body if isinstance(body, str) else ""
    if rel.in_reply_to is not None:
        text = strip_reply_fallback(text)
    msgtype = content.get("msgtype")
    if msgtype == "m.emote":
        return f"* {text}"
    if msgtype not in (None, "m.text", "m.emote"):
        kind = msgtype.removeprefix("m.") if isinstance(msgtype, str) else "attachment"
        return f"[{kind}] {text}"
    return text


def strip_reply_fallback(body: str) -> str:
    """Drop the ``> <@user:server> quoted`` lines that begin a reply's body (spec before v1.13)."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> <"):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


# -- invites -------------------------------------------------------------------------------------


def _bot_invite(invite_state: Iterable[Mapping[str, Any]], bot_user_id: str) -> Mapping[str, Any] | None:
    """The member event inviting the bot, from a room's invite state."""
    for event in invite_state:
        content = event.get("content")
        if (
            event.get("type") == "m.room.member"
            and event.get("state_key") == bot_user_id
            and isinstance(content, Mapping)
            and content.get("membership") == "invite"
        ):
            return event
    return None


def inviter(invite_state: Iterable[Mapping[str, Any]], bot_user_id: str) -> str | None:
    """Who invited the bot, from a room's invite state."""
    invite = _bot_invite(invite_state, bot_user_id)
    return _str(invite.get("sender")) if invite is not None else None


def invited_to_direct_chat(invite_state: Iterable[Mapping[str, Any]], bot_user_id: str) -> bool:
    """Whether the bot's invitation is to a direct chat (``is_direct``, as Element's "Start chat")."""
    invite = _bot_invite(invite_state, bot_user_id)
    return invite is not None and invite["content"].get("is_direct") is True


def invite_allowed(user_id: str | None, allowed: Iterable[str]) -> bool:
    """``@alice:example.org`` allows that user; ``:example.org`` allows anyone on that server."""
    if user_id is None or not user_id.startswith("@") or ":" not in user_id:
        return False
    server = user_id.split(":", 1)[1]
    return any(entry == user_id or (entry.startswith(":") and entry[1:] == server) for entry in allowed)


# -- outgoing ------------------------------------------------------------------------------------


def message_content(
    markdown: str,
    *,
    msgtype: str = "m.notice",
    mention_user_ids: Iterable[str] = (),
    thread_id: str | None = None,
    reply_to: str | None = None,
    actions: Sequence[Action] = (),
) -> dict[str, Any]:
    """An ``m.room.message`` content: plain ``body``, sanitised HTML ``formatted_body`` and an
    explicit ``m.mentions`` (empty unless a command targets one user), so nothing the bot says can
    ping a room or a crowd; never ``@room``. Too long for one event, it is shortened (HTML first).
    `actions` a reaction can run are listed at the end and kept under `ACTIONS_KEY`."""
    offered = reaction_actions(actions)
    if offered:
        hint = " · ".join(f"{entry['key']} {entry['label']}" for entry in offered)
        markdown = f"{markdown}\n\nReact with {hint}"
    body, html = to_matrix(markdown)
    mentioned = sorted({u for u in mention_user_ids if _USER_ID.match(u)})
    content: dict[str, Any] = {
        "msgtype": msgtype,
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": html,
        "m.mentions": {"user_ids": mentioned} if mentioned else {},
    }
    if thread_id is not None:
        content["m.relates_to"] = {
            "rel_type": THREAD,
            "event_id": thread_id,
            "is_falling_back": reply_to is None,
            "m.in_reply_to": {"event_id": reply_to or thread_id},
        }
    elif reply_to is not None:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    if offered:
        content[ACTIONS_KEY] = offered
    return fit(content)


def reaction_actions(actions: Sequence[Action]) -> list[dict[str, Any]]:
    """The actions one reaction can finish (those that need words stay typed commands), keyed."""
    usable = [a for a in actions if ASK_OPTION not in a.options][: len(ACTION_KEYS)]
    return [
        {"key": key, "label": a.label, "path": list(a.path), "options": dict(a.options)}
        for key, a in zip(ACTION_KEYS, usable, strict=False)
    ]


def is_action_reaction(event: Mapping[str, Any], bot_user_id: str) -> str | None:
    """The message a member's 1️⃣..9️⃣ reaction points at, when it may be running an action."""
    if event.get("type") != "m.reaction" or event.get("sender") in (bot_user_id, None):
        return None
    content = event.get("content")
    rel = relation(content) if isinstance(content, Mapping) else Relation()
    if rel.rel_type != ANNOTATION or rel.key not in ACTION_KEYS:
        return None
    return rel.event_id


def action_invocation(
    reaction: Mapping[str, Any], target: Mapping[str, Any], where: Where
) -> CommandInvoked | None:
    """The command a reaction on one of the bot's messages runs, as the member who reacted; None
    when the message offers no action under that key (any other reaction stays a reaction)."""
    if target.get("sender") != where.bot_user_id:
        return None
    content, offered = reaction.get("content"), target.get("content", {}).get(ACTIONS_KEY)
    rel = relation(content) if isinstance(content, Mapping) else Relation()
    if not isinstance(offered, list) or rel.event_id is None:
        return None
    chosen = next((e for e in offered if isinstance(e, Mapping) and e.get("key") == rel.key), None)
    path, options = (chosen.get("path"), chosen.get("options")) if chosen else (None, None)
    if not isinstance(path, list) or not all(isinstance(w, str) for w in path) or not path:
        return None
    event_id, sender = reaction.get("event_id"), reaction.get("sender")
    if not isinstance(event_id, str) or not isinstance(sender, str):
        raise Malformed("type, sender or event_id is missing")
    return CommandInvoked(
        event_id=event_id,
        at=event_time(reaction),
        room=where.room,
        actor=_actor(sender, where),
        path=tuple(path),
        options={str(k): str(v) for k, v in (options or {}).items()},
        target=MessageRef(
            PlatformName.MATRIX, where.room.room_id, rel.event_id, None, where.room.community_id
        ),
    )


def edit_content(
    event_id: str, markdown: str, *, mention_user_ids: Iterable[str] = (), actions: Sequence[Action] = ()
) -> dict[str, Any]:
    """An ``m.replace`` edit of the bot's own message `event_id` with new Markdown."""
    new = message_content(markdown, mention_user_ids=mention_user_ids, actions=actions)
    new = fit(new, CONTENT_BUDGET - EDIT_FALLBACK_CHARS * 4 - 512)
    fallback = new["body"][:EDIT_FALLBACK_CHARS]
    return {
        "msgtype": new["msgtype"],
        "body": f"* {fallback}",
        "m.new_content": new,
        "m.mentions": new["m.mentions"],
        "m.relates_to": {"rel_type": REPLACE, "event_id": event_id},
    }


def fit(content: dict[str, Any], budget: int = CONTENT_BUDGET) -> dict[str, Any]:
    """Shorten a message content to `budget` bytes: drop the HTML, then cut the body."""
    if _size(content) <= budget:
        return content
    content = {k: v for k, v in content.items() if k not in ("format", "formatted_body")}
    if _size(content) <= budget:
        return content
    body: str = content["body"]
    keep, longest = 0, len(body)
    while keep < longest:  # the longest prefix that fits, by bisection
        middle = (keep + longest + 1) // 2
        if _size({**content, "body": body[:middle] + SHORTENED}) <= budget:
            keep = middle
        else:
            longest = middle - 1
    content["body"] = body[:keep] + SHORTENED
    return content


def _size(content: Mapping[str, Any]) -> int:
    return len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())


def reaction_content(event_id: str, key: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": ANNOTATION, "event_id": event_id, "key": key}}


def txn_id(idempotency_key: str) -> str:
    """A transaction id derived from the key: the server answers a repeated PUT with the event it
    already made (per device), so a send retried after a crash posts once."""
    return "cb." + hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


def permalink(room_id: str, event_id: str, via: Iterable[str]) -> str:
    """``https://matrix.to/#/<room>/<event>?via=<server>`` (up to three servers)."""
    servers = list(via)[:3]
    query = "&".join(f"via={quote(s, safe=':')}" for s in servers)
    link = f"https://matrix.to/#/{quote(room_id, safe='!:')}/{quote(event_id, safe='$:')}"
    return f"{link}?{query}" if query else link


def retry_after_seconds(
    headers: Mapping[str, str], body: Mapping[str, Any] | None, now: datetime
) -> float | None:
    """How long a 429 asks us to wait: the Retry-After header (seconds or an HTTP date), else the
    body's ``retry_after_ms``; None when neither says."""
    header = headers.get("Retry-After")
    if header:
        header = header.strip()
        if header.isdigit():
            return float(header)
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - now).total_seconds())
    if body is not None:
        ms = body.get("retry_after_ms")
        if isinstance(ms, int | float) and not isinstance(ms, bool) and ms >= 0:
            return float(ms) / 1000
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


_MESSAGE_LINK = re.compile(r"<?https://matrix\.to/#/([^/?#\s<>]+)/((?:\$|%24)[^?#\s<>]+)(?:\?[^\s<>]*)?>?")


@dataclass(frozen=True, slots=True)
class MessageLink:
    """A matrix.to link to one event, found in a member's text (Element's Share, Copy link)."""

    room: str
    """A room id (``!…``) or alias (``#…``), unquoted."""
    event_id: str
    rest: str
    """The text without the link."""


def find_message_link(text: str) -> MessageLink | None:
    """The first link to an event in `text`, and the text around it."""
    match = _MESSAGE_LINK.search(text)
    if match is None:
        return None
    room, event_id = unquote(match.group(1)), unquote(match.group(2))
    rest = f"{text[: match.start()].rstrip()} {text[match.end() :].lstrip()}".strip()
    return MessageLink(room, event_id, rest)
