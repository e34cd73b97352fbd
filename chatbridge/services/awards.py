"""Trophies a batch of events earned, judged once the batch's counters are written.

The batch path (services/batch.py) does not read members' counters before replaying a batch.
At each event that may earn its author a trophy it notes how far the batch had moved the
author's counters by then (a checkpoint). Writing the counters returns their values after the
batch, so the value before it is the value after minus the batch's total, and each checkpoint's
value is the value before plus its own movement: exactly what the per-event rules
(services/trophies.py) would have seen at that event. Values read up front could be stale by
the time they are written (a command or another writer moving the same counters meanwhile);
these cannot, and reading nothing up front is also what makes a batch cheap.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import NamedTuple

from chatbridge.forum.ranks import Criterion, Trophy
from chatbridge.model import Room

__all__ = ["JUDGED", "AwardCache", "Checkpoint", "earned", "judged_of", "judged_slot"]

JUDGED = ("message_count", "likes_received", "threads_started", "replies_to_others")
"""The member counters trophy criteria read, in the order checkpoints record them."""

judged_of = itemgetter(*JUDGED)
"""A mapping of counter movements -> the `JUDGED` ones as a tuple."""

_SLOT_OF: dict[Criterion, int] = {
    Criterion.MESSAGES: 0,
    Criterion.LIKES_RECEIVED: 1,
    Criterion.THREADS_STARTED: 2,
    Criterion.REPLIES_TO_OTHERS: 3,
}

AWARD_CACHE_SIZE = 100_000


def judged_slot(trophy: Trophy) -> int | None:
    """Where in `JUDGED` the trophy's criterion reads its counter; None for days since joining."""
    return _SLOT_OF.get(trophy.criterion)


class Checkpoint(NamedTuple):
    """An event that may have earned its author a trophy (a tuple: a batch makes one per reply
    and like, and a tuple is made several times faster than a frozen dataclass)."""

    position: int
    """The event's position in its batch (its notices go with it)."""
    moved: tuple[int, ...]
    """How far the batch had moved the author's `JUDGED` counters, this event included."""
    room: Room
    thread_id: str | None
    at: datetime


def earned(
    checks: Sequence[tuple[Trophy, int | None]],
    awarded: frozenset[str],
    before: Sequence[int],
    joined: datetime,
    checkpoints: Iterable[Checkpoint],
) -> list[tuple[Trophy, Checkpoint]]:
    """Each trophy not yet `awarded` with the checkpoint that first crossed its threshold.

    `checks` pairs each configured trophy with its `judged_slot`, in the configured order (the
    order several trophies crossed by one event are announced); `before` holds the member's
    `JUDGED` counters before the batch.
    """
    pending = [check for check in checks if check[0].key not in awarded]
    found: list[tuple[Trophy, Checkpoint]] = []
    for checkpoint in checkpoints:
        if not pending:
            break
        days: int | None = None
        still: list[tuple[Trophy, int | None]] = []
        for trophy, slot in pending:
            if slot is None:
                if days is None:
                    days = max(0, (checkpoint.at - joined).days)
                value = days
            else:
                value = before[slot] + checkpoint.moved[slot]
            if value >= trophy.threshold:
                found.append((trophy, checkpoint))
            else:
                still.append((trophy, slot))
        pending = still
    return found


@dataclass
class AwardCache:
    """Member id -> keys of the trophies it holds, bounded (LRU); per ingestor, never global.

    Trophies are never taken back, so a cached set can only lack an award made elsewhere since
    (a command, another writer). The batch path inserts awards skipping the ones that exist,
    and learns from what the insert returns which ones were really new.
    """

    capacity: int = AWARD_CACHE_SIZE
    _keys: OrderedDict[int, frozenset[str]] = field(default_factory=OrderedDict)

    def get(self, member_id: int) -> frozenset[str] | None:
        found = self._keys.get(member_id)
        if found is not None:
            self._keys.move_to_end(member_id)
        return found

    def put_all(self, entries: Iterable[tuple[int, frozenset[str]]]) -> None:
        known = self._keys
        for member_id, keys in entries:
            if known.get(member_id) is keys:
                continue  # the set this cache gave out (`get` made it recent): nothing new
            known[member_id] = keys
            known.move_to_end(member_id)
        while len(known) > self.capacity:
            known.popitem(last=False)
