"""A throwaway PostgreSQL cluster for tests, plus the database fixtures built on it.

The cluster is `initdb` + `pg_ctl` in a temporary directory: it listens on 127.0.0.1 on a free port,
keeps its unix sockets in that directory, runs with fsync off, and is stopped (`pg_ctl stop -m fast`)
and deleted even when tests fail. One cluster serves the whole session; each test gets a fresh
database in it (CREATE DATABASE is a file copy, far cheaper than a cluster).

PostgreSQL refuses to run as root, so when the tests run as root (CI containers) the server
commands run as the `postgres` system user, which owns the temporary directory.

The root conftest loads this module as a plugin (`pytest_plugins`), so every test directory has
the fixtures `postgres_cluster`, `database_kind`, `database_url`, `migrated_database_url` and
`store`; scripts and other tools can call the helpers (`running_cluster`, ...) directly.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine

from chatbridge.store import make_engine, upgrade

__all__ = [
    "BINARIES_MISSING",
    "DATABASE_KINDS",
    "MigratedTemplates",
    "PostgresCluster",
    "PostgresUnavailable",
    "database_kind",
    "database_url",
    "find_postgres_bindir",
    "in_ci",
    "migrated_database_url",
    "migrated_templates",
    "postgres_cluster",
    "require_postgres_bindir",
    "running_cluster",
    "sqlite_url",
    "store",
]

BINARIES_MISSING = "PostgreSQL server binaries not found: apt-get install postgresql"
DATABASE_KINDS = ("sqlite", "postgresql")
SUPERUSER = "postgres"
_REQUIRED = ("initdb", "pg_ctl", "postgres")


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL server binaries on this machine."""


def in_ci() -> bool:
    """True when the CI environment variable is set to something other than a false value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _has_binaries(bindir: Path) -> bool:
    return all((bindir / name).is_file() and os.access(bindir / name, os.X_OK) for name in _REQUIRED)


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_postgres_bindir() -> Path | None:
    """Locate initdb/pg_ctl/postgres: $PG_BINDIR, `pg_config --bindir`, Debian/RHEL dirs, $PATH.

    The Debian layout (/usr/lib/postgresql/<version>/bin) keeps the server binaries off $PATH, and
    the version differs between releases, so the newest installed version is taken.
    """
    candidates: list[Path] = []
    if explicit := os.environ.get("PG_BINDIR"):
        candidates.append(Path(explicit))
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            output = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            if output:
                candidates.append(Path(output))
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin"):
        candidates.extend(sorted(Path("/").glob(pattern.lstrip("/")), key=_version_key, reverse=True))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    return next((bindir for bindir in candidates if _has_binaries(bindir)), None)


def require_postgres_bindir() -> Path:
    """The server binaries' directory; without one, skip the test, or fail it when CI is set.

    A developer without PostgreSQL still gets the SQLite half of the suite, but CI must never
    pass by silently skipping the PostgreSQL half.
    """
    bindir = find_postgres_bindir()
    if bindir is None:
        if in_ci():
            pytest.fail(BINARIES_MISSING, pytrace=False)
        pytest.skip(BINARIES_MISSING)
    return bindir


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class PostgresCluster:
    """A running throwaway cluster; trust authentication for the `postgres` superuser."""

    bindir: Path
    base_dir: Path
    host: str
    port: int
    start_seconds: float
    user: str = SUPERUSER

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) of `database` in this cluster."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """Create an empty database (optionally copied from `template`) and return its name."""
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        with self._admin() as connection:
            connection.execute(statement)
        return name

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """The server stopped with its own tools for the block (`pg_ctl stop -m fast`, which
        ends every connection), then started again on the same port."""
        run_as, pg_ctl, data = _run_as(), str(self.bindir / "pg_ctl"), str(self.data_dir)
        _run([pg_ctl, "--pgdata", data, "--mode", "fast", "stop"], run_as, self.base_dir, timeout=60)
        try:
            yield
        finally:
            log = str(self.base_dir / "server.log")
            start = [pg_ctl, "--pgdata", data, "--log", log, "--wait", "--timeout", "60", "start"]
            _run(start, run_as, self.base_dir, timeout=90)

    def drop_database(self, name: str) -> None:
        """Drop `name`, disconnecting any session a test left behind."""
        with self._admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _run_as() -> str | None:
    """The user to run server commands as: `postgres` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError as error:
        raise PostgresUnavailable(
            "running as root but there is no 'postgres' system user to run the server as"
        ) from error
    return SUPERUSER


def _run(args: list[str], run_as: str | None, cwd: Path, timeout: float) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
    completed = subprocess.run(
        args, cwd=cwd, env=env, user=run_as, capture_output=True, text=True, timeout=timeout, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{Path(args[0]).name} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
        )


