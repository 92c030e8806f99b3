"""The only writers of the subject store. Each function is one use case, in one transaction.

Every change is written through simple-history with the acting party (``acting_as``); reveals of
clear text are written to ``SubjectAccess``. Nothing here logs a value, only ids.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from c360.lib.crypto import (
    DataKey,
    blind_index,
    data_key_create,
    data_key_open,
    shred,
)
from c360.lib.db import update_rows
from c360.lib.errors import Gone, NotFound, ValidationFailed
from c360.lib.events import subject_erased
from c360.lib.history import Actor, acting_as, history_rows
from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise
from profiles.encryption import seal, unseal
from profiles.lock_objects import subject_key_qs_select_for_update, subject_qs_select_for_update, subjects_lock
from profiles.models import (
    SUBJECT_ATTRIBUTES,
    Identifier,
    MatchSuggestion,
    Regime,
    RegimeReason,
    SourceRecord,
    Subject,
    SubjectAccess,
    SubjectKey,
    VerificationMethod,
    index_kind,
)
from profiles.records import address_problem, attributes_of, birth_date_problem, name_of
from profiles.services._batch import lock_resolution
from profiles.survivorship import Candidate, conflicts

logger = logging.getLogger(__name__)

MAX_TEXT_ATTRIBUTE_LENGTH = 200
RECORD_COLUMNS = [field.attname for field in SourceRecord._meta.concrete_fields]
TOMBSTONE_FIELDS = [
    "status",
    "external_id_enc",
    "payload_enc",
    "errors_enc",
    "payload_digest",
    "identifier_indexes",
    "block_key",
    "name_key",
    "link_explanation",
    "updated_at",
]
MIN_REASON_LENGTH = 5


@dataclass(frozen=True)
class IdentifierInput:
    kind: str
    value: str
    namespace: str = ""
    is_verified: bool = False
    verification_method: str = ""
    source: str = ""


@dataclass(frozen=True)
class NormalisedIdentifier:
    kind: str
    namespace: str
    value: str
    is_verified: bool
    verification_method: str
    source: str


@dataclass(frozen=True)
class RevealedIdentifier(NormalisedIdentifier):
    id: UUID


@dataclass(frozen=True)
class RevealedSource:
    """One source record behind a profile: where each value could have come from."""

    record_id: UUID
    source: str
    link_rule: str
    received_at: dt.datetime
    attributes: dict[str, Any]


@dataclass(frozen=True)
class RevealedSubject:
    id: UUID
    status: str
    regimes: list[str]
    attributes: dict[str, Any]
    identifiers: list[RevealedIdentifier] = field(default_factory=list)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: list[RevealedSource] = field(default_factory=list)
    conflicts: dict[str, list[tuple[Any, str]]] = field(default_factory=dict)

    @property
    def attribute_rows(self) -> list[tuple[str, Any, str | None]]:
        """(attribute, value, the source it came from, if any), for display."""
        return [(name, value, self.provenance.get(name, {}).get("source")) for name, value in self.attributes.items()]


@dataclass(frozen=True)
class ErasureOutcome:
    subject_id: UUID
    erased_at: dt.datetime
    already_erased: bool
    identifiers_deleted: int


# ---------------------------------------------------------------- validation


def _clean_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, value in attributes.items():
        if name not in SUBJECT_ATTRIBUTES:
            errors[name] = [f"Unknown attribute; subjects have {', '.join(SUBJECT_ATTRIBUTES)}."]
            continue
        if value is None:
            cleaned[name] = None
        elif name == "birth_date":
            if message := birth_date_problem(value):
                errors[name] = [message]
            else:
                cleaned[name] = value
        elif name == "address":
            if message := address_problem(value):
                errors[name] = [message]
            else:
                cleaned[name] = {key: part.strip() for key, part in value.items() if part.strip()} or None
        elif not isinstance(value, str) or len(value) > MAX_TEXT_ATTRIBUTE_LENGTH:
            errors[name] = [f"Give text of at most {MAX_TEXT_ATTRIBUTE_LENGTH} characters."]
        else:
            cleaned[name] = value.strip() or None
    if errors:
        raise ValidationFailed("Some attributes are invalid.", errors=errors)
    return cleaned


def _clean_regimes(regimes: Iterable[str], reason: str) -> tuple[list[str], str]:
    regime_list = sorted(set(regimes))
    errors: dict[str, list[str]] = {}
    if not regime_list:
        errors["regimes"] = ["Give at least one regime (lgpd, gdpr)."]
    elif unknown := [regime for regime in regime_list if regime not in Regime.values]:
        errors["regimes"] = [f"Unknown regime {', '.join(unknown)}; use lgpd or gdpr."]
    if reason not in RegimeReason.values:
        errors["regimes_reason"] = [f"Use one of {', '.join(value for value in RegimeReason.values if value)}."]
    if errors:
        raise ValidationFailed("The regimes are invalid.", errors=errors)
    return regime_list, reason


def _clean_identifiers(identifiers: Sequence[IdentifierInput], *, default_source: str) -> list[NormalisedIdentifier]:
    errors: dict[str, dict[str, list[str]]] = {}
    by_key: dict[tuple[str, str, str], NormalisedIdentifier] = {}
    for position, item in enumerate(identifiers):
        item_errors: dict[str, list[str]] = {}
        try:
            value = normalise(item.kind, item.value)
        except IdentifierError as exc:
            item_errors["kind" if exc.code == "kind" else "value"] = [exc.message]
            value = ""
        if item.kind == IdentifierKind.EXTERNAL and not item.namespace:
            item_errors["namespace"] = ["An external id needs the namespace (source system) that issued it."]
        if item.kind != IdentifierKind.EXTERNAL and item.namespace:
            item_errors["namespace"] = ["Only external ids take a namespace."]
        method = item.verification_method or ""
        if method not in VerificationMethod.values:
            item_errors["verification_method"] = [f"Use one of {', '.join(v for v in VerificationMethod.values if v)}."]
        elif item.is_verified and not method:
            item_errors["verification_method"] = ["Say how a verified identifier was verified."]
        elif method and not item.is_verified:
            item_errors["verification_method"] = ["Only a verified identifier takes a verification method."]
        if item_errors:
            errors[str(position)] = item_errors
            continue
        clean = NormalisedIdentifier(
            kind=str(IdentifierKind(item.kind)),
            namespace=item.namespace,
            value=value,
            is_verified=item.is_verified,
            verification_method=method,
            source=item.source or default_source,
        )
        key = (clean.kind, clean.namespace, clean.value)
        # The same identifier twice in one request is one identifier; a verified copy wins.
        if key not in by_key or (clean.is_verified and not by_key[key].is_verified):
            by_key[key] = clean
    if errors:
        raise ValidationFailed("Some identifiers are invalid.", errors={"identifiers": errors})
    return list(by_key.values())


def _refresh_match_profile(data_key: DataKey, subject: Subject) -> None:
    """Add the subject's current name and birth date to what identity resolution compares against."""
    profile = unseal(data_key, subject, "match_profile") or {"names": [], "birth_dates": []}
    name = name_of(unseal(data_key, subject, "given_name"), unseal(data_key, subject, "family_name"), None)
    if name is not None and name.as_json() not in profile["names"]:
        profile["names"].append(name.as_json())
    birth_date = unseal(data_key, subject, "birth_date")
    if birth_date is not None and birth_date.isoformat() not in profile["birth_dates"]:
        profile["birth_dates"].append(birth_date.isoformat())
    seal(data_key, subject, "match_profile", profile)


