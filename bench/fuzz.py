"""API fuzzing at volume: schemathesis against the API's own OpenAPI schema, in-process on the WSGI app.

    python bench/fuzz.py [--quick] [--examples N]

The same harness as tests/fuzz/test_api_schema.py (every operation, positive and negative data, API keys of
every scope; checks: no 5xx, documented status codes, content types, headers and bodies), with N examples per
operation and mode: 240 by default (23 operations x 2 modes x 240 = 11,040 cases), 20 with --quick (under a
minute). Runs on a fresh test database (PostgreSQL when one answers, as the tests do), dropped at the end.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.settings.test")
os.environ.setdefault("C360_TEST_DATABASE_NAME", "test_c360_fuzz_bench")

import django

django.setup()

from django.db import transaction
from django.test.utils import setup_databases, setup_test_environment, teardown_databases

from tests.fuzz import harness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 examples per operation and mode (under a minute)")
    parser.add_argument("--examples", type=int, help="examples per operation and mode (overrides --quick)")
    args = parser.parse_args()
    examples = args.examples or (20 if args.quick else 240)

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        # One transaction, rolled back, as in the test: what the API answers is measured, not the Celery tasks
        # that run on commit (eager here, with no broker, they would run inside the request).
        with transaction.atomic():
            known = harness.seed()
            report = harness.run(max_examples=examples, keys=harness.api_keys(), known=known)
            transaction.set_rollback(True)
    finally:
        teardown_databases(databases, verbosity=0)
    print(report.summary(), file=sys.stderr)
    print(
        json.dumps(
            {
                "bench": "fuzz",
                "cases": report.cases,
                "operations": report.operations,
                "server_errors": report.server_errors,
                "schema_violations": report.schema_violations,
                "seconds": report.seconds,
            }
        )
    )
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
