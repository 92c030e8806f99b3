"""bench/mixed.py at a tiny size, so CI proves the script works; no timing is asserted (that is the bench's job).

The script runs as the benchmark runs: its own database (2,000 seeded subjects, dropped after), gunicorn and a
Celery worker process on a Redis database of its own (``C360_TEST_MIXED_BROKER_URL``, default Redis database
11), wrk holding 200 checks/s for two 2-second windows, and 10 erasures through the DSAR workflow in the
second, the worker at nice 10. The figures it prints must add up, and the database must show
the erasures really happened.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
ERASURES = 10


def _admin_url() -> str:
    base = os.environ.get("C360_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    return base.rstrip("/").rsplit("/", 1)[0] + "/postgres" if base.count("/") > 3 else base + "postgres"


@pytest.fixture
def bench_database() -> Iterator[str]:
    """A database name of this test's own; the bench creates it, the test drops it."""
    name = (os.environ.get("C360_TEST_DATABASE_NAME") or "test_c360") + "_mixed_bench"
    yield name
    with psycopg.connect(_admin_url(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
@pytest.mark.broker
def test_the_mixed_load_bench_checks_at_a_fixed_rate_while_erasures_run(bench_database: str) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("the bench loads the server with wrk (Debian: apt-get install wrk)")
    broker = os.environ.get("C360_TEST_MIXED_BROKER_URL", "redis://127.0.0.1:6379/11")

    # given a tiny database, when the bench runs its whole measurement
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "mixed.py"),
            *("--subjects", "2000", "--database", bench_database, "--broker", broker),
            *("--rate", "200", "--duration", "2", "--warmup", "1", "--erasures", str(ERASURES)),
            *("--drain-timeout", "90", "--worker-nice", "10"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    # then it ends with one JSON line whose figures add up
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["bench"] == "mixed"
    assert result["rate_target"] == 200
    for window in ("unloaded", "loaded"):
        assert result[window]["requests"] > 0
        assert result[window]["non_2xx"] == result[window]["socket_errors"] == 0
        assert 0 < result[window]["p50_ms"] <= result[window]["p99_ms"] <= result[window]["max_ms"]
    assert result["check_errors"] == 0
    assert result["erasures"] == result["erasures_completed"] == ERASURES
    assert result["erasure_errors"] == {"not_completed": 0, "never_started": 0, "failed_tasks": 0, "retried_tasks": 0}
    assert result["erasure_drain_s"] > 0
    # the worker ran at the nice value asked for (c360/lib/priority.py, set as the worker started)
    assert result["worker_nice"] == result["worker_nice_observed"] == 10
    assert 0 < result["worker_busy_share"] <= 1
    assert result["erased_checks"]["statuses"] == {"200": ERASURES}
    assert result["erased_checks"]["refused"] == ERASURES
    assert result["p99_ratio"] == pytest.approx(result["loaded"]["p99_ms"] / result["unloaded"]["p99_ms"], abs=0.01)

    # and the database shows the erasures: requests in review, their people crypto-shredded
    url = _admin_url().rsplit("/", 1)[0] + "/" + bench_database
    with psycopg.connect(url) as connection:
        requests = connection.execute(
            "SELECT status, count(*) FROM dsar_datarequest WHERE request_type = 'erasure' GROUP BY status"
        ).fetchall()
        erased = connection.execute("SELECT count(*) FROM profiles_subject WHERE status = 'erased'").fetchone()
        keys_left = connection.execute(
            "SELECT count(*) FROM profiles_subjectkey k JOIN profiles_subject s ON s.id = k.subject_id "
            "WHERE s.status = 'erased' AND k.wrapped_dek IS NOT NULL"
        ).fetchone()
    assert requests == [("in_review", ERASURES)]
    assert erased == (ERASURES,)
    assert keys_left == (0,)
