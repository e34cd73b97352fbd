"""A real Synapse homeserver that chatbridge starts and stops itself.

Two users: ``chatbridge run`` without a configured platform (a newcomer gets a homeserver on
127.0.0.1 to try the bot from any Matrix client, kept between runs), and the end-to-end tests,
which drive it with real matrix-nio clients. Synapse runs as a child process of the current
interpreter rather than in-process because it owns the Twisted reactor and global logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import importlib.util
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import quote

import aiohttp
from nio import AsyncClient, AsyncClientConfig

from chatbridge.sandbox import config as cfg
from chatbridge.sandbox.config import RateLimits, SandboxState

if sys.platform != "win32":
    import fcntl

# Runs in the child before Synapse: asks the kernel to SIGTERM it when its parent dies, so even a
# SIGKILLed pytest or CLI leaves no orphaned Synapse holding the data dir. PR_SET_PDEATHSIG (1)
# survives execv, so the process that ends up running is literally `python -m synapse.app...`.
_LINUX_LAUNCHER: Final = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("chatbridge sandbox: parent exited before Synapse started")
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""

_BIND_FAILURE_MARKERS: Final = ("Address already in use", "Couldn't listen")
_PORT_ATTEMPTS: Final = 3
_POLL_INTERVAL: Final = 0.05
_LOG_TAIL_LINES: Final = 40
_DEVICE_NAME: Final = "chatbridge sandbox"
_FAIL_FAST_CLIENT_CONFIG: Final = AsyncClientConfig(
    encryption_enabled=False,
    store_sync_tokens=False,
    max_limit_exceeded=0,
    max_timeouts=0,
    request_timeout=30,
)


class HomeserverError(RuntimeError):
    """The sandbox homeserver refused or failed an operation."""


class HomeserverStartError(HomeserverError):
    """Synapse exited or stayed silent during start; the message carries its log tail."""


class UserExistsError(HomeserverError):
    """Raised by ``register_user(exist_ok=False)`` for a taken localpart."""


@dataclass(frozen=True)
class RegisteredUser:
    user_id: str
    access_token: str = field(repr=False)
    device_id: str
    password: str = field(repr=False)
    # False when the localpart was already taken and register_user() logged in instead.
    created: bool = True


class _PortTaken(Exception):
    """Another process grabbed the port between probing it and Synapse binding it."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, start: int = 0, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class _DataDirLock:
    """Two Synapses on one SQLite database corrupt each other's caches; fail fast instead."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        if sys.platform != "win32":
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise HomeserverError(
                    f"another sandbox homeserver is already running on {self._path.parent}"
                ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _claim_data_dir(data_dir: str | os.PathLike[str]) -> tuple[Path, _DataDirLock]:
    path = Path(data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = _DataDirLock(path / cfg.LOCK_FILE)
    lock.acquire()
    return path, lock


@dataclass(frozen=True)
class _LaunchOptions:
    data_dir: Path
    server_name: str | None
    rate_limits: RateLimits
    allow_registration: bool
    extra_config: Mapping[str, Any] | None
    bytecode_cache: Path | None
    log_level: str
    startup_timeout: float
    shutdown_timeout: float


def _prepare_data_dir(options: _LaunchOptions, port: int) -> tuple[SandboxState, Path, int]:
    """Returns the persistent state, the config path and where this start's log output begins."""
    data_dir = options.data_dir
    state_path = data_dir / cfg.STATE_FILE
    state = SandboxState.load(state_path)
    if state is None:
        state = SandboxState.generate(options.server_name or cfg.DEFAULT_SERVER_NAME)
        state.save(state_path)
    elif options.server_name is not None and options.server_name != state.server_name:
        raise HomeserverError(
            f"{data_dir} belongs to server {state.server_name!r}, not {options.server_name!r}: "
            "Synapse cannot rename a server, use another data dir"
        )
    cfg.write_private_json(data_dir / cfg.LOG_CONFIG_FILE, cfg.log_config(data_dir, options.log_level))
    config_path = data_dir / cfg.CONFIG_FILE
    cfg.write_private_json(
        config_path,
        cfg.homeserver_config(
            data_dir=data_dir,
            state=state,
            port=port,
            rate_limits=options.rate_limits,
            allow_registration=options.allow_registration,
            extra=options.extra_config,
        ),
    )
    log_path = data_dir / cfg.LOG_FILE
    log_offset = log_path.stat().st_size if log_path.exists() else 0
    return state, config_path, log_offset


