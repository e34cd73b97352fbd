"""Ingest throughput: a generated stream pushed through dispatch into the store.

Prints events/s for chatbridge's ingest path as ratios against two baselines measured in the same
run: (a) the naive pattern, one SQLModel session and commit per event (measured on a prefix of the
stream, it is slow), and (b) raw sqlite3 executemany of equivalent rows into the same schema: every
member, identity, thread, post, like, like source and processed event the stream leaves in the
store, computed independently (`equivalent.py`); on PostgreSQL also (c) raw psycopg COPY of those
rows into the given store. Also: how long an event waits until it is durable (p50/p99 of submit ->
commit, on a fresh store) and peak RSS. And chatbridge's path with the patient-privacy guard on
(the default, `warn`) against the same path with it off, each round on fresh stores.

Each figure is taken in several rounds (default 3), interleaved and each on a fresh store, and the
medians are printed with the rounds' range: a shared machine drifts by 10% and more within minutes.

    .venv/bin/python benchmarks/ingest.py                 # 200k events, 1k threads, 10k members
    .venv/bin/python benchmarks/ingest.py --events 20000 --rounds 1  # quicker
    .venv/bin/python benchmarks/ingest.py --clinical-text # replies as clinicians write them
    .venv/bin/python benchmarks/ingest.py --postgres      # on a throwaway durable PostgreSQL
    .venv/bin/python benchmarks/ingest.py --database-url postgresql+psycopg://...   # on yours
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from equivalent import equivalent_rows  # benchmarks/ is the script's own directory
from measure import peak_rss_mb
from sqlalchemy import make_url
from sqlmodel import Session

from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.dispatch import Dispatcher
from chatbridge.heap import settle_heap
from chatbridge.model import (
    Actor,
    ChatEvent,
    MessagePosted,
    PlatformName,
    ReactionAdded,
    ReactionRemoved,
    Room,
)
from chatbridge.services.ingest import apply_event
from chatbridge.store.engine import SQLITE_WRITER_CACHE_KIB, make_engine
from chatbridge.store.migrate import upgrade

PLATFORM = PlatformName.DISCORD


def stream(
    events: int, threads: int, members: int, seed: int = 1, texts: Sequence[str] = ()
) -> Iterator[ChatEvent]:
    """Thread openings first, then replies (60%) and like reactions (35%) and unlikes (5%).

    `texts`: what replies say, in turn (`clinical_texts`); a short fixed sentence when empty.

    The generator's own bookkeeping is kept in compact arrays so that it does not dominate the
    peak RSS measured for the ingesting process.
    """
    rng = random.Random(seed)
    rooms = [Room(PLATFORM, "guild", f"channel-{n}", f"Channel {n}") for n in range(10)]
    people = [Actor(PLATFORM, f"user-{n}", f"Member {n}") for n in range(members)]
    at = datetime(2025, 7, 14, tzinfo=UTC)
    posted, thread_of = array("i"), array("i")  # posted message numbers and their thread numbers
    reacted_post, reacted_actor = array("i"), array("i")  # positions in `posted`, member numbers
    for n in range(events):
        at += timedelta(milliseconds=50)
        who = rng.randrange(members)
        if n < threads:
            room = rooms[n % len(rooms)]
            yield MessagePosted(
                event_id=f"e{n}",
                at=at,
                room=room,
                actor=people[who],
                message_id=f"m{n}",
                text=f"Opening post {n}",
                thread_id=f"m{n}",
                starts_thread=True,
                thread_title=f"Thread {n}",
            )
            posted.append(n)
            thread_of.append(n)
            continue
        roll = rng.random()
        if roll < 0.60:
            thread = rng.randrange(threads)
            yield MessagePosted(
                event_id=f"e{n}",
                at=at,
                room=rooms[thread % len(rooms)],
                actor=people[who],
                message_id=f"m{n}",
                text=texts[n % len(texts)] if texts else f"Reply {n} with some clinical detail",
                thread_id=f"m{thread}",
            )
            posted.append(n)
            thread_of.append(thread)
        elif roll < 0.95 or not reacted_post:
            k = rng.randrange(len(posted))
            yield ReactionAdded(
                event_id=f"e{n}",
                at=at,
                room=rooms[thread_of[k] % len(rooms)],
                actor=people[who],
                message_id=f"m{posted[k]}",
                emoji="👍",
            )
            reacted_post.append(k)
            reacted_actor.append(who)
        else:
            r = rng.randrange(len(reacted_post))
            k, liker = reacted_post[r], reacted_actor[r]
            reacted_post[r], reacted_actor[r] = reacted_post[-1], reacted_actor[-1]
            reacted_post.pop()
            reacted_actor.pop()
            yield ReactionRemoved(
                event_id=f"e{n}",
                at=at,
                room=rooms[thread_of[k] % len(rooms)],
                actor=people[liker],
                message_id=f"m{posted[k]}",
                emoji="👍",
            )


def clinical_texts() -> list[str]:
    """Replies as clinicians write them: the ordinary messages of the privacy guard's labelled set
    (lab values, doses, trial ids: every one passes the guard's cheap pre-check), with one message
    in a hundred naming a patient (flagged, so the guard also queues its notice)."""
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    ordinary = [r["text"] for r in rows if r["label"] == 0]
    identifying = [r["text"] for r in rows if r["label"] == 1]
    texts = []
    for n in range(len(ordinary) * len(identifying)):
        texts.append(
            identifying[n // 100 % len(identifying)] if n % 100 == 99 else ordinary[n % len(ordinary)]
        )
        if len(texts) >= 20_000:
            break
    return texts


LABELLED = Path(__file__).resolve().parent.parent / "tests" / "data" / "phi_labelled.jsonl"


def is_postgres(url: str | None) -> bool:
    return url is not None and make_url(url).get_backend_name() == "postgresql"


def fresh_url(directory: Path, name: str) -> str:
    return f"sqlite:///{directory / name}"


def naive(url: str, events: list[ChatEvent]) -> float:
    """One session and one commit per event: the pattern the group-commit writer replaces."""
    core = Core.build(Settings(database_url=url))
    rules, start = core.ingestor.rules, time.perf_counter()
    for event in events:
        with Session(core.engine) as session:
            apply_event(session, event, rules, event.at)
            session.commit()
    elapsed = time.perf_counter() - start
    core.engine.dispose()
    return len(events) / elapsed


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def raw_executemany(path: Path, events: list[ChatEvent]) -> float:
    """The rows chatbridge ends up holding for `events` (see `equivalent.py`), written with
    sqlite3 executemany in one transaction on a raw connection: the journal settings and page
    cache of chatbridge's writer, without its foreign-key checks."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    rows = equivalent_rows(events)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}")
    start = time.perf_counter()
    now = _utc_text(datetime.now(UTC))
    connection.execute("INSERT INTO community (id, name, created_at) VALUES (1, 'bench', ?)", [now])
    connection.executemany(
        "INSERT INTO subforum (id, community_id, name, platform, platform_room_id, kind, private, position)"
        " VALUES (?, 1, ?, 'discord', ?, 'text', 0, ?)",
        [(n + 1, room, room, n) for n, room in enumerate(rows.rooms)],
    )
    connection.executemany(
        "INSERT INTO member (id, community_id, display_name, first_seen_at, message_count, likes_received,"
        " likes_given, threads_started, replies_to_others, trophy_points, is_bot)"
        " VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
        [(n + 1, m.name, _utc_text(m.first_seen_at), *m.counters) for n, m in enumerate(rows.members)],
    )
    connection.executemany(
        "INSERT INTO member_identity (id, member_id, community_id, platform, platform_user_id, display_name)"
        " VALUES (?, ?, 1, 'discord', ?, ?)",
        [(n + 1, n + 1, m.user_id, m.name) for n, m in enumerate(rows.members)],
    )
    subforum_of = {room: n + 1 for n, room in enumerate(rows.rooms)}
    connection.executemany(
        "INSERT INTO thread (id, community_id, subforum_id, platform, platform_thread_id, title,"
        " starter_member_id, created_at, last_activity_at, last_reply_member_id, reply_count, like_count,"
        " participant_count, locked, pinned, removed, tags)"
        " VALUES (?, 1, ?, 'discord', ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, '[]')",
        [
            (
                n + 1,
                subforum_of[t.room],
                t.key,
                t.title,
                t.starter + 1,
                _utc_text(t.created_at),
                _utc_text(t.last_activity_at),
                None if t.last_reply is None else t.last_reply + 1,
                t.replies,
                t.likes,
                len(t.participants),
            )
            for n, t in enumerate(rows.threads)
        ],
    )
    connection.executemany(
        "INSERT INTO post (id, thread_id, community_id, member_id, platform, platform_message_id, body,"
        " created_at, is_opening, counted, like_count, hidden) VALUES (?, ?, 1, ?, 'discord', ?, ?, ?, ?, 1, ?, 0)",
        [
            (n + 1, p.thread + 1, p.author + 1, p.message_id, p.text, _utc_text(p.at), p.opening, p.likes)
            for n, p in enumerate(rows.posts)
        ],
    )
    connection.executemany(
        "INSERT INTO post_like_source (post_id, member_id, source, platform_event_id, created_at)"
        " VALUES (?, ?, '👍', ?, ?)",
        [
            (post + 1, liker + 1, event_id, _utc_text(at))
            for (post, liker), (event_id, at) in rows.likes.items()
        ],
    )
    connection.executemany(
        "INSERT INTO post_like (post_id, member_id, post_author_id, community_id, created_at)"
        " VALUES (?, ?, ?, 1, ?)",
        [
            (post + 1, liker + 1, rows.posts[post].author + 1, _utc_text(at))
            for (post, liker), (_, at) in rows.likes.items()
        ],
    )
    connection.executemany(
        "INSERT INTO processed_event (platform, event_id, processed_at) VALUES ('discord', ?, ?)",
        [(event_id, _utc_text(at)) for event_id, at in rows.processed],
    )
    connection.commit()
    elapsed = time.perf_counter() - start
    connection.close()
    return len(events) / elapsed


class Discarding:
    """Where the trophy notices the stream earns go: nowhere (the memory platform would keep a
    transcript of them, and its growth would be counted in the ingesting process's RSS)."""

    async def send(self, *args: object, **kwargs: object) -> None:
        return None

    async def respond(self, *args: object, **kwargs: object) -> None:
        return None


def raw_postgres(url: str, events: list[ChatEvent]) -> float:
    """The PostgreSQL counterpart of (b): the same rows with psycopg COPY, in one transaction that
    is rolled back, so the store is left empty for the measured run.

    COPY is the fastest way in for rows whose ids need not come back; it still checks the same
    foreign keys and maintains the same indexes as chatbridge's writes.
    """
    import psycopg  # here, not at the top: the SQLite child's peak RSS must not include it

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    rows = equivalent_rows(events)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection:
        cursor = connection.cursor()

        def ids(table: str, count: int) -> list[int]:
            named = cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table]).fetchone()
            assert named is not None
            cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [named[0], count])
            return sorted(row[0] for row in cursor.fetchall())

        def copy(table: str, columns: str, values: Iterable[tuple[object, ...]]) -> None:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as writer:
                for row in values:
                    writer.write_row(row)

        start = time.perf_counter()
        now = datetime.now(UTC)
        (community,) = ids("community", 1)
        copy("community", "id, name, created_at", [(community, "raw bench", now)])
        subforums = ids("subforum", len(rows.rooms))
        copy(
            "subforum",
            "id, community_id, name, platform, platform_room_id, kind, private, position",
            [
                (i, community, f"raw {r}", "discord", f"raw-{r}", "text", False, n)
                for n, (i, r) in enumerate(zip(subforums, rows.rooms, strict=True))
            ],
        )
        members = ids("member", len(rows.members))
        copy(
            "member",
            "id, community_id, display_name, first_seen_at, message_count, likes_received, likes_given,"
            " threads_started, replies_to_others, trophy_points, is_bot",
            [
                (i, community, m.name, m.first_seen_at, *m.counters, 0, False)
                for i, m in zip(members, rows.members, strict=True)
            ],
        )
        copy(
            "member_identity",
            "member_id, community_id, platform, platform_user_id, display_name",
            [
                (i, community, "discord", m.user_id, m.name)
                for i, m in zip(members, rows.members, strict=True)
            ],
        )
        subforum_of = dict(zip(rows.rooms, subforums, strict=True))
        threads = ids("thread", len(rows.threads))
        copy(
            "thread",
            "id, community_id, subforum_id, platform, platform_thread_id, title, starter_member_id, created_at,"
            " last_activity_at, last_reply_member_id, reply_count, like_count, participant_count, locked, pinned,"
            " removed, tags",
            [
                (
                    i,
                    community,
                    subforum_of[t.room],
                    "discord",
                    f"raw-{t.key}",
                    t.title,
                    members[t.starter],
                    t.created_at,
                    t.last_activity_at,
                    None if t.last_reply is None else members[t.last_reply],
                    t.replies,
                    t.likes,
                    len(t.participants),
                    False,
                    False,
                    False,
                    "[]",
                )
                for i, t in zip(threads, rows.threads, strict=True)
            ],
        )
        posts = ids("post", len(rows.posts))
        copy(
            "post",
            "id, thread_id, community_id, member_id, platform, platform_message_id, body, created_at,"
            " is_opening, counted, like_count, hidden",
            [
                (
                    i,
                    threads[p.thread],
                    community,
                    members[p.author],
                    "discord",
                    f"raw-{p.message_id}",
                    p.text,
                    p.at,
                    p.opening,
                    True,
                    p.likes,
                    False,
                )
                for i, p in zip(posts, rows.posts, strict=True)
            ],
        )
        copy(
            "post_like_source",
            "post_id, member_id, source, platform_event_id, created_at",
            [
                (posts[post], members[liker], "👍", f"raw-{event_id}", at)
                for (post, liker), (event_id, at) in rows.likes.items()
            ],
        )
        copy(
            "post_like",
            "post_id, member_id, post_author_id, community_id, created_at",
            [
                (posts[post], members[liker], members[rows.posts[post].author], community, at)
                for (post, liker), (_, at) in rows.likes.items()
            ],
        )
        copy(
            "processed_event",
            "platform, event_id, processed_at",
            [("discord", f"raw-{event_id}", at) for event_id, at in rows.processed],
        )
        elapsed = time.perf_counter() - start
        connection.rollback()
    return len(events) / elapsed


