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

__all__ = ["InputError", "excerpt", "has_visible", "inert", "normalise", "quote_input", "whole_number"]

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
# Categories that draw nothing on their own: separators, controls and format characters (U+00AD
# soft hyphen, U+200B...), surrogates, and combining marks with no letter to sit on (U+034F).
# Unassigned (Cn) and private-use (Co) code points count as visible: newer emoji are unassigned in
# an older Unicode database, and a font may draw a private-use icon.
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Mn", "Mc", "Me"})
# Letters and symbols that render as blank space: the Hangul fillers (U+115F, U+1160, U+3164,
# U+FFA0), the blank Braille pattern (U+2800), Khmer inherent vowels and musical-symbol blanks.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5\U0001d159")
_WHOLE_NUMBER = re.compile(r"[+-]?([0-9]+)")
_NUMBER_DIGITS = 100

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
    if not has_visible(text):
        raise InputError(f"{_subject(field)} needs something visible; yours has only invisible characters.")
    if len(text) > max_len:
        raise InputError(
            f"{_subject(field)} can be at most {max_len:,} {_characters(max_len)}; yours has {len(text):,}."
        )
    return text


def has_visible(text: str) -> bool:
    """True when `text` draws something: not only spaces, invisible or blank-looking characters.

    A title or name made of U+3164 or U+2800 passes every length check yet shows as nothing, which
    is how chat users impersonate "no one" or hide a thread from a list.
    """
    return any(
        ch not in _BLANK_LOOKING and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES for ch in text
    )


def whole_number(text: str) -> int | None:
    """`text` as an integer when it is one written in ASCII digits ("12", "+3", "-1"), else None.

    Python's ``int()`` and ``str.isdigit()`` also take "²", "٣" and "１"; a member who typed "#²"
    meant no number, and "²" passed to ``int()`` raises. More than 100 digits read as ±10**100,
    beyond every bound the bot checks, so a pasted wall of digits is refused by that bound instead
    of costing the quadratic conversion of a huge integer.
    """
    match = _WHOLE_NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    digits = match[1]
    value = int(digits) if len(digits) <= _NUMBER_DIGITS else 10**_NUMBER_DIGITS
    return -value if text.strip().startswith("-") else value


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
    pings, no bidi overrides) and shortened so a pasted essay does not come back as a wall of text.
    """
    return "'" + inert(value, limit=limit) + "'"


def inert(value: str, *, limit: int = 40) -> str:
    """`quote_input` without the quote marks, for messages that place their own around it."""
    return escape_user_text(excerpt(value, limit))
