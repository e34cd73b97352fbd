"""A reverse proxy in front of the real Synapse that answers chosen requests with an error a
given number of times (a 429 with Retry-After, as a rate-limited homeserver does), and passes
everything else through untouched. The bot under test talks to the proxy as to its homeserver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class FlakyProxy:
    """Forwards to `upstream`; `fail(path_part, times)` makes the next `times` requests whose
    path contains `path_part` fail with a 429 instead."""

    upstream: str
    url: str = ""
    failures: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    """How many requests were failed so far, by path part."""
    _session: aiohttp.ClientSession | None = None

    def fail(self, path_part: str, times: int) -> None:
        self.failures[path_part] = times
        self.failed.setdefault(path_part, 0)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        for part, left in self.failures.items():
            if left > 0 and part in request.path:
                self.failures[part] = left - 1
                self.failed[part] += 1
                return web.json_response(
                    {"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests", "retry_after_ms": 100},
                    status=429,
                    headers={"Retry-After": "1"},
                )
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=await request.read()
        ) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            kept.pop("Content-Encoding", None)
            return web.Response(status=answer.status, body=body, headers=kept)


@asynccontextmanager
async def flaky_proxy(upstream: str) -> AsyncIterator[FlakyProxy]:
    """A proxy to `upstream` on a free local port, for the block."""
    proxy = FlakyProxy(upstream.rstrip("/"))
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", proxy._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    proxy.url = f"http://{host}:{port}"
    proxy._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None), auto_decompress=True)
    try:
        yield proxy
    finally:
        await proxy._session.close()
        await runner.cleanup()
