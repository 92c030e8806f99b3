from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from c360.lib.history import Actor
from consent.services.events import ledger_verification_record


class Command(BaseCommand):
    help = (
        "Walk every consent chain and report each broken link, then re-check the last daily checkpoint. "
        "The result is kept (LedgerVerification) and shown on the DPO dashboard."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = ledger_verification_record(actor=Actor.system("verify_ledger"))
        for link in report.broken_links:
            self.stdout.write(f"BROKEN {link['chain']} #{link['sequence']} event {link['event']}: {link['problem']}")
        checkpoint = "no checkpoint yet"
        if report.checkpoint is not None:
            state = "matches" if report.checkpoint_matches else "DOES NOT MATCH (a chain tail was changed or removed)"
            checkpoint = f"checkpoint of {report.checkpoint.taken_at:%Y-%m-%d %H:%M} {state}"
        summary = f"{report.chains} chains, {report.events} events, {report.broken} broken link(s); {checkpoint}."
        if not report.ok:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
