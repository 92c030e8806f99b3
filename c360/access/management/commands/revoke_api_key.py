from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from c360.access.services import api_key_revoke
from c360.lib.errors import NotFound
from c360.lib.history import Actor


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (the 8 characters after c360_). Takes effect on the next request."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, prefix: str, **options: Any) -> None:
        try:
            api_key = api_key_revoke(prefix=prefix, actor=Actor.system("revoke_api_key"))
        except NotFound as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Revoked API key {api_key.prefix} ({api_key.name}) at {api_key.revoked_at:%Y-%m-%d %H:%M:%S %Z}."
        )
