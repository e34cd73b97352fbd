"""A digest as each platform receives it: template data, Markdown, then Discord or Matrix messages.

1. `digest_context` turns a `Digest` into plain data (strings, numbers, lists): the documented
   interface of every digest template, JSON-safe so an admin's template can run in a child process.
   Dates are already formatted in the schedule's time zone, and links are resolved here, by
   whichever connected platform owns each message (`links_via`); without one an entry has no link.
2. `DigestTemplates.render` renders the bundled template, or an admin's own (see `sandbox`),
   falling back to the bundled one with a `TemplateProblem` when the admin's cannot be used.
3. `discord_messages` / `matrix_messages` split the Markdown between blocks (never inside a link
   or an escape) so every message respects the platform's limits; `platform_parts` is what the
   outbox posts, in order.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chatbridge.config import DigestConfig
from chatbridge.forum.humanize import forum_date
from chatbridge.model import MessageRef, PlatformName
from chatbridge.platform import Platform
from chatbridge.render.markdown import to_matrix
from chatbridge.render.templates import Trusted
from chatbridge.services.digest.content import (
    Digest,
    NoteEntry,
    Numbers,
    ReplyEntry,
    ThreadEntry,
    TrophyEntry,
)
from chatbridge.services.digest.sandbox import (
    DEFAULT_TEMPLATE,
    TemplateProblem,
    bundled_environment,
    check_in_child,
    render_in_child,
    render_template,
)
from chatbridge.services.digest.schedule import Period

__all__ = [
    "DISCORD_CONTENT_LIMIT",
    "DISCORD_EMBEDS_PER_MESSAGE",
    "DISCORD_EMBED_DESCRIPTION_LIMIT",
    "DISCORD_EMBED_TITLE_LIMIT",
    "DISCORD_MESSAGE_TOTAL_LIMIT",
    "MATRIX_EVENT_BUDGET",
    "DigestTemplates",
    "DiscordEmbed",
    "DiscordMessage",
    "LinkResolver",
    "MatrixMessage",
    "RenderedDigest",
    "digest_context",
    "discord_messages",
    "links_via",
    "matrix_messages",
    "platform_parts",
    "sample_context",
    "split_markdown",
]

log = logging.getLogger(__name__)

DISCORD_CONTENT_LIMIT = 2_000
DISCORD_EMBED_DESCRIPTION_LIMIT = 4_096
DISCORD_EMBED_TITLE_LIMIT = 256
DISCORD_MESSAGE_TOTAL_LIMIT = 6_000
DISCORD_EMBEDS_PER_MESSAGE = 10
MATRIX_EVENT_BUDGET = 48 * 1024
"""Bytes of body + formatted_body per Matrix event, leaving room under the 64 KiB event limit."""
PROBLEM_TEMPLATE = "digest/template_problem.md.j2"
BUNDLED_MAX_CHARS = 200_000
"""Our own template's output bound: a safety net only, the content is bounded by the entry counts."""

_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*")
# A link as the `link` filter writes it: an unescaped "[", an escaped label, "](<url>)".
_LINK = re.compile(r"(?<!\\)\[(?:[^\[\]\\\n]|\\.)*\]\(<[^<>\n]*>\)")
_FENCE = re.compile(r"^\s*```", re.MULTILINE)

LinkResolver = Callable[[MessageRef], str | None]


def links_via(platforms: Mapping[PlatformName, Platform]) -> LinkResolver:
    """Permalinks from the connected platforms; a message on a platform not connected gets none."""

    def resolve(ref: MessageRef) -> str | None:
        platform = platforms.get(ref.platform)
        if platform is None:
            return None
        try:
            url = platform.permalink(ref)
        except Exception:
            log.exception("no permalink for %s message %s", ref.platform, ref.message_id)
            return None
        return url if url.startswith(("https://", "http://")) else None

    return resolve


# --------------------------------------------------------------------------- template data


