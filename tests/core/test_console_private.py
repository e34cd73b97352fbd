"""`:private NAME` in the console: try the private sub-forum rules locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbridge.cli import main


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("CHATBRIDGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")


def test_a_private_sub_forum_is_read_only_by_those_who_spoke_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "private.txt"
    script.write_text(
        "\n".join(
            [
                ":in Careers & Training",
                'dana: !thread new "Zebra rota" Quokka handover',
                ":out",
                ":private Careers & Training",
                "erin: hello",
                ":in General Discussion",
                "bob: !thread show #1",
                "bob: !thread list latest 1 Careers & Training",
                "dana: !thread show #1",
                ":private Nowhere",
            ]
        )
    )
    assert main(["console", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "console: Careers & Training is now private; it can be read by dana" in out
    assert "console: erin cannot read Careers & Training: it is private" in out
    assert "bot (only bob sees this): There is no thread #1 here." in out
    assert "bot (only bob sees this): There is no sub-forum called 'Careers & Training'." in out
    assert "bot (only dana sees this): **#1 Zebra rota**" in out
    assert "console: no sub-forum 'Nowhere'" in out
