from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from c360.compliance.models import LegalHold, RetentionRule, RetentionRun
from c360.compliance.services import legal_hold_release, legal_hold_save, retention_rule_save, retention_run
from c360.compliance.tasks import retention_run_task
from c360.lib.errors import ValidationFailed
from consent.services.events import EventInput, consent_record
from dsar.models import DataRequest, DataSource, RequestEvent, RequestKey
from dsar.services.requests import request_create, request_details
from profiles.models import Subject, SubjectKey
from tests.factories import SubjectFactory

from .conftest import DPO

pytestmark = pytest.mark.django_db

LONG_AGO = dt.timedelta(days=800)


def subjects_rule(**overrides):
    values = {
        "name": "Inactive customers: 2 years",
        "target": "inactive_subjects",
        "period_days": 730,
        "action": "erase",
        "is_active": True,
        "legal_basis": "No purpose left after 2 years without activity (LGPD Art. 15 I).",
    }
    values.update(overrides)
    return retention_rule_save(rule=RetentionRule(**values), actor=DPO)


def requests_rule(**overrides):
    values = {
        "name": "Closed requests: 5 years",
        "target": "closed_requests",
        "period_days": 1825,
        "action": "shred_request_pii",
        "is_active": True,
        "legal_basis": "Proof of the answer for the limitation period (CDC art. 27).",
    }
    values.update(overrides)
    return retention_rule_save(rule=RetentionRule(**values), actor=DPO)


def inactive_subject():
    subject = SubjectFactory()
    Subject.objects.filter(pk=subject.pk).update(updated_at=timezone.now() - LONG_AGO)
    return subject


def hold_subject(subject):
    return legal_hold_save(
        hold=LegalHold(scope="subject", subject_id=subject.pk, reason="Lawsuit 123", authority="Legal team"),
        actor=DPO,
    )


def status_of(subject):
    return Subject.objects.get(pk=subject.pk).status


def new_request(subject=None, **extra):
    return request_create(
        request_type="access",
        regimes=["lgpd"],
        intake_channel="portal",
        identities=[{"kind": "email", "value": "ana.souza@example.com.br"}],
        requester_name="Ana Souza",
        actor=DPO,
        subject_id=subject.pk if subject else None,
        details={"note": "please send everything"},
        **extra,
    )


def test_a_rule_action_must_fit_its_target():
    with pytest.raises(ValidationFailed) as excinfo:
        subjects_rule(action="shred_request_pii")

    assert "action" in excinfo.value.errors
    assert not RetentionRule.objects.exists()


def test_a_dry_run_reports_and_changes_nothing():
    # given
    rule = subjects_rule()
    old = inactive_subject()
    recent = SubjectFactory()

    # when
    run = retention_run(dry_run=True, actor=DPO)

    # then
    result = run.results[str(rule.pk)]
    assert result["eligible"] == 1
    assert result["would_purge"] == 1
    assert result["purged"] == 0
    assert result["ids"] == [str(old.pk)]
    assert status_of(old) == status_of(recent) == "active"
    assert SubjectKey.objects.get(pk=old.pk).wrapped_dek is not None
    assert run.dry_run is True
    assert run.finished_at is not None


def test_acting_erases_only_the_eligible_subject(newsletter, notice):
    # given an inactive subject, a held one, one with a live consent and one with an open request
    rule = subjects_rule()
    eligible = inactive_subject()
    held = inactive_subject()
    hold_subject(held)
    consenting = inactive_subject()
    consent_record(
        event=EventInput(
            purpose_code="marketing.newsletter",
            channel="email",
            action="grant",
            method="form_checkbox",
            subject_id=consenting.pk,
            notice_version_id=notice.pk,
        ),
        actor=DPO,
    )
    Subject.objects.filter(pk=consenting.pk).update(updated_at=timezone.now() - LONG_AGO)
    requesting = inactive_subject()
    new_request(requesting)
    Subject.objects.filter(pk=requesting.pk).update(updated_at=timezone.now() - LONG_AGO)

    # when
    run = retention_run(dry_run=False, actor=DPO)

    # then
    result = run.results[str(rule.pk)]
    assert result["ids"] == [str(eligible.pk)]
    assert result["purged"] == 1
    assert result["held_ids"] == [str(held.pk)]
    assert result["held"] == 1
    assert status_of(eligible) == "erased"
    assert SubjectKey.objects.get(pk=eligible.pk).wrapped_dek is None  # crypto-shredded
    assert status_of(held) == status_of(consenting) == status_of(requesting) == "active"
    assert Subject.history.filter(id=eligible.pk, history_actor=str(DPO)).exists()


