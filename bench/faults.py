"""Crash recovery, the full matrix: one request per failpoint, its worker killed there once, then restarted.

    python bench/faults.py [--quick]

Every step of a source task (started, located, planned, acted, finished) in every source (c360's store, a
PostgreSQL shop, an HTTP support desk), for an erasure and for an access request, and the three package
steps of an access request (start, written, committed): 33 cases, each a fresh request over fresh sources,
a Celery worker (``--pool=solo`` on Redis) armed with that one failpoint and killed there with SIGKILL, then
a clean worker. Each case checks what tests/faults/test_worker_crash.py checks after its chains: the request
settles, no source is erased twice, the trail is complete. ``--quick`` runs 3 cases (under a minute once the
test database exists: it is kept between runs, ``--reuse-db``).

Figures: cases run and passed, and the recovery time, from the clean worker's start until the request
settled (the worker's own start-up, about 3 s on 2 cores, included). Target: every case passes. This file is
also the pytest module that runs the cases (``pytest bench/faults.py``); the script runs it in a child
process with a test database of its own (``test_c360_faults_bench``) and a redis-server of its own, and
reads the report it writes.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCES = ("c360", "desk-api", "shop")
TASK_STEPS = ("started", "located", "planned", "acted", "finished")
PACKAGE_STEPS = ("dsar.package.start", "dsar.package.written", "dsar.package.committed")
QUICK = (("erasure", "dsar.task.acted.shop"), ("erasure", "dsar.task.acted.desk-api"), ("access", PACKAGE_STEPS[1]))


def cases(quick: bool) -> list[tuple[str, str]]:
    if quick:
        return list(QUICK)
    matrix = [
        (kind, f"dsar.task.{step}.{code}") for kind in ("erasure", "access") for step in TASK_STEPS for code in SOURCES
    ]
    return matrix + [("access", step) for step in PACKAGE_STEPS]


# ---------------------------------------------------------------- the cases (collected by pytest)

if "pytest" in sys.modules:
    import pytest

    from tests.faults.conftest import broker, broker_server, sources, workers  # noqa: F401 (fixtures below)
    from tests.faults.helpers import wait_until
    from tests.faults.test_worker_crash import (
        DPO,
        assert_erased_once,
        assert_one_package,
        assert_trail_complete,
        file_request,
        kill_at,
        settled,
    )

    @pytest.fixture(scope="session", autouse=True)
    def _empty_database(django_db_setup: None, django_db_blocker: Any) -> None:
        """The kept test database starts empty, even after a run that was stopped before its clean-up."""
        from django.core.management import call_command

        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)

    @pytest.mark.django_db(transaction=True)
    @pytest.mark.parametrize(
        ("kind", "failpoint"), cases(os.environ.get("C360_FAULTS_QUICK") == "1"), ids=lambda value: value
    )
    def test_one_kill(kind: str, failpoint: str, sources: Any, workers: Any) -> None:  # noqa: F811 (fixtures)
        from collections import Counter

        from dsar.models import DataRequest
        from dsar.services.requests import request_complete

        request = file_request(kind)
        cut = kill_at(workers, request, [failpoint])
        began = time.monotonic()
        workers.start()
        wait_until(
            lambda: settled(request, workers.broker_url),
            timeout=90,
            what=f"{kind} to settle after a kill at {failpoint}",
        )
        recovery = time.monotonic() - began

        runs = Counter({cut: 1}) if cut else Counter()
        assert_trail_complete(request, runs)
        if kind == "erasure":
            assert_erased_once(sources, request, {cut} if cut and ".acted." in failpoint else set())
        else:
            assert_one_package(sources, request)
        if request_complete(request_id=request.id, actor=DPO).status != DataRequest.Status.COMPLETED:
            raise AssertionError(f"{kind} after a kill at {failpoint}: the DPO could not complete it")
        report = os.environ.get("C360_FAULTS_REPORT")
        if report:
            with Path(report).open("a") as handle:
                handle.write(json.dumps({"kind": kind, "failpoint": failpoint, "recovery_seconds": recovery}) + "\n")


# ---------------------------------------------------------------- the script


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 cases instead of 33")
    args = parser.parse_args()
    planned = cases(args.quick)
    with tempfile.TemporaryDirectory(prefix="c360-bench-faults-") as directory:
        report = Path(directory) / "report.jsonl"
        env = {
            **os.environ,
            "C360_FAULTS_REPORT": str(report),
            "C360_FAULTS_QUICK": "1" if args.quick else "0",
            "C360_TEST_DATABASE_NAME": "test_c360_faults_bench",
        }
        began = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "bench/faults.py", "-q", "-p", "no:cacheprovider", "--reuse-db"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - began
        rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    tail = result.stdout.strip().splitlines()[-15:]
    print("\n".join(tail), file=sys.stderr)
    recoveries = [row["recovery_seconds"] for row in rows]
    print(
        json.dumps(
            {
                "bench": "faults",
                "quick": args.quick,
                "cases": len(planned),
                "passed": len(rows),
                "failed": len(planned) - len(rows),
                "recovery_p50_seconds": round(_percentile(recoveries, 0.5), 2) if recoveries else None,
                "recovery_max_seconds": round(max(recoveries), 2) if recoveries else None,
                "wall_seconds": round(seconds, 1),
                "pytest_exit": result.returncode,
            }
        )
    )
    if result.returncode != 0:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
