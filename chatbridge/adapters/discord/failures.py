"""How a Discord request failed: gone, passing, or refused; and what each one costs.

* **Gone**: a 404, or a 403 that means the bot cannot see the thing at all (Discord's codes such
  as 10003 Unknown Channel, 10008 Unknown Message, 10013 Unknown User, 50001 Missing Access).
  Asking again cannot help: what it was about is skipped with one log line naming the ids, and an
  outbox action is refused (`PlatformError`, which sets it aside).
* **Passing**: a 429, a 5xx, a timeout, a dropped connection. discord.py already waits out 429s
  and retries some 5xx a few times; what still fails is tried again here (with back-off), or, for
  an outbox action, handed back as `RetryLater`. It never turns into a skip.
* **Refused**: any other 4xx (a missing permission, a request Discord will not take). Like gone,
  retrying cannot change it.

https://discord.com/developers/docs/topics/opcodes-and-status-codes#json
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, ParamSpec, TypeVar

import aiohttp
import discord

from chatbridge.platform import PlatformError, RetryLater

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

GONE_CODES = frozenset({10003, 10004, 10007, 10008, 10013, 50001})
"""Unknown Channel, Unknown Guild, Unknown Member, Unknown Message, Unknown User, Missing Access."""
RATE_LIMIT_WAIT = 5.0
"""Seconds before an outbox action that ended on a 429 is tried again, when Discord said nothing."""
SERVER_ERROR_WAIT = 2.0
"""Seconds before an outbox action that ended on a 5xx or a timeout is tried again."""
SUMMARY_CHARS = 300


def is_gone(error: BaseException) -> bool:
    """A 404, or a 403 that means no access at all: asking again cannot help."""
    if isinstance(error, discord.NotFound):
        return True
    return isinstance(error, discord.Forbidden) and error.code in GONE_CODES


def is_passing(error: BaseException) -> bool:
    """A rate limit, a server error, a timeout or a lost connection: worth asking again."""
    if isinstance(error, discord.RateLimited | discord.DiscordServerError):
        return True
    if isinstance(error, discord.HTTPException):
        return error.status == 429 or error.status >= 500
    return isinstance(error, TimeoutError | aiohttp.ClientError | ConnectionError)


def retry_after(error: BaseException) -> float:
    """How long Discord asked us to wait (a 429's Retry-After), or a short default."""
    if isinstance(error, discord.RateLimited):
        return float(error.retry_after)
    if isinstance(error, discord.HTTPException) and error.status == 429:
        header = error.response.headers.get("Retry-After") if error.response is not None else None
        with contextlib.suppress(TypeError, ValueError):
            return max(float(header), 0.0) if header is not None else RATE_LIMIT_WAIT
        return RATE_LIMIT_WAIT
    return SERVER_ERROR_WAIT


def summary(error: BaseException) -> str:
    """Discord's answer in one bounded line: status, error code and Discord's own message."""
    text = " ".join(str(error).split())
    said = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return said[:SUMMARY_CHARS]


@contextlib.contextmanager
def for_the_outbox(what: str) -> Iterator[None]:
    """Classify what an action raised for the outbox: passing -> `RetryLater`, gone or refused ->
    `PlatformError` (set aside at once). Refusals the verb already put in words pass through."""
    try:
        yield
    except (PlatformError, RetryLater):
        raise
    except Exception as error:
        if is_passing(error):
            raise RetryLater(f"Discord: could not {what}: {summary(error)}", retry_after(error)) from error
        if isinstance(error, discord.HTTPException):
            raise PlatformError(f"Discord: could not {what}: {summary(error)}") from error
        raise


def outbox_verb(what: str) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """A platform verb whose failures reach the outbox classified (see `for_the_outbox`)."""

    def wrap(verb: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(verb)
        async def classified(*args: P.args, **kwargs: P.kwargs) -> T:
            with for_the_outbox(what):
                return await verb(*args, **kwargs)

        return classified

    return wrap


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    attempts: int | None,
    first: float,
    most: float,
    keep_going: Callable[[], bool] = lambda: True,
) -> T:
    """Run `call`, asking again after passing failures with doubling pauses (`first` up to
    `most` seconds); after `attempts` tries (None: as long as `keep_going()`), the last failure
    is raised. Anything that is not passing is raised at once."""
    pause = first
    tried = 0
    while True:
        try:
            return await call()
        except Exception as error:
            tried += 1
            if not is_passing(error) or (attempts is not None and tried >= attempts) or not keep_going():
                raise
            log.warning("Discord: could not %s (%s); trying again in %.1f s", what, summary(error), pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, most)
