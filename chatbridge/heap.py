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
    digest, a command's tail latency). `gc.freeze` is meant for this.

    Young collections come every 50,000 allocations instead of 700 because the ingest keeps a
    batch's working state (thousands of small objects) alive for the batch and the event loop
    gathers the next batch's events meanwhile: at the default they are promoted and walked by
    full passes again and again for nothing. The writer also pauses the collector during a batch
    (`collection_paused`). The young generation then holds at most 50,000 objects of garbage
    cycles before they are freed, a few megabytes. The benchmarks call this at the same point as
    `chatbridge run`.
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
