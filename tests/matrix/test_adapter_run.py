"""`chatbridge run`: a clear line and exit status 2 for what a person can fix, and, with no platform
configured, a sandbox homeserver with a demo community that a person can log in to."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from nio import AsyncClient, JoinedRoomsResponse, LoginResponse, RoomGetStateEventResponse, SyncResponse
from pydantic import SecretStr

from chatbridge.cli import main
from chatbridge.config import DiscordConfig, MatrixConfig, Settings
from chatbridge.core import Core
from chatbridge.model import PlatformName
from chatbridge.platform import Platform
from chatbridge.runner import build_platforms


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("CHATBRIDGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.usefixtures("clean_env")
def test_matrix_enabled_without_a_homeserver_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBRIDGE_MATRIX__ENABLED", "true")
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chatbridge: config: matrix.homeserver: required when matrix.enabled is true")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.usefixtures("clean_env")
def test_an_unreachable_homeserver_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("CHATBRIDGE_MATRIX__ENABLED", "true")
    monkeypatch.setenv("CHATBRIDGE_MATRIX__HOMESERVER", url)
    monkeypatch.setenv("CHATBRIDGE_MATRIX__USER_ID", "@bot:example.org")
    monkeypatch.setenv("CHATBRIDGE_MATRIX_PASSWORD", "not-a-real-password")
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chatbridge: cannot reach the Matrix homeserver at {url}")
    assert "Traceback" not in err and "not-a-real-password" not in err


class EchoingHomeserver(BaseHTTPRequestHandler):
    """A homeserver that refuses every login and quotes the request back in its error, as a
    careless proxy or a debugging build might: what `chatbridge run` prints must not repeat it."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self._answer(
            403, {"errcode": "M_FORBIDDEN", "error": f"Invalid login {body} (password was {body[-40:]})"}
        )

    def do_GET(self) -> None:
        self._answer(404, {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"})

    def _answer(self, status: int, content: dict[str, str]) -> None:
        data = json.dumps(content).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads stderr."""


@pytest.fixture
def echoing_homeserver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingHomeserver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.mark.usefixtures("clean_env")
def test_a_refused_login_is_one_line_that_never_repeats_the_password(
    echoing_homeserver: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBRIDGE_MATRIX__ENABLED", "true")
    monkeypatch.setenv("CHATBRIDGE_MATRIX__HOMESERVER", echoing_homeserver)
    monkeypatch.setenv("CHATBRIDGE_MATRIX__USER_ID", "@bot:example.org")
    monkeypatch.setenv("CHATBRIDGE_MATRIX_PASSWORD", "correct-horse-battery")
    assert main(["run"]) == 2
    captured = capsys.readouterr()
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("chatbridge: the homeserver refused the login for @bot:example.org: M_FORBIDDEN")
    assert "Traceback" not in captured.err
    assert "correct-horse-battery" not in captured.err + captured.out
    assert "horse" not in captured.err + captured.out


def test_matrix_and_discord_run_side_by_side_over_one_core(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        matrix=MatrixConfig(
            enabled=True, homeserver="https://matrix.example.org", user_id="@bot:example.org"
        ),
        discord=DiscordConfig(enabled=True, application_id=1),
        matrix_password=SecretStr("not-used"),
        discord_token=SecretStr("not-used"),
    )
    core = Core.build(settings)
    try:
        platforms = build_platforms(settings, core)
    finally:
        core.engine.dispose()
    assert [p.name for p in platforms] == [PlatformName.MATRIX, PlatformName.DISCORD]
    assert all(isinstance(p, Platform) for p in platforms)


# --- the sandbox ------------------------------------------------------------------------------------


@asynccontextmanager
async def chatbridge_run(
    tmp_path: Path, bytecode_cache: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, str]]]:
    """`chatbridge run --port 0` in a clean environment, until its banner says how to log in."""
    data = tmp_path / "data"
    (data / "sandbox").mkdir(parents=True, exist_ok=True)
    if not (data / "sandbox" / "bytecode").exists():
        (data / "sandbox" / "bytecode").symlink_to(bytecode_cache)  # Synapse starts twice as fast
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBRIDGE_")}
    env |= {
        "CHATBRIDGE_DATA_DIR": str(data),
        "CHATBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "PYTHONUNBUFFERED": "1",
    }
    with (tmp_path / "chatbridge.log").open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chatbridge.cli", "run", "--port", "0",
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=log,
        )  # fmt: skip
    try:
        banner: dict[str, str] = {}
        assert process.stdout is not None
        async with asyncio.timeout(90):
            while "password" not in banner:
                line = (await process.stdout.readline()).decode()
                assert line, f"chatbridge run exited:\n{(tmp_path / 'chatbridge.log').read_text()}"
                if match := re.search(r"Homeserver:\s+(\S+)\s+\(server name (\S+)\)", line):
                    banner["url"], banner["server"] = match.groups()
                if match := re.search(r"Log in as:\s+(\S+)\s+password: (\S+)", line):
                    banner["user"], banner["password"] = match.groups()
        yield process, banner
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                await process.wait()


async def sandbox_rooms(client: AsyncClient) -> dict[str, str]:
    joined = await client.joined_rooms()
    assert isinstance(joined, JoinedRoomsResponse), joined
    names = {}
    for room_id in joined.rooms:
        name = await client.room_get_state_event(room_id, "m.room.name")
        if isinstance(name, RoomGetStateEventResponse):
            names[name.content["name"]] = room_id
    return names


@pytest.mark.synapse
@pytest.mark.slow
async def test_chatbridge_run_without_a_platform_opens_a_sandbox_a_person_can_use(
    tmp_path: Path, synapse_bytecode_cache: Path
) -> None:
    async with chatbridge_run(tmp_path, synapse_bytecode_cache) as (process, banner):
        # a person logs in from their Matrix client with what the banner printed
        demo = AsyncClient(banner["url"], f"@{banner['user']}:{banner['server']}")
        try:
            assert isinstance(await demo.login(banner["password"]), LoginResponse)
            rooms = await sandbox_rooms(demo)
            assert {"Medical Forum", "General Discussion", "Clinical Questions", "Careers & Training"} <= set(
                rooms
            )
            assert isinstance(await demo.sync(timeout=0), SyncResponse)

            # demo, in General Discussion: start a thread -> the bot answers with its link
            general = rooms["General Discussion"]
            await demo.room_send(
                general,
                "m.room.message",
                {"msgtype": "m.text", "body": '!thread new "Hello" First post here'},
            )
            async with asyncio.timeout(30):
                answered = False
                while not answered:
                    response = await demo.sync(timeout=5_000)
                    assert isinstance(response, SyncResponse), response
                    room = response.rooms.join.get(general)
                    answered = any(
                        "started in General Discussion" in e.source.get("content", {}).get("body", "")
                        for e in (room.timeline.events if room else [])
                    )
        finally:
            await demo.close()

        process.send_signal(signal.SIGTERM)  # Ctrl-C or a service manager stopping it
        async with asyncio.timeout(30):
            assert await process.wait() == 0
    assert synapse_processes(tmp_path / "data" / "sandbox") == []  # the sandbox stopped with the bot

    # the next run finds the same forum (no second community, no new bot device)
    async with chatbridge_run(tmp_path, synapse_bytecode_cache) as (_, again):
        demo = AsyncClient(again["url"], f"@{again['user']}:{again['server']}")
        try:
            assert again["password"] == banner["password"]
            assert isinstance(await demo.login(again["password"]), LoginResponse)
            assert set(await sandbox_rooms(demo)) == set(rooms)
        finally:
            await demo.close()


def synapse_processes(data_dir: Path) -> list[int]:
    """Processes started for this sandbox's homeserver, found via /proc."""
    config = str(data_dir / "homeserver.yaml").encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if config in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
