"""Background work that leaves room for the hot path: a worker busy at most a share of the time.

An erasure or an export runs flat out for a fraction of a second per source and then waits days for its
deadline; a consent check waits for nobody. On machines the two share, a burst of DSAR tasks takes a core (and
PostgreSQL's work on its behalf) away from the checks just when a campaign is sending. A ``DutyCycle`` paces
one process: after work that took t seconds it owes a rest of t * (100 - busy) / busy seconds, taken before
its next piece of work starts (so an idle worker never waits). Wall time, not CPU time, is what it measures:
the database's work for the task is in it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class DutyCycle:
    """Keeps one process's work to ``busy_percent`` of the time, measured task by task."""

    def __init__(self, busy_percent: Callable[[], int], *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._busy_percent = busy_percent  # read at each task: a settings override applies at once
        self._sleep = sleep
        self._rest_until = 0.0

    def owed(self) -> float:
        """Seconds of rest still owed before the next piece of work may start."""
        return max(0.0, self._rest_until - time.monotonic())

    @contextmanager
    def working(self) -> Iterator[None]:
        if (rest := self.owed()) > 0:
            self._sleep(rest)
        began = time.monotonic()
        try:
            yield
        finally:
            busy = self._busy_percent()
            ended = time.monotonic()
            self._rest_until = ended + (ended - began) * (100 - busy) / busy if busy < 100 else 0.0
