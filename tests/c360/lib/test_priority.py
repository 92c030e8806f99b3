"""A worker's lower CPU priority (c360/lib/priority.py), in processes of their own: a nice value only goes up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = (
    "from pathlib import Path; from c360.lib.priority import lower_cpu_priority; "
    "print(lower_cpu_priority({asked})); "
    "print(Path('/proc/self/autogroup').read_text().split()[-1] if Path('/proc/self/autogroup').exists() else '-')"
)


def _probe(asked: int) -> list[str]:
    # A session of its own: an autogroup of its own, as a worker started apart from the web server has.
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(asked=asked)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        start_new_session=True,
    )
    return done.stdout.split()


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="Linux autogroups are off on this machine")
def test_the_process_and_its_session_group_get_the_nice_value() -> None:
    assert _probe(12) == ["12", "12"]


def test_zero_leaves_the_process_as_it_was() -> None:
    nice, _ = _probe(0)
    assert nice == str(os.nice(0))  # what it inherited from this process
