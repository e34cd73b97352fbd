"""Structured logging with secrets redacted.

Redaction happens in a filter on the handler, so a secret that reaches any logger (ours, discord.py's,
matrix-nio's, aiohttp's) is masked before it is written.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

_TOKEN_PATTERNS = (
    re.compile(
        r"(?i)(access_token|password|token|authorization)(\"?\s*[:=]\s*\"?)(Bearer |Bot )?[^\s\"&,}]+"
    ),
    re.compile(r"(postgresql(?:\+\w+)?://[^:/\s]+:)[^@\s]+(@)"),
)
REDACTED = "***"


class RedactingFilter(logging.Filter):
    """Masks known secret values and anything shaped like a credential in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        return _TOKEN_PATTERNS[1].sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(2)}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers; extra fields given with `extra=` are kept."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> logging.Handler:
    """Install one redacting handler on the root logger and return it (tests remove it again)."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_chatbridge", False):
            root.removeHandler(existing)
    handler._chatbridge = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in (
        "alembic",
        "discord.gateway",
        "discord.client",
        "aiohttp.access",
        "nio.rooms",
        "nio.responses",
    ):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
    return handler
