"""The bot never amplifies: escaped member text shows literally and pings nobody."""

from __future__ import annotations

import random
import re

import pytest

from chatbridge.render.escape import (
    ZWSP,
    escape_markdown,
    escape_user_text,
    neutralise_mentions,
    strip_direction,
)
from chatbridge.render.markdown import to_matrix

# What Discord itself recognises as a ping (server side); none of these may survive neutralising.
DISCORD_PING = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>")
MATRIX_ROOM_PING = re.compile(r"(^|\W)@room(\W|$)", re.IGNORECASE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@everyone look", f"@{ZWSP}everyone look"),
        ("@here", f"@{ZWSP}here"),
        ("@room", f"@{ZWSP}room"),
        ("@ROOM and @Everyone", f"@{ZWSP}ROOM and @{ZWSP}Everyone"),
        ("<@123>", f"<@{ZWSP}123>"),
        ("<@!123456789012345678>", f"<@{ZWSP}!123456789012345678>"),
        ("<@&42>", f"<@{ZWSP}&42>"),
        ("<#987>", f"<{ZWSP}#987>"),
        ("</ban user:1234>", f"<{ZWSP}/ban user:1234>"),
        ("x@everyone", f"x@{ZWSP}everyone"),
        ("plain text, #hashtag, a@b.c", "plain text, #hashtag, a@b.c"),
        ("<b>bold</b> and <#general>", "<b>bold</b> and <#general>"),
    ],
)
def test_neutralise_mentions(text: str, expected: str) -> None:
    assert neutralise_mentions(text) == expected


def test_neutralise_mentions_is_idempotent() -> None:
    once = neutralise_mentions("@everyone <@1> <#2> @room")
    assert neutralise_mentions(once) == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**bold**", r"\*\*bold\*\*"),
        ("__underline__ _em_", r"\_\_underline\_\_ \_em\_"),
        ("~~strike~~ ||spoiler||", r"\~\~strike\~\~ \|\|spoiler\|\|"),
        ("`code`", r"\`code\`"),
        ("[click](https://evil.example)", r"\[click\](https\://evil.example)"),
        ("<https://evil.example>", r"\<https\://evil.example\>"),
        ("back\\slash", r"back\\slash"),
        ("# Heading", r"\# Heading"),
        ("-# subtext", r"\-# subtext"),
        ("- item\n+ item\n* item", "\\- item\n\\+ item\n\\* item"),
        ("1. first\n2) second", "1\\. first\n2\\) second"),
        ("> quote", r"\> quote"),
        ("title\n===", "title\n\\==="),
        ("---", r"\---"),
        ("&amp; &#91;", r"\&amp; \&#91;"),
        (":emoji: and <:custom:123>", r"\:emoji\: and \<\:custom\:123\>"),
        # Ordinary prose is left readable.
        (
            "Dr. Ali, 45-year practice, 1.5 mg, #hashtag, A&E, -5 °C",
            "Dr. Ali, 45-year practice, 1.5 mg, #hashtag, A&E, -5 °C",
        ),
    ],
)
def test_escape_markdown(text: str, expected: str) -> None:
    assert escape_markdown(text) == expected


def test_escape_user_text_does_both() -> None:
    assert (
        escape_user_text("**@everyone** [x](<@123>)")
        == f"\\*\\*@{ZWSP}everyone\\*\\* \\[x\\](\\<@{ZWSP}123\\>)"
    )


HOSTILE = [
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "@room",
    "@everyone @here <@123> <@!123> <@&123> <#123>",
    "**bold** title with <b>html</b>",
    '<img src=x onerror="alert(1)">',
    "![tracker](https://evil.example/pixel.png)",
    "https://evil.example/phish",
    "# Fake announcement\n> quoted\n- list\n1. ordered",
    "```\ncode\n```",
    "&lt;b&gt; &#64;room",
    "\\*not bold\\*",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_renders_literally_in_commonmark(text: str) -> None:
    """escape_user_text output, rendered as Markdown, is exactly the input (plus invisible ZWSPs)."""
    body, html = to_matrix(escape_user_text(text))
    assert body.replace(ZWSP, "") == text
    assert re.sub(r"<br>\n?", "", html).count("<") == 0  # no markup at all besides line breaks
    assert not DISCORD_PING.search(body)
    assert not MATRIX_ROOM_PING.search(body)


def test_escape_round_trips_random_punctuation() -> None:
    """Fuzz: any mix of Markdown punctuation, escaped, renders back to itself and never as markup."""
    alphabet = [*"ab 12\\`*_~|[]()<>:#-+=.!&;\"'/@\n", "http://x.y", "&amp;", "&#91;", "@here", "<@1>"]
    rng = random.Random(20250716)
    for _ in range(3_000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        text = "\n".join(line.strip() for line in raw.split("\n") if line.strip())
        if not text:
            continue
        body, html = to_matrix(escape_user_text(text))
        assert body.replace(ZWSP, "") == text, text
        assert re.sub(r"<br>\n?", "", html).count("<") == 0, text
        assert not DISCORD_PING.search(body), text


def test_escaping_is_fast_on_long_text() -> None:
    text = "**@everyone** [x](y) " * 50_000
    assert escape_user_text(text).count(ZWSP) == 50_000


def test_direction_controls_are_dropped_and_broken_characters_shown() -> None:
    """U+202E would flip the bot's own words after a name; a lone surrogate cannot be sent."""
    assert strip_direction("eve\u202egpj.exe") == "evegpj.exe"
    assert strip_direction("\u2066a\u2069\u202a\u202b\u202c\u202db") == "ab"
    assert strip_direction("zo\ud800e") == "zo\ufffde"
    assert strip_direction("plain") == "plain"
    assert escape_user_text("@\u202eeveryone") == "@\u200beveryone"  # stripped before neutralising
