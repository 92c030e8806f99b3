from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from c360.lib.crypto import KeyringError, keyring
from profiles.selectors import subject_keys_pending_rotation
from profiles.services.subjects import subject_keys_rewrap_batch


class Command(BaseCommand):
    help = (
        "Re-wrap every subject data key under the active (highest) version of C360_KEYRING, in batches. "
        "Safe to interrupt and run again: it resumes with the keys not yet re-wrapped. Data is not re-encrypted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--limit", type=int, default=None, help="Stop after re-wrapping this many keys.")
        parser.add_argument("--dry-run", action="store_true", help="Only count the keys to re-wrap.")

    def handle(self, *args: Any, batch_size: int, limit: int | None, dry_run: bool, **options: Any) -> None:
        if batch_size < 1 or (limit is not None and limit < 1):
            raise CommandError("--batch-size and --limit must be positive.")
        active = keyring().active_version
        pending = subject_keys_pending_rotation()
        self.stdout.write(f"Active key version: {active}. Data keys to re-wrap: {pending}.")
        if dry_run or pending == 0:
            return
        done, started = 0, time.monotonic()
        while limit is None or done < limit:
            size = batch_size if limit is None else min(batch_size, limit - done)
            try:
                count = subject_keys_rewrap_batch(batch_size=size)
            except KeyringError as exc:
                raise CommandError(f"{exc}. Nothing in this batch was changed.") from None
            if count == 0:
                break
            done += count
            rate = done / max(time.monotonic() - started, 1e-6)
            self.stdout.write(f"re-wrapped {done}/{pending} ({100 * done // max(pending, 1)}%), {rate:.0f} keys/s")
        remaining = subject_keys_pending_rotation()
        if remaining:
            self.stdout.write(f"Stopped with {remaining} data key(s) left; run rotate_keys again to resume.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Done: {done} re-wrapped; every data key is under version {active}. "
                    "Older versions may now leave C360_KEYRING."
                )
            )