def digest_context(digest: Digest, timezone: str, link: LinkResolver | None = None) -> dict[str, Any]:
    """The data every digest template sees (documented in docs/digests.md)."""
    zone = ZoneInfo(timezone)

    def day(moment: datetime) -> str:
        return forum_date(moment.astimezone(zone))

    def url(ref: MessageRef | None) -> str | None:
        return link(ref) if link is not None and ref is not None else None

    def thread(entry: ThreadEntry) -> dict[str, Any]:
        return {
            "number": entry.thread_id,
            "title": entry.title,
            "subforum": entry.subforum,
            "starter": entry.starter,
            "started": day(entry.started_at),
            "replies": entry.replies,
            "participants": entry.participants,
            "likes": entry.likes,
            "score": entry.score,
            "url": url(entry.ref),
            "badge": entry.starter_badge,
            "source_requests": entry.source_requests,
        }

    def note(entry: NoteEntry) -> dict[str, Any]:
        return {
            "author": entry.author,
            "badge": entry.badge,
            "note": entry.body,
            "citation": entry.citation,
            "citation_url": entry.citation_url,
            "url": url(entry.ref),
            "thread": {"number": entry.thread_id, "title": entry.thread_title},
        }

    def reply(entry: ReplyEntry) -> dict[str, Any]:
        return {
            "author": entry.author,
            "likes": entry.likes,
            "quote": entry.quote,
            "posted": day(entry.posted_at),
            "url": url(entry.ref),
            "thread": {"number": entry.thread_id, "title": entry.thread_title, "url": url(entry.thread_ref)},
        }

    period = digest.period
    last_day = period.end - timedelta(microseconds=1)
    numbers = digest.numbers
    return {
        "community": digest.community,
        "period": {
            "start": day(period.start),
            "end": day(last_day),
            "label": f"{day(period.start)} – {day(last_day)}",
            "timezone": timezone,
        },
        "threads": [thread(t) for t in digest.threads],
        "replies": [reply(r) for r in digest.replies],
        "unanswered": [thread(t) for t in digest.unanswered],
        "newcomers": list(digest.newcomers),
        "newcomer_count": numbers.new_members,
        "trophies": [
            {"member": t.member, "titles": list(t.titles), "points": t.points} for t in digest.trophies
        ],
        "numbers": {
            "threads": numbers.threads,
            "replies": numbers.replies,
            "likes": numbers.likes,
            "active_members": numbers.active_members,
            "new_members": numbers.new_members,
        },
        "notes": [note(n) for n in digest.notes],
        "quiet": digest.quiet,
    }


def sample_context(community: str = "Example Community", timezone: str = "UTC") -> dict[str, Any]:
    """Made-up data with one entry in every section: checks an admin's template without a store."""
    now = datetime(2025, 7, 14, 9, tzinfo=UTC)
    ref = MessageRef(PlatformName.MEMORY, "general", "m1", "m1", "example")
    entry = ThreadEntry(1, "Night shifts as a new resident", "General", "alice", now, 4, 3, 2, 12.0, ref)
    digest = Digest(
        community=community,
        period=Period(now - timedelta(days=7), now),
        threads=(entry,),
        replies=(ReplyEntry(2, "bob", 3, "Sleep in blocks.", now, 1, entry.title, ref, ref),),
        unanswered=(entry,),
        newcomers=("carol",),
        trophies=(TrophyEntry("dana", ("First Message",), 1),),
        numbers=Numbers(1, 4, 2, 3, 1),
        notes=(
            NoteEntry(
                "hend",
                "MD · Emergency Medicine",
                "Rotating blocks beat random nights.",
                "doi:10.1056/NEJMoa2034577",
                "https://doi.org/10.1056/NEJMoa2034577",
                1,
                entry.title,
                ref,
            ),
        ),
    )
    return digest_context(digest, timezone, lambda _: "https://chat.example/general/m1")


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    """The Markdown to post, and why the admin's template was not used (when it was not)."""

    markdown: str
    problem: TemplateProblem | None = None


