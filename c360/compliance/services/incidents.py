"""Incident register: save an incident (clocks recomputed), tick its checklist, record notifications."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from c360.compliance.models import CHECKLIST_ITEMS, INCIDENT_RETENTION_YEARS, Incident, IncidentNotification, Regime
from c360.lib.errors import NotFound, ValidationFailed
from c360.lib.history import Actor, acting_as
from dsar import deadlines
from dsar.services.requests import deadline_policy

_COUNTS = ("subjects_affected", "records_affected", "children_affected", "adolescents_affected", "elderly_affected")


def _validate(incident: Incident) -> None:
    errors: dict[str, list[str]] = {}
    if not (incident.title or "").strip():
        errors["title"] = ["Give the incident a title."]
    for name in ("detected_at", "aware_at"):
        value = getattr(incident, name)
        if value is None or timezone.is_naive(value):
            errors[name] = ["Give a date and time with its time zone."]
    if not errors and incident.aware_at < incident.detected_at:
        errors["aware_at"] = ["Awareness cannot come before detection."]
    regimes = sorted(set(incident.regimes or []))
    if not regimes or set(regimes) - set(Regime.values):
        errors["regimes"] = ["Give lgpd, gdpr or both."]
    incident.regimes = regimes
    if incident.risk not in Incident.Risk.values:
        errors["risk"] = ["Choose a risk level."]
    elif incident.risk and not incident.risk_reasoning.strip():
        errors["risk_reasoning"] = ["Explain the risk assessment (GDPR 33(5), Res. 15/2024 art. 10)."]
    not_notifying = incident.notify_authority is False or incident.notify_subjects is False
    if not_notifying and not incident.decision_reasons.strip():
        errors["decision_reasons"] = ["Give the reasons for not notifying (Res. 15/2024 art. 10, GDPR 33(5))."]
    subjects = incident.subjects_affected
    for name in ("children_affected", "adolescents_affected", "elderly_affected"):
        value = getattr(incident, name)
        if value is not None and subjects is not None and value > subjects:
            errors[name] = ["Cannot exceed the number of subjects affected."]
    if errors:
        raise ValidationFailed("The incident is invalid.", errors=errors)


def _compute_clocks(incident: Incident) -> None:
    """Store each clock's due datetime and its rule data (recomputed on every save)."""
    policy = deadline_policy()
    computed: dict[str, dict[str, object]] = {}
    incident.gdpr_authority_due_at = incident.anpd_authority_due_at = None
    incident.anpd_subjects_due_at = incident.anpd_supplement_due_at = None
    if Regime.GDPR in incident.regimes:
        gdpr = deadlines.gdpr_breach_deadline(awareness_at=incident.aware_at, policy=policy)
        incident.gdpr_authority_due_at = gdpr.due_at
        computed["gdpr_authority"] = gdpr.as_dict()
    if Regime.LGPD in incident.regimes:
        for field, obligation in (
            ("anpd_authority_due_at", deadlines.IncidentObligation.ANPD_NOTICE),
            ("anpd_subjects_due_at", deadlines.IncidentObligation.SUBJECT_NOTICE),
        ):
            result = deadlines.anpd_incident_deadline(
                obligation=obligation, start_at=incident.aware_at, small_agent=incident.small_agent, policy=policy
            )
            setattr(incident, field, result.due_at)
            computed[field.removesuffix("_due_at")] = result.as_dict()
        if incident.first_notice_partial and incident.anpd_notified_at is not None:
            supplement = deadlines.anpd_incident_deadline(
                obligation=deadlines.IncidentObligation.ANPD_SUPPLEMENT,
                start_at=incident.anpd_notified_at,
                small_agent=incident.small_agent,
                policy=policy,
            )
            incident.anpd_supplement_due_at = supplement.due_at
            computed["anpd_supplement"] = supplement.as_dict()
    incident.deadlines = computed


def _retain_until(recorded: dt.datetime) -> dt.date:
    day = timezone.localtime(recorded).date()
    try:
        return day.replace(year=day.year + INCIDENT_RETENTION_YEARS)
    except ValueError:  # 29 February
        return day.replace(year=day.year + INCIDENT_RETENTION_YEARS, day=28)


@transaction.atomic
def incident_save(*, incident: Incident, actor: Actor) -> Incident:
    """Create or update an incident; the clocks are recomputed from awareness, regimes and agent size."""
    _validate(incident)
    _compute_clocks(incident)
    if incident.retain_until is None:
        incident.retain_until = _retain_until(incident.created_at or timezone.now())
    with acting_as(actor):
        incident.save()
    return incident


@transaction.atomic
def incident_checklist_tick(*, incident_id: int, item: str, actor: Actor, done: bool = True) -> Incident:
    """Mark one content item of the notification as covered (or not), with who and when."""
    if item not in CHECKLIST_ITEMS:
        raise ValidationFailed(
            "Unknown checklist item.", errors={"item": [f"Use one of {', '.join(CHECKLIST_ITEMS)}."]}
        )
    incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
    if incident is None:
        raise NotFound("No incident has that id.")
    checklist = dict(incident.checklist)
    checklist[item] = {"done": done, "by": str(actor), "at": timezone.now().isoformat()}
    incident.checklist = checklist
    with acting_as(actor):
        incident.save(update_fields=["checklist"])
    return incident


@transaction.atomic
def incident_notification_record(
    *,
    incident_id: int,
    recipient: str,
    sent_at: dt.datetime,
    actor: Actor,
    reference: str = "",
    authority: str = "",
    partial: bool = False,
    supplement: bool = False,
    reason_for_delay: str = "",
) -> IncidentNotification:
    """Record a notification sent; the first one per recipient stops its clock. A partial first notice to the
    ANPD starts the 20-business-day supplement clock (Res. 15/2024 art. 6 §3)."""
    incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
    if incident is None:
        raise NotFound("No incident has that id.")
    errors: dict[str, list[str]] = {}
    if recipient not in IncidentNotification.Recipient.values:
        errors["recipient"] = [f"Use one of {', '.join(IncidentNotification.Recipient.values)}."]
    if sent_at is None or timezone.is_naive(sent_at):
        errors["sent_at"] = ["Give a date and time with its time zone."]
    if (partial or supplement) and recipient != IncidentNotification.Recipient.ANPD:
        errors["partial"] = ["Phased notices are tracked for the ANPD."]
    if errors:
        raise ValidationFailed("The notification is invalid.", errors=errors)
    notification = IncidentNotification(
        incident=incident,
        recipient=recipient,
        authority=authority,
        sent_at=sent_at,
        reference=reference,
        partial=partial,
        supplement=supplement,
        reason_for_delay=reason_for_delay,
        recorded_by=str(actor),
    )
    if recipient == IncidentNotification.Recipient.ANPD:
        if supplement:
            incident.anpd_supplement_sent_at = incident.anpd_supplement_sent_at or sent_at
        else:
            incident.anpd_notified_at = incident.anpd_notified_at or sent_at
            incident.first_notice_partial = incident.first_notice_partial or partial
    elif recipient == IncidentNotification.Recipient.EU_SA:
        incident.eu_sa_notified_at = incident.eu_sa_notified_at or sent_at
    else:
        incident.subjects_notified_at = incident.subjects_notified_at or sent_at
    if incident.status == Incident.Status.OPEN:
        incident.status = Incident.Status.NOTIFIED
    _compute_clocks(incident)
    with acting_as(actor):
        notification.save()
        incident.save()
    return notification
