"""Set-based statements for the ingest's hot path, run on the driver's own cursor.

Why not SQLAlchemy Core here: for a batch of 2,000 events, Core spends longer processing
parameters row by row (building each parameter dict, running type processors, rendering
multi-row VALUES) than SQLite spends writing the rows; and on PostgreSQL an executemany is one
statement per row (pipelined, but each one parsed, planned and executed by the server). These
helpers keep the session's transaction and each column's own type processors, and change only
how the rows travel:

* SQLite: one prepared statement run by `executemany` over plain tuples; where ids must come
  back, multi-row VALUES with RETURNING (sqlite3's `executemany` discards returned rows).
* PostgreSQL: one statement per table and batch, each column passed as one array and expanded
  with `unnest`, so a 2,000-row write is one round trip and one plan. The arrays travel in
  binary (integer columns packed in one call), and writes that return nothing can be pipelined
  so the server works on one while this process prepares the next.

Only the ingest's fixed set of statements uses this; everything else stays on the ORM.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import chain, repeat
from typing import Any

from sqlalchemy import Boolean, Column, Integer, Table
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from chatbridge.store.types import UTCDateTime, sqlite_utc_datetime, sqlite_utc_text

__all__ = ["Bulk"]

SQLITE_CHUNK = 500
"""Rows per SQLite IN list or multi-row VALUES: every chunk is padded to this size, so each
statement's text (and its prepared form in sqlite3's statement cache) is the same every time."""

UTC_TEXTS_REMEMBERED = 8_192
"""Timestamps `Bulk` keeps formatted for SQLite: more than a batch's events (the ingest's batches
hold at most 8,000), about 3 MB."""

SQLITE_MAX_VARIABLES = 32_766  # SQLite's SQLITE_MAX_VARIABLE_NUMBER since 3.32

Processor = Callable[[Any], Any] | None

INGEST_LOCK_SPACE = 0x63686272  # "chbr": the first key of chatbridge's advisory locks

_INT4_OID = 23
_INT4_ARRAY_OID = 1007
_ARRAY_HEADER = struct.Struct(">iiIii")  # dimensions, has nulls, element type; length, lower bound


class _PackedInt4Array:
    """An int4[] already in PostgreSQL's binary array format (see `_pack_int4`)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _packed_int4_dumper() -> type[Any]:
    """psycopg's dumper for `_PackedInt4Array` (sends the bytes as they are).

    Built on first use on PostgreSQL, so that a SQLite-only process never loads psycopg (10 MB).
    """
    from psycopg import pq
    from psycopg.adapt import Dumper

    class PackedInt4ArrayDumper(Dumper):
        format = pq.Format.BINARY
        oid = _INT4_ARRAY_OID

        def dump(self, obj: Any) -> bytes:
            data: bytes = obj.data
            return data

    return PackedInt4ArrayDumper


def _pack_int4(values: list[Any]) -> _PackedInt4Array | None:
    """`values` as one binary int4[] built by a single `struct.pack`; None when that cannot
    represent them (a NULL, a value that is not an int or is out of range, no values at all).

    psycopg's binary list dumper packs each element in a Python loop (about 0.6 us each); most
    of a batch's values are integer ids and counters, packed here all at once.
    """
    count = len(values)
    if not count:
        return None
    try:
        body = struct.pack(
            f">{2 * count}i", *chain.from_iterable(zip(repeat(4, count), values, strict=False))
        )
    except struct.error:
        return None
    return _PackedInt4Array(_ARRAY_HEADER.pack(1, 0, _INT4_OID, count, 1) + body)