def _new_identifier(subject: Subject, data_key: DataKey, clean: NormalisedIdentifier) -> Identifier:
    identifier = Identifier(
        subject=subject,
        kind=clean.kind,
        namespace=clean.namespace,
        blind_index=blind_index(index_kind(clean.kind, clean.namespace), clean.value),
        is_verified=clean.is_verified,
        verification_method=clean.verification_method,
        verified_at=timezone.now() if clean.is_verified else None,
        source=clean.source,
    )
    seal(data_key, identifier, "value", clean.value)
    return identifier


# ---------------------------------------------------------------- use cases


@transaction.atomic
def subject_create(
    *,
    actor: Actor,
    source: str,
    attributes: Mapping[str, Any] | None = None,
    identifiers: Sequence[IdentifierInput] = (),
    regimes: Iterable[str] | None = None,
    regimes_reason: str = "",
) -> Subject:
    """Create a subject with its own data key; every attribute and identifier value is encrypted."""
    cleaned_attributes = _clean_attributes(attributes or {})
    regime_list, regimes_reason = _clean_regimes(
        settings.C360_DEFAULT_REGIMES if regimes is None else regimes, regimes_reason
    )
    clean_identifiers = _clean_identifiers(identifiers, default_source=source)

    subject = Subject(regimes=regime_list, regimes_reason=regimes_reason)
    subject_key = SubjectKey(subject=subject)
    data_key = data_key_create(subject_key)
    for name, value in cleaned_attributes.items():
        seal(data_key, subject, name, value)
    _refresh_match_profile(data_key, subject)
    with acting_as(actor):
        subject.save(force_insert=True)
        subject_key.save(force_insert=True)
        for clean in clean_identifiers:
            _new_identifier(subject, data_key, clean).save(force_insert=True)
    logger.info("Subject %s created by %s with %d identifier(s)", subject.id, actor, len(clean_identifiers))
    return subject


