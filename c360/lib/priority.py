"""A lower CPU priority for background work that shares a machine with the hot path.

An erasure or an export has days; a consent check has milliseconds. Where a Celery worker runs next to the
web server on the same cores, the kernel should give the CPU to the checks first and to the worker whatever
is left: work-conserving (an idle machine still drains the queue at full speed), unlike a rate limit.
``nice`` alone does not do it on Linux when the two run in different sessions: the scheduler first shares
the CPU between session groups (autogroups) equally, whatever their processes' nice values, so the group's
own nice value is set too. Inside a container or a systemd unit the cgroup's weight decides instead
(docker-compose.yml gives the worker a lower ``cpu_shares``; systemd has ``CPUWeight=``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")


def lower_cpu_priority(niceness: int) -> int:
    """Raise this process's nice value to ``niceness`` (never lower it) and its autogroup's, where Linux has
    autogroups; the nice value now in effect."""
    current = os.nice(0)
    if niceness > current:
        current = os.nice(niceness - current)
    if niceness > 0:
        # Not Linux, autogroups off, or a cgroup of its own: the process's nice value is then what there is.
        with contextlib.suppress(OSError):
            AUTOGROUP.write_text(str(niceness))
    return current
