from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from consent.selectors import ledger_verify


class Command(BaseCommand):
    help = "Walk every consent chain and report each broken link, then re-check the last daily checkpoint."

    def handle(self, *args: Any, **options: Any) -> None:
        report = ledger_verify()
        for link in report.broken:
            self.stdout.write(f"BROKEN {link.chain} #{link.sequence} event {link.event_id}: {link.problem}")
        checkpoint = "no checkpoint yet"
        if report.checkpoint is not None:
            state = "matches" if report.checkpoint_matches else "DOES NOT MATCH (a chain tail was changed or removed)"
            checkpoint = f"checkpoint of {report.checkpoint.taken_at:%Y-%m-%d %H:%M} {state}"
        summary = f"{report.chains} chains, {report.events} events, {len(report.broken)} broken link(s); {checkpoint}."
        if report.broken or report.checkpoint_matches is False:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