def _live_subject(subject: Subject | None) -> Subject:
    if subject is None:
        raise NotFound("No subject has that id.")
    if subject.is_erased:
        raise Gone("The subject was erased; nothing about the person is kept.", code="subject_erased")
    if subject.status == Subject.Status.MERGED:
        raise Gone(
            f"The subject was merged into {subject.merged_into_id}; use that id.",
            code="subject_merged",
            errors={"merged_into": [str(subject.merged_into_id)]},
        )
    return subject


def _locked_live_subject(subject_id: UUID | str) -> Subject:
    return _live_subject(subject_qs_select_for_update().filter(pk=subject_id).first())


@transaction.atomic
def subject_update(
    *,
    subject_id: UUID | str,
    actor: Actor,
    source: str,
    attributes: Mapping[str, Any] | None = None,
    add_identifiers: Sequence[IdentifierInput] = (),
    remove_identifier_ids: Iterable[UUID | str] = (),
    regimes: Iterable[str] | None = None,
    regimes_reason: str | None = None,
) -> Subject:
    """Change attributes (a None value clears one), add or remove identifiers, or change regimes."""
    subject = _locked_live_subject(subject_id)
    cleaned_attributes = _clean_attributes(attributes or {})
    clean_identifiers = _clean_identifiers(add_identifiers, default_source=source)
    if regimes is not None or regimes_reason is not None:
        subject.regimes, subject.regimes_reason = _clean_regimes(
            subject.regimes if regimes is None else regimes,
            subject.regimes_reason if regimes_reason is None else regimes_reason,
        )
    data_key = data_key_open(subject.key)
    for name, value in cleaned_attributes.items():
        seal(data_key, subject, name, value)
        subject.provenance.pop(name, None)  # a value set by hand no longer comes from a source record
    _refresh_match_profile(data_key, subject)
    subject.updated_at = timezone.now()

    removals = list(subject.identifiers.filter(pk__in=list(remove_identifier_ids)))
    existing = {
        (identifier.kind, identifier.namespace, bytes(identifier.blind_index))
        for identifier in subject.identifiers.exclude(pk__in=[identifier.pk for identifier in removals])
    }
    with acting_as(actor):
        subject.save()
        for identifier in removals:
            identifier.delete()
        for clean in clean_identifiers:
            identifier = _new_identifier(subject, data_key, clean)
            if (identifier.kind, identifier.namespace, bytes(identifier.blind_index)) not in existing:
                identifier.save(force_insert=True)
    logger.info("Subject %s updated by %s", subject.id, actor)
    return subject


def clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ValidationFailed(
            "Say why you need to see this person's data.",
            code="reason_required",
            errors={"reason": [f"Give a reason of at least {MIN_REASON_LENGTH} characters."]},
        )
    return reason[:500]


@transaction.atomic
def subject_reveal(
    *,
    subject_id: UUID | str,
    actor: Actor,
    reason: str,
    attributes: Iterable[str] | None = None,
    with_sources: bool = False,
) -> RevealedSubject:
    """Decrypt a subject for a staff member or client, and log who looked, when and why.

    ``with_sources`` also decrypts the source records behind the profile, to show each one's values and
    where the sources disagree. The access row is written in the same transaction as the read: no
    clear text leaves without it.
    """
    reason = clean_reason(reason)
    subject = _live_subject(Subject.objects.filter(pk=subject_id).first())
    wanted = list(SUBJECT_ATTRIBUTES if attributes is None else attributes)
    if unknown := sorted(set(wanted) - set(SUBJECT_ATTRIBUTES)):
        raise ValidationFailed("Unknown attributes.", errors={"attributes": [f"Unknown: {', '.join(unknown)}."]})
    data_key = data_key_open(subject.key)
    revealed_attributes = {name: unseal(data_key, subject, name) for name in wanted}
    identifiers = [
        RevealedIdentifier(
            id=identifier.id,
            kind=identifier.kind,
            namespace=identifier.namespace,
            value=unseal(data_key, identifier, "value"),
            is_verified=identifier.is_verified,
            verification_method=identifier.verification_method,
            source=identifier.source,
        )
        for identifier in subject.identifiers.order_by("kind", "created_at")
    ]
    sources = _revealed_sources(data_key, subject) if with_sources else []
    SubjectAccess.objects.create(
        subject=subject,
        actor=str(actor),
        user_id=actor.user_id,
        reason=reason,
        fields=[*wanted, "identifiers", *(["source_records"] if with_sources else [])],
    )
    logger.info("Subject %s revealed to %s", subject.id, actor)
    return RevealedSubject(
        id=subject.id,
        status=subject.status,
        regimes=list(subject.regimes),
        attributes=revealed_attributes,
        identifiers=identifiers,
        created_at=subject.created_at,
        updated_at=subject.updated_at,
        provenance={name: subject.provenance[name] for name in wanted if name in subject.provenance},
        sources=sources,
        conflicts=conflicts(
            Candidate(str(item.record_id), item.source, item.attributes, 0, False, None) for item in sources
        ),
    )


def _revealed_sources(data_key: DataKey, subject: Subject) -> list[RevealedSource]:
    records = subject.source_records.filter(status=SourceRecord.Status.LINKED).select_related("source")
    revealed = []
    for record in records.order_by("received_at"):
        attributes, _, _ = attributes_of(unseal(data_key, record, "payload") or {})
        revealed.append(RevealedSource(record.id, record.source.code, record.link_rule, record.received_at, attributes))
    return revealed


