from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from c360.access.models import Scope
from c360.access.services import api_key_issue
from c360.lib.errors import ValidationFailed
from c360.lib.history import Actor


class Command(BaseCommand):
    help = "Issue an API key. The key is printed once and never stored: copy it now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="Which system will use the key.")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            required=True,
            help=f"Repeat for each scope: {', '.join(Scope.values)}.",
        )
        parser.add_argument("--rate", default="", help="Requests per period, e.g. 6000/min (default: settings).")

    def handle(self, *args: Any, name: str, scopes: list[str], rate: str, **options: Any) -> None:
        try:
            issued = api_key_issue(name=name, scopes=scopes, rate=rate, actor=Actor.system("issue_api_key"))
        except ValidationFailed as exc:
            details = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.errors.items())
            raise CommandError(f"{exc.message} {details}") from None
        self.stderr.write(f"Issued API key {issued.api_key.prefix} ({', '.join(issued.api_key.scopes)}). Shown once:")
        self.stdout.write(issued.plaintext)
