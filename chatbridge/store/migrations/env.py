"""Alembic environment for the store, run by `chatbridge.store.migrate`.

`migrate.upgrade()` hands over an open connection in `config.attributes["connection"]`; without
one (e.g. the alembic CLI with `-x url=...` or `sqlalchemy.url`) an engine is made from the URL.
Database-specific care taken here:

* PostgreSQL: a transaction-scoped advisory lock, so concurrent upgrades run one after the other.
* SQLite: foreign keys are switched off for the duration (future batch migrations copy and drop
  tables, which would otherwise fail or, worse, fire ON DELETE CASCADE), checked with
  `PRAGMA foreign_key_check` before commit, and switched back on.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from chatbridge.store.engine import make_engine
from chatbridge.store.migrate import PG_MIGRATION_LOCK_KEY, migration_context_options

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a connection (chatbridge.store.migrate) or -x url=...")
    return url


def _set_sqlite_foreign_keys(connection: Connection, enabled: bool) -> None:
    # PRAGMA foreign_keys is silently ignored inside a transaction, so go to the driver directly
    # rather than through SQLAlchemy (which would BEGIN first).
    dbapi_connection = connection.connection.driver_connection
    assert dbapi_connection is not None
    dbapi_connection.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")


def _run(connection: Connection) -> None:
    dialect = connection.dialect.name
    toggle_foreign_keys = dialect == "sqlite" and not connection.in_transaction()
    if toggle_foreign_keys:
        _set_sqlite_foreign_keys(connection, False)
    try:
        context.configure(connection=connection, **migration_context_options(dialect))
        with context.begin_transaction():
            if dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY})
            context.run_migrations()
            if dialect == "sqlite":
                problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if problems:
                    raise RuntimeError(f"migration left dangling foreign keys: {problems!r}")
    finally:
        if toggle_foreign_keys:
            _set_sqlite_foreign_keys(connection, True)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as own_connection:
            _run(own_connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    """Emit SQL instead of running it (`alembic upgrade --sql`), e.g. for a DBA to review."""
    url = _url()
    dialect = url.split(":", 1)[0].split("+", 1)[0]
    context.configure(url=url, literal_binds=True, **migration_context_options(dialect))
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
