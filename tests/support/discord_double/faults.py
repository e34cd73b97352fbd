"""Scripted failures for REST routes: rate limits and Discord error responses.

Error bodies follow Discord's documented shapes so discord.py raises the exception production
would (``Forbidden`` with ``code == 50013``, a retried 429, ...):
https://discord.com/developers/docs/topics/opcodes-and-status-codes#json
https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .recording import PathPattern


@dataclass
class Fault:
    """A canned response served instead of the real handler, ``times`` times (``None`` = forever)."""

    method: str
    pattern: PathPattern
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = 1
    served: int = 0
    while_: Callable[[], bool] | None = None
    """Served only while this holds (a storm that lasts a span of a test's clock)."""
    after_applying: bool = False
    """The request is carried out as usual, then the connection is dropped before the answer: the
    client cannot know whether it was applied (a lost response). ``status`` and ``body`` unused."""

    def applies_to(self, method: str, path: str, route: str | None) -> bool:
        if self.times is not None and self.served >= self.times:
            return False
        if self.while_ is not None and not self.while_():
            return False
        return self.method in (method, "*") and self.pattern.matches(path, route)


def discord_error(code: int, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    """Discord's JSON error body, e.g. ``{"code": 50013, "message": "Missing Permissions"}``."""
    body: dict[str, Any] = {"message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def rate_limit_response(
    *, retry_after: float, is_global: bool, scope: str, bucket: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """Headers and body of a 429, with every header discord.py reads.

    discord.py only honours a 429 that carries a ``Via`` header; without it the library assumes a
    Cloudflare ban and raises immediately.  Discord's API responses carry ``Via: 1.1 google``.
    """
    reset = time.time() + retry_after
    headers = {
        "Retry-After": str(max(1, math.ceil(retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{reset:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Scope": scope,
        "Via": "1.1 google",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
    return headers, body


class FaultPlan:
    """The ordered set of scripted failures; the first applicable one wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def take(self, method: str, path: str, route: str | None) -> Fault | None:
        for fault in self._faults:
            if fault.applies_to(method, path, route):
                fault.served += 1
                return fault
        return None

    def clear(self) -> None:
        self._faults.clear()
