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

_CREDENTIALS = (
    # "password": "…" (JSON, a Python dict) and token=… (a query string, a form, an assignment);
    # not `TOKEN: one is required`, which is our own wording naming a setting.
    re.compile(
        r"(?i)(access_token|password|passwd|secret|token)"
        r"([\"']\s*:\s*[\"']?|\s*=\s*[\"']?)[^\s\"'&,;}]+"
    ),
    re.compile(r"(?i)(authorization)([\"']?\s*[:=]\s*[\"']?)(?:Bearer |Bot )?[^\s\"'&,;}]+"),
)
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)(\S+)(@)")
_PORT_AND_PATH = re.compile(r"\d{1,5}/")
REDACTED = "***"

NOISY_LOGGERS = (
    "alembic",
    "discord.gateway",
    "discord.client",
    "discord.http",
    "discord.state",
    "discord.webhook",
    "aiohttp.access",
    "nio",
    "sqlalchemy",
)
"""Libraries kept at WARNING even when our own level is DEBUG: below it they log whole payloads
(messages sent and received, moderation notices with their reasons), which are members' words."""


def mask_url_passwords(text: str) -> str:
    """`text` with the password of every URL in it (`scheme://user:password@host`) masked."""

    def mask(match: re.Match[str]) -> str:
        if _PORT_AND_PATH.match(match.group(2)):
            return match.group(0)  # host:port/path/@user:server, not a password
        return f"{match.group(1)}{REDACTED}{match.group(3)}"

    return _URL_PASSWORD.sub(mask, text)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with the known `secrets`, URL passwords and anything shaped like a credential masked.

    For every line that leaves the process: log records, and errors printed at the terminal (a
    homeserver's answer can echo what it was sent).
    """
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern in _CREDENTIALS:
        text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return mask_url_passwords(text)


class RedactingFilter(logging.Filter):
    """Masks known secret values and anything shaped like a credential in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

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
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
    return handler
