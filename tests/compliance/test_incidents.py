from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from c360.compliance.models import Incident
from c360.compliance.selectors import incidents_clocks_due
from c360.compliance.services import incident_checklist_tick, incident_notification_record, incident_save
from c360.lib.errors import ValidationFailed
from dsar.calendars import brazil_calendar
from dsar.deadlines import end_of_day

from .conftest import DPO

pytestmark = pytest.mark.django_db

SP = ZoneInfo("America/Sao_Paulo")


def new_incident(aware_at, **overrides):
    values = {
        "title": "Leaked export bucket",
        "description": "A misconfigured bucket exposed an export.",
        "detected_at": aware_at - dt.timedelta(hours=2),
        "aware_at": aware_at,
        "regimes": ["lgpd", "gdpr"],
        "data_categories": ["contact"],
        "subjects_affected": 120,
        "children_affected": 3,
        "risk": "relevant",
        "risk_reasoning": "Contact data of children (Res. 15/2024 art. 5).",
    }
    values.update(overrides)
    return incident_save(incident=Incident(**values), actor=DPO)


def test_the_gdpr_clock_is_exactly_72_hours_after_awareness():
    aware = dt.datetime(2026, 11, 19, 16, 45, 30, tzinfo=dt.UTC)

    incident = new_incident(aware)

    assert incident.gdpr_authority_due_at == aware + dt.timedelta(hours=72)
    assert incident.deadlines["gdpr_authority"]["hours"] == 72


def test_the_anpd_clock_skips_consciencia_negra_and_the_weekend():
    # given awareness on Thursday 2026-11-19; Friday 2026-11-20 is a national holiday (Lei 14.759/2023)
    calendar = brazil_calendar()
    assert calendar.holiday_name(dt.date(2026, 11, 20))
    aware = dt.datetime(2026, 11, 19, 10, 0, tzinfo=SP)

    # when
    incident = new_incident(aware)

    # then: Mon 23, Tue 24, Wed 25
    assert incident.anpd_authority_due_at == end_of_day(dt.date(2026, 11, 25), "America/Sao_Paulo")
    assert incident.anpd_subjects_due_at == incident.anpd_authority_due_at
    assert incident.deadlines["anpd_authority"]["business_days"] == 3
    assert incident.anpd_supplement_due_at is None


def test_the_anpd_clock_skips_tiradentes_and_is_doubled_for_small_agents():
    # given awareness on Friday 2026-04-17; Tuesday 2026-04-21 is Tiradentes (LEGAL.md O-3)
    aware = dt.datetime(2026, 4, 17, 9, 0, tzinfo=SP)

    regular = new_incident(aware)
    small = new_incident(aware, title="Small agent case", small_agent=True)

    assert regular.anpd_authority_due_at.astimezone(SP).date() == dt.date(2026, 4, 23)
    assert small.anpd_authority_due_at.astimezone(SP).date() == dt.date(2026, 4, 28)
    assert small.deadlines["anpd_authority"]["business_days"] == 6
    # the GDPR clock is not doubled
    assert small.gdpr_authority_due_at == regular.gdpr_authority_due_at


def test_only_the_clocks_of_the_incidents_regimes_are_set():
    incident = new_incident(dt.datetime(2026, 11, 19, 10, 0, tzinfo=SP), regimes=["gdpr"])

    assert incident.gdpr_authority_due_at is not None
    assert incident.anpd_authority_due_at is None
    assert incident.anpd_subjects_due_at is None


def test_not_notifying_requires_reasons_and_nothing_is_saved():
    aware = dt.datetime(2026, 11, 19, 10, 0, tzinfo=SP)

    with pytest.raises(ValidationFailed) as excinfo:
        new_incident(aware, risk="low", notify_authority=False, notify_subjects=False)

    assert list(excinfo.value.errors) == ["decision_reasons"]
    assert not Incident.objects.exists()


