"""The DPO's console pages beyond the Django admin: the dashboard and the request queue.

Staff signed in to the admin with both factors (``admin.site.admin_view``, which sends others to the admin's
login) plus a model permission:
``dsar.view_datarequest`` to read, ``dsar.change_datarequest`` to act. Every action goes through the DSAR
services; their errors become admin messages. Pages never show who asked: the protocol is the handle.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from c360.lib.errors import ApplicationError
from c360.lib.history import Actor
from dsar.models import DataRequest, ExportPackage, RequestTask
from dsar.services.execution import request_task_retry
from dsar.services.packages import package_link_issue
from dsar.services.requests import (
    COMPLAINT_ROUTES,
    request_cancel,
    request_complete,
    request_create,
    request_extend,
    request_reject,
    request_verify,
)

from . import dashboard
from .exports import report_html, report_pdf
from .forms import ACTION_FORMS, IntakeForm, QueueFilterForm
from .services.reports import monthly_report_build, parse_month

VIEW_PERMISSION = "dsar.view_datarequest"
CHANGE_PERMISSION = "dsar.change_datarequest"
PAGE_SIZE = 50
Status = DataRequest.Status


def console_page(permission: str) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """As the admin's own pages: staff with a verified second factor (others go to the admin's login page),
    then 403 without ``permission``."""

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.has_perm(permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return admin.site.admin_view(checked)

    return decorate


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, **extra}


def _days_left(due_at: dt.datetime | None, now: dt.datetime) -> int | None:
    if due_at is None:
        return None
    return math.floor((due_at - now).total_seconds() / 86400)


# ---------------------------------------------------------------- dashboard


@require_GET
@console_page(VIEW_PERMISSION)
def dashboard_view(request: HttpRequest) -> HttpResponse:
    data = dashboard.dashboard_get()
    queue = reverse("console:queue")
    buckets = [
        {"name": name, "label": label, "count": data.buckets[name], "url": f"{queue}?{urlencode({'bucket': name})}"}
        for name, label in dashboard.BUCKETS.items()
    ]
    checks = [
        {
            "check": check,
            "admin_url": reverse("admin:consent_audiencecheck_change", args=[check.pk]),
            "api_path": _api_path("api:audience-check", check_id=check.pk),
        }
        for check in data.audience_checks
    ]
    return render(
        request,
        "console/dashboard.html",
        _context(
            request,
            "DPO dashboard",
            data=data,
            buckets=buckets,
            queue_url=queue,
            checks=checks,
            chart=data.consent.chart,
        ),
    )


def _api_path(name: str, **kwargs: Any) -> str:
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return ""


# ---------------------------------------------------------------- queue


@require_GET
@console_page(VIEW_PERMISSION)
def queue_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    form = QueueFilterForm(request.GET or None)
    filters = form.filters() if form.is_bound else {}
    requests = dashboard.queue_list(now=now, **filters)
    page = Paginator(requests, PAGE_SIZE).get_page(request.GET.get("page"))
    progress = dashboard.task_progress([item.pk for item in page.object_list])
    rows = []
    for item in page.object_list:
        tasks = progress.get(item.pk, {"total": 0, "done": 0, "failed": 0})
        rows.append(
            {
                "request": item,
                "days_left": _days_left(item.due_at, now) if item.is_open else None,
                "tasks": tasks,
                "url": reverse("console:request", args=[item.protocol]),
            }
        )
    return render(
        request,
        "console/queue.html",
        _context(
            request,
            "Request queue",
            form=form if form.is_bound else QueueFilterForm(),
            rows=rows,
            page=page,
            filter_query=urlencode(filters),
        ),
    )


# ---------------------------------------------------------------- one request


@require_GET
@console_page(VIEW_PERMISSION)
def request_view(request: HttpRequest, protocol: str) -> HttpResponse:
    data_request = get_object_or_404(
        DataRequest.objects.defer("requester_name_enc", "contact_email_enc", "identities_enc", "details_enc"),
        protocol=protocol,
    )
    now = timezone.now()
    tasks = list(data_request.tasks.select_related("source").order_by("source__code"))
    package = ExportPackage.objects.filter(request=data_request).only("id", "created_at", "downloaded_at").first()
    can_change = request.user.has_perm(CHANGE_PERMISSION)
    forms = {name: form_class(prefix=name) for name, form_class in ACTION_FORMS.items()}
    return render(
        request,
        "console/request.html",
        _context(
            request,
            f"Request {data_request.protocol}",
            data_request=data_request,
            days_left=_days_left(data_request.due_at, now) if data_request.is_open else None,
            events=data_request.events.order_by("at", "id"),
            tasks=tasks,
            package=package,
            can_change=can_change,
            forms=forms,
            complaint_routes=[route for regime in data_request.regimes for route in COMPLAINT_ROUTES.get(regime, [])],
            is_gdpr="gdpr" in data_request.regimes,
            is_open=data_request.is_open,
            statuses=Status,
        ),
    )


def _error_text(exc: ApplicationError) -> str:
    details = "; ".join(
        f"{field}: {' '.join(str(problem) for problem in problems)}"
        if isinstance(problems, list | tuple)
        else f"{field}: {problems}"
        for field, problems in exc.errors.items()
    )
    return f"{exc.message} ({details})" if details else exc.message


def _form_error_text(form: Any) -> str:
    problems = "; ".join(
        f"{form.fields[field].label or field.replace('_', ' ') if field in form.fields else 'form'}: {' '.join(errors)}"
        for field, errors in form.errors.items()
    )
    return f"The form is incomplete: {problems}"


@require_POST
@console_page(CHANGE_PERMISSION)
def request_action_view(request: HttpRequest, protocol: str, action: str) -> HttpResponseBase:
    """Run one action on a request through its service, then back to the request's page (PRG)."""
    data_request = get_object_or_404(DataRequest.objects.only("id", "protocol", "regimes"), protocol=protocol)
    form_class = ACTION_FORMS.get(action)
    back = redirect("console:request", protocol=protocol)
    if form_class is None:
        messages.error(request, f"Unknown action {action!r}.")
        return back
    form = form_class(request.POST, prefix=action)
    if not form.is_valid():
        messages.error(request, _form_error_text(form))
        return back
    actor = Actor.for_user(request.user)
    values = form.cleaned_data
    try:
        if action == "release":
            return _release(request, data_request, actor)
        message = _run(action, data_request, values, actor)
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
        return back
    messages.success(request, message)
    return back


