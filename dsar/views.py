"""Portal pages of the dsar app: a person's requests, filing a new one, following it, downloading the answer.

Requests are addressed by protocol number (no personal data in URLs). Someone else's protocol answers
404 exactly like one that does not exist: the page never says whether a protocol is in use.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from c360.lib.errors import ApplicationError, Conflict, Gone, NotFound, ValidationFailed
from c360.lib.history import Actor
from dsar.forms import ELECTRONIC, RequestForm
from dsar.models import DataRequest, RequestDocument, RequestType
from dsar.selectors import (
    REJECTION_LABELS,
    REQUEST_TYPE_LABELS,
    STATUS_LABELS,
    complaint_routes,
    request_deadline_rules,
    request_due_date,
    request_of_requester,
    request_package,
    request_source_findings,
    request_timeline,
    requests_of_requester,
)
from dsar.services.packages import package_download_by_requester
from dsar.services.requests import PortalDocument, request_cancel, request_details, request_file_in_portal
from profiles.portal import PortalRequest, portal_login_required, too_many
from profiles.services.portal import PortalIdentity, portal_contact

# Filing is cheap for the person and costly for the controller (every source is searched): a ceiling
# per session stops a script, never a person.
FILE_RATE = "30/h"
Status = DataRequest.Status


def _actor(identity: PortalIdentity) -> Actor:
    """The person acting: their subject id, or the sign-in id when c360 holds no profile (never an address)."""
    if identity.subject_id is not None:
        return Actor.for_subject(identity.subject_id)
    return Actor("subject", f"portal-login-{identity.login_id}")


def _page(request: PortalRequest, template: str, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    return render(request, template, {"identity": request.portal, "section": "requests", **context}, status=status)


def _own(request: PortalRequest, protocol: str) -> DataRequest:
    found = request_of_requester(
        protocol=protocol, contact_index=request.portal.contact_index, subject_id=request.portal.subject_id
    )
    if found is None:
        raise Http404("No such request.")
    return found


def _row(item: DataRequest) -> dict[str, Any]:
    return {
        "protocol": item.protocol,
        "type_label": REQUEST_TYPE_LABELS.get(item.request_type, item.request_type),
        "status": item.status,
        "status_label": STATUS_LABELS.get(item.status, item.status),
        "received_at": item.received_at,
        "due_date": request_due_date(item),
    }


@portal_login_required
def request_list(request: PortalRequest) -> HttpResponse:
    rows = [
        _row(item)
        for item in requests_of_requester(
            contact_index=request.portal.contact_index, subject_id=request.portal.subject_id
        )
    ]
    return _page(request, "portal/requests.html", {"rows": rows})


@portal_login_required
@require_http_methods(["GET", "POST"])
def request_new(request: PortalRequest) -> HttpResponse:
    identity = request.portal
    has_subject = identity.subject_id is not None
    if request.method == "GET":
        wanted = request.GET.get("type", "")
        initial = {"request_type": wanted} if wanted in RequestType.values else {}
        return _new_page(request, RequestForm(initial=initial, has_subject=has_subject))
    form = RequestForm(request.POST, request.FILES, has_subject=has_subject)
    if not form.is_valid():
        return _new_page(request, form, status=400)
    if too_many(request, "portal.request_new", FILE_RATE, lambda *_: str(identity.login_id), count=True):
        form.add_error(None, _("You have filed many requests in a short time. Wait a while and try again."))
        return _new_page(request, form, status=429)
    documents = []
    if upload := form.cleaned_data.get("proof"):
        documents.append(
            PortalDocument(
                kind=RequestDocument.Kind.PROOF_OF_AUTHORITY,
                content_type=upload.detected_content_type,
                content=upload.read(),
            )
        )
    contact_kind, contact_value = portal_contact(identity)
    language = get_language() or settings.LANGUAGE_CODE
    try:
        filed = request_file_in_portal(
            request_type=form.cleaned_data["request_type"],
            requester=form.cleaned_data["requester"],
            contact_kind=contact_kind,
            contact_value=contact_value,
            contact_index=identity.contact_index,
            subject_id=identity.subject_id,
            language=language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE,
            details=form.details_payload(),
            requester_name=form.cleaned_data.get("requester_name", ""),
            represented_identities=form.represented_identities(),
            documents=documents,
            actor=_actor(identity),
        )
    except ValidationFailed:
        form.add_error(None, _("We could not file this request. Check the fields and try again."))
        return _new_page(request, form, status=400)
    messages.success(
        request,
        _("We received your request. Its protocol number is %(protocol)s: keep it to follow the request.")
        % {"protocol": filed.protocol},
    )
    return redirect("portal:request_detail", protocol=filed.protocol)


def _new_page(request: PortalRequest, form: RequestForm, *, status: int = 200) -> HttpResponse:
    return _page(
        request,
        "portal/request_new.html",
        {"form": form, "max_upload": settings.C360_PORTAL_UPLOAD_MAX_BYTES},
        status=status,
    )


@portal_login_required
def request_detail(request: PortalRequest, protocol: str) -> HttpResponse:
    item = _own(request, protocol)
    package = request_package(item)
    completed = item.status == Status.COMPLETED
    details = request_details(item)
    context = {
        "item": item,
        "type_label": REQUEST_TYPE_LABELS.get(item.request_type, item.request_type),
        "status_label": STATUS_LABELS.get(item.status, item.status),
        "due_date": request_due_date(item),
        "deadline_rules": request_deadline_rules(item),
        "timeline": request_timeline(item, package),
        "printed": details.get("answer_format", ELECTRONIC) != ELECTRONIC,
        "for_someone_else": item.requester != DataRequest.Requester.SUBJECT,
        "awaiting_authority": item.status == Status.AWAITING_VERIFICATION
        and item.requester != DataRequest.Requester.SUBJECT
        and not item.authority_proven,
        "can_cancel": item.status == Status.AWAITING_VERIFICATION,
        "package": package,
        "can_download": completed and package is not None and package.downloaded_at is None,
        "findings": request_source_findings(item) if completed else [],
        "is_confirmation": item.request_type == RequestType.CONFIRMATION,
        "rejection_label": REJECTION_LABELS.get(item.rejection_reason, "") if item.status == Status.REJECTED else "",
        "complaint_routes": complaint_routes(item) if item.status == Status.REJECTED else [],
    }
    return _page(request, "portal/request_detail.html", context)


def _gone(request: PortalRequest, protocol: str) -> HttpResponse:
    message = _(
        "The copy of your data for request %(protocol)s was already downloaded. For safety it can be downloaded "
        "only once. If you need it again, file a new request."
    ) % {"protocol": protocol}
    return _page(request, "portal/message.html", {"title": _("Already downloaded"), "message": message}, status=410)


@portal_login_required
@require_POST
def request_download(request: PortalRequest, protocol: str) -> HttpResponse:
    item = _own(request, protocol)
    try:
        package, content = package_download_by_requester(request_id=item.id, actor=_actor(request.portal))
    except Gone:
        return _gone(request, item.protocol)
    except (NotFound, Conflict):
        message = _("There is nothing to download for this request yet. We email you when the answer is ready.")
        return _page(request, "portal/message.html", {"title": _("Not ready yet"), "message": message}, status=409)
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{package.request.protocol}.zip"'
    response["Cache-Control"] = "no-store"
    return response


@portal_login_required
@require_POST
def request_cancel_view(request: PortalRequest, protocol: str) -> HttpResponse:
    item = _own(request, protocol)
    if item.status != Status.AWAITING_VERIFICATION:
        messages.error(request, _("This request can no longer be cancelled here."))
        return redirect("portal:request_detail", protocol=item.protocol)
    try:
        request_cancel(request_id=item.id, actor=_actor(request.portal), note="cancelled by the requester")
    except ApplicationError:
        messages.error(request, _("This request can no longer be cancelled here."))
    else:
        messages.success(request, _("Your request was cancelled."))
    return redirect("portal:request_detail", protocol=item.protocol)