def test_a_released_hold_no_longer_protects_the_subject():
    subjects_rule()
    subject = inactive_subject()
    hold = hold_subject(subject)
    legal_hold_release(hold_id=hold.pk, actor=DPO)

    retention_run(dry_run=False, actor=DPO)

    assert status_of(subject) == "erased"


def test_a_hold_on_a_data_category_suspends_the_whole_rule(newsletter):
    rule = subjects_rule(purpose=newsletter)
    subject = inactive_subject()
    legal_hold_save(
        hold=LegalHold(scope="data_category", data_category="contact", reason="ANPD inquiry", authority="ANPD"),
        actor=DPO,
    )

    run = retention_run(dry_run=False, actor=DPO)

    assert run.results[str(rule.pk)]["held"] == 1
    assert run.results[str(rule.pk)]["purged"] == 0
    assert status_of(subject) == "active"


def test_a_hold_needs_what_it_applies_to():
    source = DataSource.objects.create(code="c360", name="c360", kind="c360")
    with pytest.raises(ValidationFailed) as excinfo:
        legal_hold_save(hold=LegalHold(scope="subject", reason="x", authority="y"), actor=DPO)
    assert "subject_id" in excinfo.value.errors

    hold = legal_hold_save(
        hold=LegalHold(scope="data_source", data_source=source, reason="Audit", authority="Internal audit"),
        actor=DPO,
    )
    assert hold.in_force()


def test_request_personal_data_is_shredded_after_its_period_and_the_register_row_stays():
    # given a request closed six years ago and one closed last month
    rule = requests_rule()
    old = new_request()
    recent = new_request()
    now = timezone.now()
    DataRequest.objects.filter(pk=old.pk).update(status="completed", completed_at=now - dt.timedelta(days=6 * 365))
    DataRequest.objects.filter(pk=recent.pk).update(status="completed", completed_at=now - dt.timedelta(days=30))

    # when
    run = retention_run(dry_run=False, actor=DPO)

    # then
    assert run.results[str(rule.pk)]["ids"] == [str(old.pk)]
    kept = DataRequest.objects.get(pk=old.pk)
    assert kept.status == "completed"
    assert kept.protocol == old.protocol
    assert RequestKey.objects.get(pk=old.pk).wrapped_dek is None
    assert RequestEvent.objects.filter(request=old, kind="retention").exists()
    assert request_details(DataRequest.objects.get(pk=recent.pk)) == {"note": "please send everything"}
    # a second run finds nothing left to shred
    assert retention_run(dry_run=False, actor=DPO).results[str(rule.pk)]["eligible"] == 0


def test_a_held_subjects_requests_are_not_shredded():
    rule = requests_rule()
    subject = SubjectFactory()
    hold_subject(subject)
    request = new_request(subject)
    DataRequest.objects.filter(pk=request.pk).update(
        status="completed", completed_at=timezone.now() - dt.timedelta(days=6 * 365)
    )

    run = retention_run(dry_run=False, actor=DPO)

    assert run.results[str(rule.pk)]["held_ids"] == [str(request.pk)]
    assert RequestKey.objects.get(pk=request.pk).wrapped_dek is not None


def test_the_task_only_reports_when_acting_is_off(settings):
    # given
    settings.C360_RETENTION_ACT = False
    subjects_rule()
    subject = inactive_subject()

    # when
    report = retention_run_task.delay().get()

    # then
    assert report["would_purge"] == 1
    assert "run_id" not in report
    assert list(RetentionRun.objects.values_list("dry_run", flat=True)) == [True]
    assert status_of(subject) == "active"


def test_the_task_records_a_dry_run_then_acts_when_acting_is_on(settings):
    settings.C360_RETENTION_ACT = True
    subjects_rule()
    subject = inactive_subject()

    report = retention_run_task.delay().get()

    assert report["purged"] == 1
    assert sorted(RetentionRun.objects.values_list("dry_run", flat=True)) == [False, True]
    assert status_of(subject) == "erased"
