"""Leak scan at full size: 10,000 demo people, every request type through a real worker, everything scanned.

    python bench/leaks.py [--quick] [--subjects N]

The scan of ``tests/test_leak_scan.py`` (``run_leak_scan`` in ``tests/leaks.py``), on more people than CI can
afford: ``generate_demo`` and ``load_demo_workflows`` into a fresh PostgreSQL database (``c360_bench_leaks``,
kept for inspection), one request of every type run by a Celery worker process through a Redis server
started here, then every log record (SQL statements included), the worker's log, the broker's messages,
the files at rest, the mails, the downloaded packages and ``pg_dump`` searched for every spelling of every
person's email, phone, CPF and name. Target: no leak. Last line: one JSON object with the counts scanned
and the leaks found.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.settings.test")
os.environ.setdefault("LOG_LEVEL", "WARNING")
BENCH_DATABASE = "c360_bench_leaks"


def _database_url() -> str:
    base = os.environ.get("C360_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    return base.rstrip("/").rsplit("/", 1)[0] + "/" + BENCH_DATABASE if base.count("/") > 3 else base + BENCH_DATABASE


def _fresh_database() -> None:
    import psycopg

    admin = _database_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
        connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="600 people")
    parser.add_argument("--subjects", type=int, default=None, help="demo people (default 10,000)")
    args = parser.parse_args()
    subjects = args.subjects or (600 if args.quick else 10_000)

    _fresh_database()
    os.environ["DATABASE_URL"] = _database_url()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.leaks import run_leak_scan
    from tests.processes import private_redis

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="c360-bench-leaks-") as directory:
        workdir = Path(directory)
        with private_redis(workdir / "redis") as broker_url:
            _say(f"scanning {subjects:,} demo people (database {BENCH_DATABASE}, broker {broker_url})")
            report = run_leak_scan(subjects=subjects, workdir=workdir, broker_url=broker_url)
    for where, form in report.leaks[:50]:
        _say(f"LEAK {where}: {form[:2]}… ({len(form)} characters)")
    figures = {
        "bench": "leaks",
        "quick": args.quick,
        **report.as_json(),
        "total_seconds": round(time.monotonic() - started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "meets_targets": {"no_leaks": not report.leaks},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
