"""Markdown (what templates and members write) to a Matrix ``m.text`` body and ``formatted_body``.

Matrix messages carry two renderings: ``body``, plain text for notifications, bridges and simple
clients, and ``formatted_body``, HTML restricted to the subset the spec recommends clients accept.
Both are derived from one markdown-it token stream so they always say the same thing, and the HTML
is sanitised with nh3 afterwards as a second, independent line of defence.

Safety properties (tested with hostile input):
  - raw HTML in the Markdown is shown as text, never interpreted (markdown-it ``html`` off);
  - only http(s) and mailto links survive, in both renderings (no ``javascript:``, no relative
    URLs a client would resolve against something unexpected);
  - images become ordinary links to their URL: Matrix clients only load ``mxc://`` images, and
    fetching an arbitrary URL would leak readers' IP addresses to whoever posted it;
  - @room, @everyone and Discord mentions are neutralised in both renderings; the sender must still
    set ``"m.mentions": {}`` so Matrix's legacy display-name rule cannot fire either.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from chatbridge.render.escape import neutralise_mentions

__all__ = ["MATRIX_ALLOWED_TAGS", "MATRIX_URL_SCHEMES", "to_matrix"]

# The Matrix spec's recommended HTML subset (client-server API, m.room.message msgtypes), minus
# img (see module docstring). "s" is the modern spelling of the deprecated "strike" and is what
# markdown-it emits for ~~strikethrough~~.
MATRIX_ALLOWED_TAGS = frozenset(
    {
        "font", "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol",
        "sup", "sub", "li", "b", "i", "u", "strong", "em", "s", "strike", "code", "hr", "br", "div",
        "table", "thead", "tbody", "tr", "th", "td", "caption", "pre", "span", "details", "summary",
    }
)  # fmt: skip
MATRIX_URL_SCHEMES = frozenset({"http", "https", "mailto"})
_CODE_CLASS = re.compile(r"language-[A-Za-z0-9_+#.-]{1,32}")
_SOLE_PARAGRAPH = re.compile(r"<p>((?:(?!<p>).)*)</p>", re.DOTALL)


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3 attribute filter: only ``language-…`` classes on code, only numeric list starts."""
    if tag == "code" and attribute == "class":
        return value if _CODE_CLASS.fullmatch(value) else None
    if tag == "ol" and attribute == "start":
        return value if value.isdigit() and len(value) <= 9 else None
    return value


