from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from c360.lib.history import audited_history


class Scope(models.TextChoices):
    PROFILES_READ = "profiles:read", "Read subjects (decrypted, audited)"
    PROFILES_WRITE = "profiles:write", "Create and change subjects, ingest records"
    CONSENT_CHECK = "consent:check", "Check consent before contacting people"
    CONSENT_WRITE = "consent:write", "Record consent events"
    DSAR_MANAGE = "dsar:manage", "File and manage data subject requests"


class ApiKey(models.Model):
    """A machine client's credential. Only a hash of the secret is stored; the key is shown once.

    Lookup is by the public prefix, then the secret's hash is compared in constant time.
    """

    name = models.CharField(max_length=100, help_text="Which system uses this key, e.g. 'Braze campaigns'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    rate = models.CharField(
        max_length=20,
        blank=True,
        help_text="Requests allowed per period, e.g. 6000/min; blank uses C360_API_KEY_RATE.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = audited_history(excluded_fields=["secret_hash", "last_used_at"])

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
