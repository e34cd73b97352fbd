"""Errors whose message is meant for the person in the chat.

Anything else that escapes a handler is a bug: dispatch logs it and the chat gets a short apology,
never a traceback.
"""

from __future__ import annotations


class CommandError(Exception):
    """A request that cannot be done as asked; `message` is polite and says what would work."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(CommandError):
    """The thing the member named does not exist (or they may not see it)."""


class PermissionDenied(CommandError):
    """The member's privilege is below what the command needs."""
