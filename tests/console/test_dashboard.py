"""The DPO's dashboard: who may see it, its numbers on a small fixture, and its fixed query count."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from c360.compliance.dashboard import consent_weekly, dashboard_get, sources_health
from consent.models import AudienceCheck, ConsentEvent, LedgerCheckpoint, Purpose
from dsar.models import DataRequest, DataSource, RequestTask
from tests.conftest import _second_factor

pytestmark = pytest.mark.django_db
Status = DataRequest.Status
# The page's bound: session and user (2), the user's permissions (2, once), the seven panels, and room for
# the admin's context (the messages in the session, the OTP device): independent of the data's size.
MAX_QUERIES = 14


def test_anonymous_is_sent_to_the_admin_login(client: Client) -> None:
    # when
    response = client.get(reverse("console:dashboard"))
    # then
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_the_permission_gets_403(django_user_model) -> None:
    # given
    user = django_user_model.objects.create_user(username="clerk", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    _second_factor(client, user)
    # when / then
    assert client.get(reverse("console:dashboard")).status_code == 403
    assert client.get(reverse("console:queue")).status_code == 403


def test_non_staff_with_the_permission_is_sent_to_login(django_user_model, dpo) -> None:
    # given: the permission alone is not enough, staff only
    dpo.is_staff = False
    dpo.save()
    client = Client()
    client.force_login(dpo)
    _second_factor(client, dpo)
    # when / then
    assert client.get(reverse("console:dashboard")).status_code == 302


def test_buckets_and_counts_by_type_and_state(dpo_client, make_request) -> None:
    # given: two overdue, one due soon, one on track, and a closed request (never counted)
    make_request("access", due_in=-2)
    make_request("erasure", due_in=-0.5, status=Status.IN_PROGRESS)
    make_request("erasure", due_in=2, status=Status.IN_REVIEW)
    make_request("access", due_in=10)
    make_request("access", due_in=-30, status=Status.COMPLETED)
    # when
    data = dashboard_get()
    response = dpo_client.get(reverse("console:dashboard"))
    # then
    assert data.buckets == {"overdue": 2, "due_soon": 1, "on_track": 1}
    assert {row["value"]: row["count"] for row in data.by_type} == {"access": 2, "erasure": 2}
    assert {row["value"]: row["count"] for row in data.by_status} == {
        "awaiting_verification": 2,
        "in_progress": 1,
        "in_review": 1,
    }
    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="{reverse("console:queue")}?bucket=overdue">Overdue</a></th><td>2</td>' in html
    assert "Due within 3 days</a></th><td>1</td>" in html


def _event(purpose: str, channel: str, action: str, at: dt.datetime, sequence: int) -> ConsentEvent:
    digest = hashlib.sha256(f"{purpose}{channel}{action}{at}{sequence}".encode()).hexdigest()
    return ConsentEvent.objects.create(
        chain=f"s:{uuid.uuid4()}",
        sequence=sequence,
        purpose_code=purpose,
        channel=channel,
        action=action,
        status="granted" if action == "grant" else "withdrawn",
        method="form_checkbox",
        actor_kind="subject",
        occurred_at=at,
        recorded_at=at + dt.timedelta(minutes=1),
        hash=digest,
    )


def test_weekly_consent_series_per_purpose_and_channel() -> None:
    # given: a Wednesday noon; events this week, two weeks ago, and 13 weeks ago (outside the window)
    now = dt.datetime(2026, 3, 18, 12, 0, tzinfo=timezone.get_current_timezone())
    this_week = dt.datetime(2026, 3, 16, 9, 0, tzinfo=timezone.get_current_timezone())
    _event("marketing.newsletter", "email", "grant", this_week, 1)
    _event("marketing.newsletter", "email", "grant", this_week + dt.timedelta(days=1), 1)
    _event("marketing.newsletter", "email", "withdraw", this_week, 2)
    _event("marketing.newsletter", "sms", "grant", this_week - dt.timedelta(weeks=2), 1)
    _event("partners.share", "email", "deny", this_week, 1)  # neither a grant nor a withdrawal
    _event("marketing.newsletter", "email", "grant", this_week - dt.timedelta(weeks=13), 1)
    # when
    series = consent_weekly(now=now)
    # then
    assert len(series.weeks) == 12
    assert series.weeks[-1] == dt.date(2026, 3, 16)
    assert series.weeks[0] == dt.date(2025, 12, 29)
    assert series.totals[-1] == {"week": dt.date(2026, 3, 16), "grant": 2, "withdraw": 1}
    assert series.totals[-3] == {"week": dt.date(2026, 3, 2), "grant": 1, "withdraw": 0}
    assert sum(item["grant"] for item in series.totals) == 3
    rows = {(row["purpose_code"], row["channel"]): row for row in series.rows}
    assert set(rows) == {("marketing.newsletter", "email"), ("marketing.newsletter", "sms")}
    assert rows[("marketing.newsletter", "email")]["cells"][-1] == (2, 1)
    assert rows[("marketing.newsletter", "sms")]["cells"][-3] == (1, 0)
    bars = [bar for bar in series.chart["bars"] if bar["value"]]
    assert len(bars) == 3
    assert series.chart["top"] == 2


def test_chart_has_a_text_alternative(dpo_client) -> None:
    # given
    _event("marketing.newsletter", "email", "grant", timezone.now() - dt.timedelta(hours=1), 1)
    # when
    html = dpo_client.get(reverse("console:dashboard")).content.decode()
    # then
    assert '<svg xmlns="http://www.w3.org/2000/svg" role="img"' in html
    assert '<title id="consent-chart-title">' in html
    assert '<desc id="consent-chart-desc">' in html
    assert 'id="consent-weeks"' in html
    assert "<script" not in html.split('id="content"')[1]  # no inline script under the console's CSP


def test_sources_last_success_and_recent_errors(make_request) -> None:
    # given
    now = timezone.now()
    crm = DataSource.objects.create(code="crm", name="CRM", kind="manual")
    DataSource.objects.create(code="shop", name="Shop", kind="manual")
    DataSource.objects.create(code="old", name="Old", kind="manual", is_active=False)
    first, second, third = make_request(), make_request(), make_request()
    RequestTask.objects.create(request=first, source=crm, operation="export", status="done", finished_at=now)
    RequestTask.objects.create(
        request=second,
        source=crm,
        operation="export",
        status="failed",
        error="crm: locate: HTTP 503",
        finished_at=now - dt.timedelta(days=1),
    )
    RequestTask.objects.create(
        request=third,
        source=crm,
        operation="export",
        status="failed",
        error="crm: locate: timeout",
        finished_at=now - dt.timedelta(days=9),  # outside the 7 days
    )
    # when
    sources = {source.code: source for source in sources_health(now=now)}
    # then
    assert set(sources) == {"crm", "shop"}
    assert sources["crm"].last_success_at == now
    assert sources["crm"].failed_recently == 1
    assert sources["crm"].last_error == "crm: locate: HTTP 503"
    assert sources["shop"].last_success_at is None
    assert sources["shop"].failed_recently is None
    assert sources["shop"].last_error is None


def test_audience_checks_and_checkpoint_are_shown(dpo_client) -> None:
    # given
    purpose = Purpose.objects.create(
        code="marketing.newsletter", lgpd_basis="art7_i", gdpr_basis="6_1_a", channels=["email"], is_active=True
    )
    check = AudienceCheck.objects.create(
        purpose=purpose,
        channel="email",
        status="done",
        requested_by="user:1",
        input_format="csv",
        total=10,
        allowed=7,
        denied=2,
        invalid=1,
        signature="sig",
    )
    LedgerCheckpoint.objects.create(chains=3, events=42, heads_sha256="a" * 64)
    # when
    html = dpo_client.get(reverse("console:dashboard")).content.decode()
    # then
    assert reverse("admin:consent_audiencecheck_change", args=[check.pk]) in html
    assert f"/api/v1/audience-checks/{check.pk}" in html
    assert "<td>10</td><td>7</td><td>2</td><td>1</td>" in html
    assert "3 chain(s), 42 event(s)" in html


def _fill(make_request, size: int) -> None:
    purpose = Purpose.objects.filter(code="p").first() or Purpose.objects.create(
        code="p", lgpd_basis="art7_i", gdpr_basis="6_1_a", channels=["email"], is_active=True
    )
    source = DataSource.objects.create(code=f"src{size}", name=f"Source {size}", kind="manual")
    now = timezone.now()
    for position in range(size):
        request = make_request(due_in=position - 2)
        RequestTask.objects.create(
            request=request, source=source, operation="export", status="failed", error="x", finished_at=now
        )
        _event("p", "email", "grant", now - dt.timedelta(days=position * 7), position + 1)
        AudienceCheck.objects.create(purpose=purpose, channel="email", requested_by="t", input_format="csv")
    LedgerCheckpoint.objects.create(chains=1, events=size, heads_sha256="b" * 64)


def test_dashboard_renders_in_a_fixed_number_of_queries(dpo_client, make_request, django_assert_max_num_queries):
    # given: small data, then five times as much
    _fill(make_request, 2)
    with django_assert_max_num_queries(MAX_QUERIES) as small:
        assert dpo_client.get(reverse("console:dashboard")).status_code == 200
    _fill(make_request, 10)
    # when
    with django_assert_max_num_queries(MAX_QUERIES) as large:
        assert dpo_client.get(reverse("console:dashboard")).status_code == 200
    # then: the same count, whatever the size
    assert len(large.captured_queries) == len(small.captured_queries)


def test_the_monthly_report_downloads_as_pdf_and_html(admin_client, dpo_client):
    # Requests alone are not enough: the report also tells incidents.
    assert dpo_client.get("/console/report/", {"month": "2026-10"}).status_code == 403
    pdf = admin_client.get("/console/report/", {"month": "2026-10"})
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert "2026-10" in pdf["Content-Disposition"]
    html = admin_client.get("/console/report/", {"month": "2026-10", "format": "html"})
    assert html.status_code == 200
    assert b"<html" in html.content.lower()
    assert admin_client.get("/console/report/", {"month": "October"}).status_code == 400
