"""Matrix room ids of every room version are accepted where a room id is read.

Synapse creates version-12 rooms by default, whose ids have no `:server` part; the config
accepts them exactly as `run` does (one rule, in the config's validation).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbridge.adapters.matrix.rooms import server_of
from chatbridge.adapters.matrix.translate import permalink
from chatbridge.cli import main
from chatbridge.config import load_settings
from chatbridge.runner import check_matrix

V12_ROOM = "!7zAGlo8eoek6yEl8gd6grxSTvmK8nCqjcasQKLevnaM"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("CHATBRIDGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("CHATBRIDGE_MATRIX_PASSWORD", "not-a-real-password")


def _config(tmp_path: Path, *rooms: str) -> Path:
    listed = ", ".join(f'"{room}"' for room in rooms)
    path = tmp_path / "chatbridge.toml"
    path.write_text(
        '[matrix]\nenabled = true\nhomeserver = "https://matrix.example.org"\n'
        f'user_id = "@bot:example.org"\ncommunity_rooms = [{listed}]\n'
    )
    return path


def test_room_ids_of_every_version_and_aliases_are_accepted_by_config_and_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rooms = (V12_ROOM, "!OGEhHVWSdvArJzumhm:matrix.org", "#medicine:example.org")
    config = _config(tmp_path, *rooms)
    assert main(["--config", str(config), "config"]) == 0
    assert V12_ROOM in capsys.readouterr().out
    settings = load_settings(config)
    assert settings.matrix.community_rooms == rooms
    assert check_matrix(settings) == []  # what `run` checks before starting


@pytest.mark.parametrize("entry", ["general", "!", "#medicine", "!abc def", "@bot:example.org"])
def test_a_malformed_room_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    assert main(["--config", str(_config(tmp_path, entry)), "config"]) == 2
    err = capsys.readouterr().err
    assert "matrix.community_rooms" in err and "room id" in err and "Traceback" not in err


def test_a_permalink_to_a_version_12_room_names_it_whole_and_routes_through_its_members() -> None:
    link = permalink(V12_ROOM, "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg", ["example.org"])
    assert link == (
        f"https://matrix.to/#/{V12_ROOM}/$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg?via=example.org"
    )
    assert server_of(V12_ROOM) == ""  # no server to route through but the members' own
    assert server_of("!OGEhHVWSdvArJzumhm:matrix.org") == "matrix.org"
