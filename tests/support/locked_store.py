"""A SQLite store held by another process's exclusive lock, as a backup tool or a second bot
that keeps a long write transaction open would hold it: the bot's writes wait out their busy
timeout and fail with "database is locked" until the lock goes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


@contextmanager
def store_locked(database: Path) -> Iterator[None]:
    """Hold `database` locked by another process for the block."""
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert locker.stdin is not None and locker.stdout is not None
    try:
        assert locker.stdout.readline().strip() == "locked"
        yield
    finally:
        locker.stdin.write("\n")
        locker.stdin.flush()
        locker.wait(timeout=30)
        assert locker.returncode == 0