async def chatbridge_ingest(url: str, events: Iterable[ChatEvent], guard: str = "warn") -> float:
    """The real path: dispatch (command detection, then the group-commit ingestor, then the
    notices), fed as fast as it accepts.

    Concurrent producers (think: gateway connections and webhook handlers), as many as the
    ingestor's queue holds, each submit one event and wait until it is durable before taking the
    next: every batch is a full queue, and the next one forms only once it is written (more
    producers would queue the next batch meanwhile, which measured 4% faster on PostgreSQL but
    holds twice the events in memory; this is the conservative model).
    """
    core = Core.build(Settings(database_url=url, privacy_guard={"mode": guard}))
    settle_heap()  # as `chatbridge run` does once started
    senders = core.ingestor.queue_size
    dispatcher, platform = Dispatcher(core), Discarding()
    source = iter(events)
    count = 0

    async def sender() -> None:
        nonlocal count
        for event in source:
            await dispatcher.handle(event, platform)  # type: ignore[arg-type]
            count += 1

    writer = asyncio.create_task(core.ingestor.run())
    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(senders):
            group.create_task(sender())
    elapsed = time.perf_counter() - start
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    core.engine.dispose()
    return count / elapsed


async def durability(url: str, events: list[ChatEvent], rate: float) -> list[float]:
    """Arrival -> durable, with events arriving at a steady `rate` per second (a busy community)."""
    core = Core.build(Settings(database_url=url))
    settle_heap()
    waits: list[float] = []

    async def one(event: ChatEvent) -> None:
        arrived = time.perf_counter()
        await core.ingestor.submit(event)
        waits.append(time.perf_counter() - arrived)

    writer = asyncio.create_task(core.ingestor.run())
    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for n, event in enumerate(events):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            group.create_task(one(event))
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    core.engine.dispose()
    return sorted(waits)


