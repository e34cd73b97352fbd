"""``enforce_nonce``: a repeated send returns the first message, but only for a few minutes.

developers/resources/message.mdx (Create Message, ``enforce_nonce``): "If true and nonce is present,
it will be checked for uniqueness in the past few minutes. If another message was created by the
same author with the same nonce, that message will be returned and no new message will be
created." The docs give no exact figure; the double keeps a nonce for ``NONCE_WINDOW`` seconds on
its clock, so a retry after it posts again, as it may on Discord.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .payloads import JsonObject
from .state import World

NONCE_WINDOW = 120.0


def repeated(world: World, author_id: int, body: Mapping[str, Any]) -> JsonObject | None:
    """The message an enforced nonce already created, within the window; else None."""
    nonce = body.get("nonce")
    if nonce is None or not body.get("enforce_nonce"):
        return None
    seen = world.nonces.get((author_id, str(nonce)))
    if seen is None:
        return None
    channel_id, message_id, at = seen
    if world.clock.now() - at > NONCE_WINDOW:
        return None
    return world.messages.get(channel_id, {}).get(message_id)


def remember(world: World, author_id: int, body: Mapping[str, Any], message: JsonObject) -> None:
    nonce = body.get("nonce")
    if nonce is not None and body.get("enforce_nonce"):
        world.nonces[(author_id, str(nonce))] = (
            int(message["channel_id"]),
            int(message["id"]),
            world.clock.now(),
        )
