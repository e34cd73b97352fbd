"""`chatbridge run`: the bot's main job, wiring platforms to one core.

This is the one place that imports adapters. With Matrix and/or Discord configured it runs them
side by side over the same `Core` (one store, one member per person). With neither, it starts a
local sandbox: a Synapse homeserver on 127.0.0.1 with a demo community, so a person can try the
forum from any Matrix client without an account anywhere. Ctrl-C or SIGTERM stops everything,
the sandbox homeserver included.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine
from sqlmodel import Session

from chatbridge.adapters.matrix import Levels, MatrixPlatform, StoredSession
from chatbridge.app import Application
from chatbridge.config import MatrixConfig, Settings
from chatbridge.core import Core
from chatbridge.platform import Platform, PlatformError
from chatbridge.store.tables import PlatformCursor, PlatformSession
from chatbridge.store.types import utcnow

log = logging.getLogger(__name__)

SANDBOX_PORT = 8008
SANDBOX_SUBFORUMS = ("General Discussion", "Clinical Questions", "Careers & Training")
SANDBOX_COMMUNITY = "Medical Forum"
SANDBOX_BOT = "chatbridge"
SANDBOX_MEMBER = "demo"
SANDBOX_FILE = "chatbridge-sandbox.json"


class RunError(Exception):
    """Something the person at the terminal can fix; the message is one line."""


# -- persistence the Matrix adapter needs, over the store -----------------------------------------


@dataclass(frozen=True)
class StorePlatformState:
    """The Matrix adapter's `PlatformState` over the store: device logins (PlatformSession) and
    stream positions (PlatformCursor; written through CursorMoved events, only read here)."""

    engine: Engine
    platform: str = "matrix"

    def load_session(self, account: str) -> StoredSession | None:
        with Session(self.engine) as session:
            row = session.get(PlatformSession, (self.platform, account))
            return StoredSession(row.device_id, row.access_token) if row is not None else None

    def save_session(self, account: str, stored: StoredSession) -> None:
        with Session(self.engine) as session:
            row = session.get(PlatformSession, (self.platform, account))
            if row is None:
                row = PlatformSession(platform=self.platform, account=account, device_id="", access_token="")
                session.add(row)
            row.device_id, row.access_token, row.updated_at = stored.device_id, stored.access_token, utcnow()
            session.commit()

    def load_cursor(self, scope: str) -> str | None:
        with Session(self.engine) as session:
            row = session.get(PlatformCursor, (self.platform, scope))
            return row.value if row is not None else None


# -- configuration checks ---------------------------------------------------------------------------


def check_matrix(settings: Settings) -> list[str]:
    """What `matrix.*` lacks to run; one line per problem (config.py validates the shapes)."""
    matrix, problems = settings.matrix, []
    if not matrix.homeserver:
        problems.append(
            "matrix.homeserver: required when matrix.enabled is true (https://matrix.example.org)"
        )
    elif not matrix.homeserver.startswith(("http://", "https://")):
        problems.append(f"matrix.homeserver: expected an http(s):// URL, got {matrix.homeserver!r}")
    if not matrix.user_id:
        problems.append("matrix.user_id: required when matrix.enabled is true (@bot:example.org)")
    if settings.matrix_password is None and settings.matrix_access_token is None:
        problems.append(
            "CHATBRIDGE_MATRIX_PASSWORD or CHATBRIDGE_MATRIX_ACCESS_TOKEN: one is required to log in"
        )
    for entry in matrix.allowed_inviters:
        if not (entry.startswith("@") and ":" in entry) and not (entry.startswith(":") and len(entry) > 1):
            problems.append(f"matrix.allowed_inviters: expected @user:server or :server, got {entry!r}")
    return problems


def build_matrix(settings: Settings, core: Core, **overrides: Any) -> MatrixPlatform:
    """The Matrix platform from `matrix.*` and the secrets; `overrides` replace constructor values."""
    matrix = settings.matrix
    assert matrix.homeserver is not None and matrix.user_id is not None
    password = settings.matrix_password.get_secret_value() if settings.matrix_password else None
    token = settings.matrix_access_token.get_secret_value() if settings.matrix_access_token else None
    options: dict[str, Any] = {
        "homeserver": matrix.homeserver,
        "user_id": matrix.user_id,
        "state": StorePlatformState(core.engine),
        "password": password,
        "access_token": token,
        "device_name": matrix.device_name,
        "allowed_inviters": matrix.allowed_inviters,
        "community_rooms": matrix.community_rooms,
        "backfill_hours": matrix.backfill_hours,
        "levels": Levels(settings.moderation.matrix_moderator_level, settings.moderation.matrix_admin_level),
        **overrides,
    }
    return MatrixPlatform(**options)


def build_platforms(settings: Settings, core: Core) -> list[Platform]:
    """Every configured platform over `core`; the Discord adapter is imported only when enabled."""
    platforms: list[Platform] = []
    if settings.matrix.enabled:
        platforms.append(build_matrix(settings, core))
    if settings.discord.enabled:
        try:
            from chatbridge.adapters.discord import build_platform  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            raise RunError("discord.enabled is true, but this install has no Discord adapter yet") from None
        platforms.append(build_platform(settings, core))
    return platforms


# -- running ------------------------------------------------------------------------------------


async def run(settings: Settings, *, sandbox_port: int | None = None, out: TextIO = sys.stdout) -> int:
    """Run until Ctrl-C or SIGTERM; 0 after a clean shutdown."""
    if not settings.matrix.enabled and not settings.discord.enabled:
        await run_sandbox(settings, port=SANDBOX_PORT if sandbox_port is None else sandbox_port, out=out)
        return 0
    if settings.matrix.enabled and (problems := check_matrix(settings)):
        raise RunError(
            "config: " + problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    core = _build_core(settings)
    try:
        app = Application(core, build_platforms(settings, core))
        names = ", ".join(p.name.value for p in app.platforms)
        await _serve(
            app, lambda: print(f"chatbridge is running on {names}. Ctrl-C stops it.", file=out, flush=True)
        )
    finally:
        core.engine.dispose()
    return 0


def _build_core(settings: Settings) -> Core:
    from sqlalchemy.exc import OperationalError

    try:
        return Core.build(settings)
    except (OperationalError, OSError) as error:
        raise RunError(f"cannot open the store: {getattr(error, 'orig', None) or error}") from None


async def _serve(app: Application, ready: Callable[[], None]) -> None:
    """`Application.serve_forever`, with the platforms' start-up refusals (login, unreachable
    server) turned into one line."""
    try:
        await app.serve_forever(ready)
    except* (PlatformError, ConnectionError) as group:  # a refused login, an unreachable server
        raise RunError(str(group.exceptions[0])) from None


# -- the sandbox ----------------------------------------------------------------------------------


@dataclass
class SandboxAccounts:
    """What the sandbox keeps between runs (owner-only file in its data dir): the passwords it
    generated, and the demo community once created, so each run finds the same forum."""

    bot_password: str
    member_password: str
    space_id: str | None = None
    room_ids: tuple[str, ...] = ()

    @classmethod
    def load_or_create(cls, path: Path) -> SandboxAccounts:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                bot_password=str(raw["bot_password"]),
                member_password=str(raw["member_password"]),
                space_id=raw.get("space_id"),
                room_ids=tuple(raw.get("room_ids", ())),
            )
        except FileNotFoundError:
            accounts = cls(secrets.token_urlsafe(18), secrets.token_urlsafe(9))
            accounts.save(path)
            return accounts

    def save(self, path: Path) -> None:
        from chatbridge.sandbox.config import write_private_json

        write_private_json(
            path,
            {
                "bot_password": self.bot_password,
                "member_password": self.member_password,
                "space_id": self.space_id,
                "room_ids": list(self.room_ids),
            },
        )


async def run_sandbox(settings: Settings, *, port: int | None, out: TextIO) -> None:
    """Start (or restart) the sandbox homeserver and its demo community, then serve the bot."""
    from chatbridge.sandbox import Homeserver, HomeserverError

    directory = Path(settings.data_dir) / "sandbox"
    try:
        async with Homeserver.start(
            directory,
            port=port or None,
            allow_registration=True,
            bytecode_cache=directory / "bytecode",
        ) as homeserver:
            print(f"Started a sandbox Matrix homeserver at {homeserver.base_url}", file=out, flush=True)
            sandbox = await prepare_sandbox(homeserver, directory / SANDBOX_FILE, settings)
            try:
                app = Application(sandbox.core, [sandbox.platform])
                await _serve(app, lambda: _banner(out, homeserver.base_url, homeserver.server_name, sandbox))
            finally:
                sandbox.core.engine.dispose()
    except HomeserverError as error:
        first = str(error).splitlines()[0]
        hint = " (try `chatbridge run --port 0` for a free port)" if "is taken" in first else ""
        raise RunError(f"sandbox homeserver: {first}{hint}") from None


@dataclass
class Sandbox:
    """A prepared sandbox: the core on the configured store and the bot's Matrix platform."""

    core: Core
    platform: MatrixPlatform
    accounts: SandboxAccounts


