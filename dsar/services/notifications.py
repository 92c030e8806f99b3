"""Mails to the requester: the acknowledgment with the protocol number (LEGAL R-01) and the notice that
the request was answered.

Each mail is in the request's language, with a text and an HTML part. The answer mail only links to
the portal page of the request, where the person signs in: it never carries their data nor a download
link. A mail is sent once: a ``mail`` event records it, so a redelivered task sends nothing more.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from c360.lib.crypto import DecryptionError, data_key_open
from c360.lib.history import Actor, acting_as
from dsar.models import DataRequest, RequestEvent
from dsar.selectors import REQUEST_TYPE_LABELS, request_due_date
from dsar.services.requests import _event
from profiles.encryption import unseal

logger = logging.getLogger(__name__)
Status = DataRequest.Status

RECEIVED = "received"
ANSWERED = "answered"
EXTENDED = "extended"
_TEMPLATES = {RECEIVED: "request_received", ANSWERED: "request_completed", EXTENDED: "request_extended"}


def request_mail_received(*, request_id: uuid.UUID | str) -> bool:
    """Mail the acknowledgment of a request (protocol, type, due date); False when there is nothing to send."""
    return _mail(request_id, RECEIVED)


def request_mail_answered(*, request_id: uuid.UUID | str) -> bool:
    """Mail that a request was answered (completed or rejected), with the link to its portal page."""
    return _mail(request_id, ANSWERED)


def request_mail_extended(*, request_id: uuid.UUID | str) -> bool:
    """Tell the person the deadline was extended, with the reasons and the new date (GDPR Art. 12(3))."""
    return _mail(request_id, EXTENDED)


def _mail(request_id: uuid.UUID | str, kind: str) -> bool:
    request = DataRequest.objects.select_related("key").filter(pk=request_id).first()
    if request is None:
        return False
    if kind == ANSWERED and request.status not in {Status.COMPLETED, Status.REJECTED}:
        return False  # re-checked: the task may run after a change of state
    if RequestEvent.objects.filter(request=request, kind="mail", note=kind).exists():
        return False  # already sent: a redelivered message
    try:
        address = unseal(data_key_open(request.key), request, "contact_email")
    except DecryptionError:  # the request's key was shredded: no one left to write to
        return False
    if not address:
        return False
    message = _message(request, kind, address)
    message.send()
    system = Actor.system("dsar-mail")
    with transaction.atomic(), acting_as(system):
        _event(request, system, "mail", note=kind)
    logger.info("DSAR %s: %s mail sent", request.protocol, kind)
    return True


def _message(request: DataRequest, kind: str, address: str) -> EmailMultiAlternatives:
    language = request.language if request.language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
    with translation.override(language):
        context = {
            "language": language,
            "protocol": request.protocol,
            "type_label": str(REQUEST_TYPE_LABELS.get(request.request_type, request.request_type)),
            "due_date": request_due_date(request),
            "received_at": request.received_at,
            "rejected": request.status == Status.REJECTED,
            "extension_reason": request.extension_reason,
            "link": f"{settings.C360_PUBLIC_URL}{reverse('portal:request_detail', args=[request.protocol])}",
            "controller": settings.C360_CONTROLLER_NAME,
            "dpo_name": settings.C360_DPO_NAME,
            "dpo_email": settings.C360_DPO_EMAIL,
        }
        name = _TEMPLATES[kind]
        subject = " ".join(render_to_string(f"emails/{name}_subject.txt", context).split())
        message = EmailMultiAlternatives(
            subject, render_to_string(f"emails/{name}.txt", context), settings.DEFAULT_FROM_EMAIL, [address]
        )
        message.attach_alternative(render_to_string(f"emails/{name}.html", context), "text/html")
    return message
