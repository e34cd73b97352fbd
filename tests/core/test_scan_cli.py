"""`chatbridge scan`: the bot's privacy detector over stdin, one verdict line per message."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from chatbridge.cli import main

MESSAGES = [
    "Mrs Khan in bed 4 is septic, lactate 4.1",
    "K 4.1, Na 139, eGFR 45 - hold the ramipril?",
    "94 yo, MRN 00482913, for the cath lab",
    "",
    "see NCT04280705, PMID 32109013",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("CHATBRIDGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def scan(monkeypatch: pytest.MonkeyPatch, lines: list[str], *args: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    return main([*args, "scan"] if args and args[0] == "--config" else ["scan", *args])


def test_each_message_gets_one_line_in_order(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scan(monkeypatch, MESSAGES) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ["1\tname", "0\t", "1\trecord_number,age_over_89", "0\t", "0\t"]
    assert "Khan" not in out and "00482913" not in out


def test_a_community_uses_its_own_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "chatbridge.toml"
    config.write_text(
        '[privacy_guard.communities."Geriatrics"]\nignore = ["age_over_89"]\n'
        '[privacy_guard.communities."Off Topic"]\nmode = "off"\n'
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("94 yo with a UTI\nMRN 00482913\n"))
    assert main(["--config", str(config), "scan", "--community", "Geriatrics"]) == 0
    assert capsys.readouterr().out.splitlines() == ["0\t", "1\trecord_number"]

    monkeypatch.setattr("sys.stdin", io.StringIO("94 yo with a UTI\n"))
    assert main(["--config", str(config), "scan"]) == 0  # without --community: the defaults
    assert capsys.readouterr().out.splitlines() == ["1\tage_over_89"]

    monkeypatch.setattr("sys.stdin", io.StringIO("MRN 00482913\n"))
    assert main(["--config", str(config), "scan", "--community", "Off Topic"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["0\t"]
    assert "privacy guard is off" in captured.err


def test_an_unknown_community_says_it_uses_the_defaults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scan(monkeypatch, ["Pt John Smith for CT"], "--community", "Nowhere") == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["1\tname"]
    assert captured.err.strip() == (
        "chatbridge: no [privacy_guard.communities] entry for 'Nowhere'; using the defaults"
    )


def test_an_unknown_kind_or_mode_in_the_config_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "chatbridge.toml"
    config.write_text('[privacy_guard]\nmode = "block"\nignore = ["names"]\n')
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    assert main(["--config", str(config), "scan"]) == 2
    err = capsys.readouterr().err
    assert "privacy_guard.mode" in err and "privacy_guard.ignore" in err
    assert "Traceback" not in err
