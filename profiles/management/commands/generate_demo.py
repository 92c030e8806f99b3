from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from c360.lib.history import Actor, acting_as
from profiles.demo import DEMO_SOURCES, generate_records, pairwise_quality, write_demo_files
from profiles.models import Source, SourceRecord
from profiles.records import external_index
from profiles.selectors import record_subjects
from profiles.services.import_pipeline import ingest_stream


class Command(BaseCommand):
    help = (
        "Write three messy, overlapping demo sources (crm, shop, support: JSON Lines) with the ground truth "
        "kept apart (truth.csv), then ingest them and report the precision and recall of the merges."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subjects", type=int, default=2000, help="How many people (about 2.5 records each).")
        parser.add_argument("--seed", type=int, default=360)
        parser.add_argument("--output", type=Path, default=None, help="Where the files go (default var/demo/).")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when records already exist.")
        parser.add_argument("--no-load", action="store_true", help="Only write the files.")

    def handle(self, *args: Any, subjects: int, seed: int, output: Path | None, **options: Any) -> None:
        if subjects < 1:
            raise CommandError("--subjects must be at least 1.")
        if options["if_empty"] and SourceRecord.objects.exists():
            self.stdout.write("Demo data already loaded; leaving it as it is.")
            return
        directory = output or settings.VAR_DIR / "demo"
        paths = write_demo_files(generate_records(subjects=subjects, seed=seed), directory)
        self.stdout.write(f"Wrote {', '.join(str(path) for path in paths.values())}")
        if options["no_load"]:
            return

        actor = Actor.system("generate_demo")
        with acting_as(actor):
            sources = {
                item["code"]: Source.objects.update_or_create(code=item["code"], defaults=item)[0]
                for item in DEMO_SOURCES
            }
        counts: Counter[str] = Counter()
        started = time.monotonic()
        for _, result in ingest_stream(
            ((record.source, record.fields) for record in generate_records(subjects=subjects, seed=seed)),
            sources=sources,
            actor=actor,
        ):
            counts.update(result.counts)
            counts["records"] += len(result.outcomes)
        elapsed = time.monotonic() - started
        truth = {
            (record.source, external_index(record.source, str(record.fields["external_id"]).strip())): record.person
            for record in generate_records(subjects=subjects, seed=seed)
            if record.valid and isinstance(record.fields, dict) and "external_id" in record.fields
        }
        precision, recall = pairwise_quality(record_subjects(list(truth)), truth)
        self.stdout.write(
            f"Ingested {counts['records']:,} records in {elapsed:.1f}s: {counts['new_subjects']:,} subjects, "
            f"{counts['merged']:,} merges, {counts['quarantined']:,} quarantined, "
            f"{counts['suggestions']:,} match suggestions. Against the ground truth: "
            f"precision {precision:.4f}, recall {recall:.4f}."
        )
