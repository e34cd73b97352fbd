"""Fixtures for tests that run the real discord.py client against the wire-level double.

- ``discord_double``: a started :class:`DiscordDouble` on a free 127.0.0.1 port, stopped after.
- ``community``: the double seeded with a small medical community (guild, #general, a forum...).
- ``discord_py_on_double``: discord.py's REST base and gateway URL pointed at the double for the
  test (monkeypatch restores both afterwards).

Note: this directory must never get an ``__init__.py``; with ``pythonpath = ["tests"]`` a regular
package named ``discord`` here would shadow discord.py itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from support.discord_double import Community, DiscordDouble, seed_community


@pytest.fixture
async def discord_double() -> AsyncIterator[DiscordDouble]:
    async with DiscordDouble() as double:
        yield double


@pytest.fixture
def community(discord_double: DiscordDouble) -> Community:
    return seed_community(discord_double.world)


@pytest.fixture
def discord_py_on_double(discord_double: DiscordDouble, monkeypatch: pytest.MonkeyPatch) -> DiscordDouble:
    """Both attributes are needed: discord.py builds REST URLs from ``Route.BASE`` and dials
    ``DEFAULT_GATEWAY`` itself instead of using the URL from /gateway/bot."""
    monkeypatch.setattr(Route, "BASE", discord_double.api_base)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(discord_double.gateway_url))
    return discord_double
