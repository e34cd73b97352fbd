"""Digests are posted exactly once: across restarts, across processes, through the outbox."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chatbridge.adapters.memory import MemoryPlatform
from chatbridge.config import Settings
from chatbridge.model import OutgoingMessage
from chatbridge.services.digest.runner import DIGEST_KIND, DigestRunner, digest_executors, execute_digest
from chatbridge.services.digest.schedule import WeeklySlot
from chatbridge.services.outbox import OutboxWorker, default_executors, send_payload
from chatbridge.store.engine import make_engine
from chatbridge.store.migrate import upgrade
from chatbridge.store.tables import (
    Community,
    CommunityBinding,
    DigestRun,
    DigestSchedule,
    Member,
    OutboxItem,
    Post,
    SubForum,
    Thread,
)
from support.postgres import PostgresCluster

MONDAY = datetime(2025, 7, 21, 8, 0, tzinfo=UTC)  # 09:00 in London
HEADER = re.compile(r"^## 📰 .*: the week in review\n(.*)$", re.MULTILINE)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def populate(engine: Engine, schedules: list[tuple[int, int, str]], created: datetime) -> list[int]:
    """A community on the memory platform with a little activity and one schedule per channel."""
    with Session(engine) as session:
        community = Community(name="Night Owls")
        session.add(community)
        session.flush()
        assert community.id is not None
        session.add(CommunityBinding(community_id=community.id, platform="memory", platform_id="console"))
        ids = []
        for n, (weekday, hour, zone) in enumerate(schedules):
            subforum = SubForum(
                community_id=community.id,
                name=f"Channel {n}",
                platform="memory",
                platform_room_id=f"channel-{n}",
                kind="memory",
            )
            session.add(subforum)
            session.flush()
            assert subforum.id is not None
            schedule = DigestSchedule(
                community_id=community.id,
                subforum_id=subforum.id,
                weekday=weekday,
                hour=hour,
                timezone=zone,
                created_at=created,
            )
            session.add(schedule)
            session.flush()
            assert schedule.id is not None
            ids.append(schedule.id)
        members = [Member(community_id=community.id, display_name=name) for name in ("ann", "ben", "cat")]
        session.add_all(members)
        session.flush()
        thread = Thread(
            community_id=community.id,
            subforum_id=subforum.id or 0,
            platform="memory",
            platform_thread_id="t1",
            title="Night shifts",
            starter_member_id=members[0].id or 0,
            created_at=created,
            last_activity_at=created,
        )
        session.add(thread)
        session.flush()
        for n, member in enumerate(members):
            session.add(
                Post(
                    thread_id=thread.id or 0,
                    community_id=community.id,
                    member_id=member.id or 0,
                    platform="memory",
                    platform_message_id=f"p{n}",
                    created_at=created + timedelta(hours=n),
                    is_opening=n == 0,
                )
            )
        session.commit()
        return ids


def bot(
    engine: Engine, chat: MemoryPlatform, clock: Callable[[], datetime], name: str = "bot"
) -> tuple[DigestRunner, OutboxWorker]:
    """One bot process's digest scheduler and outbox worker."""
    settings = Settings(database_url=str(engine.url))
    platforms = {chat.name: chat}
    runner = DigestRunner(engine, settings, {}, platforms, clock, worker=name)
    outbox = OutboxWorker(engine, platforms, clock, executors={**default_executors(), **digest_executors()})
    return runner, outbox


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'digests.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def runs(engine: Engine) -> list[DigestRun]:
    with Session(engine) as session:
        return list(session.exec(select(DigestRun).order_by(col(DigestRun.period_start))).all())


def posted(chat: MemoryPlatform) -> list[str]:
    return [s.text for s in chat.transcript if HEADER.search(s.text)]


def _label(text: str) -> str:
    """The period line under a digest's heading ("Jul 14, 2025 – Jul 21, 2025")."""
    match = HEADER.search(text)
    return match.group(1) if match else text


