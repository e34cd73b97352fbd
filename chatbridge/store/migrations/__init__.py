"""Alembic migrations of the store (loaded by `chatbridge.store.migrate`, not imported directly)."""
