"""The services behind the portal's request pages: filing atomically with documents, automatic release,
the requester's mails and one-shot download, and staff reading a proof through a logged service."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from c360.lib.crypto import blind_index
from c360.lib.errors import Conflict, Gone, ValidationFailed
from c360.lib.history import Actor
from dsar.models import DataRequest, DataSource, ExportPackage, RequestDocument, RequestEvent
from dsar.services import requests as request_services
from dsar.services.documents import document_path, document_store
from dsar.services.notifications import request_mail_answered, request_mail_received
from dsar.services.packages import package_download_by_requester
from dsar.services.requests import (
    PortalDocument,
    request_complete,
    request_create,
    request_extend,
    request_file_in_portal,
    request_reject,
    request_verify,
)
from profiles.models import index_kind
from profiles.services.subjects import IdentifierInput, subject_create

pytestmark = pytest.mark.django_db(transaction=True)

DPO = Actor.system("dpo-tests")
PERSON = Actor("subject", "portal-login-tests")
EMAIL = "ana.souza@example.com.br"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
Status = DataRequest.Status


@pytest.fixture(autouse=True)
def _files(settings, tmp_path):
    settings.C360_FILES_DIR = tmp_path  # each test sees only the files it wrote


@pytest.fixture
def store():
    return DataSource.objects.create(code="c360", name="c360 profiles", kind="c360")


@pytest.fixture
def ana(store):
    return subject_create(
        actor=DPO,
        source="crm",
        attributes={"given_name": "Ana", "family_name": "Souza"},
        identifiers=[IdentifierInput("email", EMAIL)],
        regimes=["lgpd", "gdpr"],
    )


def index_of(email: str) -> bytes:
    return blind_index(index_kind("email"), email)


def file_in_portal(subject_id=None, **overrides) -> DataRequest:
    values = {
        "request_type": "access",
        "requester": "subject",
        "contact_kind": "email",
        "contact_value": EMAIL,
        "contact_index": index_of(EMAIL),
        "subject_id": subject_id,
        "language": "en",
        "details": {"answer_format": "electronic"},
        "actor": PERSON,
    }
    return request_file_in_portal(**{**values, **overrides})


def on_behalf(**overrides) -> dict:
    return {
        "requester": "representative",
        "represented_identities": [{"kind": "email", "value": "pedro.lima@example.com"}],
        "documents": [PortalDocument("proof_of_authority", "application/pdf", PDF)],
        **overrides,
    }


def files_under(folder: str) -> list[Path]:
    root = Path(settings.C360_FILES_DIR) / folder
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def test_a_person_files_with_the_controllers_regimes_and_an_access_is_released_to_them(ana):
    request = file_in_portal(subject_id=ana.id)

    request.refresh_from_db()
    assert request.regimes == ["gdpr", "lgpd"]  # the subject's, never chosen by the person
    assert request.subject_id == ana.id
    assert request.status == Status.COMPLETED
    assert ExportPackage.objects.filter(request=request).exists()
    assert request.summary["sources"]["c360"]["exported"] > 0


def test_without_a_profile_the_default_regimes_apply(store, settings):
    settings.C360_DEFAULT_REGIMES = ["gdpr"]

    request = file_in_portal(contact_value="nobody@example.org", contact_index=index_of("nobody@example.org"))

    assert request.regimes == ["gdpr"]
    assert request.subject_id is None


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({}, False),  # the deployment releases nothing by itself
        ({"details": {"answer_format": "printed", "postal_address": "Rua A, 1"}}, True),  # the person wants a letter
        ({"request_type": "erasure"}, True),  # only copies and confirmations are released
    ],
)
def test_the_dpo_signs_off_everything_the_release_rule_does_not_cover(ana, settings, overrides, setting):
    settings.C360_DSAR_AUTO_RELEASE = setting

    request = file_in_portal(subject_id=ana.id, **overrides)

    assert DataRequest.objects.get(pk=request.id).status == Status.IN_REVIEW


def test_a_request_filed_elsewhere_and_verified_by_session_is_not_released_automatically(ana):
    # No one proved a contact point in the portal for it: no one could download it there.
    request = request_create(
        request_type="access",
        regimes=["lgpd"],
        intake_channel="api",
        identities=[{"kind": "email", "value": EMAIL}],
        actor=DPO,
    )

    request_verify(request_id=request.id, method="portal_session", verified=True, actor=DPO)

    assert DataRequest.objects.get(pk=request.id).status == Status.IN_REVIEW


def test_a_representatives_request_waits_for_staff_and_then_for_the_dpo(ana):
    request = file_in_portal(**on_behalf())

    assert request.status == Status.AWAITING_VERIFICATION
    assert request.tasks.count() == 0
    assert RequestEvent.objects.filter(request=request, kind="document").count() == 1

    request_verify(request_id=request.id, method="portal_session", verified=True, authority_proven=True, actor=DPO)

    request.refresh_from_db()
    assert request.status == Status.IN_REVIEW  # ran in the sources; never released to an agent by itself
    assert ExportPackage.objects.filter(request=request).exists()


def test_a_failure_after_the_proof_was_stored_leaves_no_row_and_no_file(ana, monkeypatch):
    def verification_breaks(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(request_services, "request_verify", verification_breaks)
    mail.outbox.clear()

    with pytest.raises(RuntimeError, match="went away"):
        file_in_portal(**on_behalf())

    assert DataRequest.objects.count() == 0
    assert RequestDocument.objects.count() == 0
    assert RequestEvent.objects.count() == 0
    assert files_under("dsar-documents") == []
    assert mail.outbox == []  # the acknowledgment is queued after commit only


def test_a_representative_without_a_proof_is_refused(store):
    with pytest.raises(ValidationFailed):
        file_in_portal(**on_behalf(documents=[]))
    assert DataRequest.objects.count() == 0


def test_a_document_is_kept_only_if_its_bytes_are_what_it_claims(store):
    request = request_create(
        request_type="access",
        regimes=["lgpd"],
        intake_channel="portal",
        identities=[{"kind": "email", "value": EMAIL}],
        actor=DPO,
    )
    request = DataRequest.objects.select_related("key").get(pk=request.id)
    for content_type, content in (
        ("application/pdf", b"MZ\x90\x00 an executable"),
        ("image/png", PDF),
        ("application/pdf", b""),
        ("application/pdf", PDF + b"0" * settings.C360_PORTAL_UPLOAD_MAX_BYTES),
    ):
        with pytest.raises(ValidationFailed):
            document_store(
                request=request, kind="proof_of_authority", content_type=content_type, content=content, actor=DPO
            )
    assert RequestDocument.objects.count() == 0
    assert files_under("dsar-documents") == []

    document = document_store(
        request=request, kind="proof_of_authority", content_type="application/pdf", content=PDF, actor=DPO
    )

    stored = document_path(document).read_bytes()
    assert document.sha256 == hashlib.sha256(PDF).hexdigest()
    assert PDF not in stored
    assert b"Catalog" not in stored


def test_the_acknowledgment_is_mailed_once_with_the_protocol_type_and_due_date(store):
    mail.outbox.clear()
    request = request_create(
        request_type="rectification",
        regimes=["lgpd"],
        intake_channel="email",
        identities=[{"kind": "email", "value": EMAIL}],
        contact_email=EMAIL,
        language="en",
        actor=DPO,
    )

    (message,) = mail.outbox
    assert message.to == [EMAIL]
    assert message.subject == f"We received your request {request.protocol}"
    assert "Correct my data" in message.body
    assert "We answer by:" in message.body
    assert request_mail_received(request_id=request.id) is False  # a redelivered task sends nothing more
    assert len(mail.outbox) == 1
    assert request_mail_answered(request_id=request.id) is False  # not answered yet
    assert len(mail.outbox) == 1


def test_no_mail_without_a_contact_email(store):
    mail.outbox.clear()
    request = request_create(
        request_type="access",
        regimes=["lgpd"],
        intake_channel="phone",
        identities=[{"kind": "phone", "value": "+5511912345678"}],
        actor=DPO,
    )
    request_reject(request_id=request.id, reason="identity_not_verified", text="We could not reach you.", actor=DPO)

    assert mail.outbox == []
    assert request_mail_received(request_id=request.id) is False


def test_completion_and_rejection_mail_a_link_to_the_portal_page_only(store):
    answered = [
        request_create(
            request_type="erasure",
            regimes=["lgpd", "gdpr"],
            intake_channel="portal",
            identities=[{"kind": "email", "value": EMAIL}],
            contact_email=EMAIL,
            language="pt-br",
            actor=DPO,
        )
        for _ in range(2)
    ]
    completed, rejected = answered
    request_verify(request_id=completed.id, method="staff", verified=True, actor=DPO)
    mail.outbox.clear()

    request_complete(request_id=completed.id, actor=DPO)
    request_reject(request_id=rejected.id, reason="legal_obligation", text="Tax law keeps the invoices.", actor=DPO)

    done, refused = mail.outbox
    assert done.subject == f"Sua solicitação {completed.protocol} foi respondida"  # in the person's language
    link = f"{settings.C360_PUBLIC_URL}{reverse('portal:request_detail', args=[completed.protocol])}"
    assert link in done.body
    assert link in done.alternatives[0][0]
    assert "Não foi possível atender ao seu pedido" in refused.body
    assert "Tax law" not in refused.body  # the reasons are on the signed-in page, not in a mail
    assert '<html lang="pt-br">' in refused.alternatives[0][0]


def test_the_requester_download_needs_a_completed_request_and_works_once(ana, settings):
    settings.C360_DSAR_AUTO_RELEASE = False
    request = file_in_portal(subject_id=ana.id)
    with pytest.raises(Conflict):
        package_download_by_requester(request_id=request.id, actor=PERSON)
    assert ExportPackage.objects.get(request=request).token_sha256 == ""

    request_complete(request_id=request.id, actor=DPO)
    package, content = package_download_by_requester(request_id=request.id, actor=PERSON)

    assert package.request_id == request.id
    assert content.startswith(b"PK")
    with pytest.raises(Gone):
        package_download_by_requester(request_id=request.id, actor=PERSON)


def test_staff_read_a_proof_through_the_admin_and_the_reading_is_logged(admin_client, store):
    request = file_in_portal(**on_behalf())
    document = RequestDocument.objects.get()

    page = admin_client.get(reverse("admin:dsar_datarequest_change", args=[request.id]))
    url = reverse("admin:dsar_datarequest_document", args=[request.id, document.id])
    assert page.status_code == 200
    assert url in page.content.decode()

    response = admin_client.get(url)

    assert response.status_code == 200
    assert response.content == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{request.protocol}-proof_of_authority.pdf"'
    assert "no-store" in response["Cache-Control"]
    (read,) = RequestEvent.objects.filter(request=request, kind="document_read")
    assert read.actor.startswith("user:")
    assert read.data == {"document": str(document.id)}
    other = file_in_portal(**on_behalf())
    wrong = reverse("admin:dsar_datarequest_document", args=[other.id, document.id])
    assert admin_client.get(wrong).status_code == 404


def test_the_admin_action_starts_a_request_once_the_proof_is_checked(admin_client, store):
    request = file_in_portal(**on_behalf())

    response = admin_client.post(
        reverse("admin:dsar_datarequest_changelist"),
        {"action": "accept_authority", "_selected_action": [str(request.id)]},
    )

    assert response.status_code == 302
    request.refresh_from_db()
    assert request.authority_proven is True
    assert request.status == Status.IN_REVIEW


def test_an_extension_tells_the_person_why_and_the_new_date(store, django_capture_on_commit_callbacks):
    request = request_create(
        request_type="access",
        regimes=["gdpr"],
        intake_channel="email",
        identities=[{"kind": "email", "value": EMAIL}],
        contact_email=EMAIL,
        language="es",
        actor=DPO,
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        extended = request_extend(request_id=request.id, reason="Varios sistemas antiguos.", actor=DPO)

    (message,) = mail.outbox
    assert message.subject == f"Su solicitud {request.protocol} necesita más tiempo"
    assert "Varios sistemas antiguos." in message.body
    assert "art. 12(3)" in message.body
    assert message.alternatives[0][1] == "text/html"
    assert extended.due_at > request.due_at
