"""Reads of the subject store. None of them returns clear text except through a masked form."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

from django.db.models import QuerySet

from c360.lib.crypto import DecryptionError, blind_index, data_key_open
from c360.lib.identifiers import IdentifierKind, mask, mask_text, normalise

from .encryption import unseal
from .models import Source, SourceRecord, Subject, index_kind


def subject_get(subject_id: UUID | str) -> Subject | None:
    return Subject.objects.filter(pk=subject_id).first()


def subject_find(*, kind: str, value: str, namespace: str = "") -> QuerySet[Subject]:
    """Subjects holding this identifier, by exact match after normalisation (blind index).

    Raises IdentifierError when ``value`` cannot be an identifier of ``kind``. Erased subjects hold no
    identifiers, so they are never found.
    """
    normalised = normalise(kind, value)
    index = blind_index(index_kind(kind, namespace), normalised)
    return (
        Subject.objects.filter(identifiers__kind=kind, identifiers__namespace=namespace, identifiers__blind_index=index)
        .distinct()
        .order_by("created_at")
    )


@dataclass(frozen=True)
class MaskedSubject:
    """What staff screens show without a reveal: enough to tell people apart, not to identify."""

    name: str
    identifiers: list[tuple[str, str, bool]]  # (kind, masked value, verified)


def subject_masked(subject: Subject) -> MaskedSubject:
    if subject.is_erased:
        return MaskedSubject(name="(erased)", identifiers=[])
    try:
        data_key = data_key_open(subject.key)
    except DecryptionError:
        return MaskedSubject(name="(unreadable)", identifiers=[])
    given = unseal(data_key, subject, "social_name") or unseal(data_key, subject, "given_name") or ""
    family = unseal(data_key, subject, "family_name") or ""
    identifiers = []
    for identifier in subject.identifiers.all():
        value = unseal(data_key, identifier, "value")
        kind = IdentifierKind(identifier.kind)
        identifiers.append((identifier.kind, mask(kind, value), identifier.is_verified))
    name = " ".join(mask_text(part) for part in (given, family) if part)
    return MaskedSubject(name=name or "-", identifiers=identifiers)


def record_subjects(keys: list[tuple[str, bytes]], chunk: int = 20_000) -> dict[tuple[str, bytes], uuid.UUID]:
    """(source code, external-id blind index) -> the live subject each record belongs to now.

    Merged subjects are followed to their survivor; quarantined and erased records map to nothing.
    """
    source_ids = dict(Source.objects.values_list("code", "id"))
    codes = {source_id: code for code, source_id in source_ids.items()}
    found: dict[tuple[str, bytes], uuid.UUID] = {}
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        rows = SourceRecord.objects.filter(
            external_id_index__any=[index for _, index in part], status=SourceRecord.Status.LINKED
        ).values_list("source_id", "external_id_index", "subject_id")
        for source_id, index, subject_id in rows:
            found[(codes[source_id], bytes(index))] = subject_id
    merged_into = dict(Subject.objects.filter(status=Subject.Status.MERGED).values_list("id", "merged_into_id"))
    for key, linked_id in found.items():
        live_id = linked_id
        while live_id in merged_into:
            live_id = merged_into[live_id]
        found[key] = live_id
    wanted = set(keys)
    return {key: subject_id for key, subject_id in found.items() if key in wanted}


def quarantined_records(*, source_code: str | None = None) -> QuerySet[SourceRecord]:
    records = SourceRecord.objects.filter(status=SourceRecord.Status.QUARANTINED).select_related(
        "source", "key", "subject__key"
    )
    if source_code:
        records = records.filter(source__code=source_code)
    return records.order_by("-received_at", "id")


def record_errors(record: SourceRecord) -> dict[str, list[str]]:
    """A quarantined record's reasons, decrypted (they name fields and rules, never values)."""
    holder = record.subject.key if record.subject_id else record.key
    return unseal(data_key_open(holder), record, "errors") or {}


def subjects_by_identifier(
    *, kind: str | None = None, value: str | None = None, source_code: str | None = None, external_id: str | None = None
) -> QuerySet[Subject]:
    """Staff search: by an email, phone, CPF or CNPJ, or by a source's own record id."""
    if source_code is not None:
        index = blind_index(
            index_kind(IdentifierKind.EXTERNAL, source_code), normalise(IdentifierKind.EXTERNAL, external_id)
        )
        subject_ids = SourceRecord.objects.filter(
            source__code=source_code, external_id_index=index, status=SourceRecord.Status.LINKED
        ).values("subject_id")
        return Subject.objects.filter(pk__in=subject_ids)
    return subject_find(kind=kind or "", value=value or "")
