"""Root conftest: the database fixtures, shared by every test directory.

They live in `support.postgres` (importable because pytest's `pythonpath` includes tests/):
`postgres_cluster` (session), `database_kind` (parametrised: sqlite, postgresql),
`database_url` (fresh empty database), `migrated_database_url` and `store` (fresh database at head).
Without PostgreSQL binaries the postgresql parameter is skipped, or fails when CI=true.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from chatbridge.logs import NOISY_LOGGERS

pytest_plugins = ["support.postgres"]


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A test that runs `chatbridge` in-process installs the bot's log handler on the root logger,
    bound to that test's captured stderr; put the root logger back so later tests neither write to
    a closed stream nor inherit its levels."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, was in noisy.items():
        logging.getLogger(name).setLevel(was)
