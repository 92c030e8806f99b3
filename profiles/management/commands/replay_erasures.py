from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from c360.lib.errors import ApplicationError
from c360.lib.history import Actor
from profiles.services.subjects import subject_erase

# The line every erasure writes to the application log (profiles.services.subjects), JSON or text format.
ERASED = re.compile(r"Subject ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) erased by")


class Command(BaseCommand):
    help = (
        "After restoring a database backup, erase again every subject erased since the backup was taken, read "
        "from the application log lines 'Subject <uuid> erased by ...' (a file, or - for standard input). "
        "Idempotent: subjects already erased are reported and left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("log", help="Log file to read, or - for standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Only list the subject ids found.")

    def handle(self, *args: Any, log: str, dry_run: bool, **options: Any) -> None:
        try:
            text = sys.stdin.read() if log == "-" else Path(log).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CommandError(f"Cannot read {log}: {exc.strerror}.") from None
        subject_ids = list(dict.fromkeys(ERASED.findall(text)))  # in log order, once each
        self.stdout.write(f"{len(subject_ids)} erased subject(s) found in the log.")
        if dry_run:
            for subject_id in subject_ids:
                self.stdout.write(subject_id)
            return
        actor = Actor.system("replay-erasures")
        erased = already = failed = 0
        for subject_id in subject_ids:
            try:
                outcome = subject_erase(subject_id=subject_id, actor=actor, reason="replayed after a restore")
            except ApplicationError as exc:
                failed += 1
                self.stderr.write(f"{subject_id}: {exc.message}")
                continue
            already += outcome.already_erased
            erased += not outcome.already_erased
        self.stdout.write(f"Erased again: {erased}; already erased: {already}; not found or refused: {failed}.")
        if failed:
            raise CommandError(f"{failed} subject(s) could not be erased; see the messages above.")