def test_an_incident_not_notified_is_kept_with_its_reasons_for_five_years():
    aware = dt.datetime(2026, 11, 19, 10, 0, tzinfo=SP)

    incident = new_incident(
        aware,
        risk="none",
        risk_reasoning="Encrypted data; the key was not exposed.",
        notify_authority=False,
        notify_subjects=False,
        decision_reasons="Unintelligible data (LGPD Art. 48 §3; GDPR Art. 34(3)(a)).",
    )

    assert incident.retain_until.year == incident.created_at.year + 5
    assert incident.clocks(aware + dt.timedelta(days=30)) == []


def test_counts_of_children_cannot_exceed_the_subjects():
    with pytest.raises(ValidationFailed) as excinfo:
        new_incident(dt.datetime(2026, 11, 19, 10, 0, tzinfo=SP), subjects_affected=2, children_affected=3)

    assert "children_affected" in excinfo.value.errors


def test_a_partial_anpd_notice_starts_the_20_business_day_supplement_clock_and_stops_its_own():
    # given
    aware = dt.datetime(2026, 11, 19, 10, 0, tzinfo=SP)
    incident = new_incident(aware, notify_authority=True, notify_subjects=True)
    sent = dt.datetime(2026, 11, 23, 11, 0, tzinfo=SP)

    # when
    incident_notification_record(
        incident_id=incident.pk, recipient="anpd", sent_at=sent, actor=DPO, reference="ANPD-123", partial=True
    )

    # then
    incident.refresh_from_db()
    assert incident.status == "notified"
    assert incident.anpd_notified_at == sent
    expected = brazil_calendar().add_business_days(dt.date(2026, 11, 23), 20)
    assert incident.anpd_supplement_due_at == end_of_day(expected, "America/Sao_Paulo")
    outcomes = {clock["clock"]: clock["outcome"] for clock in incident.clocks(sent)}
    assert outcomes == {
        "gdpr_authority": "missed",  # 72 h ran out on Sunday 22 and the EU SA was not notified
        "anpd_authority": "met",
        "anpd_subjects": "running",
        "anpd_supplement": "running",
    }


def test_the_selector_lists_incidents_whose_clocks_run_out_within_24_hours_or_are_overdue():
    # given
    aware = dt.datetime(2026, 11, 19, 10, 0, tzinfo=SP)
    soon = new_incident(aware, regimes=["gdpr"])
    later = new_incident(aware + dt.timedelta(days=2), title="Later", regimes=["gdpr"])
    notified = new_incident(aware, title="Notified", regimes=["gdpr"])
    incident_notification_record(
        incident_id=notified.pk, recipient="eu_sa", sent_at=aware + dt.timedelta(hours=5), actor=DPO
    )
    decided_not = new_incident(
        aware, title="No risk", regimes=["gdpr"], notify_authority=False, decision_reasons="Unlikely risk."
    )

    # when: 50 hours in, the first clock runs out in 22 hours
    due = incidents_clocks_due(now=aware + dt.timedelta(hours=50))
    overdue = incidents_clocks_due(now=aware + dt.timedelta(hours=80))

    # then
    assert [incident.pk for incident in due] == [soon.pk]
    assert [incident.pk for incident in overdue] == [soon.pk]
    assert later.pk not in {i.pk for i in overdue}
    assert decided_not.pk not in {i.pk for i in overdue}
    assert soon.clocks(aware + dt.timedelta(hours=80))[0]["outcome"] == "missed"


def test_checklist_items_are_ticked_with_who_and_when():
    incident = new_incident(dt.datetime(2026, 11, 19, 10, 0, tzinfo=SP))

    incident_checklist_tick(incident_id=incident.pk, item="gdpr_33_3_a", actor=DPO)

    incident.refresh_from_db()
    entry = incident.checklist["gdpr_33_3_a"]
    assert entry["done"] is True
    assert entry["by"] == str(DPO)
    assert entry["at"]
    with pytest.raises(ValidationFailed):
        incident_checklist_tick(incident_id=incident.pk, item="nope", actor=DPO)
