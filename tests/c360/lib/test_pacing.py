"""The duty cycle that keeps a DSAR worker to a share of the time (c360/lib/pacing.py)."""

from __future__ import annotations

import time

import pytest

from c360.lib.pacing import DutyCycle


class Rests:
    """Records the rests a duty cycle asks for, and takes them (so the clock moves as it would)."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        time.sleep(seconds)


def test_a_quarter_busy_worker_rests_three_times_as_long_as_it_worked() -> None:
    # given a worker allowed 25% of the time
    rests = Rests()
    pace = DutyCycle(lambda: 25, sleep=rests)

    # when one piece of work takes 40 ms and the next one comes at once
    with pace.working():
        time.sleep(0.04)
    owed = pace.owed()
    with pace.working():
        pass

    # then it rested about 120 ms before the second (three times the work), and not before the first
    assert 0.11 <= owed <= 0.2
    assert len(rests.taken) == 1
    assert 0.11 <= rests.taken[0] <= 0.2


def test_an_idle_worker_owes_nothing_when_its_next_task_comes() -> None:
    rests = Rests()
    pace = DutyCycle(lambda: 50, sleep=rests)
    with pace.working():
        time.sleep(0.02)

    # when it stays idle longer than the rest it owed
    time.sleep(0.05)

    # then the next task starts at once
    assert pace.owed() == 0
    with pace.working():
        pass
    assert rests.taken == []


def test_a_failed_task_is_paced_too() -> None:
    pace = DutyCycle(lambda: 50, sleep=Rests())

    def failing_task() -> None:
        with pace.working():
            time.sleep(0.03)
            raise RuntimeError("the source was down")

    with pytest.raises(RuntimeError):
        failing_task()
    assert 0.025 <= pace.owed() <= 0.1


def test_a_full_time_worker_never_rests_and_a_new_setting_applies_at_the_next_task() -> None:
    busy = {"percent": 100}
    rests = Rests()
    pace = DutyCycle(lambda: busy["percent"], sleep=rests)
    for _ in range(3):
        with pace.working():
            time.sleep(0.01)
    assert rests.taken == []
    assert pace.owed() == 0

    busy["percent"] = 20  # read at each task: no restart needed
    with pace.working():
        time.sleep(0.01)
    assert 0.035 <= pace.owed() <= 0.08
