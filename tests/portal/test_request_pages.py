"""The "my requests" pages: list, file (for oneself or for someone else, with proof), follow, download once."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from c360.lib.history import Actor
from dsar import tasks
from dsar.models import DataRequest, DataSource, ExportPackage, RequestDocument, RequestEvent, RequestType
from dsar.services.documents import document_path, document_read
from dsar.services.requests import request_details, request_identities, request_reject
from profiles.models import PortalLogin
from tests.factories import SubjectFactory

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
Status = DataRequest.Status


@pytest.fixture(autouse=True)
def _files(settings, tmp_path):
    settings.C360_FILES_DIR = tmp_path  # each test sees only the files it wrote


@pytest.fixture
def store(db):
    """c360's own store as the one connected source, as the dsar tests set it up."""
    return DataSource.objects.create(
        code="c360", name="Central customer register", kind="c360", purposes=["Customer service"]
    )


def file_request(client: Client, capture, **fields) -> object:
    data = {"request_type": "access", "answer_format": "electronic", "requester": "subject", **fields}
    with capture(execute=True):
        return client.post(reverse("portal:request_new"), data)


def session_index(client: Client) -> bytes:
    login = PortalLogin.objects.get(pk=client.session["c360_portal_login"])
    return bytes(login.contact_index)


def documents_on_disk() -> list[Path]:
    root = Path(settings.C360_FILES_DIR) / "dsar-documents"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


# ---------------------------------------------------------------- sign-in and forms


