"""Cleaning and shortening what members type, before it is stored or shown.

Every free-text field (thread titles, replies, bios, custom titles, report reasons) goes through
`normalise`, so the database holds one canonical form: the same title typed on Discord and on Matrix
compares equal, invisible or direction-flipping characters cannot disguise a name, and limits are
checked on what is actually kept rather than on what was sent.
"""

from __future__ import annotations

import re
import unicodedata

from chatbridge.render.escape import escape_user_text

__all__ = ["InputError", "excerpt", "normalise", "quote_input"]

# Removed outright: C0/C1 controls that are not whitespace, lone surrogates (they cannot be encoded
# as UTF-8, so storing one would fail later), bidi embeddings/overrides/isolates (U+202E makes
# "gpj.exe" look like "exe.jpg"), zero-width space / word joiner / BOM and the Hangul fillers that
# chat users abuse to look blank. Zero-width (non-)joiners and variation selectors stay: emoji such
# as 🧑‍⚕️ and Persian script need them.
_STRIP = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f"
    "\u200b\u202a-\u202e\u2060\u2066-\u2069\u3164\ufeff\uffa0\ufffe\uffff"
    "\ud800-\udfff]"
)
_SPACE_RUN = re.compile(r"\s+")
# Everything that str.splitlines() treats as a line break except \n itself.
_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_BLANK_RUN = re.compile(r"\n{3,}")
_OWN_ARTICLE = frozenset({"a", "an", "the", "your", "this", "that", "each", "every"})
# Characters a hard cut must not separate from the character before them.
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")
_TRAILING_JUNK = " ,;:.-–—(/"

ELLIPSIS = "…"


class InputError(ValueError):
    """Something a member typed that cannot be accepted.

    The message is shown to the member as is (dispatch uses ``args[0]``), so it must be polite, say
    what *would* be accepted, and be Markdown-safe: echo user input only through `quote_input`.
    It subclasses ``ValueError`` so generic validation code (pydantic validators, argument
    converters) treats it as an ordinary bad value.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _subject(field: str) -> str:
    """ "bio" -> "A bio", "email" -> "An email", "your title" -> "Your title" (messages start with it)."""
    first = field.split(" ", 1)[0].lower()
    if first in _OWN_ARTICLE:
        return field[:1].upper() + field[1:]
    article = "An" if first[:1] in ("a", "e", "i", "o") else "A"
    return f"{article} {field}"


def _characters(n: int) -> str:
    return "character" if n == 1 else "characters"


def normalise(value: str, *, max_len: int, field: str, multiline: bool = False) -> str:
    """Return the canonical form of a member's text, or raise `InputError` saying what fits.

    Steps: drop invisible/control characters (see ``_STRIP``), Unicode NFC (so "é" typed as e + accent
    equals the precomposed "é"), then whitespace. Single-line values (titles, names) have every run of
    whitespace, including newlines, collapsed to one space. Multiline values (posts, bios) keep line
    breaks: all break styles become ``\\n``, tabs expand to 4 columns, trailing spaces go, and at most
    one blank line is kept in a row, so indentation inside lines (code) survives.

    ``max_len`` counts code points of the *normalised* text. ``field`` names the thing in messages:
    ``normalise(bio, max_len=300, field="bio")`` may raise
    "A bio can be at most 300 characters; yours has 342.".
    """
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    text = unicodedata.normalize("NFC", _STRIP.sub("", value))
    if multiline:
        text = _LINE_BREAK.sub("\n", text).expandtabs(4)
        text = "\n".join(line.rstrip() for line in text.split("\n"))
        text = _BLANK_RUN.sub("\n\n", text).strip()
    else:
        text = _SPACE_RUN.sub(" ", text).strip()
    if not text:
        allowed = "1 character" if max_len == 1 else f"1 to {max_len:,} characters"
        raise InputError(f"{_subject(field)} can't be empty; please write {allowed}.")
    if len(text) > max_len:
        raise InputError(
            f"{_subject(field)} can be at most {max_len:,} {_characters(max_len)}; yours has {len(text):,}."
        )
    return text


def _is_attached(ch: str) -> bool:
    """True for characters that belong to the previous one (accents, emoji joiners and modifiers)."""
    return ch in _JOINERS or "\U0001f3fb" <= ch <= "\U0001f3ff" or unicodedata.combining(ch) != 0


def excerpt(text: str, limit: int) -> str:
    """A one-line quote of at most ``limit`` characters, cut at a word boundary and ending in "…".

    Used for "Re: …" previews, report queue entries and notification lines, where a whole post would
    drown the message. Cuts at the last space when that keeps at least half the room, otherwise
    mid-word (never between a letter and its accent or inside an emoji sequence). Excerpt *before*
    escaping: cutting escaped text could split an escape sequence in two.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    room = limit - 1  # the ellipsis takes one character
    if flat[room] == " ":
        head = flat[:room]
    else:
        space = flat.rfind(" ", 0, room)
        if space >= room // 2 and space > 0:
            head = flat[:space]
        else:
            end = room
            while end > 0 and (_is_attached(flat[end]) or flat[end - 1] == "\u200d"):
                end -= 1
            head = flat[:end]
    return head.rstrip(_TRAILING_JUNK) + ELLIPSIS


def quote_input(value: str, *, limit: int = 40) -> str:
    """Member input echoed inside an error message: one line, short, quoted and made inert.

    Error replies are sent as Markdown, so what the member typed is escaped (no formatting, links or
    pings) and shortened so a pasted essay does not come back as a wall of text.
    """
    return "'" + escape_user_text(excerpt(value, limit)) + "'"
