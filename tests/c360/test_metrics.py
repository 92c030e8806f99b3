"""/metrics: the Prometheus exposition, who may read it, and that it carries counts, never personal data."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone
from prometheus_client import REGISTRY

from c360.lib.history import Actor
from consent.models import Notice, NoticeVersion, Purpose
from consent.services.events import EventInput, consent_record
from dsar.models import DataRequest, DataSource, RequestTask
from dsar.services.requests import request_create
from profiles.services.subjects import IdentifierInput, subject_create
from tests.factories import SubjectFactory

pytestmark = pytest.mark.django_db

DPO = Actor.system("metrics-tests")


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client, **headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return response.content.decode()


def check_body(email):
    return {"recipient": {"email": email}, "purpose": "marketing.newsletter", "channel": "email"}


def new_request(email="ana.souza@example.com.br"):
    return request_create(
        request_type="access",
        regimes=("lgpd",),
        intake_channel="portal",
        identities=[{"kind": "email", "value": email}],
        contact_email=email,
        requester_name="Ana Souza",
        actor=DPO,
    )


def test_requests_are_timed_by_route_name_never_by_path(client):
    before = sample("c360_http_request_duration_seconds_count", view="healthz", method="GET", status="2xx")
    client.get("/healthz")
    client.get("/api/v1/subjects/0f5c3c1e-3d5e-4a55-9a0e-7d3b1b0c9a11/no-such-thing")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert 'c360_http_request_duration_seconds_bucket{le="0.005",method="GET",status="2xx",view="healthz"}' in body
    assert sample("c360_http_request_duration_seconds_count", view="healthz", method="GET", status="2xx") == before + 1
    assert 'view="unmatched"' in body
    assert "/healthz" not in body
    assert "0f5c3c1e" not in body


@override_settings(C360_METRICS_TOKEN="s3cret-metrics-token")
def test_with_a_token_set_a_scrape_needs_it(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-metrics-token").status_code == 401

    assert "c360_http_request_duration_seconds" in scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")


def test_without_a_token_only_loopback_may_scrape(client):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.post("/metrics").status_code == 405


@pytest.fixture
def maria():
    subject = subject_create(actor=DPO, source="tests", identifiers=[IdentifierInput("email", "maria@example.com")])
    purpose = Purpose.objects.create(
        code="marketing.newsletter",
        names={"pt-br": "Newsletter", "en": "Newsletter"},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email"],
        direct_marketing=True,
        is_active=True,
    )
    notice = Notice.objects.create(code="privacy", title="Aviso")
    notice.purposes.add(purpose)
    version = NoticeVersion.objects.create(notice=notice, version=1, language="pt-br", text="Usamos seu e-mail.")
    event = EventInput(
        purpose_code="marketing.newsletter",
        channel="email",
        action="grant",
        method="form_checkbox",
        subject_id=subject.id,
        notice_version_id=version.pk,
    )
    consent_record(event=event, actor=DPO)
    return subject


def test_consent_checks_are_counted_by_decision_and_reason(client, api_key_client, maria):
    checker = api_key_client("consent:check")
    denied = {"decision": "denied", "reason": "UNKNOWN_RECIPIENT"}
    allowed = {"decision": "allowed", "reason": "GRANTED"}
    before = sample("c360_consent_checks_total", **denied), sample("c360_consent_checks_total", **allowed)

    answer = checker.post(
        "/api/v1/consent/check",
        check_body("nobody@example.com"),
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["allowed"] is False
    assert checker.post("/api/v1/consent/check", check_body("maria@example.com"), format="json").json()["allowed"]
    bulk = checker.post(
        "/api/v1/consent/check/bulk",
        {
            "purpose": "marketing.newsletter",
            "channel": "email",
            "recipients": [{"email": "a@example.com"}, {"email": "maria@example.com"}, {"email": "not an email"}],
        },
        format="json",
    )
    assert bulk.status_code == 200
    b"".join(bulk.streaming_content)  # the bulk answer counts as it streams

    assert sample("c360_consent_checks_total", **denied) == before[0] + 2  # the unreadable one is not a decision
    assert sample("c360_consent_checks_total", **allowed) == before[1] + 2
    body = scrape(client)
    assert 'c360_consent_checks_total{decision="denied",reason="UNKNOWN_RECIPIENT"}' in body
    assert 'c360_consent_checks_total{decision="allowed",reason="GRANTED"}' in body
    assert "example.com" not in body


def test_dsar_gauges_count_tasks_open_and_overdue_requests(client):
    store = DataSource.objects.create(code="c360", name="c360 profiles", kind="c360")
    crm = DataSource.objects.create(code="crm", name="CRM", kind="manual")
    current, late = new_request(), new_request()
    DataRequest.objects.filter(pk=late.pk).update(due_at=timezone.now() - dt.timedelta(days=1))
    DataRequest.objects.filter(pk=current.pk).update(status=DataRequest.Status.IN_PROGRESS)
    RequestTask.objects.create(request=current, source=store, operation="export", status="done")
    RequestTask.objects.create(request=current, source=crm, operation="export", status="waiting")
    RequestTask.objects.create(request=late, source=crm, operation="export", status="waiting")
    closed = new_request()
    DataRequest.objects.filter(pk=closed.pk).update(
        status=DataRequest.Status.COMPLETED, due_at=timezone.now() - dt.timedelta(days=9)
    )

    body = scrape(client)

    assert 'c360_dsar_tasks{source="c360",status="done"} 1.0' in body
    assert 'c360_dsar_tasks{source="crm",status="waiting"} 2.0' in body
    assert "c360_dsar_requests_open 2.0" in body
    assert "c360_dsar_requests_overdue 1.0" in body


def test_the_exposition_carries_no_personal_data(client):
    person = SubjectFactory()
    request = new_request(email=person.person.email)
    source = DataSource.objects.create(code="c360", name="c360 profiles", kind="c360")
    RequestTask.objects.create(request=request, source=source, operation="export")
    client.get("/healthz")

    body = scrape(client)

    assert "c360_dsar_requests_open 1.0" in body
    for value in (person.person.email, person.person.cpf, request.protocol, str(request.pk), str(person.pk)):
        assert value not in body
    digits = "".join(ch for ch in person.person.cpf if ch.isdigit())
    assert digits not in body
