"""Discord's 400 50035 Invalid Form Body, with the offending field's path nested like Discord does.

developers/topics/opcodes-and-status-codes.mdx (JSON error codes): the ``errors`` object mirrors
the request body, array indexes as keys, and each offending field holds ``_errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .faults import discord_error


class FormError(ValueError):
    """One broken rule at a path in the body; the REST pipeline answers it with 400."""

    def __init__(self, path: Sequence[str | int], code: str, message: str) -> None:
        super().__init__(f"{'.'.join(map(str, path))}: {code} {message}")
        self.path = tuple(path)
        self.code = code
        self.message = message

    def at(self, *prefix: str | int) -> FormError:
        return FormError((*prefix, *self.path), self.code, self.message)

    def body(self) -> dict[str, Any]:
        """The JSON Discord answers with status 400."""
        errors: dict[str, Any] = {"_errors": [{"code": self.code, "message": self.message}]}
        for key in reversed(self.path):
            errors = {str(key): errors}
        return discord_error(50035, "Invalid Form Body", errors)


def check_length(path: Sequence[str | int], value: Any, low: int, high: int) -> None:
    """A string between ``low`` and ``high`` characters (Discord's BASE_TYPE_BAD_LENGTH)."""
    if value is None and low == 0:
        return
    if not isinstance(value, str):
        raise FormError(path, "BASE_TYPE_REQUIRED", "This field is required")
    if not low <= len(value) <= high:
        if low == 0:
            raise FormError(path, "BASE_TYPE_MAX_LENGTH", f"Must be {high} or fewer in length.")
        raise FormError(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def check_count(path: Sequence[str | int], items: Any, high: int, *, low: int = 0) -> list[Any]:
    """An array of at most ``high`` (and at least ``low``) items."""
    found = list(items or [])
    if len(found) > high:
        raise FormError(path, "BASE_TYPE_MAX_LENGTH", f"Must be {high} or fewer in length.")
    if len(found) < low:
        raise FormError(path, "BASE_TYPE_MIN_LENGTH", f"Must be {low} or more in length.")
    return found
