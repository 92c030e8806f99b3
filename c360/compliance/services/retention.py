"""Retention rules, legal holds, and the run that applies the rules (dry run or for real)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from c360.compliance.models import LegalHold, RetentionRule, RetentionRun
from c360.compliance.selectors import legal_holds_in_force
from c360.lib.crypto import shred
from c360.lib.errors import ApplicationError, NotFound, ValidationFailed
from c360.lib.history import Actor, acting_as
from consent.models import ConsentState
from dsar.models import DataRequest, DataSource, ExportPackage, RequestEvent, RequestKey, RequestTask
from profiles.models import Subject
from profiles.services.subjects import subject_erase

logger = logging.getLogger(__name__)

_ACTIONS_FOR_TARGET = {
    RetentionRule.Target.INACTIVE_SUBJECTS: {RetentionRule.Action.ERASE, RetentionRule.Action.ANONYMISE},
    RetentionRule.Target.CLOSED_REQUESTS: {RetentionRule.Action.SHRED_REQUEST_PII},
}
_CLOSED = (DataRequest.Status.COMPLETED, DataRequest.Status.REJECTED, DataRequest.Status.CANCELLED)


@transaction.atomic
def retention_rule_save(*, rule: RetentionRule, actor: Actor) -> RetentionRule:
    errors: dict[str, list[str]] = {}
    if not (rule.name or "").strip():
        errors["name"] = ["Name the rule."]
    if rule.target not in RetentionRule.Target.values:
        errors["target"] = ["Choose what the rule applies to."]
    elif rule.action not in _ACTIONS_FOR_TARGET[RetentionRule.Target(rule.target)]:
        allowed = ", ".join(sorted(_ACTIONS_FOR_TARGET[RetentionRule.Target(rule.target)]))
        errors["action"] = [f"For this target use {allowed}."]
    if not rule.period_days or rule.period_days <= 0:
        errors["period_days"] = ["Give a positive number of days."]
    if rule.is_active and not rule.legal_basis.strip():
        errors["legal_basis"] = ["An active rule states the basis of its period."]
    if errors:
        raise ValidationFailed("The retention rule is invalid.", errors=errors)
    rule.updated_at = timezone.now()
    with acting_as(actor):
        rule.save()
    return rule


@transaction.atomic
def legal_hold_save(*, hold: LegalHold, actor: Actor) -> LegalHold:
    errors: dict[str, list[str]] = {}
    scope_fields = {
        LegalHold.Scope.SUBJECT: ("subject_id", hold.subject_id),
        LegalHold.Scope.DATA_SOURCE: ("data_source", hold.data_source_id),
        LegalHold.Scope.DATA_CATEGORY: ("data_category", (hold.data_category or "").strip()),
    }
    if hold.scope not in scope_fields:
        errors["scope"] = ["Choose a scope."]
    else:
        field, value = scope_fields[LegalHold.Scope(hold.scope)]
        if not value:
            errors[field] = ["Give what the hold applies to."]
    if not (hold.reason or "").strip():
        errors["reason"] = ["Give the reason for the hold."]
    if not (hold.authority or "").strip():
        errors["authority"] = ["Name the authority or requestor."]
    if errors:
        raise ValidationFailed("The legal hold is invalid.", errors=errors)
    with acting_as(actor):
        hold.save()
    return hold


@transaction.atomic
def legal_hold_release(*, hold_id: int, actor: Actor) -> LegalHold:
    hold = LegalHold.objects.select_for_update().filter(pk=hold_id).first()
    if hold is None:
        raise NotFound("No legal hold has that id.")
    if hold.released_at is None:
        hold.released_at = timezone.now()
        with acting_as(actor):
            hold.save(update_fields=["released_at"])
    return hold


# ---------------------------------------------------------------- the run


def _rule_categories(rule: RetentionRule) -> set[str]:
    categories = {rule.data_category} if rule.data_category else set()
    if rule.purpose is not None:
        categories.update(rule.purpose.data_categories or [])
    return categories


def _held_whole_rule(rule: RetentionRule, holds: list[LegalHold]) -> str:
    """Why a hold suspends the rule as a whole ('' when none does). Both targets live in c360's own store."""
    categories = _rule_categories(rule)
    for hold in holds:
        if hold.scope == LegalHold.Scope.DATA_CATEGORY and hold.data_category in categories:
            return f"hold {hold.pk} on data category {hold.data_category}"
        if hold.scope == LegalHold.Scope.DATA_SOURCE and hold.data_source.kind == DataSource.Kind.C360:
            return f"hold {hold.pk} on data source {hold.data_source.code}"
    return ""


def eligible_subjects(rule: RetentionRule, now: dt.datetime) -> QuerySet[Subject]:
    """Active subjects untouched for the period, with no live consent and no open request."""
    cutoff = now - dt.timedelta(days=rule.period_days)
    live_consent = ConsentState.objects.filter(subject=OuterRef("pk"), status="granted").filter(
        Q(valid_until__isnull=True) | Q(valid_until__gt=now)
    )
    open_request = DataRequest.objects.filter(subject=OuterRef("pk")).exclude(status__in=_CLOSED)
    return (
        Subject.objects.filter(status=Subject.Status.ACTIVE, updated_at__lt=cutoff)
        .exclude(Exists(live_consent))
        .exclude(Exists(open_request))
        .order_by("pk")
    )


