"""Root conftest: the database fixtures, shared by every test directory, and Hypothesis's profiles.

They live in `support.postgres` (importable because pytest's `pythonpath` includes tests/):
`postgres_cluster` (session), `database_kind` (parametrised: sqlite, postgresql),
`database_url` (fresh empty database), `migrated_database_url` and `store` (fresh database at head).
Without PostgreSQL binaries the postgresql parameter is skipped, or fails when CI=true.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from chatbridge.logs import NOISY_LOGGERS

pytest_plugins = ["support.postgres"]

# Property tests (tests/commands/test_hostile_input.py): 1,000 examples per test function in CI,
# 10,000 with HYPOTHESIS_PROFILE=slow. Examples are drawn afresh each run (no example database):
# a failure prints the blob that reproduces it.
settings.register_profile("ci", max_examples=1_000, database=None, print_blob=True)
settings.register_profile("slow", max_examples=10_000, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
