"""load_demo_registers: the DPO's registers on top of the demo catalogue, loaded once, only in demo mode."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from c360.compliance.models import (
    CHECKLIST_ITEMS,
    Incident,
    IncidentNotification,
    InternationalTransfer,
    LegalHold,
    ProcessingActivity,
    RetentionRule,
    RetentionRun,
)
from c360.compliance.selectors import activity_missing_fields

pytestmark = pytest.mark.django_db(transaction=True)

COUNTED = (
    ProcessingActivity,
    InternationalTransfer,
    Incident,
    IncidentNotification,
    RetentionRule,
    LegalHold,
    RetentionRun,
)


def counts():
    return {model.__name__: model.objects.count() for model in COUNTED}


@pytest.fixture
def demo(tmp_path, settings):
    settings.C360_DEMO = True
    settings.C360_FILES_DIR = tmp_path / "files"
    call_command("generate_demo", "--subjects", "60", "--output", str(tmp_path / "demo"), stdout=io.StringIO())
    call_command("load_demo_workflows", stdout=io.StringIO())


def test_it_loads_the_registers_once(demo):
    # when
    first = io.StringIO()
    call_command("load_demo_registers", stdout=first)
    after_first = counts()

    # then: the record of processing activities, all complete but the one draft
    activities = list(ProcessingActivity.objects.prefetch_related("purposes", "data_sources"))
    assert len(activities) == 5
    incomplete = [activity for activity in activities if activity_missing_fields(activity)]
    assert [activity.status for activity in incomplete] == [ProcessingActivity.Status.DRAFT]
    assert [item["field"] for item in activity_missing_fields(incomplete[0])] == ["security_measures"]
    assert all(
        activity.status == ProcessingActivity.Status.ACTIVE for activity in activities if activity not in incomplete
    )
    assert all(activity.purposes.exists() and activity.data_sources.exists() for activity in activities)
    assert {code for activity in activities for code in activity.purposes.values_list("code", flat=True)} >= {
        "marketing.newsletter",
        "marketing.postal",
        "partners.share",
        "service.notices",
    }
    postal = ProcessingActivity.objects.get(purposes__code="marketing.postal")
    assert postal.lia_reference.startswith("LIA-")
    orders = ProcessingActivity.objects.get(name="Pedidos do e-commerce e faturamento")
    assert orders.retention_days == 5 * 365
    assert "CTN" in orders.retention_text

    # then: the transfer, with its safeguard document
    transfer = InternationalTransfer.objects.get()
    assert (transfer.country, transfer.mechanism) == ("US", InternationalTransfer.Mechanism.SCCS)
    assert transfer.safeguard_reference

    # then: a closed incident notified to the ANPD in time, and a recent one with its clocks running
    closed = Incident.objects.get(status=Incident.Status.CLOSED)
    assert closed.anpd_notified_at is not None
    assert closed.anpd_authority_due_at is not None
    assert closed.anpd_notified_at <= closed.anpd_authority_due_at
    assert {clock["outcome"] for clock in closed.clocks()} == {"met"}
    recent = Incident.objects.get(status=Incident.Status.OPEN)
    assert recent.risk == Incident.Risk.RELEVANT
    assert {clock["clock"]: clock["outcome"] for clock in recent.clocks()} == {
        "gdpr_authority": "running",
        "anpd_authority": "running",
        "anpd_subjects": "running",
    }
    ticked = [item for item, entry in recent.checklist.items() if entry["done"]]
    assert len(ticked) == len(CHECKLIST_ITEMS) // 2

    # then: the rules, the hold and one dry run
    rules = RetentionRule.objects.filter(is_active=True)
    assert {(rule.target, rule.action, rule.period_days) for rule in rules} == {
        (RetentionRule.Target.INACTIVE_SUBJECTS, RetentionRule.Action.ERASE, 5 * 365),
        (RetentionRule.Target.CLOSED_REQUESTS, RetentionRule.Action.SHRED_REQUEST_PII, 5 * 365),
    }
    hold = LegalHold.objects.get()
    assert (hold.scope, hold.data_category, hold.review_at is not None) == ("data_category", "invoices", True)
    assert hold.in_force()
    run = RetentionRun.objects.get()
    assert run.dry_run is True
    assert run.finished_at is not None
    assert set(run.results) == {str(rule.pk) for rule in rules}
    assert run.total_purged == 0
    assert "new row(s)" in first.getvalue()

    # when: again
    second = io.StringIO()
    call_command("load_demo_registers", stdout=second)

    # then: nothing new, and it says so
    assert counts() == after_first
    assert "Nothing new" in second.getvalue()


def test_it_refuses_outside_demo_mode(db, settings):
    settings.C360_DEMO = False
    settings.DEBUG = False

    with pytest.raises(CommandError, match="C360_DEMO"):
        call_command("load_demo_registers", stdout=io.StringIO())

    assert counts() == dict.fromkeys(counts(), 0)
