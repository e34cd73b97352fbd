"""Broken characters from a platform: repaired once, where events enter dispatch."""

from __future__ import annotations

from datetime import UTC, datetime

from chatbridge.model import Actor, CommandInvoked, MessagePosted, PlatformName, ReactionAdded, Room
from chatbridge.wellformed import repaired, repaired_text

AT = datetime(2025, 7, 16, tzinfo=UTC)
ROOM = Room(PlatformName.MATRIX, "!space", "!room", "Général")


def _posted(text: str, name: str = "zoë", tags: tuple[str, ...] = ()) -> MessagePosted:
    actor = Actor(PlatformName.MATRIX, "@zoe:example.org", name)
    return MessagePosted(
        event_id="$e", at=AT, room=ROOM, actor=actor, message_id="$e", text=text, thread_tags=tags
    )


def test_a_sound_event_is_returned_as_it_is() -> None:
    event = _posted("héllo 👍", tags=("tag",))
    assert repaired(event) is event
    reaction = ReactionAdded(event_id="$r", at=AT, room=ROOM, actor=event.actor, message_id="$e", emoji="👍")
    assert repaired(reaction) is reaction


def test_lone_surrogates_become_the_replacement_character_wherever_they_are() -> None:
    fixed = repaired(_posted("a\ud800b", name="z\udfff", tags=("\udc00",)))
    assert (fixed.text, fixed.actor.display_name, fixed.thread_tags) == ("a\ufffdb", "z\ufffd", ("\ufffd",))
    assert fixed.room is ROOM  # untouched parts are shared, not copied
    command = CommandInvoked(
        event_id="i",
        at=AT,
        room=ROOM,
        actor=fixed.actor,
        path=("thread", "show"),
        options={"thread": "\ud800"},
    )
    assert repaired(command).options == {"thread": "\ufffd"}
    assert repaired_text("ok") == "ok"