def _run(action: str, data_request: DataRequest, values: dict[str, Any], actor: Actor) -> str:
    request_id = data_request.pk
    if action == "verify":
        verified = values["outcome"] == "verified"
        updated = request_verify(
            request_id=request_id,
            method=values["method"],
            verified=verified,
            authority_proven=values["authority_proven"],
            actor=actor,
        )
        return f"Identity check recorded ({values['outcome']}); the request is {updated.get_status_display().lower()}."
    if action == "complete":
        request_complete(request_id=request_id, note=values["note"], actor=actor)
        return "The request is completed: the answer is released."
    if action == "reject":
        request_reject(request_id=request_id, reason=values["reason"], text=values["text"], actor=actor)
        return "The request is rejected; the answer names the complaint routes."
    if action == "extend":
        updated = request_extend(request_id=request_id, reason=values["reason"], actor=actor)
        return f"The due date is extended to {timezone.localtime(updated.due_at):%Y-%m-%d}."
    if action == "cancel":
        request_cancel(request_id=request_id, note=values["note"], actor=actor)
        return "The request is cancelled."
    if action == "retry":
        task = RequestTask.objects.filter(pk=values["task_id"], request_id=request_id).select_related("source").first()
        if task is None:
            raise ApplicationError("That task is not one of this request's.", code="not_found")
        request_task_retry(task_id=task.pk, actor=actor)
        return f"The task in {task.source.name} is queued again."
    raise ApplicationError(f"Unknown action {action!r}.")


def _release(request: HttpRequest, data_request: DataRequest, actor: Actor) -> HttpResponse:
    """Issue a single-use download token and show it this once: it is not kept (only its hash is), so it
    is rendered in the POST's answer rather than carried through a redirect in the session."""
    token = package_link_issue(request_id=data_request.pk, actor=actor)
    package = ExportPackage.objects.only("link_expires_at").get(request_id=data_request.pk)
    response = render(
        request,
        "console/package_link.html",
        _context(
            request,
            f"Download link of {data_request.protocol}",
            data_request=data_request,
            token=token,
            expires_at=package.link_expires_at,
            download_path=_api_path("api:dsar-package-download"),
        ),
    )
    response["Cache-Control"] = "no-store"
    return response


REPORT_PERMISSION = "compliance.view_incident"


@require_GET
@console_page(VIEW_PERMISSION)
def report_view(request: HttpRequest) -> HttpResponse:
    """The monthly compliance report for ``?month=YYYY-MM`` (default: last month), as a PDF or HTML file.

    A download, not a page: the report carries its own print styles, which the console's strict
    Content-Security-Policy would refuse inline.
    """
    if not request.user.has_perm(REPORT_PERMISSION):
        raise PermissionDenied
    last_month = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    try:
        month = parse_month(request.GET.get("month") or last_month)
    except ValueError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    context = monthly_report_build(month=month)
    if request.GET.get("format") == "html":
        response = HttpResponse(report_html(context), content_type="text/html; charset=utf-8")
        extension = "html"
    else:
        response = HttpResponse(report_pdf(context), content_type="application/pdf")
        extension = "pdf"
    response["Content-Disposition"] = f'attachment; filename="c360-compliance-report-{month:%Y-%m}.{extension}"'
    response["Cache-Control"] = "no-store"
    return response


ADD_PERMISSION = "dsar.add_datarequest"


@console_page(ADD_PERMISSION)
def intake_view(request: HttpRequest) -> HttpResponse:
    """Staff register a request that came by email, phone, letter or in person; it then waits for verification."""
    form = IntakeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        try:
            created = request_create(
                request_type=values["request_type"],
                regimes=values["regimes"],
                intake_channel=values["intake_channel"],
                received_at=values["received_at"],
                identities=[{"kind": values["identity_kind"], "value": values["identity_value"]}],
                requester_name=values["requester_name"],
                contact_email=values["contact_email"],
                language=values["language"],
                details={"message": values["details"]} if values["details"] else None,
                actor=Actor.for_user(request.user),
            )
        except ApplicationError as exc:
            for field, problems in exc.errors.items():
                name = "identity_value" if field.startswith("identities") else field
                form.add_error(name if name in form.fields else None, problems)
            if not exc.errors:
                form.add_error(None, exc.message)
        else:
            messages.success(request, f"Request {created.protocol} registered; verify the requester's identity next.")
            return redirect("console:request", protocol=created.protocol)
    status = 400 if request.method == "POST" else 200
    return render(request, "console/intake.html", _context(request, "Register a request", form=form), status=status)
