"""``manage.py compliance_report --month 2026-10 --format pdf --output report.pdf``"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from c360.compliance.exports import report_html, report_pdf
from c360.compliance.services.reports import monthly_report_build, parse_month


class Command(BaseCommand):
    help = "Write the monthly compliance report (requests, consent, incidents, ledger) as HTML or PDF."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--format", choices=("pdf", "html"), default="pdf")
        parser.add_argument("--output", required=True, help="File to write.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            month = parse_month(options["month"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        context = monthly_report_build(month=month)
        output = Path(options["output"])
        if options["format"] == "pdf":
            output.write_bytes(report_pdf(context))
        else:
            output.write_text(report_html(context), encoding="utf-8")
        self.stdout.write(f"Wrote the {context['month']} report to {output}")
