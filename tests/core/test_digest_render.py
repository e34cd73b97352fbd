"""Digest rendering: escaping for each platform, hostile templates in the sandbox, message limits."""

from __future__ import annotations

import os
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chatbridge.config import DigestConfig
from chatbridge.model import MessageRef, PlatformName
from chatbridge.services.digest import sandbox
from chatbridge.services.digest.content import Digest, Numbers, ReplyEntry, ThreadEntry, TrophyEntry
from chatbridge.services.digest.render import (
    DISCORD_CONTENT_LIMIT,
    DISCORD_EMBED_DESCRIPTION_LIMIT,
    DISCORD_EMBED_TITLE_LIMIT,
    DISCORD_EMBEDS_PER_MESSAGE,
    DISCORD_MESSAGE_TOTAL_LIMIT,
    DigestTemplates,
    digest_context,
    discord_messages,
    matrix_messages,
    platform_parts,
    split_markdown,
)
from chatbridge.services.digest.schedule import Period

END = datetime(2025, 7, 21, 8, 0, tzinfo=UTC)
HOSTILE_TITLES = (
    "@everyone look at this @here",
    "</p><script>alert(1)</script>",
    "[x](javascript:alert(1))",
    "<@123456789012345678> and <@&987> and @room",
    "**bold** _it_ # heading ~~s~~ ||spoiler|| `code` > quote",
)
LINK = re.compile(r"(?<!\\)\[(?:[^\[\]\\\n]|\\.)*\]\(<[^<>\n]*>\)")
UNESCAPED_LINK = re.compile(r"(?<!\\)\[((?:[^\]\\]|\\.)*)(?<!\\)\]\(([^)\n]*)\)")


def ref(n: int) -> MessageRef:
    return MessageRef(PlatformName.MEMORY, "general", f"m{n}", "t1", "guild")


def hostile_digest(title_length: int = 0) -> Digest:
    threads = tuple(
        ThreadEntry(
            n,
            title + "y" * title_length,
            "@everyone room",
            f"<@{n}>",
            END - timedelta(days=2),
            4,
            3,
            2,
            9.0,
            ref(n),
        )
        for n, title in enumerate(HOSTILE_TITLES, start=1)
    )
    replies = tuple(
        ReplyEntry(10 + n, "@here", 3, title, END - timedelta(days=1), n, title, ref(10 + n), ref(n))
        for n, title in enumerate(HOSTILE_TITLES, start=1)
    )
    return Digest(
        community="@everyone's </p> [club](https://evil.example)",
        period=Period(END - timedelta(days=7), END),
        threads=threads,
        replies=replies,
        unanswered=threads[:2],
        newcomers=("@everyone", "</p><script>"),
        trophies=(TrophyEntry("@room", ("[x](javascript:1)",), 3),),
        numbers=Numbers(5, 20, 10, 7, 2),
    )


def links(ref: MessageRef) -> str:
    return f"https://chat.example/{ref.room_id}/{ref.message_id}"


def render(digest: Digest, config: DigestConfig | None = None, template: str | None = None):  # type: ignore[no-untyped-def]
    return DigestTemplates(config or DigestConfig()).render(
        digest_context(digest, "Europe/London", links), template
    )


def assert_inert_markdown(markdown: str) -> None:
    """No live mention and no link but ours: member text is escaped (`\\[x\\](…)` is plain text)."""
    assert "@everyone" not in markdown and "@here" not in markdown and "@room" not in markdown
    assert "<@1" not in markdown and "<@&" not in markdown
    for match in UNESCAPED_LINK.finditer(markdown):
        assert match.group(2).startswith("<https://chat.example/"), match.group(0)
    assert not re.search(r"(?<!\\)<(?!https://chat\.example/)", markdown), "a raw < outside our links"


def assert_inert_html(html: str) -> None:
    assert "<script" not in html
    assert all(href.startswith("https://chat.example/") for href in re.findall(r'href="([^"]*)"', html))
    assert "@everyone" not in html and "@room" not in html


def test_hostile_titles_and_names_cannot_break_out_of_the_bundled_template() -> None:
    rendered = render(hostile_digest())
    assert rendered.problem is None
    markdown = rendered.markdown
    assert_inert_markdown(markdown)
    assert "\\</p\\>\\<script\\>" in markdown
    assert "\\*\\*bold\\*\\*" in markdown
    assert "[Open](<https://chat.example/general/m1>)" in markdown
    for message in matrix_messages(markdown):
        assert_inert_html(message.html)
        assert "&lt;/p&gt;&lt;script&gt;" in message.html
        assert '<a href="https://chat.example/general/m1">Open</a>' in message.html
        assert "@everyone" not in message.body