async def test_a_due_digest_is_claimed_once_posted_once_and_marked(engine: Engine) -> None:
    [schedule_id] = populate(engine, [(0, 9, "Europe/London")], MONDAY - timedelta(days=2))
    clock, chat = Clock(MONDAY - timedelta(minutes=1)), MemoryPlatform()
    runner, outbox = bot(engine, chat, clock)
    assert runner.run_once() == [], "not due a minute early"
    clock.now = MONDAY + timedelta(seconds=5)
    [run] = runner.run_once()
    assert (run.schedule_id, run.period_start, run.period_end) == (
        schedule_id,
        MONDAY - timedelta(days=7),
        MONDAY,
    )
    assert runner.run_once() == []
    assert await outbox.drain() == 1
    [digest] = posted(chat)
    assert "Jul 14, 2025 – Jul 21, 2025" in digest and chat.transcript[0].room.room_id == "channel-0"
    runner.run_once()
    [stored] = runs(engine)
    assert stored.posted_at == clock.now and stored.outbox_id is not None and stored.claimed_by == "bot"
    with Session(engine) as session:
        item = session.exec(select(OutboxItem)).one()
        assert item.kind == DIGEST_KIND and item.dedupe_key == f"digest:{schedule_id}:2025-07-14T08:00:00Z"


async def test_a_digest_missed_while_down_is_posted_at_start_once_and_an_old_week_never(
    engine: Engine,
) -> None:
    populate(engine, [(0, 9, "Europe/London")], MONDAY - timedelta(days=30))
    chat = MemoryPlatform()
    # Down over two Mondays: the start on Tuesday posts only the newest week.
    first_start = Clock(MONDAY + timedelta(days=1))
    runner, outbox = bot(engine, chat, first_start)
    [run] = runner.run_once()
    assert run.period_end == MONDAY
    await outbox.drain()
    for restart in range(3):  # restarts the same week post nothing more
        again, again_outbox = bot(engine, chat, Clock(MONDAY + timedelta(days=2, hours=restart)))
        assert again.run_once() == []
        assert await again_outbox.drain() == 0
    assert len(posted(chat)) == 1 and len(runs(engine)) == 1


async def test_a_crash_between_claim_and_post_delays_the_digest_but_never_repeats_it(engine: Engine) -> None:
    populate(engine, [(0, 9, "UTC")], MONDAY - timedelta(days=10))
    clock = Clock(MONDAY + timedelta(hours=2))
    crashed, _ = bot(engine, MemoryPlatform(), clock, name="crashed")
    crashed.run_once()  # claimed and enqueued, then the process died before its outbox ran
    chat = MemoryPlatform()
    restarted, outbox = bot(engine, chat, clock, name="restarted")
    assert restarted.run_once() == []
    await outbox.drain()
    await outbox.drain()
    assert len(posted(chat)) == 1 and [r.claimed_by for r in runs(engine)] == ["crashed"]


async def test_a_running_scheduler_checks_at_once_at_start_and_when_woken(engine: Engine) -> None:
    """The loop ticks when it starts (a missed digest is not left for the next poll) and `tick()`
    returns only after a check that began after the call: "nothing was claimed" then means it."""
    populate(engine, [(0, 9, "Europe/London")], MONDAY - timedelta(days=2))
    clock, chat = Clock(MONDAY - timedelta(minutes=1)), MemoryPlatform()
    runner, _ = bot(engine, chat, clock)
    runner.poll_interval = 3600  # only a wake makes it look again within this test
    async with asyncio.timeout(30), asyncio.TaskGroup() as group:
        loop = group.create_task(runner.run())
        await runner.tick()
        assert runs(engine) == [], "not due a minute early"
        clock.now = MONDAY + timedelta(minutes=1)
        await runner.tick()
        assert [r.period_end for r in runs(engine)] == [MONDAY]
        await runner.tick()
        assert len(runs(engine)) == 1
        loop.cancel()


async def test_the_periods_follow_london_time_across_the_clock_change(engine: Engine) -> None:
    populate(engine, [(0, 9, "Europe/London")], datetime(2025, 3, 16, tzinfo=UTC))
    clock = Clock(datetime(2025, 3, 16, tzinfo=UTC))
    runner, _ = bot(engine, MemoryPlatform(), clock)
    for day in (17, 24, 31):
        for minutes in (-1, 1, 30):  # a minute before 09:00 local, just after, half an hour after
            local_nine = datetime(2025, 3, day, 9 if day < 31 else 8, 0, tzinfo=UTC)
            clock.now = local_nine + timedelta(minutes=minutes)
            runner.run_once()
    ends = [(r.period_start.strftime("%d %H:%M"), r.period_end.strftime("%d %H:%M")) for r in runs(engine)]
    # 09:00 GMT is 09:00 UTC; from 30 March 09:00 BST is 08:00 UTC.
    assert ends == [("10 09:00", "17 09:00"), ("17 09:00", "24 09:00"), ("24 09:00", "31 08:00")]


