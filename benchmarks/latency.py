"""Command latency on a big store: p50/p99 of profile, thread card, thread list and leaderboard.

Builds (once, cached in a temp dir) a community of 100k members, 100k threads and 1M posts with
likes and trophies, written with raw sqlite3 executemany into the real schema, then runs each
command many times through dispatch on the in-memory platform (parse, privilege check, store
transaction, template). The baseline, measured in the same run, is the smallest possible store
round trip: one sqlite3 primary-key lookup of a member. Also prints peak RSS of the process
holding the store.

    .venv/bin/python benchmarks/latency.py
    .venv/bin/python benchmarks/latency.py --posts 200000 --members 20000   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from measure import peak_rss_mb  # benchmarks/ is the script's own directory

from chatbridge.adapters.memory import MemoryPlatform
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.heap import settle_heap
from chatbridge.store.engine import make_engine
from chatbridge.store.migrate import upgrade
from chatbridge.store.types import sqlite_utc_text

NOW = datetime(2025, 7, 20, 12, 0, tzinfo=UTC)
WARM_UP = 10
"""Rounds of every command run before measuring (a bot answers thousands; its first few build
SQLAlchemy's statement cache and Jinja's compiled templates)."""


def stamp(dt: datetime) -> str:
    """Exactly the text the store's timestamp columns hold on SQLite (so range queries agree)."""
    return sqlite_utc_text(dt)