def test_very_long_titles_still_fit_discords_limits() -> None:
    markdown = render(hostile_digest(title_length=1_500)).markdown
    parts = platform_parts(PlatformName.DISCORD, markdown)
    assert len(parts) > 1
    assert all(0 < len(part) <= DISCORD_CONTENT_LIMIT for part in parts)
    for part in parts:
        assert_inert_markdown(part)
    assert _visible("".join(parts)) == _visible(markdown)


def _visible(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _random_markdown(rng: random.Random) -> str:
    words = ["night", "shift", "\\*", "@\u200beveryone", "é", "🧑‍⚕️", "\\[x\\]", "**b**", "`c`"]
    blocks = []
    for _ in range(rng.randint(1, 60)):
        kind = rng.random()
        if kind < 0.2:
            blocks.append("[Open](<https://chat.example/" + "a" * rng.randint(1, 300) + ">)")
        elif kind < 0.3:
            blocks.append("\n".join(f"- item {i} " + " ".join(rng.choices(words, k=20)) for i in range(30)))
        elif kind < 0.4:
            blocks.append("```\n" + "\n".join("code line " * 5 for _ in range(rng.randint(1, 80))) + "\n```")
        else:
            line = " ".join(rng.choices(words, k=rng.randint(1, 900)))
            blocks.append(line + " [Read it](<https://chat.example/x>) " + "\\" * rng.randint(0, 3) + "z")
    return "\n\n".join(blocks)


@pytest.mark.parametrize("seed", range(40))
def test_discord_content_parts_respect_the_limit_and_keep_every_link(seed: int) -> None:
    markdown = _random_markdown(random.Random(seed))
    parts = [m.content for m in discord_messages(markdown)]
    assert all(0 < len(p) <= DISCORD_CONTENT_LIMIT for p in parts)
    joined = "\n".join(parts)
    for link in LINK.findall(markdown):
        assert link in joined
    assert _visible(joined.replace("```", "")) == _visible(markdown.replace("```", ""))
    for part in parts:
        assert len(re.findall(r"^\s*```", part, re.MULTILINE)) % 2 == 0
        trailing = len(part) - len(part.rstrip("\\"))
        assert trailing % 2 == 0, "a part must not end in half an escape"


@pytest.mark.parametrize("seed", range(20))
def test_discord_embeds_respect_every_limit(seed: int) -> None:
    markdown = _random_markdown(random.Random(seed)) * 3
    messages = discord_messages(markdown, embeds=True, title="Weekly digest " + "x" * 400)
    assert messages
    for message in messages:
        assert 1 <= len(message.embeds) <= DISCORD_EMBEDS_PER_MESSAGE
        assert message.total <= DISCORD_MESSAGE_TOTAL_LIMIT
        for embed in message.embeds:
            assert len(embed.description) <= DISCORD_EMBED_DESCRIPTION_LIMIT
            assert embed.title is None or len(embed.title) <= DISCORD_EMBED_TITLE_LIMIT
    assert messages[0].embeds[0].title is not None


def test_matrix_events_stay_under_the_size_budget() -> None:
    markdown = _random_markdown(random.Random(7)) * 3
    messages = matrix_messages(markdown, budget=20_000)
    assert len(messages) > 1
    for message in messages:
        assert message.size <= 20_000
        assert "<script" not in message.html


def test_splitting_short_text_is_the_identity() -> None:
    assert split_markdown("hello", 10) == ["hello"]
    assert split_markdown("", 10) == []


# --------------------------------------------------------------------------- admins' templates


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "digest-templates"
    directory.mkdir()
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    return directory


def admin(
    directory: Path, source: str, *, name: str = "mine.md.j2", **limits: object
) -> tuple[Path, DigestConfig]:
    (directory / name).write_text(source)
    return directory, DigestConfig(templates_dir=directory, **limits)


def test_an_admin_template_can_extend_the_bundled_one_and_is_still_escaped(templates_dir: Path) -> None:
    _, config = admin(
        templates_dir,
        '{% extends "digest/weekly.md.j2" %}\n{% block header %}**{{ community }}** weekly\n{% endblock %}\n',
    )
    rendered = render(hostile_digest(), config, "mine.md.j2")
    assert rendered.problem is None
    assert rendered.markdown.startswith(
        "**@\u200beveryone's \\</p\\> \\[club\\](https\\://evil.example)** weekly"
    )
    assert "Most active threads" in rendered.markdown
    assert_inert_markdown(rendered.markdown)


def test_an_admin_template_cannot_mark_member_text_as_trusted(templates_dir: Path) -> None:
    _, config = admin(
        templates_dir,
        "{% for t in threads %}{{ t.title | trusted }}{{ 1 | plural(t.title, t.title) }}"
        "{{ t.title | link(t.title) }}{% endfor %}",
    )
    rendered = render(hostile_digest(), config, "mine.md.j2")
    assert rendered.problem is not None and "trusted" in rendered.problem.message
    _, config = admin(
        templates_dir,
        "{% for t in threads %}{{ 1 | plural(t.title, t.title) }} "
        "{{ t.title | link(t.title) }}\n{% endfor %}",
    )
    rendered = render(hostile_digest(), config, "mine.md.j2")
    assert rendered.problem is None
    assert_inert_markdown(rendered.markdown)


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("# Digest\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n", 2, "__class__"),
        ("\n\n{{ cycler.__init__.__globals__.os.environ }}", 3, "__init__"),
        ("{{ self.__init__.__globals__ }}", 1, "__init__"),
        ("{% set x = threads.__class__ %}{{ x }}", 1, "__class__"),
        ("line one\n{% include '../secret.txt' %}", 2, "no template"),
        ("{% include '/etc/passwd' %}", 1, "no template"),
        ("{% extends 'digest/../../../secret.txt' %}", 1, "no template"),
        ("ok\n{{ 'x' * 1000000000 }}", 2, "too long"),
        ("{{ 7 ** 1000000 }}", 1, "too large"),
        ("{% for t in threads %}\n{{ t.title }\n{% endfor %}", 2, "unexpected '}'"),
        ("\n\n{{ no_such_thing }}", 3, "'no_such_thing' is undefined"),
    ],
)
def test_hostile_or_broken_templates_fall_back_with_file_and_line(
    templates_dir: Path, source: str, line: int, message: str
) -> None:
    _, config = admin(templates_dir, source)
    rendered = render(hostile_digest(), config, "mine.md.j2")
    assert rendered.problem is not None, rendered.markdown
    assert rendered.problem.template == "mine.md.j2"
    assert rendered.problem.line == line, str(rendered.problem)
    assert message in rendered.problem.message
    assert "TOP SECRET" not in rendered.markdown and "root:" not in rendered.markdown
    assert "Most active threads" in rendered.markdown  # the bundled template took over


