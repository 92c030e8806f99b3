"""Ingestion through the full path on PostgreSQL: normalise, blind-index, resolve, encrypt, history.

    python bench/ingest.py [--quick] [--people N] [--batch N] [--workers N]

Generates three overlapping messy sources (crm, shop, support) from ``profiles.demo`` with the ground
truth kept apart, ingests them in arrival order into a fresh database, then measures the pairwise
precision and recall of the merges against the truth. Last line: one JSON object.
Targets (issue "Customer 360"): >= 10,000 records/s on 2 cores, peak RSS <= 1 GB, precision >= 0.995,
recall >= 0.98, on 1,000,000 records (~400,000 people).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.settings.test")
os.environ.setdefault("LOG_LEVEL", "WARNING")
BENCH_DATABASE = "c360_bench_ingest"


def _database_url() -> str:
    base = os.environ.get("C360_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    return base.rstrip("/").rsplit("/", 1)[0] + "/" + BENCH_DATABASE if base.count("/") > 3 else base + BENCH_DATABASE


def _fresh_database() -> None:
    import psycopg

    admin = _database_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
        connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="12,000 people (about 30,000 records)")
    parser.add_argument("--people", type=int, default=None)
    parser.add_argument("--batch", type=int, default=5000, help="records per ingestion batch")
    parser.add_argument("--workers", type=int, default=0, help="processes that clean records (0: in-process)")
    parser.add_argument("--seed", type=int, default=360)
    args = parser.parse_args()
    people = args.people or (12_000 if args.quick else 400_000)

    _fresh_database()
    os.environ["DATABASE_URL"] = _database_url()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from c360.lib.history import Actor
    from profiles.demo import DEMO_SOURCES, generate_records, pairwise_quality
    from profiles.models import Source
    from profiles.records import external_index
    from profiles.selectors import record_subjects
    from profiles.services.import_pipeline import ingest_stream

    sources = {item["code"]: Source.objects.create(**item) for item in DEMO_SOURCES}
    truth: dict[tuple[str, bytes], int] = {}

    def stream() -> Iterator[tuple[str, Any]]:
        for record in generate_records(subjects=people, seed=args.seed):
            external_id = record.fields.get("external_id") if isinstance(record.fields, dict) else None
            if isinstance(external_id, str | int) and record.valid:
                truth[(record.source, external_index(record.source, str(external_id).strip()))] = record.person
            yield record.source, record.fields

    started = time.perf_counter()
    counts: Counter[str] = Counter()
    total = 0
    for _source_code, result in ingest_stream(
        stream(), sources=sources, actor=Actor.system("bench"), batch_size=args.batch, workers=args.workers
    ):
        counts.update(result.counts)
        total += len(result.outcomes)
        print(f"\r{total:,} records, {total / (time.perf_counter() - started):,.0f}/s", end="", file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(file=sys.stderr)
    peak_rss_mb = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    ) / 1024

    predicted = record_subjects([(code, index) for code, index in truth])
    precision, recall = pairwise_quality(predicted, truth)
    result = {
        "bench": "ingest",
        "quick": args.quick,
        "people": people,
        "records": total,
        "seconds": round(elapsed, 1),
        "records_per_s": round(total / elapsed),
        "peak_rss_mb": round(peak_rss_mb),
        "precision": round(precision, 5),
        "recall": round(recall, 5),
        "new_subjects": counts["new_subjects"],
        "merged": counts["merged"],
        "quarantined": counts["quarantined"],
        "suggestions": counts["suggestions"],
        "batch": args.batch,
        "workers": args.workers,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
