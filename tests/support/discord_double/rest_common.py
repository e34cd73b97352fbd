"""Message-body handling shared by channel messages, forum posts, webhooks and interactions.

Discord validates these bodies identically everywhere; doing it once keeps the error a bot sees
the same whichever endpoint it used.
https://discord.com/developers/docs/resources/message#create-message
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from . import payloads
from .component_rules import check_message_components
from .message_rules import check_allowed_mentions, check_embeds
from .payloads import JsonObject
from .rest_app import ApiError, UploadedFile, invalid_form
from .state import World

MAX_CONTENT = 2000
MAX_EMBEDS = 10


class Dispatcher(Protocol):
    """The gateway's dispatch, as handlers need it (echoing REST changes like Discord does)."""

    async def __call__(self, event: str, data: Mapping[str, Any]) -> list[str]: ...


def validate_message_body(body: Mapping[str, Any], files: list[UploadedFile], *, creating: bool) -> None:
    content = body.get("content")
    if content is not None and len(content) > MAX_CONTENT:
        raise invalid_form("content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length.")
    if len(body.get("embeds") or []) > MAX_EMBEDS:
        raise invalid_form("embeds", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length.")
    # developers/resources/message.mdx: embed limits, allowed mentions; components per
    # developers/components/reference.mdx
    check_embeds(body.get("embeds"))
    check_allowed_mentions(body.get("allowed_mentions"))
    check_message_components(body.get("components"), int(body.get("flags") or 0))
    if creating and not (
        content
        or body.get("embeds")
        or body.get("components")
        or body.get("sticker_ids")
        or files
        or body.get("poll")
    ):
        raise ApiError(400, 50006, "Cannot send an empty message")


def upload_attachments(world: World, channel_id: int, files: list[UploadedFile]) -> list[JsonObject]:
    return [world.store_attachment(channel_id, f.filename, f.data, f.content_type) for f in files]


def apply_message_edit(
    world: World, message: JsonObject, body: Mapping[str, Any], files: list[UploadedFile]
) -> None:
    """Edit Message semantics: only fields present in the body change; mentions are recomputed.

    https://discord.com/developers/docs/resources/message#edit-message
    """
    validate_message_body(body, files, creating=False)
    for key in ("content", "embeds", "components"):
        if key in body:
            message[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
    if "flags" in body and body["flags"] is not None:
        # Only SUPPRESS_EMBEDS can be toggled; other bits (LOADING, EPHEMERAL) are Discord's.
        suppress = 1 << 2
        message["flags"] = (message["flags"] & ~suppress) | (int(body["flags"]) & suppress)
    if "attachments" in body or files:
        kept_ids = {str(a.get("id")) for a in body.get("attachments") or []}
        kept = [a for a in message["attachments"] if a["id"] in kept_ids]
        message["attachments"] = kept + upload_attachments(world, int(message["channel_id"]), files)
    if "content" in body or "allowed_mentions" in body:
        rebuilt = world.create_message(
            int(message["channel_id"]),
            int(message["author"]["id"]),
            message["content"],
            allowed_mentions=body.get("allowed_mentions"),
            store=False,
        )
        for key in ("mentions", "mention_roles", "mention_everyone"):
            message[key] = rebuilt[key]
    message["edited_timestamp"] = payloads.iso(payloads.now())
