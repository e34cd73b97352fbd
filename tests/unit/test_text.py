"""normalise / excerpt / quote_input: what members type becomes one canonical, bounded form."""

from __future__ import annotations

import unicodedata

import pytest

from chatbridge.forum.text import InputError, excerpt, has_visible, normalise, quote_input, whole_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Chest pain  ", "Chest pain"),
        ("Chest\t\tpain\nin a 45yo", "Chest pain in a 45yo"),
        ("a\u00a0\u3000b", "a b"),  # NBSP and ideographic space are whitespace too
        ("a\x00b\x07c\x1bd", "abcd"),  # controls vanish, they do not become spaces
        ("evil\u202egpj.exe", "evilgpj.exe"),  # right-to-left override
        ("\u2066isolate\u2069", "isolate"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("\u3164\u3164Dr Ali", "Dr Ali"),  # Hangul filler used to look blank
        ("lone \ud800 surrogate", "lone surrogate"),
        ("🧑\u200d⚕️ doctor", "🧑\u200d⚕️ doctor"),  # ZWJ + VS16 kept: emoji need them
        ("\u0645\u0635\u0631\u200f", "\u0645\u0635\u0631\u200f"),  # Arabic with RLM kept
    ],
)
def test_single_line_is_cleaned(raw: str, expected: str) -> None:
    assert normalise(raw, max_len=100, field="title") == expected


def test_nfc_makes_decomposed_and_precomposed_equal() -> None:
    decomposed = "Cafe\u0301"
    assert normalise(decomposed, max_len=10, field="title") == "Café"
    assert unicodedata.is_normalized("NFC", normalise(decomposed, max_len=10, field="title"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("line one\r\nline two\rline three", "line one\nline two\nline three"),
        ("para\n\n\n\n\nnext", "para\n\nnext"),
        ("trailing   \nspaces\t", "trailing\nspaces"),
        ("\n\n  text  \n\n", "text"),
        ("code:\n    indented()\n\tx", "code:\n    indented()\n    x"),
        ("a\u2028b\u2029c\x85d\x0be", "a\nb\nc\nd\ne"),
        ("keep\x00 \x7fclean", "keep clean"),
        ("   \n\u200b\n  \n", None),
    ],
)
def test_multiline_keeps_line_structure(raw: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(InputError):
            normalise(raw, max_len=100, field="bio", multiline=True)
    else:
        assert normalise(raw, max_len=100, field="bio", multiline=True) == expected


def test_single_line_flattens_newlines() -> None:
    assert normalise("two\nlines", max_len=20, field="title") == "two lines"


@pytest.mark.parametrize(
    ("field", "max_len", "value", "message"),
    [
        ("bio", 300, "x" * 342, "A bio can be at most 300 characters; yours has 342."),
        ("email", 5, "x" * 6, "An email can be at most 5 characters; yours has 6."),
        (
            "thread title",
            1_000,
            "x" * 1_204,
            "A thread title can be at most 1,000 characters; yours has 1,204.",
        ),
        ("your custom title", 1, "xy", "Your custom title can be at most 1 character; yours has 2."),
    ],
)
def test_too_long_is_polite_and_specific(field: str, max_len: int, value: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        normalise(value, max_len=max_len, field=field)
    assert str(caught.value) == message
    assert caught.value.message == message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("value", ["", "   ", "\n\t", "\u200b\u202e", "\x00\x01"])
def test_empty_is_rejected_with_what_is_accepted(value: str) -> None:
    with pytest.raises(InputError, match=r"^A reason can't be empty; please write 1 to 200 characters\.$"):
        normalise(value, max_len=200, field="reason")


def test_length_is_measured_after_normalising() -> None:
    assert normalise("  " + "x" * 10 + "\u200b" * 50 + "  ", max_len=10, field="title") == "x" * 10


def test_max_len_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_len"):
        normalise("x", max_len=0, field="title")


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Short post", 20, "Short post"),
        ("Exactly twenty chars", 20, "Exactly twenty chars"),
        ("The quick brown fox jumps over the lazy dog", 20, "The quick brown fox…"),
        ("The quick brown fox jumps", 16, "The quick brown…"),
        ("Word, another, more words here", 16, "Word, another…"),  # trailing comma dropped
        ("multi\nline\n\n  text   here", 50, "multi line text here"),
        ("Supercalifragilisticexpialidocious", 10, "Supercali…"),
        ("a verylongwordthatcannotfit", 10, "a verylon…"),  # space too early: cut mid-word
        ("anything", 1, "…"),
        ("", 5, ""),
    ],
)
def test_excerpt(text: str, limit: int, expected: str) -> None:
    result = excerpt(text, limit)
    assert result == expected
    assert len(result) <= limit
    assert "\n" not in result


def test_excerpt_never_splits_an_accent_or_emoji_sequence() -> None:
    assert excerpt("abcde\u0301fgh", 6) == "abcd…"  # e + combining acute stays together
    assert excerpt("abcd🧑\u200d⚕️xyz", 6) == "abcd…"


def test_excerpt_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        excerpt("x", 0)


def test_excerpt_is_fast_on_huge_text() -> None:
    assert len(excerpt("word " * 200_000, 100)) <= 100


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2x", "'2x'"),
        ("@everyone", "'@\u200beveryone'"),
        ("[x](https://evil)", "'\\[x\\](https\\://evil)'"),
        ("a" * 100, "'" + "a" * 39 + "…'"),
        ("two\nlines", "'two lines'"),
    ],
)
def test_quote_input_is_short_inert_and_one_line(value: str, expected: str) -> None:
    assert quote_input(value) == expected


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("12", 12),
        ("+3", 3),
        ("-1", -1),
        (" 7 ", 7),
        ("²", None),
        ("٣", None),
        ("１２", None),
        ("3.5", None),
        ("", None),
        ("#1", None),
        ("9" * 5000, 10**100),
    ],
)
def test_whole_numbers_are_ascii_digits(text: str, number: int | None) -> None:
    """int() takes "²" (and raises) or "٣" (and accepts); a member's number is ASCII, bounded."""
    assert whole_number(text) == number


@pytest.mark.parametrize("blank", ["\u115f", "\u1160", "\u2800", "\u00ad\u034f", "\u0301", "\u17b4"])
def test_text_with_nothing_visible_is_refused(blank: str) -> None:
    assert not has_visible(blank)
    with pytest.raises(InputError, match="A title needs something visible"):
        normalise(f" {blank} {blank} ", max_len=100, field="title")


@pytest.mark.parametrize("text", ["a", "🧑\u200d⚕️", "\U000e0001x", "\ue000", "한", "é"])
def test_text_with_something_visible_is_kept(text: str) -> None:
    assert has_visible(text)