def build(path: Path, members: int, threads: int, posts: int, seed: int = 3) -> None:
    """A big community, generated directly into the schema (the ORM would take hours)."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    start = NOW - timedelta(days=365)
    db.execute(
        "INSERT INTO community (id, name, created_at) VALUES (1, 'memory:console', ?)", (stamp(start),)
    )
    db.execute(
        "INSERT INTO community_binding (community_id, platform, platform_id, created_at) VALUES (1, 'memory', 'console', ?)",
        (stamp(start),),
    )
    rooms = ["General Discussion", "Clinical Questions", "Careers & Training"]
    for n, name in enumerate(rooms, start=1):
        slug = "-".join(name.lower().replace("&", " ").split())
        db.execute(
            "INSERT INTO subforum (id, community_id, name, platform, platform_room_id, kind, private, position) VALUES (?, 1, ?, 'memory', ?, 'memory', 0, ?)",
            (n, name, slug, n - 1),
        )
    db.executemany(
        "INSERT INTO member (id, community_id, display_name, first_seen_at, message_count, likes_received, likes_given, threads_started, replies_to_others, trophy_points, is_bot) VALUES (?, 1, ?, ?, 0, 0, 0, 0, 0, ?, 0)",
        (
            (m, f"member{m}", stamp(start + timedelta(minutes=m)), rng.randint(0, 120))
            for m in range(1, members + 1)
        ),
    )
    db.executemany(
        "INSERT INTO member_identity (member_id, community_id, platform, platform_user_id, display_name) VALUES (?, 1, 'memory', ?, ?)",
        ((m, f"member{m}", f"member{m}") for m in range(1, members + 1)),
    )
    thread_rows = []
    for t in range(1, threads + 1):
        created = start + timedelta(seconds=t * 300)
        thread_rows.append(
            (
                t,
                1,
                1 + t % 3,
                "memory",
                f"t{t}",
                f"Thread number {t}",
                rng.randint(1, members),
                stamp(created),
                stamp(created),
            )
        )
    db.executemany(
        "INSERT INTO thread (id, community_id, subforum_id, platform, platform_thread_id, title, starter_member_id, created_at, last_activity_at, reply_count, like_count, participant_count, locked, pinned, removed, tags) VALUES (?,?,?,?,?,?,?,?,?,0,0,1,0,0,0,'[]')",
        thread_rows,
    )

    def post_rows():
        for p in range(1, posts + 1):
            thread = p if p <= threads else rng.randint(1, threads)
            author = rng.randint(1, members)
            at = start + timedelta(seconds=p * 31)
            yield (
                p,
                thread,
                author,
                f"m{p}",
                f"Post {p} about a clinical question",
                stamp(at),
                1 if p <= threads else 0,
            )

    db.executemany(
        "INSERT INTO post (id, thread_id, community_id, member_id, platform, platform_message_id, body, created_at, is_opening, counted, like_count, hidden) VALUES (?, ?, 1, ?, 'memory', ?, ?, ?, ?, 1, 0, 0)",
        post_rows(),
    )
    like_rows = []
    for _ in range(posts // 2):
        post = rng.randint(1, posts)
        liker = rng.randint(1, members)
        like_rows.append((post, liker, stamp(NOW - timedelta(minutes=rng.randint(0, 60 * 24 * 90)))))
    db.executemany(
        "INSERT OR IGNORE INTO post_like (post_id, member_id, post_author_id, community_id, created_at) SELECT ?, ?, member_id, 1, ? FROM post WHERE id = ?",
        ((p, m, at, p) for p, m, at in like_rows),
    )
    db.execute(
        "UPDATE member SET message_count = (SELECT count(*) FROM post WHERE post.member_id = member.id)"
    )
    db.execute(
        "UPDATE member SET likes_received = (SELECT count(*) FROM post_like WHERE post_author_id = member.id)"
    )
    db.execute(
        "UPDATE thread SET reply_count = (SELECT count(*) - 1 FROM post WHERE thread_id = thread.id), last_activity_at = (SELECT max(created_at) FROM post WHERE thread_id = thread.id)"
    )
    db.commit()
    db.execute("ANALYZE")
    db.close()


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


async def measure(url: str, runs: int) -> dict[str, list[float]]:
    chat = MemoryPlatform(id_prefix=f"run{time.time_ns()}-")  # platform ids unique across runs on one store
    core = Core.build(Settings(database_url=url), clock=lambda: NOW)
    commands = {
        "profile": "!profile member{n}",
        "thread card": "!thread show #{t}",
        "thread list": "!thread list latest",
        "leaderboard (week)": "!leaderboard week likes",
        "leaderboard (all)": "!leaderboard all points",
    }
    rng = random.Random(5)
    timings: dict[str, list[float]] = {name: [] for name in commands}
    async with Application(core, [chat]).running():
        settle_heap()  # as `chatbridge run` does once started
        for _ in range(WARM_UP):  # first calls compile statements and templates: not steady state
            for text in commands.values():
                await chat.say(text.format(n=rng.randint(1, 1000), t=rng.randint(1, 1000)), as_="member1")
        for _ in range(runs):
            for name, text in commands.items():
                line = text.format(n=rng.randint(1, 1000), t=rng.randint(1, 1000))
                start = time.perf_counter()
                replies = await chat.say(line, as_=f"member{rng.randint(1, 1000)}")
                timings[name].append(time.perf_counter() - start)
                assert replies and "Sorry" not in replies[0].text, replies
    core.engine.dispose()
    return timings


def baseline(path: Path, runs: int) -> list[float]:
    db = sqlite3.connect(path)
    rng = random.Random(6)
    out = []
    for _ in range(runs * 5):
        start = time.perf_counter()
        db.execute("SELECT * FROM member WHERE id = ?", (rng.randint(1, 1000),)).fetchone()
        out.append(time.perf_counter() - start)
    db.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--store", type=Path, help="reuse (or create) the generated store here")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp()) if args.store is None else args.store.parent
    path = args.store or directory / "big.db"
    if args.build_only:
        build(path, args.members, args.threads, args.posts)
        return
    if not path.exists():  # built in a child, so this process's peak RSS is the bot's alone
        started = time.perf_counter()
        sizes = ["--members", str(args.members), "--threads", str(args.threads), "--posts", str(args.posts)]
        subprocess.run([sys.executable, __file__, "--build-only", "--store", str(path), *sizes], check=True)
        print(
            f"built {args.posts:,} posts, {args.members:,} members in {time.perf_counter() - started:.0f} s"
        )
    base = baseline(path, args.runs)
    timings = asyncio.run(measure(f"sqlite:///{path}", args.runs))
    base_p99 = percentile(base, 0.99)
    print(f"store: {args.posts:,} posts, {args.threads:,} threads, {args.members:,} members (SQLite)")
    print(
        f"baseline (sqlite3 primary-key lookup): p50 {statistics.median(base) * 1e3:.3f} ms, p99 {base_p99 * 1e3:.3f} ms"
    )
    for name, values in timings.items():
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        print(
            f"{name:>20}: p50 {p50 * 1e3:6.2f} ms  p99 {p99 * 1e3:6.2f} ms  ({p99 / base_p99:,.0f}x baseline p99; target p99 < 5 ms)"
        )
    peak = peak_rss_mb()
    print(f"peak RSS of the bot process holding the store: {peak:.0f} MB (target < 150 MB)")


if __name__ == "__main__":
    main()
