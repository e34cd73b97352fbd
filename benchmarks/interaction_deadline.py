"""Time from INTERACTION_CREATE to the first callback, with every bot REST route rate-limited.

Discord gives an interaction 3 seconds for its first answer. The real application (core, store,
the Discord platform on the real discord.py client) runs against the wire-level double; each
round dispatches every published slash command, the Like, Share and View profile menus and two
form submits (the workload of tests/discord/test_adapter_deadline.py). In a throttled round every
bot route answers 429 for 3.5 s (interaction routes are not rate-limited with them); the
baseline is the same workload with REST idle, measured in the same run. The delay is read on the
double's clock, from the dispatch to the accepted callback.

    .venv/bin/python benchmarks/interaction_deadline.py
    .venv/bin/python benchmarks/interaction_deadline.py --rounds 2     # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the double and workload

from chatbridge.adapters.discord import DiscordTuning
from support.discord_double import (
    DiscordDouble,
    InteractionState,
    pointing_discord_py_at,
    seed_community,
)
from support.discord_forum import TEST_TUNING, discord_forum, forum_post
from support.discord_workload import (
    every_interaction,
    finished,
    first_answers,
    open_forms,
    refused_interaction_calls,
)

SLOW_REST = 3.5
PRODUCTION_DEFER = dataclasses.replace(TEST_TUNING, defer_after=DiscordTuning().defer_after)
"""The test tuning's short waits, with the production deferral delay that is measured here."""


def delays(asked: list[InteractionState]) -> list[float]:
    return [i.first_response_at - i.created_at for i in asked if i.first_response_at is not None]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(label: str, values: list[float]) -> str:
    return (
        f"{label:<10} n={len(values):<4} p50 {statistics.median(values) * 1000:7.1f} ms"
        f"   p99 {quantile(values, 0.99) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
    )


async def measure(rounds: int) -> None:
    idle: list[float] = []
    throttled: list[float] = []
    late = 0
    async with DiscordDouble(wait_timeout=30.0) as double:
        community = seed_community(double.world)
        with pointing_discord_py_at(double), tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{Path(directory) / 'forum.db'}"
            async with discord_forum(double, url, tuning=PRODUCTION_DEFER) as forum:
                sync = await double.wait_for_rest("PUT", "/applications/{application_id}/commands")
                post = await forum_post(forum, community.forum, community.alice, "Statins", "Stop them")
                for _ in range(rounds):
                    for sample, slow in ((idle, False), (throttled, True)):
                        forms = await open_forms(double, community, post)
                        await first_answers(double, forms)
                        if slow:
                            double.rate_limit_everything(SLOW_REST)
                        asked = await every_interaction(double, community, sync.json, post, forms)
                        await first_answers(double, asked)
                        await finished(forum, asked)
                        sample.extend(delays(asked))
                late = len(refused_interaction_calls(double))
    print(
        f"INTERACTION_CREATE -> first callback, {rounds} rounds, bot REST 429 for {SLOW_REST} s,"
        f" defer_after {PRODUCTION_DEFER.defer_after} s"
    )
    print(line("idle", idle))
    print(line("throttled", throttled))
    print(f"refused as late or expired (10062/50027): {late}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(measure(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
