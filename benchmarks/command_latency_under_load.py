"""Command latency while the ingest is busy and one platform call is stalled.

Runs the bot on the in-memory platform with a fresh SQLite store, then measures command latency
(profile, thread card, thread list; each asked by a random member, one at a time) in alternating
phases of the same run: idle, and loaded, with replies arriving at a steady rate (default 1,000
events/s) and one member's `thread new` waiting on the platform for 3 s (its forum post is held
back, as a rate-limited Discord would). Prints p50/p99 of both, the loaded p99 as a ratio of the
idle p99, how long each stalled command took, and how the other commands fared while it waited.

    .venv/bin/python benchmarks/command_latency_under_load.py
    .venv/bin/python benchmarks/command_latency_under_load.py --rounds 1 --seconds 6   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, col, func, select

from chatbridge.adapters.memory import MemoryPlatform
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.store.tables import Post

NOW = datetime(2025, 7, 20, 12, 0, tzinfo=UTC)
MEMBERS = 200
THREADS = 20
WARM_UP = 30
"""Commands run before measuring (the first ones compile statements and templates)."""


@dataclass
class Load:
    """What the loaded phases did besides the measured commands."""

    events: int = 0
    seconds: float = 0.0
    stalled_latencies: list[float] = field(default_factory=list)
    answered_during_stall: list[float] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def command_line(rng: random.Random) -> str:
    return rng.choice(
        [
            f"!profile member{rng.randrange(MEMBERS)}",
            f"!thread show #{rng.randint(1, THREADS)}",
            "!thread list latest",
        ]
    )


async def ask(chat: MemoryPlatform, rng: random.Random) -> float:
    # A command arrives from the network: the loop runs whatever is due first (on the in-memory
    # platform a command that never waits would otherwise keep the ingest from running at all).
    await asyncio.sleep(0)
    line = command_line(rng)
    start = time.perf_counter()
    replies = await chat.say(line, as_=f"member{rng.randrange(MEMBERS)}")
    elapsed = time.perf_counter() - start
    assert replies and not any("Sorry" in r.text for r in replies), [r.text for r in replies]
    return elapsed


async def commands_for(chat: MemoryPlatform, rng: random.Random, seconds: float) -> list[float]:
    """One command after another for `seconds`, each one's latency."""
    timings: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        timings.append(await ask(chat, rng))
    return timings


async def ingest(chat: MemoryPlatform, threads: list[str], rate: int, seconds: float, load: Load) -> None:
    """Replies at `rate` events/s, delivered in ticks of 10 ms, each without waiting for the last."""
    rng = random.Random(load.events)
    tick = 0.01
    per_tick = rate * tick
    started = time.perf_counter()
    sent = 0
    owed = 0.0
    async with asyncio.TaskGroup() as group:
        while (elapsed := time.perf_counter() - started) < seconds:
            owed += per_tick
            while owed >= 1:
                owed -= 1
                sent += 1
                text = f"reply {load.events + sent} about a clinical question"
                group.create_task(
                    chat.say(text, as_=f"member{rng.randrange(MEMBERS)}", thread=rng.choice(threads))
                )
            await asyncio.sleep(max(0.0, (tick * (sent / per_tick + 1)) - elapsed))
    load.events += sent
    load.seconds += time.perf_counter() - started


async def stalled_command(chat: MemoryPlatform, after: float, stall: float, load: Load) -> None:
    """One member's `thread new` whose forum post the platform holds back for `stall` seconds."""
    await asyncio.sleep(after)
    gate = chat.gates["create_thread"] = asyncio.Event()
    number = len(load.stalled_latencies) + 1
    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        waiting = group.create_task(
            chat.say(f'!thread new "Stalled {number}" Held back by the platform', as_=f"slowpoke{number}")
        )
        await asyncio.sleep(stall)
        gate.set()
    load.stalled_latencies.append(time.perf_counter() - start)
    assert any("started in" in r.text for r in waiting.result()), "the stalled thread was not created"


