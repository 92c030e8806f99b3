"""Reads of the compliance registers (the DPO dashboard and the exports use these)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from consent.models import LEGITIMATE_INTEREST_BASES

from .models import Incident, InternationalTransfer, LegalHold, ProcessingActivity

# Art. 30(1) fields that must not be empty, with what the dashboard says when they are.
_MANDATORY: tuple[tuple[str, str], ...] = (
    ("controller", "Art. 30(1)(a): name and contact details of the controller"),
    ("dpo_name", "Art. 30(1)(a): name of the DPO (encarregado)"),
    ("dpo_email", "Art. 30(1)(a): contact of the DPO (encarregado)"),
    ("subject_categories", "Art. 30(1)(c): categories of data subjects"),
    ("data_categories", "Art. 30(1)(c): categories of personal data"),
    ("recipient_categories", "Art. 30(1)(d): categories of recipients (write 'none' when there are none)"),
    ("security_measures", "Art. 30(1)(g): general description of the security measures"),
)


def activity_missing_fields(activity: ProcessingActivity) -> list[dict[str, str]]:
    """The mandatory Art. 30(1) items (and the LIA for legitimate interest) this activity lacks."""
    missing: list[dict[str, str]] = []
    for field, label in _MANDATORY:
        value = getattr(activity, field)
        if not (value.strip() if isinstance(value, str) else value):
            missing.append({"field": field, "label": label})
    purposes = list(activity.purposes.all()) if activity.pk else []
    if not purposes:
        missing.append({"field": "purposes", "label": "Art. 30(1)(b): purposes of the processing (and legal basis)"})
    if not activity.retention_text.strip() and activity.retention_days is None:
        missing.append({"field": "retention_text", "label": "Art. 30(1)(f): time limits for erasure"})
    legitimate_interest = [
        purpose.code
        for purpose in purposes
        if purpose.lgpd_basis in LEGITIMATE_INTEREST_BASES or purpose.gdpr_basis in LEGITIMATE_INTEREST_BASES
    ]
    if legitimate_interest and not activity.lia_reference.strip():
        missing.append(
            {
                "field": "lia_reference",
                "label": f"LIA reference: {', '.join(legitimate_interest)} rest(s) on legitimate interest",
            }
        )
    transfers: list[InternationalTransfer] = list(activity.transfers.all()) if activity.pk else []
    missing.extend(
        {
            "field": "transfers",
            "label": f"Art. 30(1)(e): safeguard document for the transfer to {transfer.recipient} ({transfer.country})",
        }
        for transfer in transfers
        if transfer.mechanism != InternationalTransfer.Mechanism.ADEQUACY and not transfer.safeguard_reference.strip()
    )
    return missing


def processing_activities_for_export() -> QuerySet[ProcessingActivity]:
    return ProcessingActivity.objects.prefetch_related("purposes", "data_sources", "transfers").order_by("name")


def processing_activities_completeness() -> list[dict[str, Any]]:
    """Per activity: its id, name, status and the list of missing mandatory items (empty when complete)."""
    return [
        {
            "id": activity.pk,
            "name": activity.name,
            "status": activity.status,
            "missing": activity_missing_fields(activity),
        }
        for activity in processing_activities_for_export()
    ]


def incidents_clocks_due(*, now: dt.datetime | None = None, within: dt.timedelta | None = None) -> list[Incident]:
    """Incidents with a clock that runs out within ``within`` (24 h by default) or has run out, still undone."""
    now = now or timezone.now()
    horizon = now + (within if within is not None else dt.timedelta(hours=24))
    may_notify_authority = ~Q(notify_authority=False)
    may_notify_subjects = ~Q(notify_subjects=False)
    condition = (
        Q(gdpr_authority_due_at__lte=horizon, eu_sa_notified_at__isnull=True) & may_notify_authority
        | Q(anpd_authority_due_at__lte=horizon, anpd_notified_at__isnull=True) & may_notify_authority
        | Q(anpd_subjects_due_at__lte=horizon, subjects_notified_at__isnull=True) & may_notify_subjects
        | Q(anpd_supplement_due_at__lte=horizon, anpd_supplement_sent_at__isnull=True)
    )
    return list(Incident.objects.exclude(status=Incident.Status.CLOSED).filter(condition).order_by("aware_at"))


def legal_holds_in_force(*, now: dt.datetime | None = None) -> QuerySet[LegalHold]:
    now = now or timezone.now()
    return LegalHold.objects.filter(starts_at__lte=now).filter(Q(released_at__isnull=True) | Q(released_at__gt=now))


def legal_holds_due_for_review(*, on: dt.date | None = None) -> QuerySet[LegalHold]:
    on = on or timezone.localdate()
    return legal_holds_in_force().filter(review_at__lte=on)