@functools.cache
def _parser() -> MarkdownIt:
    """CommonMark with raw HTML off, plus ~~strikethrough~~ and tables; newlines are line breaks (chat)."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False, "breaks": True})
    md.enable(["strikethrough", "table"])
    return md


@functools.cache
def _cleaner() -> nh3.Cleaner:
    """The sanitiser, built once: Matrix tags, and only the attributes markdown-it emits."""
    return nh3.Cleaner(
        tags=MATRIX_ALLOWED_TAGS,
        attributes={"a": {"href"}, "ol": {"start"}, "code": {"class"}},
        attribute_filter=_keep_attribute,
        strip_comments=True,
        link_rel=None,
        url_schemes=MATRIX_URL_SCHEMES,
        url_relative="deny",
    )


def _allowed_url(url: str) -> bool:
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        return False
    return scheme.lower() in MATRIX_URL_SCHEMES


def _safe_inline(children: Sequence[Token]) -> list[Token]:
    """Neutralise mentions in text, unlink disallowed URLs, and turn images into links."""
    out: list[Token] = []
    kept_links: list[bool] = []
    for token in children:
        kind = token.type
        if kind in ("text", "code_inline"):
            token.content = neutralise_mentions(token.content)
        elif kind == "link_open":
            keep = _allowed_url(str(token.attrs.get("href", "")))
            kept_links.append(keep)
            if not keep:
                continue
        elif kind == "link_close":
            if not (kept_links.pop() if kept_links else False):
                continue
        elif kind == "image":
            src = str(token.attrs.get("src", ""))
            label = neutralise_mentions(token.content or src)
            if _allowed_url(src):
                out.append(Token("link_open", "a", 1, attrs={"href": src}))
                out.append(Token("text", "", 0, content=label))
                out.append(Token("link_close", "a", -1))
            else:
                out.append(Token("text", "", 0, content=label))
            continue
        out.append(token)
    return out


def _prepare(tokens: list[Token]) -> list[Token]:
    for token in tokens:
        if token.type in ("fence", "code_block"):
            token.content = neutralise_mentions(token.content)
        elif token.type == "inline" and token.children is not None:
            token.children = _safe_inline(token.children)
    return tokens


def _inline_plain(children: Sequence[Token]) -> str:
    parts: list[str] = []
    links: list[tuple[str, int]] = []
    for token in children:
        kind = token.type
        if kind == "text":
            parts.append(token.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "code_inline":
            parts.append(f"`{token.content}`")
        elif kind in ("s_open", "s_close"):
            parts.append("~~")
        elif kind == "link_open":
            links.append((str(token.attrs.get("href", "")), len(parts)))
        elif kind == "link_close" and links:
            href, start = links.pop()
            label = "".join(parts[start:])
            if href not in (label, f"mailto:{label}"):
                parts.append(f" ({href})")
    return "".join(parts)


class _Container:
    """A block quote or list item: what its lines start with (first line, then the rest)."""

    __slots__ = ("first", "pending", "rest")

    def __init__(self, first: str, rest: str, pending: bool) -> None:
        self.first = first
        self.rest = rest
        self.pending = pending


def _plain(tokens: Sequence[Token]) -> str:
    """A readable plain-text rendering: markers dropped, links as "text (url)", lists and quotes kept."""
    lines: list[str] = []
    containers: list[_Container] = []
    numbers: list[int | None] = []  # one per open list: next number, or None for bullets
    row: list[str] | None = None
    gap = False

    def emit(text: str) -> None:
        nonlocal gap
        if gap and lines:
            lines.append("".join(c.rest for c in containers if not c.pending).rstrip())
        gap = False
        for line in text.split("\n"):
            lines.append("".join(c.first if c.pending else c.rest for c in containers) + line)
            for container in containers:
                container.pending = False

    for token in tokens:
        kind = token.type
        if kind == "inline":
            text = _inline_plain(token.children or [])
            if row is not None:
                row.append(text)
            else:
                emit(text)
        elif (kind == "paragraph_close" and not token.hidden) or kind in ("heading_close", "table_close"):
            gap = True
        elif kind in ("fence", "code_block"):
            emit(f"```{token.info.strip()}\n{token.content.rstrip(chr(10))}\n```")
            gap = True
        elif kind == "hr":
            emit("---")
            gap = True
        elif kind == "blockquote_open":
            containers.append(_Container("> ", "> ", pending=True))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            start = token.attrs.get("start", 1)
            numbers.append(int(start) if kind == "ordered_list_open" else None)
        elif kind == "list_item_open":
            number = numbers[-1] if numbers else None
            marker = "- " if number is None else f"{number}. "
            if number is not None:
                numbers[-1] = number + 1
            containers.append(_Container(marker, " " * len(marker), pending=True))
        elif kind in ("list_item_close", "blockquote_close"):
            containers.pop()
            if kind == "blockquote_close":
                gap = True
        elif kind in ("bullet_list_close", "ordered_list_close"):
            numbers.pop()
            if not numbers:
                gap = True
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            emit(" | ".join(row))
            row = None
    return "\n".join(lines)


def to_matrix(markdown: str) -> tuple[str, str]:
    """Render Markdown for a Matrix ``m.text`` event: ``(body, formatted_body)``.

    ``body`` is plain text; ``formatted_body`` is sanitised HTML for ``"format":
    "org.matrix.custom.html"``. A lone paragraph is not wrapped in ``<p>`` (as Element does), so a
    one-line reply does not get paragraph margins. Send both, plus ``"m.mentions": {}``.
    """
    md = _parser()
    tokens = _prepare(md.parse(markdown))
    html = _cleaner().clean(md.renderer.render(tokens, md.options, {})).strip()
    sole = _SOLE_PARAGRAPH.fullmatch(html)
    if sole is not None:
        html = sole.group(1)
    return neutralise_mentions(_plain(tokens)), html
