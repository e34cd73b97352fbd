"""Locks by key: one key's holders take turns, other keys go alongside, and nothing is kept."""

from __future__ import annotations

import asyncio

from chatbridge.ordering import KeyedLocks


async def test_holders_of_one_key_take_turns_and_other_keys_do_not_wait() -> None:
    locks = KeyedLocks()
    release = asyncio.Event()
    order: list[str] = []

    async def hold(name: str, *keys: tuple[str, ...]) -> None:
        async with locks.holding(keys):
            order.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(hold("first", ("member", "alice")))
    await asyncio.sleep(0)
    second = asyncio.create_task(hold("second", ("member", "alice")))
    other = asyncio.create_task(hold("other", ("member", "bob")))
    await other  # bob's key is free while alice's is held
    assert order == ["first", "other"]
    assert not second.done()

    release.set()
    await asyncio.gather(first, second)
    assert order == ["first", "other", "second"]
    assert len(locks) == 0, "a key nobody holds or waits for is forgotten"


async def test_overlapping_keys_taken_in_any_order_do_not_deadlock() -> None:
    locks = KeyedLocks()
    a, b = ("member", "alice"), ("thread", "t1")
    finished: list[int] = []

    async def hold(n: int, *keys: tuple[str, ...]) -> None:
        async with locks.holding(keys):
            await asyncio.sleep(0)
            finished.append(n)

    await asyncio.gather(*(hold(n, a, b) if n % 2 else hold(n, b, a) for n in range(10)))
    assert sorted(finished) == list(range(10))
    assert len(locks) == 0
