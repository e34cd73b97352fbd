"""What Discord accepts in a message body besides its components: embeds and allowed mentions.

developers/resources/message.mdx ("Embed Limits", "Allowed Mentions Object"); breaking a rule
is answered 400 50035 Invalid Form Body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .form_errors import FormError, check_count, check_length

# message.mdx "Embed Limits"
MAX_EMBED_FIELDS = 25
MAX_EMBEDS_TOTAL = 6000
_EMBED_TEXT = (("title",), ("description",), ("footer", "text"), ("author", "name"))
_EMBED_LIMITS = {"title": 256, "description": 4096, "text": 2048, "name": 256}
MAX_MENTION_IDS = 100  # message.mdx "Allowed Mentions Object": users and roles, max 100 each


def _embed_text(embed: Mapping[str, Any], index: int) -> int:
    total = 0
    for keys in _EMBED_TEXT:
        holder: Any = embed
        for key in keys[:-1]:
            holder = holder.get(key) if isinstance(holder, Mapping) else None
        value = holder.get(keys[-1]) if isinstance(holder, Mapping) else None
        if value is None:
            continue
        check_length(("embeds", index, *keys), value, 0, _EMBED_LIMITS[keys[-1]])
        total += len(value)
    for number, field in enumerate(check_count(("embeds", index, "fields"), embed.get("fields"), 25)):
        check_length(("embeds", index, "fields", number, "name"), field.get("name"), 1, 256)
        check_length(("embeds", index, "fields", number, "value"), field.get("value"), 1, 1024)
        total += len(field["name"]) + len(field["value"])
    return total


def check_embeds(embeds: Any) -> None:
    total = sum(_embed_text(embed, index) for index, embed in enumerate(embeds or []))
    if total > MAX_EMBEDS_TOTAL:
        # "the combined sum of characters ... must not exceed 6000 characters"
        raise FormError(("embeds",), "MESSAGE_EMBEDS_TOO_LARGE", "Embed size exceeds maximum size of 6000")


def check_allowed_mentions(allowed: Any) -> None:
    """At most 100 ids per list; ``parse`` of a type and that type's id list are exclusive."""
    if not isinstance(allowed, Mapping):
        return
    parse = allowed.get("parse") or []
    for kind in ("users", "roles"):
        ids = allowed.get(kind)
        check_count(("allowed_mentions", kind), ids, MAX_MENTION_IDS)
        if ids and kind in parse:
            # message.mdx: "the parse field is mutually exclusive with the other fields"
            raise FormError(
                ("allowed_mentions", "parse"),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
