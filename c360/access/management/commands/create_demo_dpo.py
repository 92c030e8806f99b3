from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME = "dpo"


class Command(BaseCommand):
    help = "Demo only: create the 'dpo' staff user once (password kept in var/, mode 0600) and print the login."

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.C360_DEMO or settings.DEBUG):
            raise CommandError("create_demo_dpo only runs with C360_DEMO=1 or DEBUG=1.")
        password_file = settings.VAR_DIR / "demo_dpo_password"
        if password_file.exists():
            password = password_file.read_text(encoding="utf-8").strip()
        else:
            password = secrets.token_urlsafe(12)
            settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(password)
        user_model = get_user_model()
        user = user_model.objects.filter(username=USERNAME).first() or user_model(username=USERNAME)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"Admin login: {USERNAME} / {password}")
