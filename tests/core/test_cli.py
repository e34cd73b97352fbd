"""The command line: clear one-line errors, exit status 2, no tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbridge.cli import main
from chatbridge.store.migrate import head_revision


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("CHATBRIDGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")


def test_a_broken_config_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[forum]\ntimezone = 'Mars/Olympus'\npage_sise = 5\n")
    assert main(["--config", str(config), "db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "forum.timezone: expected an IANA time zone" in err
    assert "forum.page_sise: unknown key (did you mean page_size?)" in err
    assert "Traceback" not in err


def test_invalid_toml_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[forum\n")
    assert main(["--config", str(config), "db", "upgrade"]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_a_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "db", "current"]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_secrets_are_refused_in_the_file_and_never_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "leaky.toml"
    config.write_text('[discord]\ntoken = "MTIz.very-secret-token"\n')
    assert main(["--config", str(config), "config"]) == 2
    err = capsys.readouterr().err
    assert "CHATBRIDGE_DISCORD_TOKEN" in err and "very-secret-token" not in err


def test_config_prints_settings_with_secrets_hidden(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBRIDGE_DISCORD_TOKEN", "MTIz.very-secret-token")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "very-secret-token" not in out and '"discord_token": "**********"' in out


def test_db_upgrade_then_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0
    assert f"is at revision {head_revision()}" in capsys.readouterr().out


def test_an_unusable_database_path_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'a-file' / 'store.db'}")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chatbridge: cannot open the store") and "Traceback" not in err


def test_console_script_prints_a_transcript(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "demo.txt"
    script.write_text(
        "\n".join(
            [
                "# a moderator and two members",
                ":mod dana",
                'alice: !thread new "Night shifts" Tips welcome',
                "bob: Sleep in blocks.",
                ":react alice m4 👍",
                "dana: !thread lock here",
                ":in Clinical Questions",
                "carol: !thread list",
                'carol: !thread new "broken',
                "zed says hello",
            ]
        )
    )
    assert main(["console", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "[m3] bot: Thread #1 **Night shifts** started in General Discussion" in out
    assert "is now locked" in out
    assert "**Clinical Questions** · threads by latest activity" in out
    assert "opened but never closed" in out
    assert "console: don't know how to read 'zed says hello'" in out


def test_console_script_with_bytes_that_are_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A post keeps its text with U+FFFD where the bad bytes were; a command is refused in words."""
    script = tmp_path / "broken.txt"
    script.write_bytes(
        b'alice: !thread new "Nights" Tips\nbob: !thread show \xff\xfe\nbob: Sleep \xc3 in blocks\n'
    )
    assert main(["console", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "bob: Sleep \ufffd in blocks" in out
    assert "Part of that command arrived as a broken character" in out
    assert "Traceback" not in out


def test_console_on_a_missing_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--script", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read script" in capsys.readouterr().err


def test_the_readme_demo_script_still_tells_its_story(capsys: pytest.CaptureFixture[str]) -> None:
    demo = Path(__file__).resolve().parents[2] / "scripts" / "demo.txt"
    assert main(["console", "--script", str(demo)]) == 0
    out = capsys.readouterr().out
    assert "· 1 reply · 1 like · last reply by bob 2 h ago" in out
    assert "Did you mean Egypt?" in out
    assert "Practicing medicine in: Egypt" in out
    assert "is locked, so your reply was not counted" in out
    assert "`!thread lock` is for moderators." in out
