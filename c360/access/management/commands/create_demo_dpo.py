from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from c360.access.roles import DPO, roles_sync

USERNAME = "dpo"


class Command(BaseCommand):
    help = (
        "Demo only: create the 'dpo' staff user in the DPO role once (password kept in var/, mode 0600), give it "
        "fresh one-time backup codes, and print the login, the password and the codes."
    )

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
        user.is_staff = user.is_active = True
        user.is_superuser = False  # the DPO role, not a superuser: what the console shows is what the role allows
        user.set_password(password)
        user.save()
        if not Group.objects.filter(name=DPO.name).exists():
            roles_sync()
        user.groups.add(Group.objects.get(name=DPO.name))
        # Backup codes work once each; every run replaces them, so the printed ones are the only valid ones.
        device, _ = StaticDevice.objects.get_or_create(user=user, name="demo backup codes")
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(5)]
        for code in codes:
            device.token_set.create(token=code)
        self.stdout.write(f"Admin login: {USERNAME} / {password}")
        if settings.C360_ADMIN_OTP:
            self.stdout.write(f"One-time code (each works once): {', '.join(codes)}")
        else:
            self.stdout.write(
                f"C360_ADMIN_OTP is off: the password is enough. With it on, use a one-time code: {', '.join(codes)}"
            )