async def loaded_phase(
    chat: MemoryPlatform, rng: random.Random, threads: list[str], args: argparse.Namespace, load: Load
) -> list[float]:
    """Commands one after another while replies arrive and, from a third of the way in, one
    member's command waits on the platform."""
    stall_from = args.seconds / 3
    loaded: list[float] = []
    async with asyncio.TaskGroup() as group:
        group.create_task(ingest(chat, threads, args.rate, args.seconds, load))
        group.create_task(stalled_command(chat, stall_from, args.stall, load))
        started = time.perf_counter()
        while (now := time.perf_counter()) - started < args.seconds:
            latency = await ask(chat, rng)
            loaded.append(latency)
            if stall_from <= now - started <= stall_from + args.stall:
                load.answered_during_stall.append(latency)
    return loaded


async def measure(url: str, args: argparse.Namespace) -> tuple[list[float], list[float], Load]:
    """Idle and loaded phases alternate (the machine's own load drifts within minutes)."""
    chat = MemoryPlatform()
    core = Core.build(Settings(database_url=url), clock=lambda: NOW)
    rng = random.Random(5)
    load = Load()
    idle: list[float] = []
    loaded: list[float] = []
    async with Application(core, [chat]).running():
        await chat.started.wait()
        threads = []
        for n in range(THREADS):
            await chat.say(f'!thread new "Thread {n}" Opening post {n}', as_=f"member{n}")
            threads.append(chat.newest_thread() or "")
        for _ in range(WARM_UP):
            await ask(chat, rng)
        for _ in range(args.rounds):
            idle += await commands_for(chat, rng, args.seconds)
            loaded += await loaded_phase(chat, rng, threads, args, load)
    with Session(core.engine) as session:
        replies = session.exec(select(func.count()).select_from(Post).where(~col(Post.is_opening))).one()
    assert replies == load.events, f"{replies} replies stored of {load.events} sent"
    core.engine.dispose()
    return idle, loaded, load


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="how long each phase runs")
    parser.add_argument("--rounds", type=int, default=3, help="idle and loaded phases, alternating")
    parser.add_argument("--rate", type=int, default=1_000, help="events/s during the loaded phase")
    parser.add_argument("--stall", type=float, default=3.0, help="how long the platform call is held")
    args = parser.parse_args()
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'forum.db'}"
    idle, loaded, load = asyncio.run(measure(url, args))
    idle_p99 = percentile(idle, 0.99)
    print(
        f"store: SQLite, {MEMBERS} members, {THREADS} threads; "
        f"{args.rounds} rounds of an idle and a loaded phase, {args.seconds:.0f} s each"
    )
    print(
        f"idle:   {len(idle):5d} commands  p50 {statistics.median(idle) * 1e3:6.2f} ms  "
        f"p99 {idle_p99 * 1e3:6.2f} ms  (the baseline)"
    )
    loaded_p99 = percentile(loaded, 0.99)
    print(
        f"loaded: {len(loaded):5d} commands  p50 {statistics.median(loaded) * 1e3:6.2f} ms  "
        f"p99 {loaded_p99 * 1e3:6.2f} ms  = {loaded_p99 / idle_p99:.2f}x idle p99 (goal <= 3x)"
    )
    print(
        f"ingest meanwhile: {load.events:,} events at {load.events / load.seconds:,.0f} events/s, all stored"
    )
    during = load.answered_during_stall
    stalled = ", ".join(f"{t:.2f}" for t in load.stalled_latencies)
    print(
        f"stalled commands (platform held each {args.stall:.1f} s): answered after {stalled} s; "
        f"{len(during)} other commands answered meanwhile, p99 {percentile(during, 0.99) * 1e3:.1f} ms "
        f"= {percentile(during, 0.99) / idle_p99:.2f}x idle p99, slowest {max(during) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
