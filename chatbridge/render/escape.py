"""Making member-supplied text inert before the bot repeats it: the bot never amplifies.

A member's custom title, bio, thread title or report reason is echoed by the bot, which often has
more permissions (and more reach) than the member. Escaping guarantees the echo shows exactly what
was typed: no bold, no masked links, no headings, and above all no pings.

Apply `escape_user_text` exactly once, as the last step before the value is placed in Markdown that
the bot sends (it is not idempotent: escaping twice shows the backslashes). The adapters must still
send with mentions disabled (Discord ``AllowedMentions.none()`` unless a ping is intended, Matrix
``"m.mentions": {}``); escaping is the second line of defence, not the only one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

__all__ = ["ZWSP", "escape_markdown", "escape_user_text", "neutralise_mentions", "strip_direction"]

ZWSP = "\u200b"

# Characters that are Markdown syntax wherever they appear, in CommonMark and/or Discord:
#   \ escape, ` code, * _ emphasis (and Discord __underline__), ~ strikethrough, | tables and
#   Discord ||spoilers||, [ ] links, < > autolinks/HTML/Discord mentions, : URL schemes (Discord
#   autolinks https://… in plain text; "https\://" is not linked) and :emoji: shortcodes.
_ALWAYS = "\\`*_~|[]<>:"
# Only syntax at the start of a line (after optional indentation) and only when followed by a space,
# the end of the line or another marker: headings "# ", Discord subtext "-# ", bullets "- " / "+ ",
# thematic breaks "---" and setext underlines "===". "#hashtag" and "-5 °C" stay as typed.
_LINE_START = re.compile(r"^([ \t]*)([#+=-])(?=[\s#+=-]|$)", re.MULTILINE)
# "1. item" / "1) item" ordered lists: escape the delimiter, the digits stay readable; "1.5 mg" stays.
_ORDERED = re.compile(r"^([ \t]*\d{1,9})([.)])(?=\s|$)", re.MULTILINE)
# "&amp;", "&#91;" … would be decoded by CommonMark, so "&" before an entity shape is escaped.
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")

# discord.py's utils.escape_mentions inserts U+200B after the "@" of @everyone, @here and <@id>,
# which leaves the text readable but no longer a mention. Extended here to:
#   - Matrix @room (the legacy push rule matches it case-insensitively),
#   - any digit count, so short test ids and future longer snowflakes are covered too,
#   - case-insensitive everyone/here (harmless, and clients are not consistent),
#   - channel <#id> and slash-command </name:id> mentions, which are clickable links.
_AT_MENTION = re.compile(r"@(everyone|here|room|[!&]?[0-9]+)", re.IGNORECASE)
_LINK_MENTION = re.compile(r"<(?=#[0-9]+>|/[^<>\n:]{1,100}:[0-9]+>)")


# Bidi embeddings, overrides and isolates: U+202E makes "gpj.exe" read as "exe.jpg", and a display
# name ending in one flips the text after it (the rest of a card line, a whole notice). Lone
# surrogates cannot be encoded as UTF-8, so a name or title holding one would fail at sending:
# they become U+FFFD, which shows that something was there.
_DIRECTION = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def strip_direction(s: str) -> str:
    """`s` without bidi controls and with lone surrogates replaced: safe to show inside bot text.

    Platforms hand over display names and room names as their users typed them (they do not go
    through `normalise`), so this runs wherever member text is repeated, not where it is stored.
    """
    if s.isascii():
        return s
    return _SURROGATE.sub("\ufffd", _DIRECTION.sub("", s))


@functools.cache
def _escape_table() -> dict[int, str]:
    """str.translate table for _ALWAYS, built once (translate is several times faster than re.sub)."""
    return str.maketrans({ch: "\\" + ch for ch in _ALWAYS})


def escape_markdown(s: str) -> str:
    r"""Backslash-escape Markdown syntax so the text renders literally on Discord and in CommonMark.

    Both dialects treat a backslash before ASCII punctuation as "this character, literally", so one
    escaping serves both platforms. Characters that only matter at the start of a line (``#``, ``-``,
    ``+``, ``=``, ``1.``) are escaped only there, which keeps ordinary text such as "Dr. Ali, 45-year
    practice" free of backslashes. ``"[click](https://x)"`` becomes ``"\[click\](https\://x)"``.
    """
    s = s.translate(_escape_table())
    if "&" in s:
        s = _ENTITY.sub(r"\\&", s)
    s = _LINE_START.sub(r"\1\\\2", s)
    return _ORDERED.sub(r"\1\\\2", s)


def _after_at(match: re.Match[str]) -> str:
    return "@" + ZWSP + match[1]


def neutralise_mentions(s: str) -> str:
    """Insert a zero-width space so @everyone, @here, @room and <@id>/<@!id>/<@&id>/<#id> stay inert.

    The text still reads the same to people; neither Discord nor Matrix recognises it as a mention.
    Idempotent: already neutralised text is left alone.
    """
    s = _AT_MENTION.sub(_after_at, s)
    return _LINK_MENTION.sub("<" + ZWSP, s)


def escape_user_text(s: str) -> str:
    """Everything a member wrote, made safe to embed in bot Markdown: no mentions, no formatting.

    Mentions are neutralised first, on the raw text, so the patterns see exactly what was typed.
    Bidi controls go too (`strip_direction`): an override in a name must not flip the bot's words.
    """
    return escape_markdown(neutralise_mentions(strip_direction(s)))


def name_list(names: Sequence[str]) -> str:
    """Names someone chose (forum tags), escaped and quoted for a sentence: “A”, “B” or “C”."""
    shown = [f"“{escape_user_text(name)}”" for name in names]
    if not shown:
        return "none"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
