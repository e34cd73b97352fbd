"""Custom column types shared by the SQLite and PostgreSQL backends.

The forum compares timestamps constantly (last activity, mute ends, digest periods, outbox retry
times). Python refuses to compare naive and aware datetimes, and SQLite has no time zone type at
all, so the store pins one rule at the column: aware UTC in Python, always, on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine

__all__ = ["NaiveDatetimeError", "UTCDateTime", "sqlite_utc_datetime", "sqlite_utc_text", "utcnow"]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only kind the store accepts)."""
    return datetime.now(UTC)


class NaiveDatetimeError(ValueError):
    """A naive datetime reached a UTCDateTime column.

    A naive value is ambiguous (local time? UTC?) and would be silently shifted by the server's
    time zone on PostgreSQL, so it is refused instead of guessed.
    """


def _refuse_naive(value: datetime) -> None:
    raise NaiveDatetimeError(
        f"naive datetime {value.isoformat()} refused: pass an aware datetime "
        "(e.g. datetime.now(UTC) or chatbridge.store.types.utcnow())"
    )


def sqlite_utc_text(value: datetime) -> str:
    """What UTCDateTime stores on SQLite, made directly: the bulk ingest binds ~100k of these per
    second, and the generic TypeDecorator chain costs several times more for the same text
    (`YYYY-MM-DD HH:MM:SS.ffffff` in UTC, exactly SQLAlchemy's SQLite DATETIME format: an aware
    UTC value's ISO form up to its `+00:00`)."""
    if value.tzinfo is not UTC:
        if value.tzinfo is None or value.utcoffset() is None:
            _refuse_naive(value)
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def sqlite_utc_datetime(text: str) -> datetime:
    """The aware UTC datetime a UTCDateTime column holds on SQLite, read directly (the inverse of
    `sqlite_utc_text`; `fromisoformat` is C, SQLAlchemy's reader a regular expression)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always an aware UTC `datetime` in Python.

    * PostgreSQL: `timestamp with time zone`; the value is converted to UTC before binding so the
      session time zone never matters.
    * SQLite: a naive `DATETIME` holding UTC (SQLite has no zone support; SQLAlchemy's SQLite
      DateTime stores ISO strings, which sort correctly only if they share one offset).

    Writes of naive datetimes raise `NaiveDatetimeError`; reads are always tagged UTC.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime expects a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            _refuse_naive(value)
        value = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def __repr__(self) -> str:
        # Alembic renders types with repr(); keep it the plain constructor call.
        return "UTCDateTime()"
