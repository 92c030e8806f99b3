"""Abstract models the apps build on; no concrete model lives here."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WrappedDataKey(models.Model):
    """A data key (DEK) stored wrapped by a key-encryption key (KEK) of the keyring.

    Never history-tracked: a historical copy of the wrapped DEK would survive crypto-shredding.
    """

    kek_version = models.PositiveIntegerField(null=True, editable=False)
    wrapped_dek = models.BinaryField(null=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    rewrapped_at = models.DateTimeField(null=True, editable=False)
    shredded_at = models.DateTimeField(null=True, editable=False)

    class Meta:
        abstract = True

    def key_context(self) -> bytes:
        """Associated data binding the wrapped DEK to its owner, so it cannot be moved to another."""
        raise NotImplementedError