@dataclass
class Bulk:
    """Hot-path statements for one dialect; owned by the ingest (per process, never global)."""

    dialect: Dialect
    _binders: dict[tuple[str, str], Processor] = field(default_factory=dict)
    _readers: dict[tuple[str, str], Processor] = field(default_factory=dict)
    _sql: dict[tuple[Any, ...], str] = field(default_factory=dict)
    _sequences: dict[str, str] = field(default_factory=dict)
    """Table -> the name of its id sequence (PostgreSQL; see `reserve_ids`)."""
    _int4_dumper: type[Any] | None = None
    _utc_text: Callable[[datetime], str] = field(init=False)
    """`sqlite_utc_text`, remembering its last results: one event's time is bound several
    times (its processed-event row, its post or like and like source), so most calls repeat."""

    def __post_init__(self) -> None:
        self._utc_text = lru_cache(maxsize=UTC_TEXTS_REMEMBERED)(sqlite_utc_text)

    @property
    def postgres(self) -> bool:
        return self.dialect.name == "postgresql"

    # -- statements --------------------------------------------------------------------------

    @contextmanager
    def pipeline(self, session: Session) -> Iterator[None]:
        """Statements issued inside are sent without waiting for each one's result (PostgreSQL).

        The server executes one statement while this process builds the next one's parameters,
        so a run of writes costs about the larger of the two rather than their sum. A statement
        that fails raises at the latest when the block ends (and then the transaction is
        aborted, as usual); one whose rows are fetched (`returning`) waits for its result.
        SQLite runs in this process, so there is nothing to overlap: a no-op.
        """
        if not self.postgres:
            yield
            return
        driver = session.connection().connection.driver_connection
        assert driver is not None
        with driver.pipeline():
            yield

    def reserve_ids(self, session: Session, table: Table, count: int) -> list[int]:
        """`count` fresh ids for `table`, ascending.

        Rows inserted with ids known beforehand need no RETURNING: on PostgreSQL their insert
        can join a pipeline, on SQLite it is a plain `executemany` instead of multi-row VALUES
        whose results must be read back.

        * PostgreSQL: values of the table's id sequence, named once per table: asked for in the
          statement itself, `pg_get_serial_sequence` ran its catalog look-ups for every id (2.9
          us each on the server, 0.5 with the name given).
        * SQLite: the ids after the largest one, which is how SQLite numbers a rowid table's rows
          itself. Safe because the session's transaction holds SQLite's single write lock (the
          store's transactions begin IMMEDIATE): nobody else can insert into the table before
          this transaction ends. Not for `reading` sessions.
        """
        cursor = _cursor(session)
        if not self.postgres:
            self._execute(cursor, f"SELECT coalesce(max(id), 0) FROM {table.name}", [])
            (largest,) = cursor.fetchone()
            return list(range(largest + 1, largest + 1 + count))
        sequence = self._sequences.get(table.name)
        if sequence is None:
            self._execute(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [table.name])
            (sequence,) = cursor.fetchone()
            self._sequences[table.name] = sequence
        self._execute(cursor, "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count])
        return sorted(row[0] for row in cursor.fetchall())

    def insert(
        self,
        session: Session,
        table: Table,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        returning: Sequence[str] = (),
        skip_conflicts: bool = False,
    ) -> list[tuple[Any, ...]]:
        """Insert `rows` (values in `columns` order); the `returning` columns of inserted rows.

        With `skip_conflicts`, a row that breaks a unique constraint (also against an earlier row
        of the same call) is left out silently and returns nothing: the caller learns which rows
        are new from what comes back.
        """
        if not rows:
            return []
        names = ", ".join(columns)
        conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
        back = f" RETURNING {', '.join(returning)}" if returning else ""
        cursor = _cursor(session)
        if self.postgres:
            arrays = ", ".join(self._pg_array(table, c) for c in columns)
            self._execute(
                cursor,
                f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays}){conflict}{back}",
                self._bind_columns(table, columns, rows),
            )
            return [tuple(r) for r in cursor.fetchall()] if returning else []
        bound = self._bind_rows(table, columns, rows)
        if not returning:
            verb = "INSERT OR IGNORE" if skip_conflicts else "INSERT"
            marks = ", ".join("?" * len(columns))
            cursor.executemany(f"{verb} INTO {table.name} ({names}) VALUES ({marks})", bound)
            return []
        size = min(SQLITE_CHUNK, SQLITE_MAX_VARIABLES // len(columns))
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(bound), size):
            chunk = bound[start : start + size]
            shape = ("insert", table.name, tuple(columns), len(chunk), conflict, back)
            sql = self._sql.get(shape)
            if sql is None:
                values = ", ".join([f"({', '.join('?' * len(columns))})"] * len(chunk))
                sql = self._sql[shape] = f"INSERT INTO {table.name} ({names}) VALUES {values}{conflict}{back}"
            self._execute(cursor, sql, [value for row_values in chunk for value in row_values])
            found.extend(tuple(r) for r in cursor.fetchall())
        return found

    def update(
        self,
        session: Session,
        table: Table,
        key: str,
        rows: Sequence[Sequence[Any]],
        *,
        add: Sequence[str] = (),
        assign: Sequence[str] = (),
        assign_given: Sequence[str] = (),
        returning: Sequence[str] = (),
    ) -> list[tuple[Any, ...]]:
        """Per row `(key, *deltas for add, *values for assign, *values for assign_given)`:
        column += delta; column = value; column = value unless the value is None.

        With `returning`, those columns of every updated row, as they are after the update
        (read through their types); a row is found by its key, in no particular order. Keys must
        be unique within one call (on PostgreSQL one statement joins all rows, and a row is
        updated at most once).
        """
        if not rows:
            return []
        columns = [key, *add, *assign, *assign_given]
        first_given = 1 + len(add) + len(assign)
        cursor = _cursor(session)
        if self.postgres:
            arrays = ", ".join(self._pg_array(table, c) for c in columns)
            alias = ", ".join(f"c{n}" for n in range(len(columns)))
            sets = [f"{c} = t.{c} + d.c{n}" for n, c in enumerate(add, start=1)]
            sets += [f"{c} = d.c{n}" for n, c in enumerate(assign, start=1 + len(add))]
            sets += [f"{c} = COALESCE(d.c{n}, t.{c})" for n, c in enumerate(assign_given, start=first_given)]
            back = f" RETURNING {', '.join(f't.{c}' for c in returning)}" if returning else ""
            self._execute(
                cursor,
                f"UPDATE {table.name} AS t SET {', '.join(sets)} "
                f"FROM unnest({arrays}) AS d({alias}) WHERE t.{key} = d.c0{back}",
                self._bind_columns(table, columns, rows),
            )
            return self._read_rows(table, returning, cursor.fetchall()) if returning else []
        # SQLite rewrites the index entries of every column a statement sets, changed or not, so
        # an `add` of 0 is left out: rows are grouped by which of their deltas are non-zero
        # (a reply moves two of a member's six counters, a like one), one statement shape each.
        bound = self._bind_rows(table, columns, rows)
        groups: dict[tuple[bool, ...], list[tuple[Any, ...]]] = defaultdict(list)
        width = len(add)
        for row in bound:
            moved = tuple(delta != 0 for delta in row[1 : 1 + width])
            deltas = (d for d, m in zip(row[1 : 1 + width], moved, strict=True) if m)
            groups[moved].append((row[0], *deltas, *row[1 + width :]))
        found: list[tuple[Any, ...]] = []
        for moved, values in groups.items():
            names = [c for c, m in zip(add, moved, strict=True) if m]
            sets = [f"{c} = {c} + ?" for c in names]
            sets += [f"{c} = ?" for c in assign] + [f"{c} = COALESCE(?, {c})" for c in assign_given]
            if not sets:  # nothing moves: with `returning`, the rows as they are
                if returning:
                    found.extend(self.select_in(session, table, returning, key, [v[0] for v in values]))
                continue
            if not returning:
                sql = f"UPDATE {table.name} SET {', '.join(sets)} WHERE {key} = ?"
                cursor.executemany(sql, [(*v[1:], v[0]) for v in values])
                continue
            found.extend(
                self._sqlite_update_returning(
                    cursor, table, key, names, assign, assign_given, values, returning
                )
            )
        return found

    def _sqlite_update_returning(
        self,
        cursor: Any,
        table: Table,
        key: str,
        add: Sequence[str],
        assign: Sequence[str],
        assign_given: Sequence[str],
        values: list[tuple[Any, ...]],
        returning: Sequence[str],
    ) -> list[tuple[Any, ...]]:
        """One UPDATE ... FROM (VALUES ...) RETURNING per chunk (sqlite3's `executemany` drops
        returned rows); chunks are padded with rows no key matches, so the text is always the same."""
        width = len(values[0])
        size = min(SQLITE_CHUNK, SQLITE_MAX_VARIABLES // width)
        shape = ("update", table.name, key, tuple(add), tuple(assign), tuple(assign_given), tuple(returning))
        sql = self._sql.get(shape)
        if sql is None:
            sets = [f"{c} = {c} + d.column{n}" for n, c in enumerate(add, start=2)]
            sets += [f"{c} = d.column{n}" for n, c in enumerate(assign, start=2 + len(add))]
            sets += [
                f"{c} = COALESCE(d.column{n}, {c})"
                for n, c in enumerate(assign_given, start=2 + len(add) + len(assign))
            ]
            marks = ", ".join([f"({', '.join('?' * width)})"] * size)
            sql = self._sql[shape] = (
                f"UPDATE {table.name} SET {', '.join(sets)} FROM (VALUES {marks}) AS d "
                f"WHERE {table.name}.{key} = d.column1 RETURNING {', '.join(returning)}"
            )
        rows: list[Any] = []
        for start in range(0, len(values), size):
            chunk = values[start : start + size]
            padding = [(None, *chunk[0][1:])] * (size - len(chunk))
            self._execute(cursor, sql, [value for row in [*chunk, *padding] for value in row])
            rows.extend(cursor.fetchall())
        return self._read_rows(table, returning, rows)

    def lock_communities(self, session: Session, community_ids: Iterable[int]) -> None:
        """Hold each community's ingest lock until the transaction ends (PostgreSQL).

        Two writers updating the counters of the same members, each in its own order (one batch
        may also interleave set-based runs with single events), can deadlock; PostgreSQL then
        fails one of them after a second. A member belongs to one community, so writers holding
        its lock take turns instead, while writers of different communities (Discord shards
        share no guild) still run side by side. Locks are taken in id order. SQLite needs
        nothing: a write transaction holds the whole store.
        """
        if not self.postgres:
            return
        cursor = _cursor(session)
        for community_id in sorted(set(community_ids)):
            self._execute(cursor, "SELECT pg_advisory_xact_lock(%s, %s)", [INGEST_LOCK_SPACE, community_id])

    def delete(
        self, session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Delete the rows whose `columns` equal each of `rows`."""
        if not rows:
            return
        cursor = _cursor(session)
        if self.postgres:
            arrays = ", ".join(self._pg_array(table, c) for c in columns)
            alias = ", ".join(f"c{n}" for n in range(len(columns)))
            match = " AND ".join(f"t.{c} = d.c{n}" for n, c in enumerate(columns))
            self._execute(
                cursor,
                f"DELETE FROM {table.name} AS t USING unnest({arrays}) AS d({alias}) WHERE {match}",
                self._bind_columns(table, columns, rows),
            )
            return
        bound = self._bind_rows(table, columns, rows)
        match = " AND ".join(f"{c} = ?" for c in columns)
        cursor.executemany(f"DELETE FROM {table.name} WHERE {match}", bound)

    def select_in(
        self,
        session: Session,
        table: Table,
        columns: Sequence[str],
        key: str,
        values: Iterable[Any],
        *,
        where: Mapping[str, Any] | None = None,
        condition: str = "",
    ) -> list[tuple[Any, ...]]:
        """`columns` of the rows whose `key` is one of `values` (and `where` columns equal, and
        the raw SQL `condition` on the table's own columns holds), read through the columns' types."""
        wanted = sorted(set(values))
        if not wanted:
            return []
        where = dict(where or {})
        fixed = [self._bind(table, c, v) for c, v in where.items()]
        tests = [f"{c} = {'%s' if self.postgres else '?'}" for c in where]
        if condition:
            tests.append(condition)
        prefix = f"SELECT {', '.join(columns)} FROM {table.name} WHERE "
        process = self._binder(table, key)
        keys = wanted if process is None else [v if v is None else process(v) for v in wanted]
        cursor = _cursor(session)
        rows: list[Any] = []
        if self.postgres:
            sql = prefix + " AND ".join([*tests, f"{key} = ANY({self._pg_array(table, key)})"])
            self._execute(cursor, sql, [*fixed, self._pg_values(table, key, keys)])
            rows = cursor.fetchall()
        else:
            marks = ", ".join("?" * SQLITE_CHUNK)
            sql = prefix + " AND ".join([*tests, f"{key} IN ({marks})"])
            for start in range(0, len(keys), SQLITE_CHUNK):
                chunk = keys[start : start + SQLITE_CHUNK]
                chunk += [chunk[-1]] * (SQLITE_CHUNK - len(chunk))
                self._execute(cursor, sql, [*fixed, *chunk])
                rows.extend(cursor.fetchall())
        return self._read_rows(table, columns, rows)

    def select_pairs(
        self,
        session: Session,
        table: Table,
        columns: tuple[str, str],
        pairs: Iterable[tuple[Any, Any]],
        *,
        condition: str = "",
    ) -> set[tuple[Any, Any]]:
        """Which (a, b) pairs occur in `table`'s two `columns` (where `condition` holds).

        One index probe per pair: a join against the pairs (SQLite: a VALUES list; a row-value IN
        would scan the table; PostgreSQL: two unnested arrays).
        """
        wanted = sorted(set(pairs))
        if not wanted:
            return set()
        a, b = columns
        filtered = f" WHERE {condition}" if condition else ""
        cursor = _cursor(session)
        found: set[tuple[Any, Any]] = set()
        if self.postgres:
            self._execute(
                cursor,
                f"SELECT DISTINCT t.{a}, t.{b} FROM unnest({self._pg_array(table, a)}, "
                f"{self._pg_array(table, b)}) AS d(a, b) "
                f"JOIN {table.name} AS t ON t.{a} = d.a AND t.{b} = d.b{filtered}",
                [
                    self._pg_values(table, a, [a_value for a_value, _ in wanted]),
                    self._pg_values(table, b, [b_value for _, b_value in wanted]),
                ],
            )
            found.update((r[0], r[1]) for r in cursor.fetchall())
            return found
        values = ", ".join(["(?, ?)"] * SQLITE_CHUNK)
        sql = (
            f"SELECT DISTINCT t.{a}, t.{b} FROM (VALUES {values}) AS d "
            f"JOIN {table.name} AS t ON t.{a} = d.column1 AND t.{b} = d.column2{filtered}"
        )
        for start in range(0, len(wanted), SQLITE_CHUNK):
            chunk = list(wanted[start : start + SQLITE_CHUNK])
            chunk += [chunk[-1]] * (SQLITE_CHUNK - len(chunk))
            self._execute(cursor, sql, [value for pair in chunk for value in pair])
            found.update((r[0], r[1]) for r in cursor.fetchall())
        return found

    def _execute(self, cursor: Any, sql: str, params: Sequence[Any]) -> None:
        if self.postgres:
            # Binary results (timestamps and ints are read without parsing text). `binary=True`
            # only sets the results' format: the parameters' format is each placeholder's
            # (`%b` for the arrays, see `_pg_array`).
            if self._int4_dumper is None:
                self._int4_dumper = _packed_int4_dumper()
            cursor.adapters.register_dumper(_PackedInt4Array, self._int4_dumper)
            cursor.execute(sql, params, binary=True)
        else:
            cursor.execute(sql, params)

    # -- values ------------------------------------------------------------------------------

    def _binder(self, table: Table, column: str) -> Processor:
        key = (table.name, column)
        if key not in self._binders:
            type_ = _column(table, column).type
            if isinstance(type_, UTCDateTime) and not self.postgres:
                self._binders[key] = self._utc_text
            elif isinstance(type_, Boolean) and not self.postgres:
                # sqlite3 binds True and False as 1 and 0 itself; SQLAlchemy's processor would
                # only check and convert each value in Python (0.8 us per post row of three).
                self._binders[key] = None
            else:
                self._binders[key] = type_.dialect_impl(self.dialect).bind_processor(self.dialect)
        return self._binders[key]

    def _bind(self, table: Table, column: str, value: Any) -> Any:
        process = self._binder(table, column)
        return value if process is None or value is None else process(value)

    def _bind_rows(
        self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> list[tuple[Any, ...]]:
        """Rows with each value through its column's bind processor, column by column (see
        `_bind_columns`): only the columns that have one (timestamps) are walked in Python."""
        return _through([self._binder(table, c) for c in columns], rows)

    def _bind_columns(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Any]:
        """Rows to one list per column (PostgreSQL takes each column as one array), each value
        through its column's bind processor.

        Column by column: the transposition is one C-level `zip`, and only the columns that have
        a processor (timestamps) are walked in Python.
        """
        by_column = list(zip(*rows, strict=True))
        if len(by_column) != len(columns):
            raise ValueError(f"rows of {len(by_column)} values for {len(columns)} columns")
        bound: list[Any] = []
        for column, values in zip(columns, by_column, strict=True):
            process = self._binder(table, column)
            if process is None:
                bound.append(self._pg_values(table, column, list(values)))
            else:
                bound.append([None if v is None else process(v) for v in values])
        return bound

    def _pg_values(self, table: Table, column: str, values: list[Any]) -> Any:
        """One column's (bound) values as the parameter for its `_pg_array` placeholder."""
        if type(_column(table, column).type) is Integer:
            packed = _pack_int4(values)
            if packed is not None:
                return packed
        return values

    def _read_rows(self, table: Table, columns: Sequence[str], rows: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows through each column's result processor, column by column (see `_bind_columns`)."""
        processors: list[Processor] = []
        for column in columns:
            key = (table.name, column)
            if key not in self._readers:
                type_ = _column(table, column).type
                if isinstance(type_, UTCDateTime) and not self.postgres:
                    self._readers[key] = sqlite_utc_datetime
                else:
                    self._readers[key] = type_.dialect_impl(self.dialect).result_processor(self.dialect, None)
            processors.append(self._readers[key])
        return _through(processors, rows)

    def _pg_array(self, table: Table, column: str) -> str:
        """A placeholder for one column's values as an array, cast to the column's type.

        `%b` sends the array in binary: psycopg's text format quotes and regex-escapes every
        element in Python (about 6 ms per 2,000 datetimes, 2.5 ms per 2,000 strings), while the
        binary dumpers write each element's bytes directly, 10-15 times faster.
        """
        return f"%b::{_column(table, column).type.compile(dialect=self.dialect)}[]"


def _through(processors: Sequence[Processor], rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """`rows` with each value through its column's processor (None: as it is), column by column:
    the transpositions are C-level `zip`s, and only the columns that have a processor (timestamps)
    are walked in Python."""
    if not any(processors):
        return [tuple(row) for row in rows]
    if not rows:
        return []
    done = [
        values if p is None else [None if v is None else p(v) for v in values]
        for p, values in zip(processors, zip(*rows, strict=True), strict=True)
    ]
    return list(zip(*done, strict=True))


def _column(table: Table, name: str) -> Column[Any]:
    return table.c[name]


def _cursor(session: Session) -> Any:
    """A cursor on the connection the session's transaction runs on."""
    return session.connection().connection.cursor()