def eligible_requests(rule: RetentionRule, now: dt.datetime) -> QuerySet[DataRequest]:
    """Closed requests whose personal data is still readable, closed before the period."""
    cutoff = now - dt.timedelta(days=rule.period_days)
    last_event = RequestEvent.objects.filter(request=OuterRef("pk")).order_by("-at").values("at")[:1]
    return (
        DataRequest.objects.filter(status__in=_CLOSED, key__wrapped_dek__isnull=False)
        .annotate(closed_at=Coalesce("completed_at", Subquery(last_event)))
        .filter(closed_at__lt=cutoff)
        .order_by("pk")
    )


def _request_pii_shred(request: DataRequest, actor: Actor, rule: RetentionRule) -> None:
    """Destroy the request's data key (requester details, identities, documents) and its export keys.

    The register row, its states, times and event trail stay: they hold no personal data.
    """
    with transaction.atomic(), acting_as(actor):
        key = RequestKey.objects.select_for_update().get(pk=request.pk)
        shred(key)
        ExportPackage.objects.filter(request=request).update(wrapped_key=None, kek_version=None)
        RequestTask.objects.filter(request=request).update(export_wrapped_key=None, export_kek_version=None)
        RequestEvent.objects.create(
            request=request,
            actor=str(actor),
            kind="retention",
            note=f"personal data shredded by retention rule {rule.pk}",
            data={"rule": rule.pk},
        )


def _apply_rule(rule: RetentionRule, holds: list[LegalHold], *, dry_run: bool, actor: Actor, now: dt.datetime) -> dict:
    held_subjects = {str(hold.subject_id) for hold in holds if hold.scope == LegalHold.Scope.SUBJECT}
    result: dict[str, Any] = {
        "rule": rule.name,
        "target": rule.target,
        "action": rule.action,
        "eligible": 0,
        "would_purge": 0,
        "purged": 0,
        "held": 0,
        "ids": [],
        "held_ids": [],
        "errors": [],
    }
    if rule.target == RetentionRule.Target.INACTIVE_SUBJECTS:
        candidates = [(str(pk), str(pk)) for pk in eligible_subjects(rule, now).values_list("pk", flat=True)]
    else:
        candidates = [
            (str(pk), str(subject_id) if subject_id else "")
            for pk, subject_id in eligible_requests(rule, now).values_list("pk", "subject_id")
        ]
    result["eligible"] = len(candidates)
    whole_rule_hold = _held_whole_rule(rule, holds)
    if whole_rule_hold:
        result["held"] = len(candidates)
        result["held_ids"] = [item for item, _ in candidates]
        result["held_by"] = whole_rule_hold
        return result
    to_purge = []
    for item, subject_id in candidates:
        if subject_id and subject_id in held_subjects:
            result["held_ids"].append(item)
        else:
            to_purge.append(item)
    result["held"] = len(result["held_ids"])
    result["would_purge"] = len(to_purge)
    if dry_run:
        result["ids"] = to_purge
        return result
    for item in to_purge:
        try:
            if rule.target == RetentionRule.Target.INACTIVE_SUBJECTS:
                subject_erase(subject_id=item, actor=actor, reason=f"retention rule {rule.pk}: {rule.name}"[:100])
            else:
                _request_pii_shred(DataRequest.objects.get(pk=item), actor, rule)
        except (ApplicationError, DataRequest.DoesNotExist, RequestKey.DoesNotExist) as error:
            result["errors"].append({"id": item, "error": type(error).__name__})
            continue
        result["ids"].append(item)
    result["purged"] = len(result["ids"])
    return result


def retention_run(*, dry_run: bool, actor: Actor, now: dt.datetime | None = None) -> RetentionRun:
    """Apply every active rule. A dry run only reports; a real run purges what no legal hold keeps.

    Not one transaction: each purge commits on its own (erasure is idempotent), so one failure does not undo
    the others, and the run row records what was done even if the process stops midway.
    """
    now = now or timezone.now()
    run = RetentionRun.objects.create(started_at=now, dry_run=dry_run, actor=str(actor))
    holds = list(legal_holds_in_force(now=now).select_related("data_source"))
    results: dict[str, Any] = {}
    for rule in RetentionRule.objects.filter(is_active=True).select_related("purpose").order_by("pk"):
        results[str(rule.pk)] = _apply_rule(rule, holds, dry_run=dry_run, actor=actor, now=now)
        run.results = results
        run.save(update_fields=["results"])
    run.results = results
    run.finished_at = timezone.now()
    run.save(update_fields=["results", "finished_at"])
    logger.info(
        "Retention %s by %s: %d eligible, %d purged, %d held",
        "dry run" if dry_run else "run",
        actor,
        run.total_eligible,
        run.total_purged,
        run.total_held,
    )
    return run
