from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatbridge.adapters.memory import MemoryPlatform
from support.forum import Forum, running_forum, sqlite_url


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[Forum]:
    async with running_forum(sqlite_url(tmp_path)) as running:
        yield running


@pytest.fixture
def chat(forum: Forum) -> MemoryPlatform:
    return forum.chat