@transaction.atomic
def subject_erase(*, subject_id: UUID | str, actor: Actor, reason: str) -> ErasureOutcome:
    """Crypto-shred the person: destroy their data keys, delete identifiers, keep PII-free tombstones.

    The person is the subject and every subject merged into it over time (each has its own key, which
    still opens that subject's history). Every ciphertext under those keys, in live rows, history rows
    and backups, becomes unreadable. Source records stay as tombstones holding only the blind index of
    their external id, so a source re-sending one cannot bring the person back. A merged subject's id
    erases the person it was merged into. Idempotent: erasing twice changes nothing and says so.
    """
    reason = clean_reason(reason)
    # Who makes up the person changes only under the resolution lock (merges, splits, ingestion): holding it,
    # the family read below stays true, and its rows are then locked in one go, in ascending id order
    # (profiles/lock_objects.py), before any consent chain.
    lock_resolution()
    subject = Subject.objects.filter(pk=subject_id).first()
    if subject is None:
        raise NotFound("No subject has that id.")
    while subject.status == Subject.Status.MERGED and subject.merged_into_id:
        subject = Subject.objects.get(pk=subject.merged_into_id)
    if subject.is_erased:
        return ErasureOutcome(
            subject.id, subject.erased_at or timezone.now(), already_erased=True, identifiers_deleted=0
        )

    family_ids = [subject.pk]
    while absorbed := list(
        Subject.objects.filter(merged_into__in=family_ids).exclude(pk__in=family_ids).values_list("pk", flat=True)
    ):
        family_ids.extend(absorbed)
    family = subjects_lock(family_ids)
    subject = next(member for member in family if member.pk == subject.pk)
    now = timezone.now()
    keys = list(subject_key_qs_select_for_update().filter(subject__in=family_ids))
    identifiers = list(Identifier.objects.filter(subject__in=family_ids))
    contact_points = [
        (identifier.kind, bytes(identifier.blind_index))
        for identifier in identifiers
        if identifier.kind in {IdentifierKind.EMAIL, IdentifierKind.PHONE}
    ]
    change_reason = f"erasure: {reason}"[:100]
    with acting_as(actor):
        for subject_key in keys:
            shred(subject_key)
        for identifier in identifiers:
            identifier._change_reason = change_reason  # type: ignore[attr-defined]
            identifier.delete()
        _tombstone_records(family_ids, now, change_reason)
        for member in family:
            for name in (*SUBJECT_ATTRIBUTES, "match_profile"):
                setattr(member, f"{name}_enc", None)
            member.provenance = {}
            member.status = Subject.Status.ERASED
            member.erased_at = member.updated_at = now
            member._change_reason = change_reason  # type: ignore[attr-defined]
            member.save()
        MatchSuggestion.objects.filter(
            Q(subject_a__in=family_ids) | Q(subject_b__in=family_ids), status=MatchSuggestion.Status.OPEN
        ).update(status=MatchSuggestion.Status.OBSOLETE, decided_at=now, decided_by=str(actor))
        # The consent ledger keeps proof of the erasure and suppresses the person's addresses for good.
        subject_erased.send(subject_ids=family_ids, contact_points=contact_points, at=now, actor=actor, reason=reason)
    logger.info("Subject %s erased by %s (%d identifiers deleted)", subject.id, actor, len(identifiers))
    return ErasureOutcome(subject.id, now, already_erased=False, identifiers_deleted=len(identifiers))


def _tombstone_records(subject_ids: list[UUID], now: dt.datetime, reason: str) -> None:
    """Source records of an erased person: every value gone, the external id's blind index kept."""
    rows = list(SourceRecord.objects.filter(subject__in=subject_ids).values(*RECORD_COLUMNS))
    for row in rows:
        row.update(
            status=SourceRecord.Status.ERASED,
            external_id_enc=None,
            payload_enc=None,
            errors_enc=None,
            payload_digest=None,
            identifier_indexes=[],
            block_key=None,
            name_key=None,
            link_explanation={},
            updated_at=now,
        )
    update_rows(SourceRecord, rows, TOMBSTONE_FIELDS)
    history_rows(SourceRecord, rows, history_type="~", reason=reason)


@transaction.atomic
def subject_restrict(*, subject_id: UUID | str, actor: Actor, reason: str, restricted: bool = True) -> bool:
    """Block (LGPD Art. 18 IV, GDPR Art. 18) or unblock a subject: the data stays, all processing but
    storage stops, and consent checks deny. True when the status changed (idempotent)."""
    reason = clean_reason(reason)
    subject = _locked_live_subject(subject_id)
    target = Subject.Status.RESTRICTED if restricted else Subject.Status.ACTIVE
    if subject.status == target:
        return False
    subject.status = target
    subject.restricted_at = timezone.now() if restricted else None
    subject.updated_at = timezone.now()
    subject._change_reason = reason  # type: ignore[attr-defined]
    with acting_as(actor):
        subject.save(update_fields=["status", "restricted_at", "updated_at"])
    logger.info("Subject %s %s by %s", subject.id, "restricted" if restricted else "unrestricted", actor)
    return True
