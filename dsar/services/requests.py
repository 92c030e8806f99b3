"""The request workflow: intake, verification, deadline, review, answer. The only writers of requests.

received -> awaiting verification -> in progress -> in review -> completed | rejected | cancelled.
Every transition writes a ``RequestEvent`` in the same transaction. No source is touched before the
identity is verified (and, for a representative, their authority proven).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from c360.lib.crypto import data_key_create, data_key_open
from c360.lib.errors import Conflict, NotFound, ValidationFailed
from c360.lib.history import Actor, acting_as
from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise
from dsar import deadlines
from dsar.calendars import brazil_calendar, eu_member_state_calendar
from dsar.models import (
    IDENTITY_KINDS,
    DataRequest,
    DataSource,
    ExportPackage,
    RequestEvent,
    RequestKey,
    RequestTask,
    RequestType,
)
from profiles.encryption import seal, unseal
from profiles.models import Subject

logger = logging.getLogger(__name__)
Status = DataRequest.Status

# The complaint routes a rejection must name (GDPR Art. 12(4), LGPD Art. 18 §1 and §8).
COMPLAINT_ROUTES = {
    "lgpd": [
        "ANPD: petição do titular em https://www.gov.br/anpd (após pedido ao controlador)",
        "Procon do seu estado ou https://www.consumidor.gov.br",
    ],
    "gdpr": [
        "The data protection supervisory authority of your EU Member State (GDPR Art. 77)",
        "A court of law (GDPR Art. 79)",
    ],
}
# What the automatic release may hand to a person without a staff review (C360_DSAR_AUTO_RELEASE):
# a copy of their own data, or whether data about them exists.
AUTO_RELEASE_TYPES = frozenset(
    {RequestType.ACCESS, RequestType.PORTABILITY, RequestType.SHARING_INFO, RequestType.CONFIRMATION}
)
# Deadline engine names for the request types whose wording differs.
_DEADLINE_TYPES = {
    RequestType.RECTIFICATION: deadlines.RequestType.CORRECTION,
    RequestType.ERASURE: deadlines.RequestType.DELETION,
    RequestType.CONSENT_REVOCATION: deadlines.RequestType.CONSENT_WITHDRAWAL,
}


def deadline_policy() -> deadlines.DeadlinePolicy:
    """The deadline rules of this deployment (the controller's EU Member State, Brazilian calendar)."""
    return deadlines.DeadlinePolicy(
        lgpd_calendar=brazil_calendar(subdivision=settings.C360_DSAR_BR_SUBDIVISION or None),
        lgpd_roll_forward_if_holiday=settings.C360_DSAR_LGPD_ROLL_FORWARD,
        gdpr_tz=settings.C360_DSAR_GDPR_TZ,
        gdpr_calendar=eu_member_state_calendar(settings.C360_DSAR_GDPR_COUNTRY),
        internal_buffer_days=settings.C360_DSAR_INTERNAL_BUFFER_DAYS,
    )


def _compute_deadline(request: DataRequest, extension: deadlines.Extension | None = None) -> None:
    result = deadlines.dsar_deadline(
        received_at=request.received_at,
        request_type=_DEADLINE_TYPES.get(RequestType(request.request_type), request.request_type),
        regimes=request.regimes,
        small_agent=request.small_agent,
        extension=extension,
        policy=deadline_policy(),
    )
    request.due_at = result.due_at
    request.internal_target = result.internal_target_date
    request.deadline = result.as_dict()


def _event(request: DataRequest, actor: Actor, kind: str, *, to: str = "", note: str = "", **data: Any) -> None:
    RequestEvent.objects.create(
        request=request,
        actor=str(actor)[:120],
        kind=kind,
        from_status=request.status if to else "",
        to_status=to,
        note=note,
        data=data,
    )
    if to:
        request.status = to


def _protocol(now: dt.datetime) -> str:
    """Year and a sequence: "2026-000042". Serialised by a lock on the year's last request."""
    prefix = f"{now.year}-"
    last = (
        DataRequest.objects.select_for_update()
        .filter(protocol__startswith=prefix)
        .aggregate(last=Max("protocol"))["last"]
    )
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{number:06d}"


def _clean_identities(identities: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    cleaned, errors = [], {}
    for position, item in enumerate(identities):
        kind, value, namespace = item.get("kind", ""), item.get("value", ""), item.get("namespace", "")
        if kind not in IDENTITY_KINDS:
            errors[f"identities.{position}.kind"] = [f"Use one of {', '.join(IDENTITY_KINDS)}."]
            continue
        if kind == "external_id" and not namespace:
            errors[f"identities.{position}.namespace"] = ["An external id needs the source system that issued it."]
            continue
        try:
            if kind == "subject_id":
                value = str(uuid.UUID(str(value)))
            else:
                value = normalise(IdentifierKind(kind if kind != "external_id" else "external"), str(value))
        except (IdentifierError, ValueError) as exc:
            errors[f"identities.{position}.value"] = [getattr(exc, "message", "Not a valid value.")]
            continue
        cleaned.append({"kind": kind, "value": value, "namespace": namespace})
    if not cleaned and not errors:
        errors["identities"] = ["Give at least one email, phone, CPF or source id to find the person by."]
    if errors:
        raise ValidationFailed("The request's identities are invalid.", errors=errors)
    return cleaned


@transaction.atomic
def request_create(
    *,
    request_type: str,
    regimes: Iterable[str],
    intake_channel: str,
    identities: Iterable[Mapping[str, Any]],
    actor: Actor,
    received_at: dt.datetime | None = None,
    requester: str = DataRequest.Requester.SUBJECT,
    requester_name: str = "",
    contact_email: str = "",
    language: str = "pt-br",
    details: Mapping[str, Any] | None = None,
    small_agent: bool = False,
    subject_id: uuid.UUID | None = None,
    requester_index: bytes | None = None,
) -> DataRequest:
    """Register a request as it arrives (``received_at``: first arrival at any channel, kept when re-routed).

    ``requester_index`` is the blind index of a contact point the requester proved (a portal sign-in):
    the portal shows the request to whoever proves it again. With a ``contact_email``, the
    acknowledgment with the protocol number is mailed once the request is committed (LEGAL R-01).
    """
    now = timezone.now()
    received_at = received_at or now
    errors: dict[str, list[str]] = {}
    regime_list = sorted(set(regimes))
    if not regime_list or set(regime_list) - {"lgpd", "gdpr"}:
        errors["regimes"] = ["Give lgpd, gdpr or both."]
    if request_type not in RequestType.values:
        errors["request_type"] = [f"Use one of {', '.join(RequestType.values)}."]
    if timezone.is_naive(received_at) or received_at > now + dt.timedelta(minutes=5):
        errors["received_at"] = ["Give when the request first arrived, with its time zone, not in the future."]
    if requester not in DataRequest.Requester.values:
        errors["requester"] = [f"Use one of {', '.join(DataRequest.Requester.values)}."]
    if errors:
        raise ValidationFailed("The request is invalid.", errors=errors)
    cleaned = _clean_identities(identities)
    if contact_email:
        try:
            contact_email = normalise(IdentifierKind.EMAIL, contact_email)
        except IdentifierError as exc:
            raise ValidationFailed("The request is invalid.", errors={"contact_email": [exc.message]}) from None

    request = DataRequest(
        id=uuid.uuid4(),
        protocol=_protocol(now),
        request_type=request_type,
        regimes=regime_list,
        intake_channel=intake_channel,
        received_at=received_at,
        requester=requester,
        language=language,
        small_agent=small_agent,
        subject_id=subject_id,
        requester_index=requester_index,
    )
    key = RequestKey(request=request)
    data_key = data_key_create(key)
    seal(data_key, request, "requester_name", requester_name.strip())
    seal(data_key, request, "contact_email", contact_email)
    seal(data_key, request, "identities", cleaned)
    seal(data_key, request, "details", dict(details or {}))
    _compute_deadline(request)
    with acting_as(actor):
        request.save(force_insert=True)
        key.save(force_insert=True)
        _event(request, actor, "received", note=f"via {intake_channel}")
        _event(request, actor, "transition", to=Status.AWAITING_VERIFICATION)
        request.save(update_fields=["status"])
    logger.info("DSAR %s (%s) received via %s", request.protocol, request_type, intake_channel)
    if contact_email:
        _mail_on_commit("received", request.id)
    return request


def _mail_on_commit(kind: str, request_id: uuid.UUID) -> None:
    """Queue a mail to the requester after commit. The task gets the request id only (no personal data
    in broker messages) and decrypts the address itself. A mail that cannot be queued never undoes the
    request: ``robust`` logs the failure instead of raising it into the caller."""
    from dsar.tasks import request_answered_mail_task, request_extended_mail_task, request_received_mail_task

    task = {
        "received": request_received_mail_task,
        "answered": request_answered_mail_task,
        "extended": request_extended_mail_task,
    }[kind]
    transaction.on_commit(lambda: task.delay(str(request_id)), robust=True)


def request_identities(request: DataRequest) -> list[dict[str, str]]:
    return unseal(data_key_open(request.key), request, "identities") or []


def request_details(request: DataRequest) -> dict[str, Any]:
    return unseal(data_key_open(request.key), request, "details") or {}


def _locked(request_id: uuid.UUID | str) -> DataRequest:
    request = DataRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound("No request has that id.")
    return request


def _expect(request: DataRequest, *statuses: str) -> None:
    if request.status not in statuses:
        raise Conflict(
            f"The request is {request.status}; this needs it {' or '.join(statuses)}.", code="invalid_transition"
        )


@transaction.atomic
def request_verify(
    *, request_id: uuid.UUID | str, method: str, verified: bool, actor: Actor, authority_proven: bool = False
) -> DataRequest:
    """Record the identity check. A verified request starts: one task per active source, queued."""
    request = _locked(request_id)
    _expect(request, Status.AWAITING_VERIFICATION)
    if method not in DataRequest.Verification.values or not method:
        raise ValidationFailed(
            "Unknown verification method.", errors={"method": [", ".join(DataRequest.Verification.values[1:])]}
        )
    now = timezone.now()
    request.verification_method = method
    request.verification_outcome = DataRequest.Outcome.VERIFIED if verified else DataRequest.Outcome.FAILED
    request.verified_at = now
    request.authority_proven = authority_proven
    with acting_as(actor):
        _event(request, actor, "verification", note=f"{method}: {'verified' if verified else 'failed'}")
        if verified and request.requester != DataRequest.Requester.SUBJECT and not authority_proven:
            _event(request, actor, "verification", note="representative's authority not proven: not started")
        elif verified:
            _event(request, actor, "transition", to=Status.IN_PROGRESS)
            _fan_out(request, actor)
        request.save()
    return request


def _fan_out(request: DataRequest, actor: Actor) -> None:
    from dsar.tasks import request_task_run_task  # the Celery wrapper calls back into execution

    existing = set(RequestTask.objects.filter(request=request).values_list("source_id", flat=True))
    new_tasks = [
        RequestTask(request=request, source=source, operation=request.operation)
        for source in DataSource.objects.filter(is_active=True).exclude(pk__in=existing)
    ]
    created = [task.pk for task in RequestTask.objects.bulk_create(new_tasks)]
    _event(request, actor, "fan_out", note=f"{len(created)} source task(s)", tasks=created)
    for task_id in created:
        transaction.on_commit(lambda task_id=task_id: request_task_run_task.delay(task_id))
    if not created:
        transaction.on_commit(lambda: request_join(request_id=request.id))


@transaction.atomic
def request_join(*, request_id: uuid.UUID | str) -> DataRequest:
    """When every source's task is done, the request goes to review (the join of the fan-out)."""
    if RequestTask.objects.filter(request_id=request_id).exclude(status=RequestTask.Status.DONE).exists():
        return DataRequest.objects.get(pk=request_id)  # not the last one: no lock, no write
    request = _locked(request_id)
    if (
        request.status == Status.IN_REVIEW
        and request.operation == "export"
        and not ExportPackage.objects.filter(request=request).exists()
    ):
        # Joined, but the worker died before the package was built: build it now (idempotent).
        from dsar.services.packages import package_build

        transaction.on_commit(lambda: package_build(request_id=request.id))
        return request
    if request.status != Status.IN_PROGRESS:
        return request
    tasks = list(request.tasks.select_related("source"))
    if any(task.status != RequestTask.Status.DONE for task in tasks):
        return request
    request.summary = {
        "sources": {task.source.code: task.outcome for task in tasks},
        "operation": request.operation,
    }
    system = Actor.system("dsar-orchestrator")
    with acting_as(system):
        _event(request, system, "transition", to=Status.IN_REVIEW, note="every source answered")
        request.save()
    if request.operation == "export":
        from dsar.services.packages import package_build

        transaction.on_commit(lambda: package_build(request_id=request.id))
    elif request.operation == "locate":
        # A confirmation needs no package: the per-source answer is in the summary (LGPD Art. 19 I: at once).
        return request_release_automatically(request_id=request.id) or request
    return request


@transaction.atomic
def request_complete(*, request_id: uuid.UUID | str, actor: Actor, note: str = "") -> DataRequest:
    """The DPO signs off the answer. Every source must have answered (or have a recorded exception)."""
    request = _locked(request_id)
    _expect(request, Status.IN_REVIEW)
    request.completed_at = timezone.now()
    with acting_as(actor):
        _event(request, actor, "transition", to=Status.COMPLETED, note=note[:500])
        request.save()
    if _has_contact_email(request):
        _mail_on_commit("answered", request.id)
    return request


def _has_contact_email(request: DataRequest) -> bool:
    return request.contact_email_enc is not None  # an empty address is stored as no ciphertext at all


def request_auto_release_allowed(request: DataRequest) -> bool:
    """Whether the answer may go to the person without a staff review (``C360_DSAR_AUTO_RELEASE``).

    Only for a copy of the person's own data or a confirmation, asked by the data subject themselves
    (never a representative: their authority is checked by a person), filed in the portal from a contact
    point they proved in that session, and answered electronically (a printed letter is the DPO's).
    """
    if not settings.C360_DSAR_AUTO_RELEASE or request.request_type not in AUTO_RELEASE_TYPES:
        return False
    if request.requester != DataRequest.Requester.SUBJECT or request.requester_index is None:
        return False
    if (
        request.verification_method != DataRequest.Verification.PORTAL_SESSION
        or request.verification_outcome != DataRequest.Outcome.VERIFIED
    ):
        return False
    return request_details(request).get("answer_format", "electronic") == "electronic"


@transaction.atomic
def request_release_automatically(*, request_id: uuid.UUID | str) -> DataRequest | None:
    """Complete a request in review when the automatic-release rule allows it (an export once its package
    is built); None when the DPO must sign it off."""
    request = _locked(request_id)
    if request.status != Status.IN_REVIEW or not request_auto_release_allowed(request):
        return None
    if request.operation == "export" and not ExportPackage.objects.filter(request=request).exists():
        return None
    return request_complete(
        request_id=request.id,
        actor=Actor.system("dsar-auto-release"),
        note="released automatically to the verified requester",
    )


@transaction.atomic
def request_reject(*, request_id: uuid.UUID | str, reason: str, text: str, actor: Actor) -> DataRequest:
    """Refuse with reasons and the complaint routes of the regimes involved (GDPR 12(4), LGPD 18 §4)."""
    request = _locked(request_id)
    _expect(request, Status.AWAITING_VERIFICATION, Status.IN_PROGRESS, Status.IN_REVIEW)
    errors = {}
    if reason not in DataRequest.RejectionReason.values or not reason:
        errors["reason"] = [f"Use one of {', '.join(DataRequest.RejectionReason.values[1:])}."]
    if len(text.strip()) < 10:
        errors["text"] = ["Explain the reasons to the requester (at least a sentence)."]
    if reason == DataRequest.RejectionReason.MANIFESTLY_UNFOUNDED and "lgpd" in request.regimes:
        errors["reason"] = ["Not available under the LGPD (Art. 18 §5: free of charge, no refusal as excessive)."]
    if errors:
        raise ValidationFailed("The rejection needs a reason and an explanation.", errors=errors)
    request.rejection_reason = reason
    request.rejection_text = text.strip()
    request.completed_at = timezone.now()
    request.summary = {
        **request.summary,
        "complaint_routes": [route for regime in request.regimes for route in COMPLAINT_ROUTES[regime]],
    }
    with acting_as(actor):
        _event(request, actor, "transition", to=Status.REJECTED, note=reason)
        request.save()
    if _has_contact_email(request):
        _mail_on_commit("answered", request.id)
    return request


@transaction.atomic
def request_cancel(*, request_id: uuid.UUID | str, actor: Actor, note: str = "") -> DataRequest:
    request = _locked(request_id)
    _expect(request, Status.RECEIVED, Status.AWAITING_VERIFICATION, Status.IN_PROGRESS, Status.IN_REVIEW)
    with acting_as(actor):
        _event(request, actor, "transition", to=Status.CANCELLED, note=note[:500])
        request.save()
    return request


@transaction.atomic
def request_extend(
    *, request_id: uuid.UUID | str, reason: str, actor: Actor, notified_at: dt.datetime | None = None
) -> DataRequest:
    """GDPR Art. 12(3): two more months, once, told to the subject with reasons before the original due date."""
    request = _locked(request_id)
    if not request.is_open:
        raise Conflict("The request is closed.", code="invalid_transition")
    if "gdpr" not in request.regimes:
        raise ValidationFailed("Only the GDPR allows an extension.", errors={"regimes": ["The LGPD has none."]})
    if request.extension_notified_at is not None:
        raise Conflict("The request was already extended once.", code="already_extended")
    notified_at = notified_at or timezone.now()
    try:
        _compute_deadline(request, deadlines.Extension(notified_at=notified_at, reason=reason))
    except deadlines.DeadlineError as exc:
        raise ValidationFailed("The extension is not allowed.", errors={"extension": [str(exc)]}) from None
    request.extension_notified_at = notified_at
    request.extension_reason = reason.strip()
    with acting_as(actor):
        _event(request, actor, "extension", note=reason.strip()[:500], due_at=request.due_at.isoformat())
        request.save()
    if _has_contact_email(request):
        _mail_on_commit("extended", request.id)
    return request


def requests_flag_overdue(*, now: dt.datetime | None = None) -> int:
    """Flag every open request past its due date (a Celery beat task); each is flagged once."""
    now = now or timezone.now()
    system = Actor.system("dsar-deadlines")
    flagged = 0
    open_statuses = [Status.AWAITING_VERIFICATION, Status.IN_PROGRESS, Status.IN_REVIEW]
    for request_id in DataRequest.objects.filter(
        status__in=open_statuses, due_at__lt=now, overdue_flagged_at__isnull=True
    ).values_list("id", flat=True):
        with transaction.atomic():
            request = _locked(request_id)
            request.overdue_flagged_at = now
            with acting_as(system):
                _event(request, system, "overdue", note=f"due {request.due_at.isoformat()}")
                request.save(update_fields=["overdue_flagged_at"])
        logger.warning("DSAR %s is overdue", request.protocol)
        flagged += 1
    return flagged


def requests_remind(*, now: dt.datetime | None = None) -> int:
    """Remind the DPO when an open request is this many days from its due date (C360_DSAR_REMIND_DAYS)."""
    now = now or timezone.now()
    system = Actor.system("dsar-deadlines")
    reminded = 0
    open_statuses = [Status.AWAITING_VERIFICATION, Status.IN_PROGRESS, Status.IN_REVIEW]
    horizon = now + dt.timedelta(days=max(settings.C360_DSAR_REMIND_DAYS, default=0))
    for request_id in DataRequest.objects.filter(
        status__in=open_statuses, due_at__gte=now, due_at__lte=horizon
    ).values_list("id", flat=True):
        with transaction.atomic():
            request = _locked(request_id)
            days_left = (request.due_at - now).days
            due_points = [days for days in settings.C360_DSAR_REMIND_DAYS if days_left <= days]
            new_points = [days for days in due_points if days not in request.reminders_sent]
            if not new_points:
                continue
            request.reminders_sent = sorted({*request.reminders_sent, *new_points})
            with acting_as(system):
                _event(request, system, "reminder", note=f"{days_left} day(s) left", points=new_points)
                request.save(update_fields=["reminders_sent"])
            _mail_dpo(request, days_left)
            reminded += 1
    return reminded


def _mail_dpo(request: DataRequest, days_left: int) -> None:
    from django.core.mail import send_mail

    if not settings.C360_DPO_EMAIL:
        return
    send_mail(
        subject=f"[c360] DSAR {request.protocol}: {days_left} day(s) to the due date",
        message=(
            f"Request {request.protocol} ({request.get_request_type_display()}) is due {request.due_at:%Y-%m-%d}.\n"
            f"Status: {request.get_status_display()}.\n"
        ),
        from_email=None,
        recipient_list=[settings.C360_DPO_EMAIL],
    )


# ---------------------------------------------------------------- the portal


@dataclass(frozen=True)
class PortalDocument:
    """A file sent with a portal request, already checked by the form (type from its magic bytes)."""

    kind: str
    content_type: str
    content: bytes


def request_file_in_portal(
    *,
    request_type: str,
    requester: str,
    contact_kind: str,
    contact_value: str,
    contact_index: bytes,
    subject_id: uuid.UUID | None,
    language: str,
    details: Mapping[str, Any],
    actor: Actor,
    requester_name: str = "",
    represented_identities: Sequence[Mapping[str, Any]] = (),
    documents: Sequence[PortalDocument] = (),
) -> DataRequest:
    """File a request from a signed-in portal session, store its documents and verify it, atomically.

    The session proved the contact point: that is the identity check (EDPB GL 01/2022 §3.3, no ID copy
    by default), so the request starts at once. A representative or guardian also proved their own
    contact point, but the request is about someone else: it waits until staff check the proof of
    authority (``request_verify`` refuses to start it before). Regimes are the controller's: the
    subject's own, else ``C360_DEFAULT_REGIMES``. If anything fails, no row and no file is left.
    """
    from dsar.services.documents import document_path, document_store

    for_self = requester == DataRequest.Requester.SUBJECT
    if not for_self and not documents:
        raise ValidationFailed("A proof of authority is needed.", errors={"proof": ["Attach the proof."]})
    regimes = list(settings.C360_DEFAULT_REGIMES)
    if for_self and subject_id is not None:
        regimes = Subject.objects.filter(pk=subject_id).values_list("regimes", flat=True).first() or regimes
    if for_self:
        identities = [{"kind": contact_kind, "value": contact_value}]
        if subject_id is not None:
            identities.append({"kind": "subject_id", "value": str(subject_id)})
    else:
        identities = [dict(item) for item in represented_identities]
    written: list[Path] = []
    try:
        with transaction.atomic():
            request = request_create(
                request_type=request_type,
                regimes=regimes,
                intake_channel="portal",
                identities=identities,
                actor=actor,
                requester=requester,
                requester_name=requester_name,
                contact_email=contact_value if contact_kind == "email" else "",
                language=language,
                details=details,
                subject_id=subject_id if for_self else None,
                requester_index=contact_index,
            )
            for document in documents:
                stored = document_store(
                    request=request,
                    kind=document.kind,
                    content_type=document.content_type,
                    content=document.content,
                    actor=actor,
                )
                written.append(document_path(stored))
            request = request_verify(
                request_id=request.id, method=DataRequest.Verification.PORTAL_SESSION, verified=True, actor=actor
            )
    except BaseException:
        # The rows rolled back with the transaction; the files are outside it and go by hand.
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return request
