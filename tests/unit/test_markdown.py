"""to_matrix: Markdown to a Matrix (body, formatted_body) pair that is readable, in-spec and inert."""

from __future__ import annotations

import re
import time

import pytest

from chatbridge.render.escape import ZWSP
from chatbridge.render.markdown import MATRIX_ALLOWED_TAGS, to_matrix

TAG = re.compile(r"</?([a-zA-Z0-9]+)")


def tags(html: str) -> set[str]:
    return {name.lower() for name in TAG.findall(html)}


@pytest.mark.parametrize(
    ("markdown", "body", "html"),
    [
        ("plain text", "plain text", "plain text"),
        ("**bold** and *em*", "bold and em", "<strong>bold</strong> and <em>em</em>"),
        ("~~wrong~~ dose", "~~wrong~~ dose", "<s>wrong</s> dose"),
        ("`x = 1`", "`x = 1`", "<code>x = 1</code>"),
        ("line one\nline two", "line one\nline two", "line one<br>\nline two"),
        (
            "[NICE](https://www.nice.org.uk)",
            "NICE (https://www.nice.org.uk)",
            '<a href="https://www.nice.org.uk">NICE</a>',
        ),
        (
            "<https://example.org>",
            "https://example.org",
            '<a href="https://example.org">https://example.org</a>',
        ),
        ("<dr@example.org>", "dr@example.org", '<a href="mailto:dr@example.org">dr@example.org</a>'),
        (
            "[profile](https://matrix.to/#/@ali:example.org)",
            "profile (https://matrix.to/#/@ali:example.org)",
            '<a href="https://matrix.to/#/@ali:example.org">profile</a>',
        ),
        ("", "", ""),
    ],
)
def test_inline_rendering(markdown: str, body: str, html: str) -> None:
    assert to_matrix(markdown) == (body, html)


def test_block_rendering() -> None:
    markdown = (
        "# Case of the week\n\n"
        "A 45-year-old with *chest pain*.\n\n"
        "- troponin\n- ECG\n  - repeat in 3 h\n\n"
        "3. aspirin\n4. GTN\n\n"
        "> Always check allergies\n\n"
        "```python\nprint('hi')\n```\n\n"
        "---\n\n"
        "| Drug | Dose |\n|---|---|\n| Aspirin | 300 mg |"
    )
    body, html = to_matrix(markdown)
    assert body == (
        "Case of the week\n\n"
        "A 45-year-old with chest pain.\n\n"
        "- troponin\n- ECG\n  - repeat in 3 h\n\n"
        "3. aspirin\n4. GTN\n\n"
        "> Always check allergies\n\n"
        "```python\nprint('hi')\n```\n\n"
        "---\n\n"
        "Drug | Dose\nAspirin | 300 mg"
    )
    assert tags(html) == {
        "h1", "p", "em", "ul", "li", "ol", "blockquote", "pre", "code", "hr",
        "table", "thead", "tbody", "tr", "th", "td",
    }  # fmt: skip
    assert '<ol start="3">' in html
    assert '<code class="language-python">' in html
    assert "style=" not in html  # table alignment styles are not in the Matrix subset


def test_loose_list_and_nested_quote_in_body() -> None:
    body, _ = to_matrix("- first\n\n- second\n\n> outer\n> > inner\n\nafter")
    assert body == "- first\n\n- second\n\n> outer\n>\n> > inner\n\nafter"


# --- hostile input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
        '<img src=x onerror="alert(1)">',
        "<iframe src=https://evil.example></iframe>",
        '<a href="javascript:alert(1)">x</a>',
        "<!-- comment --><style>body{display:none}</style>",
        "**bold** title with <b>html</b>",
    ],
)
def test_raw_html_is_shown_as_text(markdown: str) -> None:
    body, html = to_matrix(markdown)
    assert "<" not in html.replace("<strong>", "").replace("</strong>", "")
    assert "&lt;" in html
    assert body.endswith(markdown[-5:])  # the plain body keeps what was typed, as text


@pytest.mark.parametrize(
    "markdown",
    [
        "[click](javascript:alert(1))",
        "[click](JAVASCRIPT:alert(1))",
        "[click](  javascript:alert(1))",
        "[click](jav&#x09;ascript:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "[click](vbscript:msgbox)",
        "[click](file:///etc/passwd)",
        "[click](/relative/path)",
        "[click](ftp://example.org/file)",
        "<javascript:alert(1)>",
        "[click][ref]\n\n[ref]: javascript:alert(1)",
    ],
)
def test_only_http_https_and_mailto_links_survive(markdown: str) -> None:
    body, html = to_matrix(markdown)
    assert "href" not in html
    assert "<a" not in html
    assert "click" in body or "javascript" in body  # the text stays, as text


def test_images_become_links_and_never_load() -> None:
    body, html = to_matrix("![x-ray](https://example.org/cxr.png) ![pixel](http://evil.example/p.gif)")
    assert "<img" not in html
    assert html == (
        '<a href="https://example.org/cxr.png">x-ray</a> <a href="http://evil.example/p.gif">pixel</a>'
    )
    assert body == "x-ray (https://example.org/cxr.png) pixel (http://evil.example/p.gif)"


def test_image_with_disallowed_source_keeps_only_its_alt_text() -> None:
    assert to_matrix("![scan](/local.png)") == ("scan", "scan")
    assert to_matrix("![](data:image/png;base64,AAAA)")[1].count("<") == 0


@pytest.mark.parametrize(
    "markdown",
    [
        "@room",
        "Hey @room, look",
        "@everyone and @here",
        "<@123> <@!123> <@&123> <#123>",
        "`@room` in code",
        "```\n@room\n```",
        "[@room](https://example.org/@room)",
        "**@ROOM**",
        "![@room](https://example.org/x.png)",
    ],
)
def test_mentions_are_neutralised_in_both_renderings(markdown: str) -> None:
    body, html = to_matrix(markdown)
    text_of_html = re.sub(r'href="[^"]*"', "", html)  # link targets are left as typed, see below
    for rendered in (body, text_of_html):
        assert not re.search(r"(^|\W)@(room|everyone|here)(\W|$)", rendered, re.IGNORECASE)
        assert not re.search(r"<@[!&]?\d+>|<#\d+>", rendered)
        assert ZWSP in rendered


def test_link_targets_are_not_altered_by_mention_neutralising() -> None:
    _, html = to_matrix("[profile](https://example.org/@room)")
    assert 'href="https://example.org/@room"' in html


def test_every_tag_is_in_the_matrix_subset() -> None:
    markdown = (
        "# h\n## h2\n**b** *i* ~~s~~ `c` [a](https://x.org)\n\n> q\n\n- l\n\n1. o\n\n---\n\n```\npre\n```\n"
    )
    _, html = to_matrix(markdown)
    assert tags(html) <= MATRIX_ALLOWED_TAGS
    assert "img" not in MATRIX_ALLOWED_TAGS


def test_very_long_input_is_handled_quickly() -> None:
    """Message-sized input (Matrix events stop at 64 KiB) renders in well under a second each."""
    started = time.perf_counter()
    body, html = to_matrix("**word** " * 4_000)
    assert body.count("word") == 4_000
    assert html.count("<strong>") == 4_000
    for hostile in ("[" * 10_000, "*" * 30_000, ">" * 5_000 + " deep", "- " * 5_000 + "x", "`" * 30_000):
        to_matrix(hostile)
    assert time.perf_counter() - started < 3
