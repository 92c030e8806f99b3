"""The request workflow on c360's own store and a manual source: states, audit, deadlines, answers."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from django.utils import timezone

from c360.lib.errors import Conflict, Gone, ValidationFailed
from c360.lib.history import Actor
from c360.lib.signing import verify
from consent.models import ConsentEvent, Notice, NoticeVersion, Purpose
from consent.selectors import Recipient, consent_check
from consent.services.events import EventInput, consent_record
from dsar.models import DataRequest, DataSource, RequestEvent, RequestTask
from dsar.services.execution import manual_task_complete
from dsar.services.packages import package_download, package_link_issue
from dsar.services.requests import (
    request_cancel,
    request_complete,
    request_create,
    request_extend,
    request_reject,
    request_verify,
)
from profiles.models import Subject
from profiles.services.subjects import IdentifierInput, subject_create

pytestmark = pytest.mark.django_db(transaction=True)

DPO = Actor.system("dpo-tests")
Status = DataRequest.Status


@pytest.fixture
def store():
    return DataSource.objects.create(
        code="c360", name="c360 profiles", kind="c360", purposes=["Atendimento"], retention="5 anos após o contrato"
    )


@pytest.fixture
def ana(store):
    subject = subject_create(
        actor=DPO,
        source="crm",
        attributes={"given_name": "Ana", "family_name": "Souza", "birth_date": dt.date(1988, 3, 2)},
        identifiers=[IdentifierInput("email", "ana.souza@example.com.br"), IdentifierInput("phone", "+5511912345678")],
    )
    purpose = Purpose.objects.create(
        code="marketing.newsletter",
        names={"pt-br": "Newsletter", "en": "Newsletter"},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email", "sms"],
        direct_marketing=True,
        is_active=True,
    )
    notice = Notice.objects.create(code="privacy", title="Aviso")
    notice.purposes.add(purpose)
    version = NoticeVersion.objects.create(notice=notice, version=1, language="pt-br", text="Usamos seu e-mail.")
    consent_record(
        event=EventInput(
            purpose_code="marketing.newsletter",
            channel="email",
            action="grant",
            method="form_checkbox",
            subject_id=subject.id,
            notice_version_id=version.pk,
        ),
        actor=DPO,
    )
    return subject


def new_request(kind="access", regimes=("lgpd",), **extra):
    values = {
        "request_type": kind,
        "regimes": regimes,
        "intake_channel": "portal",
        "identities": [{"kind": "email", "value": "Ana.Souza@Example.com.br"}],
        "contact_email": "ana.souza@example.com.br",
        "requester_name": "Ana Souza",
        "actor": DPO,
    }
    return request_create(**{**values, **extra})


def test_a_request_gets_a_protocol_a_legal_deadline_and_waits_for_verification(store):
    received = dt.datetime(2026, 8, 20, 14, 0, tzinfo=dt.UTC)

    request = new_request(received_at=received, regimes=("lgpd", "gdpr"))

    assert request.protocol.startswith(f"{timezone.now().year}-")
    assert request.status == Status.AWAITING_VERIFICATION
    assert request.due_at.date() == dt.date(2026, 9, 4)  # LGPD 15 days beats GDPR one month
    assert request.deadline["governing_regime"] == "lgpd"
    # The acknowledgment to the contact email is recorded too (LEGAL R-01), once the request committed.
    assert [event.kind for event in RequestEvent.objects.filter(request=request)] == ["received", "transition", "mail"]
    assert new_request().protocol != request.protocol


def test_bad_intake_is_refused_with_field_errors(store):
    with pytest.raises(ValidationFailed) as refused:
        new_request(kind="teleport", regimes=("ccpa",))
    assert set(refused.value.errors) == {"request_type", "regimes"}
    with pytest.raises(ValidationFailed) as refused:
        new_request(identities=[{"kind": "email", "value": "not an email"}, {"kind": "fax", "value": "1"}])
    assert set(refused.value.errors) == {"identities.0.value", "identities.1.kind"}
    assert DataRequest.objects.count() == 0


def test_an_unverified_request_never_touches_a_source(ana):
    request = new_request(kind="erasure")

    request_verify(request_id=request.id, method="one_time_code", verified=False, actor=DPO)

    request.refresh_from_db()
    assert request.status == Status.AWAITING_VERIFICATION
    assert RequestTask.objects.count() == 0
    assert Subject.objects.get(pk=ana.id).status == "active"


def test_a_representative_needs_proven_authority_before_anything_runs(ana):
    request = new_request(requester="representative")

    request_verify(request_id=request.id, method="document", verified=True, actor=DPO)

    request.refresh_from_db()
    assert request.status == Status.AWAITING_VERIFICATION
    assert RequestTask.objects.count() == 0


def test_access_runs_in_every_source_and_produces_a_signed_single_use_package(ana, store):
    DataSource.objects.create(
        code="paper-archive", name="Arquivo em papel", kind="manual", instructions="Procure a ficha no arquivo."
    )
    request = new_request()

    request_verify(request_id=request.id, method="portal_session", verified=True, actor=DPO)

    tasks = {task.source.code: task for task in RequestTask.objects.select_related("source")}
    assert tasks["c360"].status == "done"
    assert tasks["c360"].outcome["exported"] > 0
    assert tasks["paper-archive"].status == "waiting"
    assert DataRequest.objects.get(pk=request.id).status == Status.IN_PROGRESS  # the join waits for the person

    manual_task_complete(task_id=tasks["paper-archive"].pk, actor=DPO, note="Nenhuma ficha encontrada.", evidence=b"x")

    request.refresh_from_db()
    assert request.status == Status.IN_REVIEW
    token = package_link_issue(request_id=request.id, actor=DPO)
    _, content = package_download(token=token, actor=DPO)
    archive = zipfile.ZipFile(io.BytesIO(content))
    manifest = json.loads(archive.read("manifest.json"))
    assert verify(manifest, archive.read("manifest.sig").decode())
    for entry in manifest["files"]:
        assert len(archive.read(entry["name"])) == entry["bytes"]
    profile = json.loads(archive.read("sources/c360.json"))
    assert {"collection": "profile"}.items() <= profile[0].items()
    assert profile[0]["fields"]["given_name"] == "Ana"
    assert any(record["collection"] == "consents" for record in profile)
    summary = archive.read("summary.pt-br.txt").decode()
    for expected in ("Finalidades", "Newsletter", "5 anos"):
        assert expected in summary
    with pytest.raises(Gone):
        package_download(token=token, actor=DPO)  # single use

    request_complete(request_id=request.id, actor=DPO)
    assert DataRequest.objects.get(pk=request.id).status == Status.COMPLETED


def test_erasure_shreds_suppresses_and_keeps_proof_and_a_second_request_changes_nothing(ana):
    first = new_request(kind="erasure")
    request_verify(request_id=first.id, method="portal_session", verified=True, actor=DPO)

    first.refresh_from_db()
    assert first.status == Status.IN_REVIEW
    assert first.summary["sources"]["c360"]["actions"] == {"deleted": 1}
    assert Subject.objects.get(pk=ana.id).status == "erased"
    assert ConsentEvent.objects.filter(action="erase_suppress").count() == 1
    answer = consent_check(
        Recipient("email", "ana.souza@example.com.br"), purpose_code="marketing.newsletter", channel="email"
    )
    assert answer.decision.reasons[0] == "SUPPRESSED"

    second = new_request(kind="erasure")
    request_verify(request_id=second.id, method="portal_session", verified=True, actor=DPO)
    second.refresh_from_db()
    assert second.summary["sources"]["c360"] == {"located": 0, "actions": {}, "kept": []}


def test_restriction_blocks_the_subject_so_consent_checks_deny(ana):
    request = new_request(kind="restriction")
    request_verify(request_id=request.id, method="portal_session", verified=True, actor=DPO)

    assert Subject.objects.get(pk=ana.id).status == "restricted"
    answer = consent_check(
        Recipient("email", "ana.souza@example.com.br"), purpose_code="marketing.newsletter", channel="email"
    )
    assert answer.decision.allowed is False
    assert "RESTRICTED" in answer.decision.reasons


def test_a_rejection_needs_reasons_and_names_the_complaint_routes(store):
    request = new_request(regimes=("lgpd", "gdpr"))
    with pytest.raises(ValidationFailed):
        request_reject(request_id=request.id, reason="", text="", actor=DPO)
    with pytest.raises(ValidationFailed):  # never available when the LGPD applies
        request_reject(
            request_id=request.id, reason="manifestly_unfounded", text="Pedido repetido dez vezes.", actor=DPO
        )

    request_reject(
        request_id=request.id,
        reason="identity_not_verified",
        text="Não conseguimos confirmar sua identidade.",
        actor=DPO,
    )

    request.refresh_from_db()
    assert request.status == Status.REJECTED
    routes = " ".join(request.summary["complaint_routes"])
    assert "ANPD" in routes
    assert "supervisory authority" in routes
    with pytest.raises(Conflict):
        request_cancel(request_id=request.id, actor=DPO)


def test_a_gdpr_extension_is_allowed_once_before_the_due_date_with_reasons(store):
    received = dt.datetime(2026, 3, 9, 10, 0, tzinfo=dt.UTC)
    request = new_request(regimes=("gdpr",), received_at=received)
    assert request.due_at.date() == dt.date(2026, 4, 9)
    with pytest.raises(ValidationFailed):
        request_extend(request_id=request.id, reason="", actor=DPO, notified_at=received + dt.timedelta(days=3))
    with pytest.raises(ValidationFailed):  # too late: after the original due date
        request_extend(
            request_id=request.id, reason="Muitos sistemas", actor=DPO, notified_at=received + dt.timedelta(days=40)
        )

    request_extend(
        request_id=request.id, reason="Many systems to search", actor=DPO, notified_at=received + dt.timedelta(days=20)
    )

    request.refresh_from_db()
    assert request.due_at.date() == dt.date(2026, 6, 9)
    with pytest.raises(Conflict):
        request_extend(request_id=request.id, reason="Again", actor=DPO, notified_at=received + dt.timedelta(days=21))
    lgpd_only = new_request(regimes=("lgpd",))
    with pytest.raises(ValidationFailed):
        request_extend(request_id=lgpd_only.id, reason="Many systems", actor=DPO)


def test_an_objection_is_written_to_the_consent_ledger_and_binds_at_once(ana):
    request = new_request(kind="objection")
    request_verify(request_id=request.id, method="portal_session", verified=True, actor=DPO)

    request.refresh_from_db()
    assert request.summary["sources"]["c360"]["actions"] == {"objected": 1}
    event = ConsentEvent.objects.get(action="object")
    assert (event.purpose_code, event.channel, event.method) == ("*", "*", "dsar")
    answer = consent_check(
        Recipient("email", "ana.souza@example.com.br"), purpose_code="marketing.newsletter", channel="email"
    )
    assert answer.decision.reasons[0] == "OBJECTED"


def test_a_consent_revocation_withdraws_every_grant(ana):
    request = new_request(kind="consent_revocation")
    request_verify(request_id=request.id, method="portal_session", verified=True, actor=DPO)

    request.refresh_from_db()
    assert request.summary["sources"]["c360"]["actions"] == {"withdrawn": 1}
    answer = consent_check(
        Recipient("email", "ana.souza@example.com.br"), purpose_code="marketing.newsletter", channel="email"
    )
    assert answer.decision.reasons[0] == "WITHDRAWN"
