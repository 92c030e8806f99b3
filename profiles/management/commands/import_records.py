from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from c360.lib.errors import NotFound
from c360.lib.history import Actor
from profiles.importers import ColumnMapping, ImportFileError, detect_format, read_csv, read_jsonl
from profiles.services.import_pipeline import ingest_stream
from profiles.services.ingestion import MAX_BATCH, source_get


class Command(BaseCommand):
    help = (
        "Import a CSV or JSON Lines file of one source's records through identity resolution, streaming "
        "(memory stays bounded whatever the size). Invalid rows are quarantined with their reasons, never dropped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--source", required=True, help="The source's code (see the admin, Sources).")
        parser.add_argument("--format", choices=["csv", "jsonl"], help="Default: from the file extension.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help="Rename a column: E-mail=email, Cidade=address.city, Segmento=extra.segment. Repeatable.",
        )
        parser.add_argument("--ignore", action="append", default=[], metavar="COLUMN", help="Leave a column out.")
        parser.add_argument("--delimiter", default=",", help="CSV delimiter (default ,).")
        parser.add_argument("--encoding", default="utf-8-sig", help="File encoding (default utf-8, BOM allowed).")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--workers", type=int, default=0, help="Processes that clean records in parallel.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        if not 1 <= options["batch_size"] <= MAX_BATCH:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH}.")
        try:
            source = source_get(options["source"])
            mapping = ColumnMapping.parse(options["map"], options["ignore"])
            file_format = detect_format(path, options["format"])
        except (NotFound, ImportFileError) as exc:
            raise CommandError(str(exc.message if isinstance(exc, NotFound) else exc)) from None

        counts: Counter[str] = Counter()
        started = time.monotonic()
        size = path.stat().st_size
        with (
            path.open(encoding=options["encoding"], newline="") as handle,
            tqdm(total=size, unit="B", unit_scale=True, disable=options["no_progress"], file=self.stderr) as bar,
        ):
            if file_format == "csv":
                records = read_csv(handle, mapping, delimiter=options["delimiter"])
            else:
                records = read_jsonl(handle, mapping)
            position = 0
            try:
                for _, result in ingest_stream(
                    ((source.code, record) for record in records),
                    sources={source.code: source},
                    actor=Actor.system(f"import_records:{source.code}"),
                    batch_size=options["batch_size"],
                    workers=options["workers"],
                ):
                    counts.update(result.counts)
                    counts["records"] += len(result.outcomes)
                    new_position = handle.buffer.tell() if hasattr(handle, "buffer") else position
                    bar.update(max(new_position - position, 0))
                    position = new_position
            except ImportFileError as exc:
                raise CommandError(f"{exc} Nothing after the header was imported.") from None
            except UnicodeDecodeError:
                raise CommandError(
                    f"The file is not {options['encoding']}; give --encoding (e.g. latin-1). Batches before "
                    "the bad byte were imported; re-running is safe (unchanged records are recognised)."
                ) from None
            bar.update(size - position)
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"{counts['records']:,} records in {elapsed:.1f}s ({counts['records'] / max(elapsed, 1e-6):,.0f}/s): "
            f"{counts['linked']:,} linked, {counts['new_subjects']:,} new subjects, {counts['merged']:,} merged, "
            f"{counts['quarantined']:,} quarantined, {counts['unchanged']:,} unchanged, "
            f"{counts['suggestions']:,} match suggestions, {counts['erased']:,} refused (erased)."
        )