def test_a_symlink_out_of_the_templates_directory_is_refused(templates_dir: Path) -> None:
    os.symlink(templates_dir.parent / "secret.txt", templates_dir / "innocent.md.j2")
    _, config = admin(templates_dir, "{% include 'innocent.md.j2' %}")
    rendered = render(hostile_digest(), config, "mine.md.j2")
    assert rendered.problem is not None and "no template 'innocent.md.j2'" in rendered.problem.message
    assert "TOP SECRET" not in rendered.markdown


def test_a_template_that_loops_for_ever_is_stopped_in_time(templates_dir: Path) -> None:
    _, config = admin(
        templates_dir,
        "start\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        render_timeout=0.5,
    )
    rendered = render(hostile_digest(), config, "mine.md.j2")
    assert rendered.problem is not None
    assert rendered.problem.message == "it took too long, so it was stopped"
    assert rendered.problem.line == 2


def test_a_template_that_writes_too_much_is_cut_off(templates_dir: Path) -> None:
    _, config = admin(
        templates_dir, "head\n\n{% for i in range(100000) %}0123456789{% endfor %}", max_output_chars=2_000
    )
    rendered = render(hostile_digest(), config, "mine.md.j2")
    assert rendered.problem is not None
    assert rendered.problem.message == "it writes more than 2,000 characters, so it was stopped"
    assert rendered.problem.line == 3


def test_a_template_that_eats_memory_is_stopped(templates_dir: Path) -> None:
    _, config = admin(templates_dir, "{{ 'x' | center(1500000000) }}")
    rendered = render(hostile_digest(), config, "mine.md.j2")
    assert rendered.problem is not None
    assert rendered.problem.message == "it needed too much memory, so it was stopped"


def test_the_child_gets_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBRIDGE_DISCORD_TOKEN", "MTIz.secret")
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", "postgresql+psycopg://bot:hunter2@db/forum")
    environment = sandbox._child_environment()
    assert not any("CHATBRIDGE" in key or "hunter2" in value for key, value in environment.items())


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../secret.txt", "named by its file name"),
        ("/etc/passwd", "named by its file name"),
        ("missing.md.j2", "there is no template 'missing.md.j2'"),
    ],
)
def test_template_names_are_plain_files_in_the_directory(
    templates_dir: Path, name: str, message: str
) -> None:
    _, config = admin(templates_dir, "fine")
    problem = DigestTemplates(config).check(name, digest_context(hostile_digest(), "UTC"))
    assert problem is not None and message in problem.message


def test_own_templates_are_off_without_a_directory() -> None:
    problem = DigestTemplates(DigestConfig()).check("mine.md.j2", digest_context(hostile_digest(), "UTC"))
    assert problem is not None and "digest.templates_dir" in problem.message
