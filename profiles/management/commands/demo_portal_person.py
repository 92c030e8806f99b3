from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from c360.lib.history import Actor
from profiles.models import Subject
from profiles.services.subjects import subject_reveal


class Command(BaseCommand):
    help = "Demo only: print the portal's address and the email of a demo person to sign in with."

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.C360_DEMO or settings.DEBUG):
            raise CommandError("demo_portal_person only runs with C360_DEMO=1 or DEBUG=1.")
        # The person whose profile was assembled from the most source records: the richest "my data" page.
        candidates = (
            Subject.objects.filter(status=Subject.Status.ACTIVE, identifiers__kind="email")
            .annotate(records=Count("source_records", distinct=True))
            .order_by("-records", "created_at")[:20]
        )
        for subject in candidates:
            revealed = subject_reveal(
                subject_id=subject.id, actor=Actor.system("demo"), reason="Demo set-up: a person to try the portal"
            )
            emails = [item.value for item in revealed.identifiers if item.kind == "email"]
            if emails:
                self.stdout.write(
                    f"Portal:   {settings.C360_PUBLIC_URL}/portal/  (sign in as {emails[0]}: "
                    "the demo prints the sign-in link in this console)"
                )
                return
        self.stdout.write(f"Portal:   {settings.C360_PUBLIC_URL}/portal/")
