"""How the process treats Python's cyclic garbage collector.

The collector walks tracked objects, not garbage: its cost grows with what is alive, and the bot
keeps a lot alive on purpose (its start-up heap for good, an ingest batch's working state for the
batch). Reference counting frees nearly everything the bot makes; the collector is only there for
the rare cycle, so it is kept away from the objects that cannot be one.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["YOUNG_COLLECTION_EVERY", "collection_paused", "settle_heap"]

YOUNG_COLLECTION_EVERY = 50_000
"""Tracked objects allocated (net) between two young collections; Python's default is 700."""


def settle_heap() -> None:
    """Set everything allocated during start-up (modules, SQLAlchemy's mappers and caches, the
    compiled templates) aside from the garbage collector for the life of the process, and
    collect young objects less often.

    Why: the collector's full passes walk every tracked object. Start-up objects never become
    garbage, yet they are most of the heap, so each pass over them stalls whatever is running (a
    1M-post digest took 250 ms with them walked, 210 ms without; command latency tails shrink the
    same way). `gc.freeze` is meant for this.

    A full pass also follows every tenth collection of the middle generation, which follows every
    tenth young one. The ingest keeps a batch's working state (thousands of small objects) alive
    for the batch, so at Python's default of a young collection every 700 allocations that state
    is promoted and full passes come every 70,000: about 80 of them for 200k events in
    `benchmarks/ingest.py`, 56 ms each over the queued events and their producers, 4.5 s of a
    24 s run. Every 10,000 allocations there were 3 (all collections: 1.4 s instead of 5.9 s,
    and 8,300 -> 11,600 events/s).

    Every 50,000 since the writer pauses the collector (`collection_paused`): between two
    batches the event loop takes the next batch's events (about 60,000 tracked objects that
    live until their batch is written), and at 10,000 they were walked in 83 young collections
    of 12 ms per 200k events; at 50,000 the one young collection a batch still has comes when
    the collector resumes, over little (0.03 s in all; +7% events/s in 4 paired runs). The
    young generation then holds at most 50,000 objects of garbage cycles before they are freed,
    a few megabytes. The benchmarks call this at the same point as `chatbridge run`.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collection while the block runs (in any thread: the collector is the process's);
    collections resume at the block's end, and whatever cycles it left are collected then.

    For the ingest writer's batches: a batch builds tens of thousands of small objects (its
    events' states, rows, checkpoints) that stay alive until it is written and are then freed by
    reference counting; none of them is ever garbage to the collector. With the collector on,
    young collections still walked each of them once and middle ones again: `benchmarks/ingest.py`
    spent 3.1-3.7 s of a 25 s run (200k events on SQLite) in 500 collections that freed nothing
    (counted with `gc.callbacks`). A batch lasts about a second at most, so cycles made meanwhile
    elsewhere in the process wait at most that long.

    Leaves a collector that was disabled before (by someone else) disabled.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
