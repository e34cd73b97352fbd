"""Programmatic Alembic: upgrade to head, report the current revision, compare models to the schema.

The Alembic configuration is built in code from this package's own path, so `chatbridge db upgrade`
and the automatic upgrade at start-up work from any directory after a plain (non-editable)
`pip install .` — there is no alembic.ini at runtime.

Concurrency: on PostgreSQL the upgrade runs in one transaction (transactional DDL) after taking a
transaction-scoped advisory lock, so processes starting together serialise and the later ones see
the new revision and do nothing. On SQLite the whole upgrade runs in one `BEGIN IMMEDIATE`
transaction, which serialises writers the same way.

Alembic keeps its running environment in module-level state, so call these functions from one
thread at a time (start-up, the CLI); separate processes are fine.

Alembic is imported only when it has work to do: a bot starting on a store that is already at
the shipped head (the usual case) checks that with one query and never loads it (about 12 MB of
a process's memory).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import URL, Engine, inspect, text
from sqlmodel.sql.sqltypes import AutoString

from chatbridge.store.engine import make_engine
from chatbridge.store.tables import metadata
from chatbridge.store.types import UTCDateTime

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext
    from alembic.config import Config

__all__ = [
    "MIGRATIONS_DIR",
    "PG_MIGRATION_LOCK_KEY",
    "SchemaNotCurrentError",
    "UnknownRevisionError",
    "alembic_config",
    "check",
    "current_revision",
    "downgrade",
    "generate_revision",
    "head_revision",
    "migration_context_options",
    "pending_differences",
    "render_item",
    "shipped_head",
    "shipped_revisions",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

PG_MIGRATION_LOCK_KEY = 0x63_68_61_74_62_72_64
"""`pg_advisory_xact_lock` key held while migrating ("chatbrd" in ASCII)."""


class SchemaNotCurrentError(RuntimeError):
    """The database is not at the head revision, or differs from the models."""


class UnknownRevisionError(SchemaNotCurrentError):
    """The store is at a revision this package does not ship: a newer chatbridge migrated it.

    Raised before anything is changed, so the store stays as the newer version left it.
    """


def alembic_config() -> Config:
    """An Alembic `Config` pointing at the packaged migrations, without any ini file."""
    from alembic.config import Config

    config = Config()
    # ConfigParser interpolates "%": escape it in paths and templates.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("path_separator", "os")
    config.set_main_option("timezone", "UTC")
    return config


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our custom types in migration scripts without depending on SQLModel internals.

    `UTCDateTime` is imported from `chatbridge.store.types` (it must therefore stay importable
    under that name); SQLModel's `AutoString` becomes a plain `sa.String`.
    """
    if type_ == "type":
        if isinstance(obj, UTCDateTime):
            autogen_context.imports.add("from chatbridge.store.types import UTCDateTime")
            return "UTCDateTime()"
        if isinstance(obj, AutoString):
            return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def migration_context_options(dialect_name: str) -> dict[str, Any]:
    """Options shared by `env.py` and `pending_differences`, so both compare the same way."""
    return {
        "target_metadata": metadata,
        "compare_type": True,
        "render_item": render_item,
        # SQLite can only ALTER by copying tables: let autogenerate emit batch operations.
        "render_as_batch": dialect_name == "sqlite",
        # SQLite supports transactional DDL; with our BEGIN hook the whole upgrade is atomic.
        "transactional_ddl": True,
    }


@contextmanager
def _engine_for(engine_or_url: Engine | str | URL) -> Iterator[Engine]:
    if isinstance(engine_or_url, Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: head). Running it again is a no-op."""
    with _engine_for(engine_or_url) as engine:
        if revision == "head" and _at_shipped_head(engine):
            return
        _refuse_unknown_revision(engine)
        from alembic import command

        with engine.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)


_REVISION = re.compile(r'^revision(?:: str)? = "(?P<id>[^"]+)"', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision(?:: [^=]+)? = (?:None|"(?P<id>[^"]+)")', re.MULTILINE)


def shipped_head() -> str | None:
    """The newest revision shipped with this package, read from the migration files themselves
    (the revision no other one names as its `down_revision`); None when that is not one clear
    answer, and then Alembic decides (`head_revision`)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if found is None:
            continue
        if down is None:
            return None
        revisions.add(found["id"])
        if down["id"]:
            parents.add(down["id"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def shipped_revisions() -> frozenset[str]:
    """Every revision shipped with this package, read from the migration files."""
    paths = (MIGRATIONS_DIR / "versions").glob("*.py")
    found = (_REVISION.search(path.read_text(encoding="utf-8")) for path in paths)
    return frozenset(match["id"] for match in found if match is not None)


def _stored_revisions(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return []
        return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _refuse_unknown_revision(engine: Engine) -> None:
    unknown = [rev for rev in _stored_revisions(engine) if rev not in shipped_revisions()]
    if unknown:
        raise UnknownRevisionError(
            f"the store is at schema revision {unknown[0]}, which this chatbridge does not know "
            f"(it knows up to {shipped_head() or head_revision()}): a newer chatbridge migrated it; "
            "run that version or newer"
        )


def _at_shipped_head(engine: Engine) -> bool:
    """Whether the store is already at the shipped head, asked without Alembic."""
    head = shipped_head()
    if head is None:
        return False
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions == [head]


def downgrade(engine_or_url: Engine | str | URL, revision: str) -> None:
    """Downgrade to `revision` ("base" empties the schema). For development and tests only:
    production rolls forward with a new revision instead, since downgrades drop data."""
    from alembic import command

    with _engine_for(engine_or_url) as engine, engine.connect() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty (never migrated) database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this package, as Alembic sees it."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def pending_differences(engine: Engine) -> list[Any]:
    """Autogenerate's differences between the models and the database (empty when they agree).

    Each entry is an Alembic diff tuple such as `("add_table", Table)` or a list of column
    modifications; see `alembic.autogenerate.compare_metadata`.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts=migration_context_options(connection.dialect.name)
        )
        differences: list[Any] = compare_metadata(context, metadata)
        return differences


def check(engine: Engine) -> None:
    """Raise `SchemaNotCurrentError` unless the database is at head and matches the models."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotCurrentError(f"database at revision {current!r}, expected {head!r}: run upgrade")
    differences = pending_differences(engine)
    if differences:
        raise SchemaNotCurrentError(f"schema differs from the models: {differences!r}")


def generate_revision(
    engine_or_url: Engine | str | URL, message: str, rev_id: str | None = None
) -> list[Path]:
    """Developer helper: autogenerate a new migration against an up-to-date database.

    Writes into this package's `migrations/versions` (use an editable checkout). Always review the
    result: autogenerate misses renames and CHECK constraint changes.
    """
    from alembic import command

    with _engine_for(engine_or_url) as engine, engine.connect() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        result = command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
    scripts = result if isinstance(result, list) else [result]
    return [Path(script.path) for script in scripts if script is not None]
