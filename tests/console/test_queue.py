"""The request queue and a request's page: filters, sort, actions through the services, CSRF, no PII."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dsar.models import DataRequest, DataSource, ExportPackage, RequestEvent, RequestTask
from dsar.services.requests import COMPLAINT_ROUTES
from tests.conftest import _second_factor

from .conftest import REQUESTER_EMAIL, REQUESTER_NAME

pytestmark = pytest.mark.django_db
Status = DataRequest.Status


def _protocols(response) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/console/queue/([\d-]+)/">', response.content.decode())


def _action(client: Client, request: DataRequest, action: str, **fields: str):
    return client.post(
        reverse("console:request-action", args=[request.protocol, action]),
        {f"{action}-{name}": value for name, value in fields.items()},
    )


def _messages(response) -> list[str]:
    """The message this response added (earlier ones stay queued until a page shows them)."""
    return [str(message) for message in get_messages(response.wsgi_request)][-1:]


def test_queue_filters_by_bucket_type_status_and_regime(dpo_client, make_request) -> None:
    # given
    overdue = make_request("access", due_in=-1)
    soon = make_request("erasure", ("gdpr",), due_in=1, status=Status.IN_PROGRESS)
    on_track = make_request("access", ("gdpr", "lgpd"), due_in=20)
    closed = make_request("access", due_in=-5, status=Status.COMPLETED)
    url = reverse("console:queue")
    # when / then
    assert _protocols(dpo_client.get(url)) == [overdue.protocol, soon.protocol, on_track.protocol]
    assert _protocols(dpo_client.get(url, {"bucket": "overdue"})) == [overdue.protocol]
    assert _protocols(dpo_client.get(url, {"bucket": "due_soon"})) == [soon.protocol]
    assert _protocols(dpo_client.get(url, {"bucket": "on_track"})) == [on_track.protocol]
    assert _protocols(dpo_client.get(url, {"request_type": "erasure"})) == [soon.protocol]
    assert _protocols(dpo_client.get(url, {"status": "in_progress"})) == [soon.protocol]
    assert _protocols(dpo_client.get(url, {"status": "completed"})) == [closed.protocol]
    assert _protocols(dpo_client.get(url, {"regime": "gdpr"})) == [soon.protocol, on_track.protocol]
    assert _protocols(dpo_client.get(url, {"regime": "lgpd"})) == [overdue.protocol, on_track.protocol]


def test_queue_sorts_by_due_date_or_received(dpo_client, make_request) -> None:
    # given
    first = make_request(due_in=5, received_days_ago=1)
    second = make_request(due_in=1, received_days_ago=3)
    third = make_request(due_in=9, received_days_ago=2)
    url = reverse("console:queue")
    # when / then
    assert _protocols(dpo_client.get(url)) == [second.protocol, first.protocol, third.protocol]
    assert _protocols(dpo_client.get(url, {"sort": "-due"})) == [third.protocol, first.protocol, second.protocol]
    assert _protocols(dpo_client.get(url, {"sort": "received"})) == [second.protocol, third.protocol, first.protocol]
    assert _protocols(dpo_client.get(url, {"sort": "-received"})) == [first.protocol, third.protocol, second.protocol]


def test_queue_shows_days_left_verification_and_task_progress(dpo_client, make_request) -> None:
    # given
    request = make_request(due_in=4.5, status=Status.IN_PROGRESS)
    for code, status in (("a", "done"), ("b", "done"), ("c", "done"), ("d", "failed")):
        source = DataSource.objects.create(code=code, name=code.upper(), kind="manual")
        RequestTask.objects.create(request=request, source=source, operation="export", status=status)
    # when
    html = dpo_client.get(reverse("console:queue")).content.decode()
    # then
    assert "3/4 done, 1 failed" in html
    assert "<td>4</td>" in html
    assert "Access to the data" in html


def test_queue_and_request_pages_never_show_the_requester(dpo_client, make_request) -> None:
    # given
    request = make_request()
    # when
    pages = [
        dpo_client.get(reverse("console:queue")).content.decode(),
        dpo_client.get(reverse("console:request", args=[request.protocol])).content.decode(),
    ]
    # then
    for html in pages:
        assert request.protocol in html
        assert REQUESTER_EMAIL not in html
        assert REQUESTER_NAME not in html
        assert "Segredo" not in html


def test_viewer_sees_the_request_but_cannot_act(client, viewer, make_request) -> None:
    # given
    request = make_request()
    client.force_login(viewer)
    _second_factor(client, viewer)
    # when
    page = client.get(reverse("console:request", args=[request.protocol]))
    action = _action(client, request, "cancel", note="withdrawn by the requester")
    # then
    assert page.status_code == 200
    assert 'id="action-cancel"' not in page.content.decode()
    assert action.status_code == 403
    request.refresh_from_db()
    assert request.status == Status.AWAITING_VERIFICATION


def test_verify_starts_the_request(dpo_client, dpo, make_request) -> None:
    # given
    DataSource.objects.create(code="crm", name="CRM", kind="manual")
    request = make_request()
    # when
    response = _action(dpo_client, request, "verify", method="staff", outcome="verified")
    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("console:request", args=[request.protocol])
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS
    assert request.verification_method == "staff"
    assert request.verification_outcome == "verified"
    assert request.tasks.count() == 1
    assert RequestEvent.objects.filter(request=request, kind="verification", actor=f"user:{dpo.pk}").exists()
    assert "the request is in progress" in _messages(response)[0]


def test_complete_a_request_in_review(dpo_client, make_request) -> None:
    # given
    request = make_request(status=Status.IN_REVIEW)
    # when
    response = _action(dpo_client, request, "complete", note="answer checked")
    # then
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert request.completed_at is not None
    assert _messages(response) == ["The request is completed: the answer is released."]


def test_complete_in_the_wrong_state_is_a_message_not_an_error(dpo_client, make_request) -> None:
    # given
    request = make_request()
    # when
    response = _action(dpo_client, request, "complete", note="")
    # then
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == Status.AWAITING_VERIFICATION
    assert "this needs it in_review" in _messages(response)[0]


def test_reject_needs_a_reason_and_shows_the_complaint_routes(dpo_client, make_request) -> None:
    # given
    request = make_request(regimes=("gdpr", "lgpd"))
    page = dpo_client.get(reverse("console:request", args=[request.protocol])).content.decode()
    # when: no reason
    refused = _action(dpo_client, request, "reject", reason="", text="short")
    # then
    for route in COMPLAINT_ROUTES["lgpd"] + COMPLAINT_ROUTES["gdpr"]:
        assert route in page
    request.refresh_from_db()
    assert request.status == Status.AWAITING_VERIFICATION
    assert "The form is incomplete" in _messages(refused)[0]
    # when: with a reason and the text
    done = _action(
        dpo_client, request, "reject", reason="identity_not_verified", text="We could not confirm your identity."
    )
    # then
    request.refresh_from_db()
    assert request.status == Status.REJECTED
    assert request.rejection_reason == "identity_not_verified"
    assert request.summary["complaint_routes"] == COMPLAINT_ROUTES["gdpr"] + COMPLAINT_ROUTES["lgpd"]
    assert _messages(done) == ["The request is rejected; the answer names the complaint routes."]


def test_reject_manifestly_unfounded_is_refused_under_the_lgpd(dpo_client, make_request) -> None:
    # given
    request = make_request(regimes=("lgpd",))
    # when
    response = _action(
        dpo_client, request, "reject", reason="manifestly_unfounded", text="Asked forty times this month."
    )
    # then
    request.refresh_from_db()
    assert request.status == Status.AWAITING_VERIFICATION
    assert "Not available under the LGPD" in _messages(response)[0]


def test_extend_is_refused_for_an_lgpd_request(dpo_client, make_request) -> None:
    # given
    request = make_request(regimes=("lgpd",))
    due_at = request.due_at
    # when
    response = _action(dpo_client, request, "extend", reason="Many sources to search by hand.")
    # then
    request.refresh_from_db()
    assert request.due_at == due_at
    assert request.extension_notified_at is None
    assert _messages(response) == ["Only the GDPR allows an extension. (regimes: The LGPD has none.)"]


def test_extend_a_gdpr_request(dpo_client, make_request) -> None:
    # given
    request = make_request(regimes=("gdpr",))
    due_at = request.due_at
    # when
    response = _action(dpo_client, request, "extend", reason="Many sources to search by hand.")
    # then
    request.refresh_from_db()
    assert request.due_at > due_at
    assert request.extension_notified_at is not None
    assert request.extension_reason == "Many sources to search by hand."
    assert _messages(response)[0].startswith("The due date is extended to ")


def test_retry_a_failed_task(dpo_client, make_request) -> None:
    # given
    request = make_request(status=Status.IN_PROGRESS)
    source = DataSource.objects.create(code="crm", name="CRM", kind="manual")
    task = RequestTask.objects.create(
        request=request, source=source, operation="export", status="failed", error="crm: HTTP 503"
    )
    page = dpo_client.get(reverse("console:request", args=[request.protocol])).content.decode()
    # when
    response = _action(dpo_client, request, "retry", task_id=str(task.pk))
    # then
    assert 'name="retry-task_id"' in page
    task.refresh_from_db()
    assert task.status == RequestTask.Status.PENDING
    assert task.error == ""
    assert _messages(response) == ["The task in CRM is queued again."]


def test_retry_refuses_a_task_of_another_request(dpo_client, make_request) -> None:
    # given
    mine, other = make_request(), make_request()
    source = DataSource.objects.create(code="crm", name="CRM", kind="manual")
    task = RequestTask.objects.create(request=other, source=source, operation="export", status="failed")
    # when
    response = _action(dpo_client, mine, "retry", task_id=str(task.pk))
    # then
    task.refresh_from_db()
    assert task.status == RequestTask.Status.FAILED
    assert _messages(response) == ["That task is not one of this request's."]


def test_cancel(dpo_client, make_request) -> None:
    # given
    request = make_request()
    # when
    _action(dpo_client, request, "cancel", note="withdrawn by the requester")
    # then
    request.refresh_from_db()
    assert request.status == Status.CANCELLED


def test_release_shows_the_download_token_once(dpo_client, make_request) -> None:
    # given
    request = make_request(status=Status.IN_REVIEW)
    ExportPackage.objects.create(request=request, manifest={}, signature="sig")
    # when
    response = _action(dpo_client, request, "release")
    # then
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = re.search(r'<code id="package-token">([^<]+)</code>', response.content.decode()).group(1)
    package = ExportPackage.objects.get(request=request)
    assert package.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    page = dpo_client.get(reverse("console:request", args=[request.protocol])).content.decode()
    assert token not in page


def test_actions_need_csrf(dpo, make_request) -> None:
    # given
    request = make_request()
    client = Client(enforce_csrf_checks=True)
    client.force_login(dpo)
    _second_factor(client, dpo)
    # when
    response = _action(client, request, "cancel", note="withdrawn by the requester")
    # then
    assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == Status.AWAITING_VERIFICATION


def test_actions_are_post_only(dpo_client, make_request) -> None:
    # given
    request = make_request()
    # when / then
    assert dpo_client.get(reverse("console:request-action", args=[request.protocol, "cancel"])).status_code == 405


def test_admin_index_links_the_console(dpo_client, settings) -> None:
    # when
    response = dpo_client.get(reverse("admin:index"))
    # then: unless the admin wants a second factor first (then it redirects, and the console still works)
    if response.status_code == 200:
        html = response.content.decode()
        assert reverse("console:dashboard") in html
        assert reverse("console:queue") in html


def test_staff_register_a_request_received_by_email_keeping_its_first_arrival(staff_client):
    from c360.access.roles import SUPPORT_AGENT

    client = staff_client(SUPPORT_AGENT)
    assert client.get("/console/queue/new/").status_code == 200
    arrived = "2026-11-20 14:30"
    response = client.post(
        "/console/queue/new/",
        {
            "request_type": "access",
            "regimes": ["lgpd"],
            "intake_channel": "email",
            "received_at": arrived,
            "identity_kind": "email",
            "identity_value": "Cliente.Antiga@Example.com",
            "requester_name": "Cliente Antiga",
            "contact_email": "cliente.antiga@example.com",
            "language": "pt-br",
            "details": "Quero uma cópia dos meus dados.",
        },
    )
    created = DataRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/console/queue/{created.protocol}/"
    assert created.intake_channel == "email"
    assert timezone.localtime(created.received_at).strftime("%Y-%m-%d %H:%M") == arrived
    assert created.status == DataRequest.Status.AWAITING_VERIFICATION


def test_a_bad_intake_is_refused_with_field_errors_and_nothing_is_created(staff_client):
    from c360.access.roles import SUPPORT_AGENT

    client = staff_client(SUPPORT_AGENT)
    response = client.post(
        "/console/queue/new/",
        {
            "request_type": "access",
            "regimes": ["lgpd"],
            "intake_channel": "email",
            "received_at": "2026-11-20 14:30",
            "identity_kind": "cpf",
            "identity_value": "111.111.111-12",
            "language": "pt-br",
        },
    )
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert not DataRequest.objects.exists()


def test_an_auditor_cannot_register_a_request(staff_client):
    from c360.access.roles import AUDITOR

    assert staff_client(AUDITOR).get("/console/queue/new/").status_code == 403
