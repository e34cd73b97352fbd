"""Message links a member pastes in a direct chat, and direct-chat invitations: pure functions."""

from __future__ import annotations

import pytest

from chatbridge.adapters.matrix.translate import (
    MessageLink,
    find_message_link,
    invited_to_direct_chat,
    permalink,
)

ROOM = "!T1gOPR1lexwswX5Ru9EL0QLXR3Ysiujdt7VP3zW_NZU"
EVENT = "$4xz_a-b9Yq0cZ2yE8mB3vWkR7nJtL1pQ6sF5hD0uG"
BOT = "@chatbridge:chatbridge.localhost"


def test_the_link_the_bot_itself_builds_is_found_and_cut_out() -> None:
    link = permalink(ROOM, EVENT, ["chatbridge.localhost"])
    assert find_message_link(f"report spam {link} selling scrubs") == MessageLink(
        ROOM, EVENT, "report spam selling scrubs"
    )


@pytest.mark.parametrize(
    ("text", "room"),
    [
        (f"report spam https://matrix.to/#/%21abc%3Aexample.org/{EVENT}?via=example.org", "!abc:example.org"),
        (f"report spam <https://matrix.to/#/%23general%3Aexample.org/{EVENT}>", "#general:example.org"),
        (f"report spam https://matrix.to/#/!abc:example.org/{EVENT.replace('$', '%24')}", "!abc:example.org"),
    ],
)
def test_encoded_ids_aliases_and_angle_brackets(text: str, room: str) -> None:
    found = find_message_link(text)
    assert found is not None and (found.room, found.event_id, found.rest) == (room, EVENT, "report spam")


@pytest.mark.parametrize(
    "text",
    [
        "report spam",
        "report spam https://matrix.to/#/@mallory:example.org",
        f"report spam https://matrix.to/#/{ROOM}",
        f"report spam https://evil.example/#/{ROOM}/{EVENT}",
    ],
)
def test_text_without_a_message_link(text: str) -> None:
    assert find_message_link(text) is None


def invite(content: dict[str, object]) -> list[dict[str, object]]:
    return [{"type": "m.room.member", "state_key": BOT, "sender": "@alice:x", "content": content}]


def test_only_an_invitation_marked_direct_is_a_direct_chat() -> None:
    assert invited_to_direct_chat(invite({"membership": "invite", "is_direct": True}), BOT)
    assert not invited_to_direct_chat(invite({"membership": "invite"}), BOT)
    assert not invited_to_direct_chat(invite({"membership": "invite", "is_direct": "yes"}), BOT)
    assert not invited_to_direct_chat([], BOT)