async def prepare_sandbox(homeserver: Any, path: Path, settings: Settings) -> Sandbox:
    """Register the bot and the demo member, and create the demo community on the first run.

    Each step is saved as it completes, so an interrupted first run resumes instead of leaving a
    second community behind. The bot's first device is handed to the adapter (PlatformSession),
    so the bot does not collect a new device per start.
    """
    accounts = SandboxAccounts.load_or_create(path)
    bot = await homeserver.register_user(SANDBOX_BOT, accounts.bot_password, displayname="chatbridge")
    member = await homeserver.register_user(
        SANDBOX_MEMBER, accounts.member_password, displayname="Demo Member"
    )
    if accounts.space_id is None or len(accounts.room_ids) < len(SANDBOX_SUBFORUMS):
        client = homeserver.client_for(member)
        try:
            await _create_community(client, homeserver.server_name, bot.user_id, accounts, path)
        finally:
            await client.close()
    assert accounts.space_id is not None
    sandbox_settings = settings.model_copy(
        update={
            "matrix": MatrixConfig(
                enabled=True,
                homeserver=homeserver.base_url,
                user_id=bot.user_id,
                allowed_inviters=(f":{homeserver.server_name}",),
                community_rooms=(accounts.space_id,),
            )
        }
    )
    core = _build_core(sandbox_settings)
    state = StorePlatformState(core.engine)
    if bot.created or state.load_session(bot.user_id) is None:
        state.save_session(bot.user_id, StoredSession(bot.device_id, bot.access_token))
    platform = build_matrix(sandbox_settings, core, password=accounts.bot_password)
    return Sandbox(core, platform, accounts)


