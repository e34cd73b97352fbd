"""How requests to the homeserver fail, shared by every part of `MatrixPlatform`.

A refusal retrying cannot fix is a `PlatformError` (`MatrixLoginError` for the login); a rate limit
is `RateLimited` (the outbox's `RetryLater`) and an unreachable or failing homeserver is
`HomeserverUnavailable`, both of which the outbox retries.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from chatbridge.platform import PlatformError, RetryLater

TRANSIENT = (aiohttp.ClientError, TimeoutError, OSError)
"""What a request raises when the homeserver cannot be reached: passing, so retried later."""


class RateLimited(RetryLater):
    """The homeserver still says 429 after the bounded retries; try again after `retry_after` s."""


class HomeserverUnavailable(ConnectionError):
    """The homeserver cannot be reached or failed (5xx); passing, so callers retry later."""


class MatrixLoginError(PlatformError):
    """The homeserver refuses the bot's login (a wrong password, a token of another account);
    the message names what to fix."""


DESCRIBED_CHARS = 200
"""How much of a homeserver's error message is quoted: enough for its reason, not a page of body."""


def describe(response: Any) -> str:
    """A failed response in a few words for logs and errors: its status code and message.

    The message is the homeserver's own text and can echo the request (a password, a token):
    it is cut short and put on one line here, and masked where it is printed or logged.
    """
    code = getattr(response, "status_code", None)
    message = " ".join(str(getattr(response, "message", None) or "").split())
    if len(message) > DESCRIBED_CHARS:
        message = message[: DESCRIBED_CHARS - 1] + "…"
    if code or message:
        return f"{code or 'error'} {message or ''}".strip()
    return type(response).__name__
