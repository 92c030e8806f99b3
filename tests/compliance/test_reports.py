from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from c360.compliance.exports import report_html, report_pdf
from c360.compliance.models import Incident
from c360.compliance.services import incident_notification_record, incident_save, monthly_report_build
from consent.models import LedgerCheckpoint
from consent.services.events import EventInput, consent_record
from dsar.models import DataRequest
from dsar.services.requests import request_create
from tests.factories import SubjectFactory

from .conftest import DPO

pytestmark = pytest.mark.django_db

SP = ZoneInfo("America/Sao_Paulo")


def at(day, hour=10):
    return dt.datetime(2026, 10, day, hour, 0, tzinfo=SP)


def request(kind, regimes, received, due=None, completed=None):
    created = request_create(
        request_type=kind,
        regimes=regimes,
        intake_channel="email",
        identities=[{"kind": "email", "value": "ana@example.com.br"}],
        actor=DPO,
        received_at=received,
    )
    changes = {}
    if due:
        changes["due_at"] = due
    if completed:
        changes.update(status="completed", completed_at=completed)
    DataRequest.objects.filter(pk=created.pk).update(**changes)
    return created


@pytest.fixture
def october():
    request("access", ["lgpd"], at(1), due=at(16), completed=at(10))  # on time, 9 days
    request("erasure", ["lgpd", "gdpr"], at(2), due=at(17), completed=at(20))  # late, 18 days
    request("access", ["gdpr"], at(5), due=at(30), completed=at(8))  # on time, 3 days
    request("access", ["lgpd"], at(20))  # still open
    request("access", ["lgpd"], dt.datetime(2026, 9, 30, 10, tzinfo=SP))  # another month
    incident = incident_save(
        incident=Incident(
            title="Lost laptop",
            detected_at=at(5, 8),
            aware_at=at(5, 9),
            regimes=["gdpr"],
            risk="relevant",
            risk_reasoning="Unencrypted disk.",
        ),
        actor=DPO,
    )
    incident_notification_record(incident_id=incident.pk, recipient="eu_sa", sent_at=at(8, 12), actor=DPO)
    LedgerCheckpoint.objects.create(chains=4, events=10, heads_sha256="ab" * 32)
    return incident


def test_the_monthly_report_counts_requests_on_time_and_the_median(october):
    report = monthly_report_build(month=dt.date(2026, 10, 1))

    requests = report["requests"]
    assert report["month"] == "2026-10"
    assert (requests["received"], requests["closed"]) == (4, 3)
    assert (requests["closed_on_time"], requests["closed_late"]) == (2, 1)
    assert requests["median_days_to_close"] == 9.0
    assert requests["by_type_and_regime"] == [
        {"request_type": "access", "regime": "gdpr", "received": 1, "closed": 1, "on_time": 1, "late": 0},
        {"request_type": "access", "regime": "lgpd", "received": 2, "closed": 1, "on_time": 1, "late": 0},
        {"request_type": "erasure", "regime": "gdpr", "received": 1, "closed": 1, "on_time": 0, "late": 1},
        {"request_type": "erasure", "regime": "lgpd", "received": 1, "closed": 1, "on_time": 0, "late": 1},
    ]


def test_the_monthly_report_shows_incident_clocks_and_the_latest_checkpoint(october):
    report = monthly_report_build(month=dt.date(2026, 10, 1))

    (incident,) = report["incidents"]
    assert incident["id"] == october.pk
    assert [(c["clock"], c["outcome"]) for c in incident["clocks"]] == [("gdpr_authority", "missed")]
    assert report["ledger_checkpoint"]["chains"] == 4


def test_the_monthly_report_counts_consent_events_per_purpose_and_action(newsletter, notice):
    subject = SubjectFactory()
    for action in ("grant", "withdraw", "grant"):
        consent_record(
            event=EventInput(
                purpose_code="marketing.newsletter",
                channel="email",
                action=action,
                method="form_checkbox",
                subject_id=subject.pk,
                notice_version_id=notice.pk,
            ),
            actor=DPO,
        )

    consent = monthly_report_build(month=timezone.localdate())["consent"]

    assert consent["total"] == 3
    assert consent["actions"] == ["grant", "withdraw"]
    assert consent["by_purpose"] == [{"purpose": "marketing.newsletter", "counts": [2, 1]}]


def test_the_report_renders_as_html_and_pdf(october):
    report = monthly_report_build(month=dt.date(2026, 10, 1))

    html = report_html(report)
    pdf = report_pdf(report)

    assert "Compliance report &mdash; 2026-10" in html
    assert "Lost laptop" in html
    assert pdf.startswith(b"%PDF")


def test_the_management_command_writes_the_report(october, tmp_path):
    output = tmp_path / "report.pdf"

    call_command("compliance_report", "--month", "2026-10", "--format", "pdf", "--output", str(output))

    assert output.read_bytes().startswith(b"%PDF")
    html_output = tmp_path / "report.html"
    call_command("compliance_report", "--month", "2026-10", "--format", "html", "--output", str(html_output))
    assert "gdpr_authority: missed" in html_output.read_text()