def test_every_request_page_needs_a_signed_in_person(client, person):
    sign_in_url = reverse("portal:sign_in")
    for url in (reverse("portal:requests"), reverse("portal:request_new"), "/portal/requests/2026-000001/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == sign_in_url
    for name in ("portal:request_download", "portal:request_cancel"):
        response = client.post(reverse(name, args=["2026-000001"]))
        assert response.status_code == 302
        assert response["Location"] == sign_in_url
    response = client.post(reverse("portal:request_new"), {"request_type": "access"})
    assert response.status_code == 302
    assert DataRequest.objects.count() == 0


def test_the_form_offers_every_type_explained_and_preselects_the_one_asked_for(portal_client):
    # Given a link from "my data" asking for a correction
    response = portal_client.get(reverse("portal:request_new"), {"type": "rectification"})

    # Then every request type is offered, in a fieldset with a legend, each explained and labelled
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('name="request_type"') == len(RequestType.values)
    assert re.search(r'<input[^>]*value="rectification"[^>]*checked', page)
    assert not re.search(r'<input[^>]*value="access"[^>]*checked', page)
    assert "<legend>What do you want to ask us?</legend>" in page
    for number in range(len(RequestType.values)):
        assert f'for="id_request_type_{number}"' in page
        assert f'aria-describedby="id_request_type_{number}_help"' in page
        assert f'id="id_request_type_{number}_help"' in page
    assert 'enctype="multipart/form-data"' in page
    assert re.search(r'<input[^>]*value="electronic"[^>]*checked', page)  # LGPD Art. 19 §2: the default
    assert 'for="id_proof"' in page
    assert "style=" not in page
    assert "<script" not in page


@pytest.mark.parametrize("request_type", RequestType.values)
def test_each_request_type_is_filed_verified_by_the_session_and_started(
    request_type, portal_client, person, store, django_capture_on_commit_callbacks
):
    # When the signed-in person files a request of this type
    response = file_request(
        portal_client,
        django_capture_on_commit_callbacks,
        request_type=request_type,
        details="My family name is spelt Souza, not Sousa." if request_type == "rectification" else "Newsletter.",
    )

    # Then it is filed for them, verified by the portal session and started in the sources
    filed = DataRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:request_detail", args=[filed.protocol])
    assert filed.request_type == request_type
    assert filed.intake_channel == "portal"
    assert filed.requester == "subject"
    assert filed.subject_id == person.id
    assert bytes(filed.requester_index) == session_index(portal_client)
    assert filed.regimes == ["lgpd"]
    assert filed.verification_method == "portal_session"
    assert filed.verification_outcome == "verified"
    assert filed.status != Status.AWAITING_VERIFICATION
    assert filed.tasks.count() == 1
    assert {"kind": "subject_id", "value": str(person.id), "namespace": ""} in request_identities(filed)
    assert request_details(filed)["answer_format"] == "electronic"
    page = portal_client.get(response["Location"]).content.decode()
    assert filed.protocol in page
    assert "Its protocol number is" in page


def test_a_correction_without_saying_what_is_wrong_is_refused(portal_client, store, django_capture_on_commit_callbacks):
    response = file_request(portal_client, django_capture_on_commit_callbacks, request_type="rectification")

    assert response.status_code == 400
    page = response.content.decode()
    assert "Say what is wrong and what the right value is." in page
    assert 'id="id_details_error"' in page
    assert re.search(r'<textarea[^>]*aria-describedby="id_details_help id_details_error"', page)
    assert re.search(r'<textarea[^>]*aria-invalid="true"', page)
    assert DataRequest.objects.count() == 0


def test_a_form_sent_without_its_csrf_token_is_refused(person, sign_in, store):
    # Given a signed-in browser that enforces CSRF checks, as real browsers are served
    signed_in = sign_in(person.person.email)
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = signed_in.cookies

    response = strict.post(reverse("portal:request_new"), {"request_type": "access", "answer_format": "electronic"})

    assert response.status_code == 403
    assert DataRequest.objects.count() == 0
    assert strict.post(reverse("portal:request_download", args=["2026-000001"])).status_code == 403


# ---------------------------------------------------------------- access, end to end


@pytest.mark.django_db(transaction=True)
def test_access_end_to_end_runs_the_sources_releases_the_package_and_downloads_it_once(
    person, sign_in, store, django_capture_on_commit_callbacks
):
    # Given a person signed in from their email
    client = sign_in(person.person.email)
    mail.outbox.clear()

    # When they ask for a copy of their data
    response = file_request(client, django_capture_on_commit_callbacks, request_type="access")

    # Then c360's store answered, the package was built and, filed by the person, released at once
    filed = DataRequest.objects.get()
    assert response.status_code == 302
    assert filed.status == Status.COMPLETED
    assert filed.summary["sources"]["c360"]["exported"] > 0
    package = ExportPackage.objects.get(request=filed)
    completion = RequestEvent.objects.get(request=filed, kind="transition", to_status=Status.COMPLETED)
    assert completion.actor == "system:dsar-auto-release"
    assert completion.note == "released automatically to the verified requester"

    detail_url = reverse("portal:request_detail", args=[filed.protocol])
    page = client.get(detail_url).content.decode()
    assert "Download my data (once)" in page
    assert reverse("portal:request_download", args=[filed.protocol]) in page
    assert "Central customer register" in page  # the per-source summary
    for step in ("Received", "Identity confirmed", "In review", "Completed"):
        assert step in page
    assert "dsar-auto-release" not in page  # no staff or system ids
    assert "style=" not in page
    assert "<script" not in page
    assert "released automatically" not in page  # no internal notes

    # When they download it
    response = client.post(reverse("portal:request_download", args=[filed.protocol]))

    # Then they get the zip, as an attachment named after the protocol, never cached
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="{filed.protocol}.zip"'
    assert response["Cache-Control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["request"] == filed.protocol
    assert "sources/c360.json" in archive.namelist()
    package.refresh_from_db()
    assert package.downloaded_at is not None

    # And the page says when, with no button; a second download is gone
    page = client.get(detail_url).content.decode()
    assert "You downloaded your data on" in page
    assert "Download my data (once)" not in page
    assert "Downloaded" in page
    second = client.post(reverse("portal:request_download", args=[filed.protocol]))
    assert second.status_code == 410
    assert "can be downloaded only once" in second.content.decode()
    assert RequestEvent.objects.filter(request=filed, kind="package_downloaded").count() == 1

    # And the two mails went to the person, neither holding the data nor a download token
    assert [message.subject for message in mail.outbox] == [
        f"We received your request {filed.protocol}",
        f"Your request {filed.protocol} has been answered",
    ]
    for message in mail.outbox:
        assert message.to == [person.person.email.lower()]
        html = message.alternatives[0][0]
        for body in (message.body, html):
            assert "/download/" not in body
            for candidate in re.findall(r"[A-Za-z0-9_-]{30,}", body):
                assert hashlib.sha256(candidate.encode()).hexdigest() != package.token_sha256
            assert person.person.attributes["given_name"] not in body
    assert f"{settings.C360_PUBLIC_URL}{detail_url}" in mail.outbox[1].body


def test_the_answer_waits_for_the_dpo_when_automatic_release_is_off(
    portal_client, store, settings, django_capture_on_commit_callbacks
):
    settings.C360_DSAR_AUTO_RELEASE = False

    file_request(portal_client, django_capture_on_commit_callbacks, request_type="access")

    filed = DataRequest.objects.get()
    assert filed.status == Status.IN_REVIEW
    assert ExportPackage.objects.filter(request=filed).exists()
    page = portal_client.get(reverse("portal:request_detail", args=[filed.protocol])).content.decode()
    assert "Download my data (once)" not in page
    response = portal_client.post(reverse("portal:request_download", args=[filed.protocol]))
    assert response.status_code == 409
    assert ExportPackage.objects.get(request=filed).downloaded_at is None


def test_a_printed_answer_is_never_released_as_a_download(portal_client, store, django_capture_on_commit_callbacks):
    file_request(portal_client, django_capture_on_commit_callbacks, request_type="access", answer_format="printed")

    filed = DataRequest.objects.get()
    assert request_details(filed)["answer_format"] == "printed"
    assert filed.status == Status.IN_REVIEW  # the DPO sends the letter


def test_a_confirmation_is_answered_at_once_with_what_each_source_found(
    portal_client, store, django_capture_on_commit_callbacks
):
    file_request(portal_client, django_capture_on_commit_callbacks, request_type="confirmation")

    filed = DataRequest.objects.get()
    assert filed.status == Status.COMPLETED
    assert filed.summary["sources"]["c360"]["located"] == 1
    page = portal_client.get(reverse("portal:request_detail", args=[filed.protocol])).content.decode()
    assert re.search(r"<th scope=\"row\">Central customer register</th>\s*<td>1</td>", page)
    assert "Download my data" not in page


def test_the_due_date_is_explained_by_each_law_and_the_earliest_applies(sign_in, django_capture_on_commit_callbacks):
    # Given a person both laws apply to (their profile says so; the person does not choose)
    dual = SubjectFactory(regimes=("lgpd", "gdpr"))
    client = sign_in(dual.person.email, language="en")

    file_request(client, django_capture_on_commit_callbacks, request_type="access")

    filed = DataRequest.objects.get()
    assert filed.regimes == ["gdpr", "lgpd"]
    page = client.get(reverse("portal:request_detail", args=[filed.protocol])).content.decode()
    assert "LGPD Art. 19 II: 15 days from the request" in page
    assert "GDPR Art. 12(3): one month from when we received the request" in page
    assert "the earliest date applies" in page
    assert page.index("LGPD Art. 19 II") < page.index("GDPR Art. 12(3)")  # the governing (earliest) rule first


# ---------------------------------------------------------------- on behalf of someone else


def behalf(**extra) -> dict:
    return {
        "request_type": "access",
        "answer_format": "electronic",
        "requester": "guardian",
        "requester_name": "Joana Lima",
        "represented_name": "Pedro Lima",
        "represented_email": "pedro.lima@example.com",
        **extra,
    }


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("proof.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64),
        ("proof.pdf", b"I am his mother, trust me. This is not a PDF at all.\n"),
        ("proof.pdf.exe", PDF),
        ("proof.gif", b"GIF89a" + b"\x00" * 32),
    ],
)
def test_a_proof_that_is_not_a_pdf_png_or_jpeg_is_refused_and_nothing_is_kept(
    name, content, portal_client, store, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile(name, content, content_type="application/pdf")  # the browser's claim proves nothing

    response = file_request(portal_client, django_capture_on_commit_callbacks, **behalf(proof=upload))

    assert response.status_code == 400
    assert "Send a PDF, PNG or JPEG file." in response.content.decode()
    assert 'id="id_proof_error"' in response.content.decode()
    assert DataRequest.objects.count() == 0
    assert RequestDocument.objects.count() == 0
    assert documents_on_disk() == []


def test_a_proof_over_the_size_limit_is_refused_and_nothing_is_kept(
    portal_client, store, settings, django_capture_on_commit_callbacks
):
    settings.C360_PORTAL_UPLOAD_MAX_BYTES = 4096
    upload = SimpleUploadedFile("proof.pdf", PDF + b"0" * 4096, content_type="application/pdf")

    response = file_request(portal_client, django_capture_on_commit_callbacks, **behalf(proof=upload))

    assert response.status_code == 400
    assert "The file is too large" in response.content.decode()
    assert DataRequest.objects.count() == 0
    assert RequestDocument.objects.count() == 0
    assert documents_on_disk() == []


def test_acting_for_someone_else_needs_their_name_an_identifier_and_a_proof(
    portal_client, store, django_capture_on_commit_callbacks
):
    response = file_request(
        portal_client,
        django_capture_on_commit_callbacks,
        request_type="access",
        answer_format="electronic",
        requester="representative",
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "Give the name of the person you act for." in page
    assert "Give their email address or their CPF." in page
    assert "Attach the proof that you may act for them." in page
    assert DataRequest.objects.count() == 0


def test_a_guardian_with_a_pdf_proof_files_a_request_that_waits_for_staff(
    portal_client, person, store, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile("certidao.pdf", PDF, content_type="application/octet-stream")

    response = file_request(
        portal_client, django_capture_on_commit_callbacks, **behalf(proof=upload, represented_cpf="529.982.247-25")
    )

    # Then the request waits for staff to check the proof: nothing ran, and no one's profile is linked
    filed = DataRequest.objects.get()
    assert response.status_code == 302
    assert filed.status == Status.AWAITING_VERIFICATION
    assert filed.requester == "guardian"
    assert filed.verification_method == "portal_session"
    assert filed.authority_proven is False
    assert filed.subject_id is None
    assert filed.tasks.count() == 0
    assert bytes(filed.requester_index) == session_index(portal_client)
    assert request_identities(filed) == [
        {"kind": "email", "value": "pedro.lima@example.com", "namespace": ""},
        {"kind": "cpf", "value": "52998224725", "namespace": ""},
    ]
    assert request_details(filed)["represented_name"] == "Pedro Lima"
    # And the proof is kept once, encrypted at rest: the stored bytes are not the PDF
    document = RequestDocument.objects.get()
    assert (document.request_id, document.kind, document.content_type) == (
        filed.id,
        "proof_of_authority",
        "application/pdf",
    )
    assert (document.size, document.sha256) == (len(PDF), hashlib.sha256(PDF).hexdigest())
    stored = document_path(document).read_bytes()
    assert stored != PDF
    assert b"%PDF" not in stored
    assert b"Catalog" not in stored
    assert documents_on_disk() == [document_path(document)]
    assert document_read(document_id=document.id, actor=Actor.system("tests"))[1] == PDF

    # And the page says so and offers to cancel, which works
    detail_url = reverse("portal:request_detail", args=[filed.protocol])
    page = portal_client.get(detail_url).content.decode()
    assert "checking the proof you sent" in page
    assert "Cancel this request" in page
    response = portal_client.post(reverse("portal:request_cancel", args=[filed.protocol]))
    assert response.status_code == 302
    assert DataRequest.objects.get(pk=filed.pk).status == Status.CANCELLED
    assert "Cancel this request" not in portal_client.get(detail_url).content.decode()


def test_a_png_proof_is_taken(portal_client, store, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("procuracao.PNG", PNG, content_type="image/png")

    response = file_request(
        portal_client, django_capture_on_commit_callbacks, **behalf(requester="representative", proof=upload)
    )

    assert response.status_code == 302
    assert RequestDocument.objects.get().content_type == "image/png"


# ---------------------------------------------------------------- someone else's requests


def test_another_persons_protocol_is_not_found_and_nothing_changes(
    person, other_person, sign_in, store, django_capture_on_commit_callbacks
):
    # Given another person's access request, answered and waiting for their download
    other = sign_in(other_person.person.email)
    file_request(other, django_capture_on_commit_callbacks, request_type="access")
    theirs = DataRequest.objects.get()
    assert theirs.status == Status.COMPLETED
    events_before = RequestEvent.objects.filter(request=theirs).count()
    mine = sign_in(person.person.email)

    # Then their protocol is as unknown to me as a forged one, on every page
    for protocol in (theirs.protocol, "2026-999999", "2026-000001%00"):
        assert mine.get(reverse("portal:request_detail", args=[protocol])).status_code == 404
        assert mine.post(reverse("portal:request_download", args=[protocol])).status_code == 404
        assert mine.post(reverse("portal:request_cancel", args=[protocol])).status_code == 404
    assert theirs.protocol not in mine.get(reverse("portal:requests")).content.decode()
    assert ExportPackage.objects.get(request=theirs).downloaded_at is None
    assert ExportPackage.objects.get(request=theirs).token_sha256 == ""
    assert DataRequest.objects.get(pk=theirs.pk).status == Status.COMPLETED
    assert RequestEvent.objects.filter(request=theirs).count() == events_before


def test_the_list_shows_my_requests_newest_first_in_a_bounded_number_of_queries(
    portal_client, other_person, sign_in, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    # Given two requests of mine (no source connected: they stay in review) and one of someone else
    for request_type in ("erasure", "restriction"):
        file_request(portal_client, django_capture_on_commit_callbacks, request_type=request_type)
    file_request(sign_in(other_person.person.email), django_capture_on_commit_callbacks, request_type="erasure")
    first, second, theirs = DataRequest.objects.order_by("protocol")

    with django_assert_max_num_queries(8):
        response = portal_client.get(reverse("portal:requests"))

    page = response.content.decode()
    assert response.status_code == 200
    table = page[page.index("<tbody>") :]
    assert table.index(second.protocol) < table.index(first.protocol)
    assert "<caption>" in page
    assert '<th scope="col">Protocol</th>' in page
    assert theirs.protocol not in page
    assert "Delete my data" in page
    assert "Block (restrict) the use of my data" in page
    assert reverse("portal:request_detail", args=[first.protocol]) in page
    assert 'aria-current="page"' in page
    assert "style=" not in page
    assert "<script" not in page
    # The same number of queries with more requests: one query for the list, whatever its length
    for _ in range(5):
        file_request(portal_client, django_capture_on_commit_callbacks, request_type="restriction")
    with django_assert_max_num_queries(8):
        assert portal_client.get(reverse("portal:requests")).status_code == 200


def test_a_rejection_shows_the_reasons_and_where_to_complain(portal_client, person, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        portal_client.post(
            reverse("portal:request_new"),
            {
                **behalf(requester="representative"),
                "proof": SimpleUploadedFile("p.pdf", PDF, content_type="application/pdf"),
            },
        )
    filed = DataRequest.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        request_reject(
            request_id=filed.id,
            reason="no_authority",
            text="The power of attorney does not cover data requests.",
            actor=Actor.system("dpo-tests"),
        )

    page = portal_client.get(reverse("portal:request_detail", args=[filed.protocol])).content.decode()

    assert "The authority to act for the other person was not proven." in page
    assert "The power of attorney does not cover data requests." in page
    assert "https://www.gov.br/anpd" in page
    assert "consumidor.gov.br" in page
    assert "Rejected" in page
    assert mail.outbox[-1].subject == f"Your request {filed.protocol} has been answered"
    assert "We could not do what you asked" in mail.outbox[-1].body


# ---------------------------------------------------------------- mails


ENGLISH_DATE = re.compile(r"\b(Jan\.|Feb\.|March|April|May|June|July|Aug\.|Sept\.|Oct\.|Nov\.|Dec\.) \d{1,2}, \d{4}")
PORTUGUESE_DATE = re.compile(
    r"\bde (janeiro|fevereiro|março|abril|maio|junho|julho|agosto|setembro|outubro|novembro|dezembro) de\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize(("language", "month"), [("en", ENGLISH_DATE), ("pt-br", PORTUGUESE_DATE)])
def test_the_mails_go_out_in_the_persons_language_with_text_and_html(
    language, month, person, sign_in, django_capture_on_commit_callbacks
):
    client = sign_in(person.person.email, language=language)
    mail.outbox.clear()

    # A confirmation with no source connected is answered at once: both mails go out
    file_request(client, django_capture_on_commit_callbacks, request_type="confirmation")

    filed = DataRequest.objects.get()
    assert filed.language == language
    assert filed.status == Status.COMPLETED
    received, completed = mail.outbox
    for message in (received, completed):
        assert message.to == [person.person.email.lower()]
        assert [kind for _, kind in message.alternatives] == ["text/html"]
        assert f'<html lang="{language}">' in message.alternatives[0][0]
        assert filed.protocol in message.subject
    assert filed.protocol in received.body
    assert month.search(received.body)  # the due date, in the person's language
    assert month.search(received.alternatives[0][0])
    assert reverse("portal:request_detail", args=[filed.protocol]) in completed.body
    assert RequestEvent.objects.filter(request=filed, kind="mail").count() == 2


def test_the_mail_tasks_get_the_request_id_and_nothing_else(
    portal_client, person, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[tuple[str, tuple, dict]] = []
    for name in ("request_received_mail_task", "request_answered_mail_task"):
        task = getattr(tasks, name)
        monkeypatch.setattr(task, "delay", lambda *args, _name=name, **kwargs: sent.append((_name, args, kwargs)))

    file_request(portal_client, django_capture_on_commit_callbacks, request_type="confirmation")

    filed = DataRequest.objects.get()
    assert sent == [
        ("request_received_mail_task", (str(filed.id),), {}),
        ("request_answered_mail_task", (str(filed.id),), {}),
    ]
    assert not any(filed.protocol in message.subject for message in mail.outbox)  # the fakes sent nothing
