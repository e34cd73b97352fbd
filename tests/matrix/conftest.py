"""Fixtures for end-to-end tests against a real Synapse.

One homeserver serves the whole session: Synapse takes seconds to start, a registered user takes
milliseconds, so isolation comes from fresh, uniquely named members (and rooms they create)
rather than from fresh servers.

The homeserver fixture is async with ``loop_scope="session"`` because the Synapse subprocess is
bound to the loop that spawned it and must be reaped on that same loop at teardown. Tests keep
their default per-test loop: ``Homeserver``'s helpers open their own HTTP session per call and
nio clients are created inside each test, so nothing loop-bound crosses over.
"""

from __future__ import annotations

import importlib.util
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from nio import AsyncClient

from chatbridge.sandbox import Homeserver

MakeMember = Callable[[str], Awaitable[AsyncClient]]

_LOCALPART_UNSAFE = re.compile(r"[^a-z0-9._=-]")


@pytest.fixture(scope="session")
def synapse_bytecode_cache(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synapse's compiled modules, kept across sessions in .pytest_cache: they halve its start
    time on installs without bytecode (see ``Homeserver.start``). Pass it to every homeserver a
    test starts itself."""
    # find_spec, not importorskip: importing Synapse into pytest would cost seconds for nothing.
    if importlib.util.find_spec("synapse") is None:
        pytest.skip("needs matrix-synapse (the 'sandbox' extra)")
    cache: pytest.Cache | None = getattr(pytestconfig, "cache", None)  # -p no:cacheprovider
    if cache is not None:
        return cache.mkdir("synapse-bytecode")
    return tmp_path_factory.mktemp("synapse-bytecode")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def homeserver(
    synapse_bytecode_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Homeserver]:
    async with Homeserver.start(
        tmp_path_factory.mktemp("synapse"), bytecode_cache=synapse_bytecode_cache
    ) as hs:
        yield hs


@pytest.fixture
async def make_member(homeserver: Homeserver) -> AsyncIterator[MakeMember]:
    """``alice = await make_member("alice")``: a new user (display name "alice", unique
    localpart such as ``alice-1f3a9c0e``) as a logged-in nio client, closed after the test."""
    clients: list[AsyncClient] = []

    async def make(name: str) -> AsyncClient:
        localpart = f"{_LOCALPART_UNSAFE.sub('_', name.lower())}-{secrets.token_hex(4)}"
        user = await homeserver.register_user(
            localpart, secrets.token_urlsafe(16), displayname=name, exist_ok=False
        )
        client = homeserver.client_for(user)
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
async def matrix_user(make_member: MakeMember) -> AsyncClient:
    """A single member for tests that need one account and no conversation partner."""
    return await make_member("member")