@contextlib.contextmanager
def running_cluster(
    bindir: Path | None = None, start_attempts: int = 3, settings: Mapping[str, str] | None = None
) -> Iterator[PostgresCluster]:
    """initdb + start a cluster in a fresh temp dir; always stop it and remove the dir afterwards.

    `settings` (postgresql.conf names and values) override the test defaults, which trade
    durability for speed (fsync off); the benchmarks ask for a durable server instead.
    """
    bindir = bindir or find_postgres_bindir()
    if bindir is None:
        raise PostgresUnavailable(BINARIES_MISSING)
    run_as = _run_as()
    # Not under pytest's tmp_path: that lives in a 0700 directory the postgres user cannot enter.
    base_dir = Path(tempfile.mkdtemp(prefix="chatbridge-pg-"))
    began = time.monotonic()
    started = False
    try:
        if run_as is not None:
            shutil.chown(base_dir, user=run_as)
        data_dir = base_dir / "data"
        _run(
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            run_as,
            base_dir,
            timeout=120,
        )
        port = 0
        last_error: Exception | None = None
        for _attempt in range(start_attempts):
            # The port is only reserved until bind() returns, so a race is possible: retry.
            port = _free_port()
            with (data_dir / "postgresql.conf").open("a") as conf:
                conf.write(
                    "\n# chatbridge test cluster\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"port = {port}\n"
                    f"unix_socket_directories = '{base_dir}'\n"
                    "fsync = off\n"
                    "synchronous_commit = off\n"
                    "full_page_writes = off\n"
                    "max_connections = 200\n"
                    "shared_buffers = 32MB\n"
                    "timezone = 'UTC'\n"
                )
                conf.writelines(f"{name} = {value}\n" for name, value in (settings or {}).items())
            try:
                _run(
                    [
                        str(bindir / "pg_ctl"),
                        "--pgdata",
                        str(data_dir),
                        "--log",
                        str(base_dir / "server.log"),
                        "--wait",
                        "--timeout",
                        "60",
                        "start",
                    ],
                    run_as,
                    base_dir,
                    timeout=90,
                )
            except RuntimeError as error:
                log = base_dir / "server.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                last_error = RuntimeError(f"{error}\nserver log:\n{tail}")
                continue
            started = True
            break
        if not started:
            raise RuntimeError(f"could not start PostgreSQL after {start_attempts} attempts") from last_error
        yield PostgresCluster(
            bindir=bindir,
            base_dir=base_dir,
            host="127.0.0.1",
            port=port,
            start_seconds=time.monotonic() - began,
        )
    finally:
        try:
            if started:
                _run(
                    [str(bindir / "pg_ctl"), "--pgdata", str(base_dir / "data"), "--mode", "fast", "stop"],
                    run_as,
                    base_dir,
                    timeout=60,
                )
        finally:
            shutil.rmtree(base_dir, ignore_errors=True)


def sqlite_url(directory: Path, name: str = "chatbridge.db") -> str:
    return f"sqlite:///{directory / name}"


# --------------------------------------------------------------------------- pytest fixtures


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The session's cluster. Missing binaries: skip locally, fail under CI (CI=true)."""
    with running_cluster(require_postgres_bindir()) as cluster:
        yield cluster


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_kind(request: pytest.FixtureRequest) -> str:
    """The database under test, `sqlite` or `postgresql`: the parameter `database_url` and `store` share.

    Both fixtures hang off this single parameter, so a test using both runs twice, not four times.
    """
    kind: str = request.param
    return kind


@pytest.fixture
def database_url(database_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database per test: a file in tmp_path, or a new database in the cluster."""
    if database_kind == "sqlite":
        yield sqlite_url(tmp_path)
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = cluster.create_database()
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


class MigratedTemplates:
    """Databases migrated to head once per session, copied for each test that needs a store.

    Copying (a file copy on SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL) is several times
    cheaper than replaying the migrations per test; the migration path itself is covered by the
    migration tests, which use `database_url`.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._sqlite: Path | None = None
        self._postgres: str | None = None

    def sqlite_copy(self, target_dir: Path) -> str:
        if self._sqlite is None:
            template = self._directory / "template.db"
            engine = make_engine(sqlite_url(self._directory, template.name))
            try:
                upgrade(engine)
            finally:
                engine.dispose()  # the last close checkpoints the WAL into the main file
            self._sqlite = template
        target = target_dir / "chatbridge.db"
        shutil.copyfile(self._sqlite, target)
        return sqlite_url(target_dir, target.name)

    def postgres_copy(self, cluster: PostgresCluster) -> str:
        if self._postgres is None:
            name = cluster.create_database("chatbridge_template")
            engine = make_engine(cluster.url(name))
            try:
                upgrade(engine)
            finally:
                engine.dispose()
            self._postgres = name
        return cluster.create_database(template=self._postgres)


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> MigratedTemplates:
    return MigratedTemplates(tmp_path_factory.mktemp("store-templates"))


@pytest.fixture
def migrated_database_url(
    database_kind: str,
    migrated_templates: MigratedTemplates,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[str]:
    """A fresh database per test, already at the head revision."""
    if database_kind == "sqlite":
        yield migrated_templates.sqlite_copy(tmp_path)
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = migrated_templates.postgres_copy(cluster)
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


@pytest.fixture
def store(migrated_database_url: str) -> Iterator[Engine]:
    """An engine (from `make_engine`) on a fresh database migrated to head; disposed afterwards."""
    engine = make_engine(migrated_database_url)
    try:
        yield engine
    finally:
        engine.dispose()