class DigestTemplates:
    """The bundled template (in-process) and admins' templates (in the sandbox's child process)."""

    def __init__(self, config: DigestConfig) -> None:
        self._config = config
        self._bundled = bundled_environment(BUNDLED_MAX_CHARS)

    def template_path(self, name: str) -> Path:
        """The admin's template file a schedule names; TemplateProblem when it cannot be one."""
        directory = self._config.templates_dir
        if directory is None:
            raise TemplateProblem("own templates are off: an admin sets digest.templates_dir first")
        if not _TEMPLATE_NAME.fullmatch(name) or ".." in name.split("/"):
            raise TemplateProblem(
                "a template is named by its file name in the digest templates directory, like weekly.md.j2"
            )
        path = directory / name
        if not path.is_file():
            known = sorted(p.name for p in directory.iterdir() if p.is_file())[:10]
            hint = f" Templates there: {', '.join(known)}." if known else " The directory is empty."
            raise TemplateProblem(f"there is no template {name!r} in the digest templates directory.{hint}")
        return path

    def render(self, context: Mapping[str, Any], template: str | None = None) -> RenderedDigest:
        """Render with the schedule's template; on any problem, the bundled one and the problem."""
        problem: TemplateProblem | None = None
        if template:
            try:
                self.template_path(template)
                assert self._config.templates_dir is not None
                markdown = render_in_child(
                    self._config.templates_dir,
                    template,
                    context,
                    max_chars=self._config.max_output_chars,
                    timeout=self._config.render_timeout,
                )
                return RenderedDigest(markdown)
            except TemplateProblem as failure:
                problem = failure
                if problem.template is None:
                    problem.template = template
        return RenderedDigest(render_template(self._bundled, DEFAULT_TEMPLATE, context), problem)

    def problem_notice(self, problem: TemplateProblem, *, channel: str, prefix: str) -> str:
        """What the admins are told when a scheduled digest could not use its template."""
        return render_template(
            self._bundled,
            PROBLEM_TEMPLATE,
            {
                "channel": channel,
                "template": problem.template,
                "line": problem.line,
                "message": problem.message,
                "prefix": Trusted(prefix),
            },
        )

    def check(self, template: str, context: Mapping[str, Any]) -> TemplateProblem | None:
        """What is wrong with an admin's template when rendered with `context`, or None."""
        try:
            self.template_path(template)
        except TemplateProblem as problem:
            problem.template = problem.template or template
            return problem
        assert self._config.templates_dir is not None
        return check_in_child(
            self._config.templates_dir,
            template,
            context,
            max_chars=self._config.max_output_chars,
            timeout=self._config.render_timeout,
        )


# --------------------------------------------------------------------------- splitting


