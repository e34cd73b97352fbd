"""The double's own clock: real elapsed time plus whatever a test skips ahead.

Deadlines Discord enforces (an interaction's 3 seconds, its token's 15 minutes) are measured on
this clock, so a test can step past them with :meth:`DoubleClock.advance` instead of sleeping,
while a bot that really is slow (waiting out a 429) still misses them.
"""

from __future__ import annotations

import time


class DoubleClock:
    """Monotonic seconds; ``advance`` moves every later reading forward."""

    def __init__(self) -> None:
        self._skipped = 0.0

    def now(self) -> float:
        return time.monotonic() + self._skipped

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the double's clock only moves forward")
        self._skipped += seconds
