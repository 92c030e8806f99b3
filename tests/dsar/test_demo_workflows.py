"""load_demo_workflows: the consent ledger and DSAR requests on top of generate_demo, loaded once."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.core.management import call_command

from consent.models import ConsentEvent, ConsentState, DoubleOptIn, Notice, NoticeVersion, Purpose, Suppression
from consent.selectors import ledger_verify
from dsar.models import DataRequest, DataSource, ExportPackage, RequestEvent, RequestTask
from profiles.models import Subject, SubjectAccess

pytestmark = pytest.mark.django_db(transaction=True)

COUNTED = (
    Purpose,
    Notice,
    NoticeVersion,
    ConsentEvent,
    ConsentState,
    DoubleOptIn,
    Suppression,
    DataSource,
    DataRequest,
    RequestEvent,
    RequestTask,
    ExportPackage,
    SubjectAccess,
)


def counts():
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_it_loads_the_consent_ledger_and_the_dsar_workflow_once(tmp_path, settings):
    # given: the demo people
    settings.C360_FILES_DIR = tmp_path / "files"
    call_command("generate_demo", "--subjects", "120", "--output", str(tmp_path / "demo"), stdout=io.StringIO())
    people = Subject.objects.exclude(status=Subject.Status.MERGED).count()

    # when
    first = io.StringIO()
    call_command("load_demo_workflows", stdout=first)
    after_first = counts()

    # then: the catalogue
    assert set(Purpose.objects.filter(is_active=True).values_list("code", flat=True)) == {
        "marketing.newsletter",
        "marketing.offers",
        "marketing.postal",
        "partners.share",
        "service.notices",
    }
    assert Purpose.objects.get(code="marketing.postal").lia_reference
    assert Purpose.objects.get(code="partners.share").sale_or_share is True
    assert all(set(purpose.names) == {"pt-br", "en", "es"} for purpose in Purpose.objects.all())
    notice = Notice.objects.get(code="privacy")
    assert notice.purposes.count() == 5
    assert sorted(notice.versions.values_list("version", "language")) == [
        (version, language) for version in (1, 2) for language in ("en", "es", "pt-br")
    ]
    # a consent history for about 60% of the people, with every kind of event, on intact chains
    with_history = ConsentEvent.objects.filter(subject__isnull=False).values("subject_id").distinct().count()
    assert 0.4 * people <= with_history <= 0.8 * people
    actions = Counter(ConsentEvent.objects.values_list("action", flat=True))
    methods = Counter(ConsentEvent.objects.values_list("method", flat=True))
    assert actions["grant"] > actions["withdraw"] > 0
    assert actions["deny"] > 0
    assert actions["object"] > 0
    assert methods["import"] > 0
    assert methods["gpc"] > 0
    assert methods["double_opt_in"] == 2
    assert not ConsentEvent.objects.filter(action="grant", method="form_checkbox", notice_version__isnull=True).exists()
    assert (DoubleOptIn.objects.count(), DoubleOptIn.objects.filter(confirmed_at__isnull=False).count()) == (3, 2)
    report = ledger_verify()
    assert report.broken == []
    # the sources, the HTTP one described but never called
    assert dict(DataSource.objects.values_list("code", "is_active")) == {
        "c360": True,
        "contratos-papel": True,
        "helpdesk": False,
    }
    # requests in every state, run against c360's store, the paper archive waiting for a person
    assert Counter(DataRequest.objects.values_list("status", flat=True)) == {
        "completed": 1,
        "in_progress": 4,
        "awaiting_verification": 1,
        "rejected": 1,
    }
    assert Counter(RequestTask.objects.values_list("source__code", "status")) == {
        ("c360", "done"): 5,
        ("contratos-papel", "done"): 1,
        ("contratos-papel", "waiting"): 4,
    }
    assert not RequestTask.objects.filter(source__code="helpdesk").exists()
    assert ExportPackage.objects.count() == 1
    extended = DataRequest.objects.get(extension_notified_at__isnull=False)
    assert extended.regimes == ["gdpr"]
    assert DataRequest.objects.get(status="rejected").rejection_reason == "identity_not_verified"
    # One person erased: with the subjects merged into them over time, if any (erasure takes them along).
    erased = Subject.objects.filter(status=Subject.Status.ERASED)
    assert erased.filter(merged_into__isnull=True).count() == 1
    assert all(subject.merged_into_id in {None, *erased.values_list("id", flat=True)} for subject in erased)
    assert Subject.objects.filter(status=Subject.Status.RESTRICTED).count() == 1
    assert len(first.getvalue().splitlines()) == 5

    # when: run again
    second = io.StringIO()
    call_command("load_demo_workflows", stdout=second)

    # then: nothing is added, nobody is revealed again
    assert counts() == after_first
    again = second.getvalue()
    assert "5 purposes (0 new), notice 'privacy' in 6 versions (0 new)" in again
    assert f"{with_history:,} people with a consent history (0 new)" in again
    assert "3 newsletter sign-ups, 2 confirmed" in again
    assert "(http, inactive); 0 new." in again
    assert "DSAR requests: 7 (0 new)" in again