def _cut(line: str, limit: int) -> int:
    """Where to cut an over-long line: at a space if one is near, never inside a link or an escape."""
    cut = limit
    space = line.rfind(" ", limit // 2, limit + 1)
    if space > 0:
        cut = space
    for match in _LINK.finditer(line):
        if match.start() < cut < match.end():
            cut = match.start() if match.start() > 0 else min(match.end(), limit)
    while cut > 1 and line[cut - 1] == "\\" and (len(line[:cut]) - len(line[:cut].rstrip("\\"))) % 2:
        cut -= 1
    return max(cut, 1)


def _pieces(markdown: str, limit: int) -> list[tuple[str, str]]:
    """(separator before, text) units no longer than `limit`: blocks, else lines, else cut lines."""
    units: list[tuple[str, str]] = []
    for block in markdown.split("\n\n"):
        if len(block) <= limit:
            units.append(("\n\n", block))
            continue
        separator = "\n\n"
        for line in block.split("\n"):
            while len(line) > limit:
                cut = _cut(line, limit)
                units.append((separator, line[:cut].rstrip()))
                separator, line = "\n", line[cut:].lstrip(" ")
            units.append((separator, line))
            separator = "\n"
    return units


def split_markdown(markdown: str, limit: int) -> list[str]:
    """Split Markdown into parts of at most `limit` characters, between blocks where possible.

    A code fence cut by a split is closed at the end of one part and reopened in the next.
    """
    if len(markdown) <= limit:
        return [markdown] if markdown else []
    fenced = bool(_FENCE.search(markdown))
    room = limit - 8 if fenced else limit
    parts: list[str] = []
    current = ""
    for separator, text in _pieces(markdown, room):
        if not current:
            current = text
        elif len(current) + len(separator) + len(text) <= room:
            current += separator + text
        else:
            parts.append(current)
            current = text
    if current:
        parts.append(current)
    if fenced:
        for i in range(len(parts) - 1):
            if len(_FENCE.findall(parts[i])) % 2:
                parts[i] += "\n```"
                parts[i + 1] = "```\n" + parts[i + 1]
    return [p for p in parts if p.strip()]


@dataclass(frozen=True, slots=True)
class DiscordEmbed:
    description: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """One Discord message: content, or embeds (at most 10, 6,000 characters together)."""

    content: str = ""
    embeds: tuple[DiscordEmbed, ...] = ()

    @property
    def total(self) -> int:
        return sum(len(e.description) + len(e.title or "") for e in self.embeds)


def discord_messages(
    markdown: str, *, embeds: bool = False, title: str | None = None
) -> list[DiscordMessage]:
    """Discord messages for a digest: content of at most 2,000 characters each, or (with `embeds`)
    descriptions of at most 4,096 characters packed up to 10 per message and 6,000 per message."""
    if not embeds:
        head = f"**{title}**\n\n" if title else ""
        return [
            DiscordMessage(content=part) for part in split_markdown(head + markdown, DISCORD_CONTENT_LIMIT)
        ]
    heading = title[:DISCORD_EMBED_TITLE_LIMIT] if title else None
    messages: list[DiscordMessage] = []
    batch: list[DiscordEmbed] = []
    used = 0
    for index, part in enumerate(split_markdown(markdown, DISCORD_EMBED_DESCRIPTION_LIMIT)):
        embed = DiscordEmbed(part, heading if index == 0 else None)
        size = len(part) + len(embed.title or "")
        if batch and (len(batch) == DISCORD_EMBEDS_PER_MESSAGE or used + size > DISCORD_MESSAGE_TOTAL_LIMIT):
            messages.append(DiscordMessage(embeds=tuple(batch)))
            batch, used = [], 0
        batch.append(embed)
        used += size
    if batch:
        messages.append(DiscordMessage(embeds=tuple(batch)))
    return messages


@dataclass(frozen=True, slots=True)
class MatrixMessage:
    """One Matrix `m.text`: the Markdown it came from, its plain `body` and sanitised HTML."""

    markdown: str
    body: str
    html: str

    @property
    def size(self) -> int:
        return len(json.dumps(self.body, ensure_ascii=False).encode()) + len(
            json.dumps(self.html, ensure_ascii=False).encode()
        )


def matrix_messages(markdown: str, budget: int = MATRIX_EVENT_BUDGET) -> list[MatrixMessage]:
    """Matrix events for a digest, each within `budget` bytes of body and HTML.

    An event that is too big is split into as many parts as its size suggests (plus a margin) and
    each part is checked again, so a digest is rendered about twice at worst, not once per halving.
    """
    out: list[MatrixMessage] = []
    pending = [markdown]
    while pending:
        part = pending.pop(0)
        message = MatrixMessage(part, *to_matrix(part))
        if message.size <= budget or len(part) < 64:
            out.append(message)
            continue
        pieces = max(2, math.ceil(message.size * 1.2 / budget))
        pending[:0] = split_markdown(part, max(64, len(part) // pieces))
    return out


def platform_parts(platform: PlatformName, markdown: str) -> list[str]:
    """The Markdown messages to post, in order; the memory platform behaves like Discord (strictest)."""
    if platform == PlatformName.MATRIX:
        return [m.markdown for m in matrix_messages(markdown)]
    return [m.content for m in discord_messages(markdown)]
