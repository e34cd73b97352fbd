"""`chatbridge digest`: a week's digest printed from the store, with no platform connected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chatbridge.adapters.memory import MemoryPlatform
from chatbridge.cli import main
from support.forum import running_forum


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("CHATBRIDGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")


@pytest.fixture
async def week(tmp_path: Path) -> None:
    """Activity in ISO week 2025-W29 (the memory chat starts on Wednesday 16 July 2025)."""
    async with running_forum(f"sqlite:///{tmp_path / 'store.db'}") as forum:
        chat = forum.chat
        await chat.say('!thread new "</p><script>alert(1)</script> @everyone" Tips?', as_="alice")
        thread = chat.thread("</p><script>alert(1)</script> @everyone")
        await chat.say("Sleep in blocks.", as_="bob", thread=thread)
        await chat.say("Curtains.", as_="carol", thread=thread)


async def test_markdown_for_an_iso_week(week: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", "--community", "console", "--week", "2025-W29"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## 📰 console: the week in review\nJul 14, 2025 – Jul 20, 2025\n")
    assert "1. **#1 \\</p\\>\\<script\\>alert(1)\\</script\\> @\u200beveryone** in General Discussion" in out
    assert "[Open]" not in out, "no platform, no links"


async def test_html_as_matrix_gets_it(week: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", "--community", "MEMORY:CONSOLE", "--week", "2025-w29", "--format", "html"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<h2>📰 console: the week in review</h2>")
    assert "<strong>#1 &lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt; @\u200beveryone</strong>" in out
    assert "<script" not in out


async def test_the_community_is_named_as_members_know_it_or_by_its_platform_id(
    week: None, capsys: pytest.CaptureFixture[str]
) -> None:
    for community in ("console", "Console", "memory:console"):
        assert main(["digest", "--community", community, "--week", "2025-W29"]) == 0
        assert capsys.readouterr().out.startswith("## 📰 console: the week in review\n")


async def test_a_hostile_community_name_is_escaped_in_the_heading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Guild and space names are chosen by members: "@everyone" must not ping, HTML must not render."""
    chat = MemoryPlatform(community_name="@everyone <b>Night</b> Owls")
    async with running_forum(f"sqlite:///{tmp_path / 'store.db'}", chat=chat):
        await chat.say('!thread new "Nights" Tips?', as_="alice")
    assert main(["digest", "--community", "memory:console", "--week", "2025-W29"]) == 0
    heading = capsys.readouterr().out.splitlines()[0]
    assert heading == "## 📰 @\u200beveryone \\<b\\>Night\\</b\\> Owls: the week in review"
    assert (
        main(
            ["digest", "--community", "@everyone <b>Night</b> Owls", "--week", "2025-W29", "--format", "html"]
        )
        == 0
    )
    heading = capsys.readouterr().out.splitlines()[0]
    assert heading == "<h2>📰 @\u200beveryone &lt;b&gt;Night&lt;/b&gt; Owls: the week in review</h2>"


async def test_an_empty_week_is_a_quiet_digest(week: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", "--community", "memory:console", "--week", "2025-W20"]) == 0
    assert "A quiet week: nothing new to feature." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--week", "2025-W54"], "chatbridge: --week: 2025 has weeks 1 to 52, so there is no 2025-W54\n"),
        (["--week", "July"], "chatbridge: --week: expected an ISO week like 2025-W29, got “July”\n"),
        (
            ["--community", "Cardiology"],
            "chatbridge: --community: no community called 'Cardiology' in the store "
            "(communities: 'console' (memory:console))\n",
        ),
    ],
)
async def test_mistakes_are_one_line_and_status_2(
    week: None, args: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["digest", "--community", "memory:console", "--week", "2025-W29"]
    for flag, value in zip(args[::2], args[1::2], strict=True):
        argv[argv.index(flag) + 1] = value
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == error and captured.out == ""


def test_a_store_without_a_forum_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", "--community", "x", "--week", "2025-W29"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("chatbridge: cannot read the store at sqlite:///") and "chatbridge db upgrade" in err
    )
    assert err.count("\n") == 1


async def test_an_admin_tries_a_template(
    week: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "short.md.j2").write_text(
        "{{ community }}: {{ numbers.replies | plural('reply', 'replies') }}\n"
    )
    (templates / "broken.md.j2").write_text("ok\n{{ threads[0].__class__ }}\n")
    monkeypatch.setenv("CHATBRIDGE_DIGEST__TEMPLATES_DIR", str(templates))
    argv = ["digest", "--community", "memory:console", "--week", "2025-W29", "--template"]
    assert main([*argv, "short.md.j2"]) == 0
    assert capsys.readouterr().out == "console: 2 replies\n"
    assert main([*argv, "broken.md.j2"]) == 2
    captured = capsys.readouterr()
    assert "the week in review" in captured.out
    assert captured.err.startswith(
        "chatbridge: template broken.md.j2, line 2: access to attribute '__class__'"
    )
