"""Record of processing activities: save an activity and its international transfers."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from c360.compliance.models import InternationalTransfer, ProcessingActivity
from c360.compliance.selectors import activity_missing_fields
from c360.lib.errors import NotFound, ValidationFailed
from c360.lib.history import Actor, acting_as
from consent.models import Purpose
from dsar.models import DataSource

_LIST_FIELDS = ("subject_categories", "data_categories", "recipient_categories", "recipients")


def _clean_lists(activity: ProcessingActivity, errors: dict[str, list[str]]) -> None:
    for name in _LIST_FIELDS:
        value = getattr(activity, name)
        if value in (None, ""):
            setattr(activity, name, [])
        elif not isinstance(value, list):
            errors[name] = ["Give a list."]
    for recipient in activity.recipients if isinstance(activity.recipients, list) else []:
        if not isinstance(recipient, dict) or not str(recipient.get("name", "")).strip():
            errors["recipients"] = ['Each recipient is {"name": ..., "role": ..., "country": ...}.']
            break


@transaction.atomic
def processing_activity_save(
    *,
    activity: ProcessingActivity,
    actor: Actor,
    purposes: Iterable[Purpose] | None = None,
    data_sources: Iterable[DataSource] | None = None,
) -> ProcessingActivity:
    """Create or update an activity. Drafts may be incomplete; an active entry must have every Art. 30(1)
    field and, when a purpose rests on legitimate interest, the LIA reference (LEGAL A-05)."""
    errors: dict[str, list[str]] = {}
    activity.name = (activity.name or "").strip()
    if not activity.name:
        errors["name"] = ["Give the activity a name."]
    _clean_lists(activity, errors)
    if activity.retention_days is not None and activity.retention_days <= 0:
        errors["retention_days"] = ["Give a positive number of days, or leave it blank."]
    if errors:
        raise ValidationFailed("The processing activity is invalid.", errors=errors)

    activity.updated_at = timezone.now()
    with acting_as(actor):
        activity.save()
        if purposes is not None:
            activity.purposes.set(list(purposes))
        if data_sources is not None:
            activity.data_sources.set(list(data_sources))
        if activity.status == ProcessingActivity.Status.ACTIVE:
            missing = activity_missing_fields(activity)
            if missing:
                # Raising rolls the whole save back: an active entry is never incomplete.
                raise ValidationFailed(
                    "An active processing activity needs every mandatory field.",
                    errors={item["field"]: [item["label"]] for item in missing},
                )
    return activity


def _clean_transfer(transfer: InternationalTransfer) -> None:
    errors: dict[str, list[str]] = {}
    transfer.country = (transfer.country or "").strip().upper()
    if len(transfer.country) != 2 or not transfer.country.isalpha():
        errors["country"] = ["Give the ISO 3166-1 alpha-2 code."]
    if not (transfer.recipient or "").strip():
        errors["recipient"] = ["Name the recipient."]
    if transfer.mechanism not in InternationalTransfer.Mechanism.values:
        errors["mechanism"] = ["Choose a transfer mechanism."]
    elif transfer.mechanism != InternationalTransfer.Mechanism.ADEQUACY and not transfer.safeguard_reference.strip():
        errors["safeguard_reference"] = ["Reference the document of the safeguards (GDPR Art. 30(1)(e))."]
    if transfer.mechanism == InternationalTransfer.Mechanism.LGPD_ART33 and not transfer.lgpd_item.strip():
        errors["lgpd_item"] = ["Give the LGPD Art. 33 item."]
    if errors:
        raise ValidationFailed("The transfer is invalid.", errors=errors)


@transaction.atomic
def international_transfer_save(*, transfer: InternationalTransfer, actor: Actor) -> InternationalTransfer:
    _clean_transfer(transfer)
    with acting_as(actor):
        transfer.save()
    return transfer


@transaction.atomic
def international_transfer_delete(*, transfer_id: int, actor: Actor) -> None:
    transfer = InternationalTransfer.objects.filter(pk=transfer_id).first()
    if transfer is None:
        raise NotFound("No transfer has that id.")
    with acting_as(actor):
        transfer.delete()