async def _create_community(
    client: Any, server_name: str, bot_id: str, accounts: SandboxAccounts, path: Path
) -> None:
    from nio import RoomCreateResponse, RoomPreset, RoomPutStateResponse, RoomVisibility

    if accounts.space_id is None:
        space = await client.room_create(
            name=SANDBOX_COMMUNITY,
            topic="A demo medical community, served by chatbridge",
            space=True,
            visibility=RoomVisibility.public,
            preset=RoomPreset.public_chat,
            invite=[bot_id],
        )
        if not isinstance(space, RoomCreateResponse):
            raise RunError(f"sandbox: could not create the demo community: {space}")
        accounts.space_id = str(space.room_id)
        accounts.save(path)
    rooms = list(accounts.room_ids)
    for position, name in enumerate(SANDBOX_SUBFORUMS):
        if position < len(rooms):
            continue
        room = await client.room_create(
            name=name,
            visibility=RoomVisibility.public,
            preset=RoomPreset.public_chat,
            invite=[bot_id],
            initial_state=[
                {
                    "type": "m.space.parent",
                    "state_key": accounts.space_id,
                    "content": {"via": [server_name], "canonical": True},
                }
            ],
        )
        if not isinstance(room, RoomCreateResponse):
            raise RunError(f"sandbox: could not create the room {name}: {room}")
        await _grant_power(client, str(room.room_id), bot_id, 100)
        linked = await client.room_put_state(
            accounts.space_id,
            "m.space.child",
            {"via": [server_name], "order": f"{position:02d}"},
            state_key=str(room.room_id),
        )
        if not isinstance(linked, RoomPutStateResponse):
            raise RunError(f"sandbox: could not add {name} to the community: {linked}")
        rooms.append(str(room.room_id))
        accounts.room_ids = tuple(rooms)
        accounts.save(path)


async def _grant_power(client: Any, room_id: str, user_id: str, level: int) -> None:
    """Raise the bot to `level` (it mutes by changing power levels). Done after creation rather
    than in the creation request: room version 12 forbids listing the creator in `users`, while
    older versions would drop the creator's own level if the override named only the bot."""
    from nio import RoomGetStateEventResponse, RoomPutStateResponse

    current = await client.room_get_state_event(room_id, "m.room.power_levels")
    if not isinstance(current, RoomGetStateEventResponse):
        raise RunError(f"sandbox: could not read the power levels of {room_id}: {current}")
    users = {**current.content.get("users", {}), user_id: level}
    changed = await client.room_put_state(room_id, "m.room.power_levels", {**current.content, "users": users})
    if not isinstance(changed, RoomPutStateResponse):
        raise RunError(f"sandbox: could not give the bot power level {level} in {room_id}: {changed}")


def _banner(out: TextIO, url: str, server_name: str, sandbox: Sandbox) -> None:
    lines: Sequence[str] = (
        "",
        "chatbridge sandbox is ready.",
        f"  Homeserver:  {url}   (server name {server_name})",
        f"  Log in as:   {SANDBOX_MEMBER}   password: {sandbox.accounts.member_password}",
        "               or register your own account there: registration is open",
        f"  Community:   the space '{SANDBOX_COMMUNITY}' with {', '.join(SANDBOX_SUBFORUMS)}",
        f"  Bot:         {sandbox.platform.user_id}   (try !help in General Discussion)",
        "  Use any Matrix client, e.g. Element: choose 'Edit' next to the homeserver and enter the URL.",
        "  Ctrl-C stops the bot and the homeserver; everything is kept for the next run.",
        "",
    )
    print("\n".join(lines), file=out, flush=True)
