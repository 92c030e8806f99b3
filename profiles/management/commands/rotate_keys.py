from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from c360.lib import rotation
from c360.lib.crypto import KeyringError, keyring


class Command(BaseCommand):
    help = (
        "Re-wrap every data key (subjects, source records, requests, portal sign-ins, and the keys of encrypted "
        "files: DSAR exports and packages, audience lists) under the active (highest) version of C360_KEYRING, "
        "in batches. Safe to interrupt and run again: it resumes with the keys not yet re-wrapped. "
        "Data is not re-encrypted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--limit", type=int, default=None, help="Stop after re-wrapping this many keys.")
        parser.add_argument("--dry-run", action="store_true", help="Only count the keys to re-wrap.")

    def handle(self, *args: Any, batch_size: int, limit: int | None, dry_run: bool, **options: Any) -> None:
        if batch_size < 1 or (limit is not None and limit < 1):
            raise CommandError("--batch-size and --limit must be positive.")
        active = keyring().active_version
        stale = rotation.pending()
        total = sum(stale.values())
        by_holder = ", ".join(f"{label} {count}" for label, count in stale.items()) or "none"
        self.stdout.write(f"Active key version: {active}. Data keys to re-wrap: {total} ({by_holder}).")
        if dry_run or total == 0:
            return
        done, started = 0, time.monotonic()
        for columns in rotation.key_columns():
            while limit is None or done < limit:
                size = batch_size if limit is None else min(batch_size, limit - done)
                try:
                    count = rotation.rewrap_batch(columns, batch_size=size)
                except KeyringError as exc:
                    raise CommandError(f"{exc}. Nothing in this batch was changed.") from None
                if count == 0:
                    break
                done += count
                rate = done / max(time.monotonic() - started, 1e-6)
                self.stdout.write(f"re-wrapped {done}/{total} ({100 * done // max(total, 1)}%), {rate:.0f} keys/s")
        remaining = sum(rotation.pending().values())
        if remaining:
            self.stdout.write(f"Stopped with {remaining} data key(s) left; run rotate_keys again to resume.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Done: {done} re-wrapped; every data key is under version {active}. "
                    "Older versions may now leave C360_KEYRING."
                )
            )
