"""Failpoints: named places where a test can make this process die as a crash would (SIGKILL).

``failpoint("dsar.task.acted.shop")`` does nothing unless the environment variable ``C360_FAILPOINTS``
(comma-separated names, read once at import) names it or a dotted prefix of it: ``dsar.task.acted``
kills at that step in every source, ``dsar.task.acted.shop`` only in the shop. The process gets no chance
to clean up, roll back or acknowledge anything, exactly like a worker killed by the kernel or an operator,
so the crash-recovery tests (tests/faults/) exercise the real recovery paths. Unset in production: one
frozenset lookup per call.
"""

from __future__ import annotations

import os
import signal

_ARMED = frozenset(name.strip() for name in os.environ.get("C360_FAILPOINTS", "").split(",") if name.strip())


def failpoint(name: str) -> None:
    """Die here, at once and uncleanly, when ``C360_FAILPOINTS`` names ``name`` or a dotted prefix of it."""
    if not _ARMED:
        return
    parts = name.split(".")
    if any(".".join(parts[:length]) in _ARMED for length in range(1, len(parts) + 1)):
        os.kill(os.getpid(), signal.SIGKILL)