def _synapse_argv(config_path: Path) -> list[str]:
    # Synapse's default --generate-missing-and-run mode writes the signing key on first start,
    # which saves a separate `--generate-keys` interpreter start (~2 s of imports).
    synapse = ["-m", "synapse.app.homeserver", "-c", str(config_path)]
    if sys.platform.startswith("linux"):
        return [sys.executable, "-c", _LINUX_LAUNCHER, str(os.getpid()), *synapse]
    return [sys.executable, *synapse]


def _synapse_env(bytecode_cache: Path | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if bytecode_cache is not None and not _synapse_is_precompiled():
        # Without bytecode, every start compiles ~600 Synapse modules: 2.9 s of imports instead
        # of 1.3 s. Installers that skip compilation (uv by default) combined with
        # PYTHONDONTWRITEBYTECODE (common in containers) cause exactly that, so cache the
        # bytecode outside site-packages instead.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    return env


def _synapse_is_precompiled() -> bool:
    spec = importlib.util.find_spec("synapse")
    if spec is None or spec.origin is None:
        return False
    return Path(importlib.util.cache_from_source(spec.origin)).exists()


async def _stop_process(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM lets Synapse flush SQLite cleanly; SIGKILL bounds the wait. If we are cancelled
    while waiting, kill synchronously before propagating so nothing outlives the caller."""
    if process.returncode is not None:
        return
    try:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            async with asyncio.timeout(grace):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    except BaseException:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        raise


class Homeserver:
    """A running Synapse. Obtain one with ``async with Homeserver.start(data_dir) as hs:``.

    Every HTTP helper opens its own short-lived aiohttp session, so one instance can be shared
    by code running on different event loops (a session-scoped pytest fixture serving tests
    that each run on their own loop).
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        state: SandboxState,
        port: int,
        process: asyncio.subprocess.Process,
    ) -> None:
        self._data_dir = data_dir
        self._state = state
        self._port = port
        self._process = process

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        data_dir: str | os.PathLike[str],
        *,
        server_name: str | None = None,
        port: int | None = None,
        rate_limits: RateLimits | None = None,
        allow_registration: bool = False,
        extra_config: Mapping[str, Any] | None = None,
        bytecode_cache: str | os.PathLike[str] | None = None,
        log_level: str = "WARNING",
        startup_timeout: float = 60.0,
        shutdown_timeout: float = 10.0,
    ) -> AsyncIterator[Homeserver]:
        """Start Synapse on ``data_dir`` (created if missing, reused if it holds a previous run).

        ``server_name`` defaults to the one stored in ``data_dir``, else ``chatbridge.localhost``.
        ``port=None`` picks a free port; a fixed port suits a sandbox whose users configured
        their client once. ``rate_limits`` defaults to :meth:`RateLimits.relaxed`.
        ``allow_registration`` opens /register so a newcomer can sign up from Element.
        ``extra_config`` is deep-merged into homeserver.yaml last. ``bytecode_cache`` is a
        directory where Synapse may cache its compiled modules when the install has none and
        ``PYTHONDONTWRITEBYTECODE`` is set; it more than halves the start time. ``log_level``
        applies to ``homeserver.log`` in the data dir; raise it to INFO to debug Synapse itself.
        """
        if importlib.util.find_spec("synapse") is None:
            raise HomeserverError("Synapse is not installed; install chatbridge with the 'sandbox' extra")
        path, lock = _claim_data_dir(data_dir)
        try:
            options = _LaunchOptions(
                data_dir=path,
                server_name=server_name,
                rate_limits=rate_limits if rate_limits is not None else RateLimits.relaxed(),
                allow_registration=allow_registration,
                extra_config=extra_config,
                bytecode_cache=Path(bytecode_cache) if bytecode_cache is not None else None,
                log_level=log_level,
                startup_timeout=startup_timeout,
                shutdown_timeout=shutdown_timeout,
            )
            attempts = 1 if port is not None else _PORT_ATTEMPTS
            for attempt in range(1, attempts + 1):
                try:
                    hs = await cls._launch(options, port if port is not None else _free_port())
                except _PortTaken as exc:
                    if attempt == attempts:
                        raise HomeserverStartError(str(exc)) from None
                    continue
                break
            try:
                yield hs
            finally:
                await _stop_process(hs._process, shutdown_timeout)
        finally:
            lock.release()

    @classmethod
    async def _launch(cls, options: _LaunchOptions, port: int) -> Homeserver:
        data_dir = options.data_dir
        state, config_path, log_offset = _prepare_data_dir(options, port)
        stdio = cls._open_stdio(data_dir / cfg.STDIO_LOG_FILE)
        try:
            process = await asyncio.create_subprocess_exec(
                *_synapse_argv(config_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdio,
                stderr=asyncio.subprocess.STDOUT,
                cwd=data_dir,
                env=_synapse_env(options.bytecode_cache),
                # Keep terminal Ctrl-C away from Synapse: the context manager decides when it
                # stops, after whatever the caller still wants to do with it.
                start_new_session=True,
            )
        finally:
            stdio.close()
        hs = cls(data_dir=data_dir, state=state, port=port, process=process)
        try:
            try:
                async with asyncio.timeout(options.startup_timeout):
                    await hs._wait_until_ready(log_offset)
            except TimeoutError:
                raise HomeserverStartError(
                    f"Synapse did not answer within {options.startup_timeout:.0f} s "
                    f"(data dir {data_dir}):\n{hs._startup_output(log_offset)}"
                ) from None
        except BaseException:
            await _stop_process(process, options.shutdown_timeout)
            raise
        return hs

    @staticmethod
    def _open_stdio(path: Path) -> IO[bytes]:
        # Truncated per start: it only matters for explaining why this start failed.
        return path.open("wb")

    async def _wait_until_ready(self, log_offset: int) -> None:
        url = f"{self.base_url}/_matrix/client/versions"
        async with self._http(request_timeout=5) as http:
            while True:
                if self._process.returncode is not None:
                    output = self._startup_output(log_offset)
                    if any(marker in output for marker in _BIND_FAILURE_MARKERS):
                        raise _PortTaken(f"port {self._port} is taken:\n{output}")
                    raise HomeserverStartError(
                        f"Synapse exited with status {self._process.returncode} during start "
                        f"(data dir {self._data_dir}):\n{output}"
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(url) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(_POLL_INTERVAL)

    def _startup_output(self, log_offset: int) -> str:
        parts = [
            f"--- {cfg.STDIO_LOG_FILE} ---\n{_tail(self._data_dir / cfg.STDIO_LOG_FILE)}",
            f"--- {cfg.LOG_FILE} ---\n{_tail(self._data_dir / cfg.LOG_FILE, log_offset)}",
        ]
        return "\n".join(parts)

    # ----------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def server_name(self) -> str:
        return self._state.server_name

    @property
    def port(self) -> int:
        return self._port

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def log_path(self) -> Path:
        return self._data_dir / cfg.LOG_FILE

    def user_id(self, localpart: str) -> str:
        return f"@{localpart.lower()}:{self.server_name}"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """For attaching to a failing test's report: Synapse logs warnings and errors only."""
        return _tail(self.log_path, lines=lines)

    async def register_user(
        self,
        localpart: str,
        password: str,
        *,
        admin: bool = False,
        displayname: str | None = None,
        exist_ok: bool = True,
    ) -> RegisteredUser:
        """Create a user through the shared-secret admin API, which bypasses ``enable_registration``
        and registration rate limits.

        A sandbox keeps its users between runs, so by default a taken localpart means "log in
        with this password" (``created=False``); a wrong password or a missing admin flag on the
        existing account raises instead of handing back something other than what was asked for.
        """
        url = f"{self.base_url}/_synapse/admin/v1/register"
        async with self._http() as http:
            async with http.get(url) as response:
                nonce = str((await self._json(response, "GET nonce"))["nonce"])
            body: dict[str, Any] = {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": self._registration_mac(nonce, localpart, password, admin),
            }
            if displayname is not None:
                body["displayname"] = displayname
            async with http.post(url, json=body) as response:
                data = await response.json(content_type=None)
                if response.status == 200:
                    return RegisteredUser(
                        user_id=data["user_id"],
                        access_token=data["access_token"],
                        device_id=data["device_id"],
                        password=password,
                    )
                if data.get("errcode") != "M_USER_IN_USE":
                    raise HomeserverError(f"registering {localpart!r} failed: HTTP {response.status} {data}")
            if not exist_ok:
                raise UserExistsError(f"{self.user_id(localpart)} already exists")
            user = await self._login(http, localpart, password)
            if admin:
                await self._require_admin(http, user)
            return user

    async def login(self, localpart: str, password: str) -> RegisteredUser:
        """A fresh device for an existing user, e.g. after restarting the sandbox."""
        async with self._http() as http:
            return await self._login(http, localpart, password)

    def client_for(self, user: RegisteredUser, config: AsyncClientConfig | None = None) -> AsyncClient:
        """A matrix-nio client already logged in as ``user``; the caller must ``await close()``.

        The default config fails fast: nio otherwise retries 429s and connection errors forever,
        which turns a rate-limit assertion or a crashed homeserver into a hung test. End-to-end
        encryption is off because it needs libolm and a key store on disk, and chatbridge's forum
        rooms are unencrypted. Pass ``config`` for a long-lived bot that should retry.
        """
        client = AsyncClient(
            self.base_url,
            user.user_id,
            device_id=user.device_id,
            config=config or _FAIL_FAST_CLIENT_CONFIG,
        )
        # Set directly rather than via restore_login(), which loads an encryption store when
        # python-olm happens to be installed.
        client.user_id = user.user_id
        client.device_id = user.device_id
        client.access_token = user.access_token
        return client

    # ----------------------------------------------------------------------------------------

    @staticmethod
    def _http(request_timeout: float = 30) -> aiohttp.ClientSession:
        # trust_env=False: an HTTP(S)_PROXY in CI must never see traffic meant for 127.0.0.1.
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=request_timeout), trust_env=False)

    @staticmethod
    async def _json(response: aiohttp.ClientResponse, what: str) -> dict[str, Any]:
        data = await response.json(content_type=None)
        if response.status != 200 or not isinstance(data, dict):
            raise HomeserverError(f"{what} failed: HTTP {response.status} {data}")
        return data

    def _registration_mac(self, nonce: str, localpart: str, password: str, admin: bool) -> str:
        mac = hmac.new(self._state.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(nonce.encode())
        mac.update(b"\x00")
        mac.update(localpart.encode())
        mac.update(b"\x00")
        mac.update(password.encode())
        mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        return mac.hexdigest()

    async def _login(self, http: aiohttp.ClientSession, localpart: str, password: str) -> RegisteredUser:
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": password,
            "initial_device_display_name": _DEVICE_NAME,
        }
        async with http.post(f"{self.base_url}/_matrix/client/v3/login", json=body) as response:
            data = await response.json(content_type=None)
            if response.status == 403:
                raise HomeserverError(f"{self.user_id(localpart)} exists but does not accept this password")
            if response.status != 200:
                raise HomeserverError(f"logging in as {localpart!r} failed: HTTP {response.status} {data}")
        return RegisteredUser(
            user_id=data["user_id"],
            access_token=data["access_token"],
            device_id=data["device_id"],
            password=password,
            created=False,
        )

    async def _require_admin(self, http: aiohttp.ClientSession, user: RegisteredUser) -> None:
        # Only server admins may read the admin user API, so a 200 proves the flag.
        url = f"{self.base_url}/_synapse/admin/v2/users/{quote(user.user_id)}"
        headers = {"Authorization": f"Bearer {user.access_token}"}
        async with http.get(url, headers=headers) as response:
            if response.status != 200:
                raise HomeserverError(f"{user.user_id} exists but is not a server admin")
