"""Root conftest: the database fixtures, shared by every test directory.

They live in `support.postgres` (importable because pytest's `pythonpath` includes tests/):
`postgres_cluster` (session), `database_kind` (parametrised: sqlite, postgresql),
`database_url` (fresh empty database), `migrated_database_url` and `store` (fresh database at head).
Without PostgreSQL binaries the postgresql parameter is skipped, or fails when CI=true.
"""

pytest_plugins = ["support.postgres"]
