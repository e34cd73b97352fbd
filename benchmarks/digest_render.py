"""Weekly digest: build the content from a big store and render it for Discord and Matrix.

A generated community of 1M posts, 100k of them in the digest's week, is built once (raw sqlite3
executemany into the migrated schema) and cached under the temp directory. The figure is the
whole digest — every query, the bundled template, Discord splitting and Matrix HTML — as a ratio
against a baseline measured in the same run: a plain `SELECT count(*)` over the week's posts
(the least any digest of that week has to read). Memory is measured in a fresh process per store
at two store sizes with the same week in both (tracemalloc peak of one digest, and peak RSS), to
show it follows the week's activity, not the store's size.

    .venv/bin/python benchmarks/digest_render.py                    # 1M posts (and 200k for memory)
    .venv/bin/python benchmarks/digest_render.py --posts 300000     # quicker first build
    .venv/bin/python benchmarks/digest_render.py --rebuild          # regenerate the cached stores
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session, select

from chatbridge.config import Settings
from chatbridge.heap import settle_heap
from chatbridge.model import PlatformName
from chatbridge.render.markdown import to_matrix
from chatbridge.services.digest.content import DigestRules, build_digest
from chatbridge.services.digest.render import DigestTemplates, digest_context, platform_parts
from chatbridge.services.digest.schedule import Period
from chatbridge.store.engine import make_engine
from chatbridge.store.migrate import upgrade
from chatbridge.store.tables import Community
from chatbridge.store.types import sqlite_utc_text

FORMAT_VERSION = 2
END = datetime(2025, 7, 21, 9, 0, tzinfo=UTC)
PERIOD = Period(END - timedelta(days=7), END)
POSTS_PER_THREAD = 20
MEMBERS = 20_000
SUBFORUMS = 8


def stamp(at: datetime) -> str:
    """How the store holds a UTCDateTime in SQLite (naive UTC, microseconds)."""
    return sqlite_utc_text(at)


def _store_path(cache: Path, posts: int, period_posts: int) -> Path:
    return cache / f"digest-{posts}-{period_posts}-v{FORMAT_VERSION}.db"


def build_store(path: Path, posts: int, period_posts: int) -> float:
    """Generate the community; returns seconds. The week's posts come from their own seeded RNG, so
    two stores of different sizes hold the same week."""
    started = time.perf_counter()
    path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-200000")
    with db:
        db.execute("INSERT INTO community (id, name, created_at) VALUES (1, 'Bench', ?)", (stamp(END),))
        db.execute(
            "INSERT INTO community_binding (community_id, platform, platform_id, created_at) "
            "VALUES (1, 'memory', 'bench', ?)",
            (stamp(END),),
        )
        db.executemany(
            "INSERT INTO subforum (id, community_id, name, platform, platform_room_id, kind, private, position) "
            "VALUES (?, 1, ?, 'memory', ?, 'memory', ?, ?)",
            [(n, f"Channel {n}", f"channel-{n}", int(n == SUBFORUMS), n) for n in range(1, SUBFORUMS + 1)],
        )
        rng = random.Random(7)
        db.executemany(
            "INSERT INTO member (id, community_id, display_name, joined_at, first_seen_at, message_count, "
            "likes_received, likes_given, threads_started, replies_to_others, trophy_points, is_bot) "
            "VALUES (?, 1, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0)",
            (
                (n, f"Member {n}", stamp(joined), stamp(joined))
                for n in range(1, MEMBERS + 1)
                for joined in [
                    END - timedelta(days=rng.uniform(0, 6.9) if n % 60 == 0 else rng.uniform(8, 700))
                ]
            ),
        )
        history = posts - period_posts
        thread_id, post_id = _insert_posts(
            db, 1, 1, history, PERIOD.start - timedelta(days=700), PERIOD.start, 1
        )
        _insert_posts(db, thread_id, post_id, period_posts, PERIOD.start, PERIOD.end, 2)
        mutes = random.Random(3)
        db.executemany(
            "INSERT INTO sanction (community_id, member_id, kind, reason, points, started_at, ends_at) "
            "VALUES (1, ?, 'mute', '', 0, ?, ?)",
            [
                (mutes.randint(1, MEMBERS), stamp(start), stamp(start + timedelta(days=mutes.uniform(1, 10))))
                for start in (END - timedelta(days=mutes.uniform(0, 60)) for _ in range(60))
            ],
        )
        trophies = random.Random(4)
        db.executemany(
            "INSERT OR IGNORE INTO trophy_award (member_id, trophy_key, points, awarded_at) VALUES (?, ?, 1, ?)",
            [
                (
                    trophies.randint(1, MEMBERS),
                    trophies.choice(["first_message", "likes_1", "thread_starter"]),
                    stamp(END - timedelta(days=trophies.uniform(0, 700))),
                )
                for _ in range(30_000)
            ],
        )
    db.execute("ANALYZE")
    db.close()
    return time.perf_counter() - started


def _author(rng: random.Random) -> int:
    """A few loud members write a lot; most write now and then."""
    return 1 + int(MEMBERS * rng.random() ** 3)


def _insert_posts(
    db: sqlite3.Connection,
    thread_id: int,
    post_id: int,
    count: int,
    start: datetime,
    end: datetime,
    seed: int,
) -> tuple[int, int]:
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    threads, post_rows, like_rows, cases = [], [], [], []

    def flush() -> None:
        db.executemany(
            "INSERT INTO thread (id, community_id, subforum_id, platform, platform_thread_id, title, "
            "starter_member_id, created_at, last_activity_at, reply_count, like_count, participant_count, "
            "locked, pinned, removed, tags) VALUES (?, 1, ?, 'memory', ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, ?, '[]')",
            threads,
        )
        db.executemany(
            "INSERT INTO post (id, thread_id, community_id, member_id, platform, platform_message_id, body, "
            "created_at, deleted_at, is_opening, counted, like_count, hidden) "
            "VALUES (?, ?, 1, ?, 'memory', ?, ?, ?, ?, ?, 1, ?, ?)",
            post_rows,
        )
        db.executemany(
            "INSERT INTO post_like (post_id, member_id, post_author_id, community_id, created_at) "
            "VALUES (?, ?, ?, 1, ?)",
            like_rows,
        )
        db.executemany(
            "INSERT INTO mod_case (community_id, subject_member_id, post_id, category, status, "
            "escalated_to_admins, created_at, updated_at) VALUES (1, ?, ?, 'other', 'open', 0, ?, ?)",
            cases,
        )
        threads.clear(), post_rows.clear(), like_rows.clear(), cases.clear()

    made = 0
    while made < count:
        size = min(count - made, max(1, int(rng.expovariate(1 / POSTS_PER_THREAD))))
        opened = start + timedelta(seconds=rng.uniform(0, span * 0.97))
        starter = _author(rng)
        at = opened
        last = opened
        for n in range(size):
            author = starter if n == 0 else _author(rng)
            at = (
                at
                if n == 0
                else min(end - timedelta(seconds=1), at + timedelta(seconds=rng.expovariate(1 / 900)))
            )
            last = at
            deleted = stamp(at + timedelta(hours=1)) if rng.random() < 0.005 else None
            likers = {_author(rng) for _ in range(int(rng.expovariate(1.0)))} - {author}
            if deleted:  # deleting a post takes its likes with it, as ingest does
                likers = set()
            for liker in sorted(likers):
                liked_at = min(end - timedelta(seconds=1), at + timedelta(minutes=rng.uniform(1, 600)))
                like_rows.append((post_id, liker, author, stamp(liked_at)))
            post_rows.append(
                (
                    post_id,
                    thread_id,
                    author,
                    f"p{post_id}",
                    f"Post {post_id} about night shifts and handovers",
                    stamp(at),
                    deleted,
                    int(n == 0),
                    len(likers),
                    int(rng.random() < 0.002),
                )
            )
            if rng.random() < 0.003:
                cases.append((author, post_id, stamp(at), stamp(at)))
            post_id += 1
        threads.append(
            (
                thread_id,
                1 + thread_id % SUBFORUMS,
                f"t{thread_id}",
                f"Thread {thread_id}: night shift question",
                starter,
                stamp(opened),
                stamp(last),
                int(rng.random() < 0.005),
            )
        )
        thread_id += 1
        made += size
        if len(post_rows) > 50_000:
            flush()
    flush()
    return thread_id, post_id


def digest_once(engine: object, settings: Settings, templates: DigestTemplates) -> tuple[str, int]:
    """Everything a posted digest costs: queries, template, Discord parts and Matrix HTML."""
    with Session(engine) as session:  # type: ignore[arg-type]
        community = session.exec(select(Community)).one()
        digest = build_digest(session, community, PERIOD, DigestRules.from_config(settings.digest))
    context = digest_context(
        digest, "Europe/London", lambda ref: f"https://chat.example/{ref.room_id}/{ref.message_id}"
    )
    markdown = templates.render(context).markdown
    parts = platform_parts(PlatformName.DISCORD, markdown)
    to_matrix(markdown)
    return markdown, len(parts)


def baseline_once(engine: object) -> int:
    with Session(engine) as session:  # type: ignore[arg-type]
        count = (
            session.connection()
            .execute(
                text(
                    "SELECT count(*) FROM post WHERE community_id = 1 AND created_at >= :start AND created_at < :end"
                ),
                {"start": stamp(PERIOD.start), "end": stamp(PERIOD.end)},
            )
            .scalar_one()
        )
        return int(count)


def measure(path: Path, repeat: int) -> dict[str, float | int | str]:
    """Runs in a fresh process per store, so peak RSS belongs to this store alone."""
    engine = make_engine(f"sqlite:///{path}")
    settings = Settings(database_url=f"sqlite:///{path}")
    templates = DigestTemplates(settings.digest)
    digest_once(engine, settings, templates)  # warm: page cache, compiled template, imports
    baseline_once(engine)
    settle_heap()  # as the running bot does once started (its digests run in that process)
    digest_times, baseline_times = [], []
    for _ in range(repeat):
        began = time.perf_counter()
        week_posts = baseline_once(engine)
        baseline_times.append(time.perf_counter() - began)
        began = time.perf_counter()
        markdown, parts = digest_once(engine, settings, templates)
        digest_times.append(time.perf_counter() - began)
    tracemalloc.start()
    digest_once(engine, settings, templates)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with sqlite3.connect(path) as db:
        total_posts = db.execute("SELECT count(*) FROM post").fetchone()[0]
    engine.dispose()  # type: ignore[attr-defined]
    return {
        "total_posts": total_posts,
        "week_posts": week_posts,
        "digest_ms": statistics.median(digest_times) * 1000,
        "baseline_ms": statistics.median(baseline_times) * 1000,
        "traced_peak_mb": traced_peak / 2**20,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "chars": len(markdown),
        "discord_parts": parts,
    }


def _stores(args: argparse.Namespace) -> Iterator[Path]:
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    for posts in (args.small_posts, args.posts):
        path = _store_path(args.cache_dir, posts, args.period_posts)
        if args.rebuild or not path.exists():
            print(f"building {path} ({posts:,} posts, {args.period_posts:,} in the week) ...", flush=True)
            print(f"  built in {build_store(path, posts, args.period_posts):.1f} s", flush=True)
        yield path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000, help="posts in the big store")
    parser.add_argument(
        "--small-posts", type=int, default=200_000, help="posts in the small store (memory check)"
    )
    parser.add_argument("--period-posts", type=int, default=100_000, help="posts in the digest's week")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "chatbridge-bench")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the cached stores")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.repeat)))
        return
    results = []
    for path in _stores(args):
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(path), "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print()
    print(
        f"{'store':>12} {'week':>9} {'baseline':>10} {'digest':>9} {'ratio':>7} {'traced peak':>12} {'peak RSS':>9}"
    )
    for r in results:
        print(
            f"{r['total_posts']:>12,} {r['week_posts']:>9,} {r['baseline_ms']:>8.1f}ms {r['digest_ms']:>7.1f}ms "
            f"{r['digest_ms'] / r['baseline_ms']:>6.1f}x {r['traced_peak_mb']:>10.1f}MB {r['max_rss_mb']:>7.0f}MB"
        )
    big = results[-1]
    verdict = "under" if big["digest_ms"] < 300 else "OVER"
    print(
        f"\ndigest of a {big['week_posts']:,}-post week in a {big['total_posts']:,}-post store: "
        f"{big['digest_ms']:.0f} ms = {big['digest_ms'] / big['baseline_ms']:.1f}x SELECT count(*) of the week "
        f"({verdict} the 300 ms target); {big['chars']:,} characters, {big['discord_parts']} Discord message(s)"
    )


if __name__ == "__main__":
    main()