async def test_disabled_schedules_and_other_platforms_are_left_alone(engine: Engine) -> None:
    off, matrix = populate(engine, [(0, 9, "UTC"), (0, 9, "UTC")], MONDAY - timedelta(days=10))
    with Session(engine) as session:
        schedule = session.get(DigestSchedule, off)
        assert schedule is not None
        schedule.enabled = False
        other = session.get(DigestSchedule, matrix)
        assert other is not None
        subforum = session.get(SubForum, other.subforum_id)
        assert subforum is not None
        subforum.platform = "matrix"
        session.commit()
    runner, _ = bot(engine, MemoryPlatform(), Clock(MONDAY + timedelta(hours=1)))
    assert runner.run_once() == []


class FlakyChat(MemoryPlatform):
    """Fails the send of one part once, like a rate limit in the middle of a digest."""

    fail_on: str = ""

    async def send(self, room, message, *, thread_id=None, idempotency_key):  # type: ignore[no-untyped-def]
        if self.fail_on and message.markdown == self.fail_on:
            self.fail_on = ""
            raise RuntimeError("gateway timeout")
        return await super().send(room, message, thread_id=thread_id, idempotency_key=idempotency_key)


async def test_parts_are_posted_in_order_and_a_retry_does_not_repeat_the_first(engine: Engine) -> None:
    chat = FlakyChat()
    chat.fail_on = "part 2"
    room = chat.room()
    payload: Mapping[str, Any] = {
        "parts": [send_payload(room, OutgoingMessage(f"part {n}")) for n in (1, 2, 3)]
    }
    with pytest.raises(RuntimeError):
        await execute_digest(chat, payload, "outbox-7")
    result = await execute_digest(chat, payload, "outbox-7")
    assert [s.text for s in chat.transcript] == ["part 1", "part 2", "part 3"]
    assert result == {"message_ids": ["m1", "m2", "m3"]}


# --------------------------------------------------------------------------- two processes, one store


def _race_worker(
    url: str,
    instants: list[datetime],
    barrier: Any,
    results: Any,
    name: str,
) -> None:
    """One bot process: steps through the fire times in lockstep with the other and races it."""
    engine = make_engine(url)
    chat = MemoryPlatform(id_prefix=f"{name}-")
    clock = Clock(instants[0])
    runner, outbox = bot(engine, chat, clock, name=name)
    rng = random.Random(name)
    claimed = 0

    async def main() -> None:
        nonlocal claimed
        for instant in instants:
            clock.now = instant + timedelta(seconds=rng.uniform(0, 60))
            barrier.wait()
            claimed += len(runner.run_once())
            await outbox.drain()
            barrier.wait()

    try:
        asyncio.run(main())
        results.put((name, claimed, [(s.room.room_id, _label(s.text)) for s in chat.transcript]))
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_processes_racing_over_fifty_periods_post_exactly_fifty_digests(
    postgres_cluster: PostgresCluster,
) -> None:
    name = postgres_cluster.create_database()
    url = postgres_cluster.url(name)
    try:
        engine = make_engine(url)
        upgrade(engine)
        first = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
        populate(engine, [(0, 9, "UTC"), (2, 18, "Europe/London")], first - timedelta(days=1))
        engine.dispose()
        mondays = [first + timedelta(weeks=n) for n in range(25)]
        london_wednesday = WeeklySlot.of(2, 18, "Europe/London")
        wednesdays = [london_wednesday.on(date(2025, 1, 8) + timedelta(weeks=n)) for n in range(25)]
        instants = sorted(mondays + wednesdays)  # 50 periods, across a clock change
        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(2, timeout=60)
        results = context.Queue()
        workers = [
            context.Process(target=_race_worker, args=(url, instants, barrier, results, who))
            for who in ("a", "b")
        ]
        for worker in workers:
            worker.start()
        reports = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
            assert worker.exitcode == 0
        assert sum(count for _, count, _ in reports) == 50
        digests = Counter(digest for _, _, posts in reports for digest in posts)
        assert len(digests) == 50 and set(digests.values()) == {1}, digests.most_common(3)

        engine = make_engine(url)
        with Session(engine) as session:
            stored = session.exec(select(DigestRun)).all()
            items = session.exec(select(OutboxItem).where(OutboxItem.kind == DIGEST_KIND)).all()
            assert len(stored) == 50 and len({(r.schedule_id, r.period_start) for r in stored}) == 50
            assert len(items) == 50 and all(i.done_at is not None and i.attempts == 1 for i in items)
        engine.dispose()
    finally:
        postgres_cluster.drop_database(name)