def child(args: argparse.Namespace) -> None:
    """Only chatbridge's ingest, events generated lazily: its peak RSS is the figure to report.

    `--child paced`: the paced run instead, which prints every wait (seconds, one per line).
    """
    url = args.database_url
    if args.child == "paced":
        events = list(itertools.islice(stream(args.events, args.threads, args.members), args.paced_events))
        print("\n".join(map(str, asyncio.run(durability(url, events, args.paced_rate)))))
        return
    texts = clinical_texts() if args.clinical_text else ()
    lazily = stream(args.events, args.threads, args.members, texts=texts)
    rate = asyncio.run(chatbridge_ingest(url, lazily, args.privacy_guard))
    print(f"{rate} {peak_rss_mb()}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=1_000)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--naive-events", type=int, default=3_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="times each measurement is taken, interleaved, each on a fresh store (medians are reported)",
    )
    parser.add_argument(
        "--database-url", help="measure chatbridge's path on this store instead of a temp SQLite (one round)"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="start a throwaway durable PostgreSQL (Debian's postgresql package) and measure on it",
    )
    parser.add_argument("--paced-rate", type=float, default=1_000, help="events/s for the durability run")
    parser.add_argument(
        "--clinical-text",
        action="store_true",
        help="replies say realistic clinical chat (the privacy guard's labelled set) instead of one short line",
    )
    parser.add_argument("--privacy-guard", default="warn", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--paced-events", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.postgres:
        with durable_postgres() as (fresh_database, drop_database):
            measure(args, fresh_database, drop_database)
        return
    if args.database_url:
        args.rounds = 1
        measure(args, lambda: args.database_url)
        return
    measure(args, None)


@contextmanager
def durable_postgres() -> Iterator[tuple[Callable[[], str], Callable[[str], None]]]:
    """A fresh PostgreSQL cluster set up like a production server, not like the tests' one:
    every commit flushed to disk (fsync, synchronous_commit, full_page_writes on) and 256 MB of
    shared buffers (the tests run with fsync off and 32 MB). Yields a maker of fresh databases
    and a way to drop one once it is measured.

    Autovacuum looks at the tables every second instead of every minute: a store that starts
    empty and takes 200k events in half a minute would otherwise be planned all run long with
    the statistics of empty tables (sequential scans), which no long-running server has.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from support.postgres import BINARIES_MISSING, find_postgres_bindir, running_cluster

    if find_postgres_bindir() is None:
        sys.exit(f"ingest.py --postgres: {BINARIES_MISSING}")

    settings = {
        "autovacuum_naptime": "1s",
        "fsync": "on",
        "synchronous_commit": "on",
        "full_page_writes": "on",
        "shared_buffers": "256MB",
    }
    with running_cluster(settings=settings) as cluster:
        names = (f"ingest_bench_{n}" for n in itertools.count())
        yield (
            lambda: cluster.url(cluster.create_database(next(names))),
            lambda url: cluster.drop_database(make_url(url).database or ""),
        )


@dataclass
class Round:
    rate: float
    peak: float
    baselines: list[float]
    unguarded: float
    """The same path with the privacy guard off."""


def measure(
    args: argparse.Namespace,
    fresh_database: Callable[[], str] | None,
    drop_database: Callable[[str], None] | None = None,
) -> None:
    """Rounds of: the baselines, then chatbridge, each on a fresh store; then one paced run.

    A PostgreSQL round's database is dropped once measured: autovacuum would otherwise work
    through its 200k rows while the next round runs, and on two cores that would be measured too.

    On SQLite: against baselines (a) and (b). On PostgreSQL: against (c), and the absolute
    target (the SQLite baselines say nothing about a PostgreSQL run). A shared machine drifts
    by 10% and more within minutes, so the rounds are interleaved and the medians reported.
    """
    texts = clinical_texts() if args.clinical_text else ()
    events = list(stream(args.events, args.threads, args.members, texts=texts))
    postgres = args.postgres or is_postgres(args.database_url)
    names: list[tuple[str, str | None]] = (
        [("(c) raw psycopg COPY of the same rows into this PostgreSQL", None)]
        if postgres
        else [
            ("(a) naive session+commit per event", "20x"),
            ("(b) raw sqlite3 executemany of the same rows", "0.2x"),
        ]
    )
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for n in range(args.rounds):
            url = fresh_database() if fresh_database else fresh_url(directory, f"chatbridge-{n}.db")
            if postgres:
                baselines = [raw_postgres(url, events)]
            else:
                baselines = [
                    naive(fresh_url(directory, f"naive-{n}.db"), events[: args.naive_events]),
                    raw_executemany(directory / f"raw-{n}.db", events),
                ]
            # The store is set up beforehand (`chatbridge db upgrade`), as a bot usually finds it.
            upgrade(url)
            command = [sys.executable, __file__, "--child", "-", "--database-url", url]
            command += ["--events", str(args.events), "--threads", str(args.threads)]
            command += ["--members", str(args.members)]
            command += ["--clinical-text"] if args.clinical_text else []
            rate_text, peak_text = subprocess.run(
                command, check=True, capture_output=True, text=True
            ).stdout.split()
            if drop_database is not None:
                drop_database(url)
            # The same stream with the privacy guard off, on a store of its own.
            bare = fresh_database() if fresh_database else fresh_url(directory, f"unguarded-{n}.db")
            upgrade(bare)
            command[command.index(url)] = bare
            unguarded = float(
                subprocess.run(
                    [*command, "--privacy-guard", "off"], check=True, capture_output=True, text=True
                ).stdout.split()[0]
            )
            if drop_database is not None:
                drop_database(bare)
            rounds.append(Round(float(rate_text), float(peak_text), baselines, unguarded))
            print(
                f"round {n + 1}: {float(rate_text):,.0f} events/s ({unguarded:,.0f} without the privacy guard)",
                file=sys.stderr,
            )
        paced = min(len(events), int(args.paced_rate * 10))
        # The paced run needs a store without the stream in it (else every event is a redelivery),
        # and a process of its own, like the bot's: this one holds the whole stream and the
        # baselines' rows.
        waits: list[float] = []
        if not args.database_url:
            paced_url = fresh_database() if fresh_database else fresh_url(directory, "paced.db")
            command = [sys.executable, __file__, "--child", "paced", "--database-url", paced_url]
            command += ["--events", str(args.events), "--threads", str(args.threads)]
            command += ["--members", str(args.members), "--paced-events", str(paced)]
            command += ["--paced-rate", str(args.paced_rate)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            waits = [float(line) for line in output.split()]
    print(
        f"stream: {len(events):,} events, {args.threads:,} threads, {args.members:,} members; "
        f"{len(rounds)} rounds",
        file=sys.stderr,
    )
    where = (
        "PostgreSQL (target >= 10,000/s)"
        if postgres
        else "the given store"
        if args.database_url
        else "SQLite"
    )
    rates = [r.rate for r in rounds]
    print(f"chatbridge ingest: {statistics.median(rates):,.0f} events/s on {where}{_spread(rates, ',.0f')}")
    for k, (name, target) in enumerate(names):
        baseline = [r.baselines[k] for r in rounds]
        ratios = [r.rate / r.baselines[k] for r in rounds]
        wanted = f"  (target >= {target})" if target else ""
        print(
            f"  vs {name} ({statistics.median(baseline):,.0f}/s): "
            f"{statistics.median(ratios):.2f}x{_spread(ratios, '.2f', 'x')}{wanted}"
        )
    guarded = [r.rate / r.unguarded for r in rounds]
    print(
        f"  privacy guard on vs off ({statistics.median([r.unguarded for r in rounds]):,.0f}/s without it): "
        f"{statistics.median(guarded):.2f}x{_spread(guarded, '.2f', 'x')}  (target >= 0.8x)"
    )
    if waits:
        p50, p99 = statistics.median(waits), waits[int(len(waits) * 0.99)]
        print(
            f"durable after arrival at {args.paced_rate:,.0f} events/s: p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms (target p99 <= 100 ms)"
        )
    else:
        print("durable after arrival: not measured on a given store (it holds the stream already)")
    peak = max(r.peak for r in rounds)
    print(f"peak RSS of the ingesting process: {peak:.0f} MB, the largest of the rounds (target < 150 MB)")


def _spread(values: list[float], spec: str, unit: str = "") -> str:
    """The rounds' range, after a median (nothing for a single round)."""
    if len(values) < 2:
        return ""
    return f" (rounds {format(min(values), spec)}{unit} to {format(max(values), spec)}{unit})"


if __name__ == "__main__":
    main()
