"""Root conftest: the database fixtures, shared by every test directory, and Hypothesis's profiles.

They live in `support.postgres` (importable because pytest's `pythonpath` includes tests/):
`postgres_cluster` (session), `database_kind` (parametrised: sqlite, postgresql),
`database_url` (fresh empty database), `migrated_database_url` and `store` (fresh database at head).
Without PostgreSQL binaries the postgresql parameter is skipped, or fails when CI=true.
"""

import os

from hypothesis import settings

pytest_plugins = ["support.postgres"]

# Property tests (tests/commands/test_hostile_input.py): 1,000 examples per test function in CI,
# 10,000 with HYPOTHESIS_PROFILE=slow. Examples are drawn afresh each run (no example database):
# a failure prints the blob that reproduces it.
settings.register_profile("ci", max_examples=1_000, database=None, print_blob=True)
settings.register_profile("slow", max_examples=10_000, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
