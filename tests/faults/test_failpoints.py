"""c360.lib.faults: a failpoint kills its process only when C360_FAILPOINTS names it or a dotted prefix of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.faults.helpers import ROOT

PROGRAM = "from c360.lib.faults import failpoint; failpoint('dsar.task.acted.shop'); print('alive')"


def run(armed: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "C360_FAILPOINTS"}
    if armed is not None:
        env["C360_FAILPOINTS"] = armed
    return subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("armed", ["dsar.task.acted", "other.step, dsar.task.acted.shop"])
def test_a_failpoint_named_or_under_a_named_prefix_kills_its_process(armed):
    finished = run(armed)

    assert finished.returncode == -signal.SIGKILL
    assert finished.stdout == ""


@pytest.mark.parametrize("armed", [None, "dsar.task.act,dsar.task.acted.desk-api,dsar.task.acted.shop.x"])
def test_any_other_failpoint_does_nothing(armed):
    finished = run(armed)

    assert (finished.returncode, finished.stdout) == (0, "alive\n")
