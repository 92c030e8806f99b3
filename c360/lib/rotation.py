"""Key rotation over every wrapped data key in the database, whichever app holds it.

Two shapes of holder: rows of a ``WrappedDataKey`` model (subjects, source records, requests, portal
sign-ins), and models that keep a file's wrapped key in their own columns and list them in
``WRAPPED_KEYS`` as ``(blob field, version field, context method)`` (DSAR packages and exports,
audience lists). Models are found through Django's app registry, so this module imports no app, and a
new holder is rotated as soon as it declares itself. An old KEK may leave ``C360_KEYRING`` only when
``pending()`` is empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.utils import timezone

from c360.lib.crypto import WrappedKey, data_key_rewrap, keyring
from c360.lib.models import WrappedDataKey


@dataclass(frozen=True)
class KeyColumns:
    model: type[models.Model]
    blob: str
    version: str
    context: str  # method name on the row giving the key's associated data
    rewrapped: str | None = None

    @property
    def label(self) -> str:
        return f"{self.model._meta.label_lower}.{self.blob}"

    def stale(self) -> models.QuerySet[Any]:
        return (
            self.model._default_manager.filter(**{f"{self.blob}__isnull": False})
            .exclude(**{self.version: keyring().active_version})
            .order_by("pk")
        )


def key_columns() -> Iterator[KeyColumns]:
    for model in apps.get_models():
        if issubclass(model, WrappedDataKey):
            yield KeyColumns(model, "wrapped_dek", "kek_version", "key_context", "rewrapped_at")
        for blob, version, context in getattr(model, "WRAPPED_KEYS", ()):
            yield KeyColumns(model, blob, version, context)


def pending() -> dict[str, int]:
    """Wrapped keys still under an older KEK, per holder (only the non-zero ones)."""
    counts = {columns.label: columns.stale().count() for columns in key_columns()}
    return {label: count for label, count in counts.items() if count}


def rewrap_batch(columns: KeyColumns, *, batch_size: int) -> int:
    """Re-wrap up to ``batch_size`` keys of one holder under the active KEK; each batch commits alone.

    Rows locked by a live writer are skipped (picked up by a later batch): rotation never blocks traffic.
    """
    with transaction.atomic():
        rows = list(columns.stale().select_for_update(skip_locked=True)[:batch_size])
        changed = []
        for row in rows:
            holder = WrappedKey(
                bytes(getattr(row, columns.blob)), getattr(row, columns.version), getattr(row, columns.context)()
            )
            if data_key_rewrap(holder):
                setattr(row, columns.blob, holder.wrapped_dek)
                setattr(row, columns.version, holder.kek_version)
                if columns.rewrapped:
                    setattr(row, columns.rewrapped, timezone.now())
                changed.append(row)
        fields = [columns.blob, columns.version, *([columns.rewrapped] if columns.rewrapped else [])]
        columns.model._default_manager.bulk_update(changed, fields)
    return len(changed)
