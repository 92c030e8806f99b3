"""Audience checks: a list uploaded, checked in the background, with a per-line result and a signed receipt."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from c360.lib.history import Actor
from c360.lib.signing import verify
from consent.models import AudienceCheck
from consent.services.audiences import input_path
from consent.services.events import EventInput, consent_record
from profiles.services.subjects import IdentifierInput, subject_create

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("audience-tests")


@pytest.fixture(autouse=True)
def files_in_tmp(settings, tmp_path):
    settings.C360_FILES_DIR = tmp_path


@pytest.fixture
def granted(notice):
    subject = subject_create(actor=ACTOR, source="tests", identifiers=[IdentifierInput("email", "ana@example.com")])
    consent_record(
        event=EventInput(
            purpose_code="marketing.newsletter",
            channel="email",
            action="grant",
            method="form_checkbox",
            subject_id=subject.id,
            notice_version_id=notice.pk,
        ),
        actor=ACTOR,
    )
    return subject


def upload(client, content: bytes, name: str, **fields):
    data = {"file": SimpleUploadedFile(name, content), "purpose": "marketing.newsletter", "channel": "email", **fields}
    return client.post("/api/v1/audience-checks", data, format="multipart")


def run_on_commit(client, content, name, django_capture_on_commit_callbacks, **fields):
    with django_capture_on_commit_callbacks(execute=True):
        return upload(client, content, name, **fields)


def test_a_csv_list_is_checked_line_by_line_with_a_signed_receipt(
    api_key_client, granted, django_capture_on_commit_callbacks
):
    client = api_key_client("consent:check")
    content = b"name,email\nAna,ANA@example.com\nBruno,bruno@example.com\nSem,\nX,not-an-email\n"

    response = run_on_commit(client, content, "campaign.csv", django_capture_on_commit_callbacks)

    assert response.status_code == 202, response.content
    check_id = response.json()["id"]
    body = client.get(f"/api/v1/audience-checks/{check_id}").json()
    assert body["status"] == "done"
    assert (body["total"], body["allowed"], body["denied"], body["invalid"]) == (4, 1, 1, 2)
    assert body["denied_by_reason"] == {"UNKNOWN_RECIPIENT": 1}
    receipt = body["receipt"]
    assert receipt["input_sha256"] == hashlib.sha256(content).hexdigest()
    assert receipt["counts"] == {"lines": 4, "allowed": 1, "denied": 1, "invalid": 2}
    assert (receipt["purpose"], receipt["channel"]) == ("marketing.newsletter", "email")
    assert verify(receipt, body["signature"])
    public = client.get("/api/v1/audience-checks/signing-key").json()["public_key"]
    assert verify(receipt, body["signature"], public)
    assert not verify({**receipt, "counts": {**receipt["counts"], "allowed": 2}}, body["signature"], public)

    result = client.get(f"/api/v1/audience-checks/{check_id}/result")
    lines = [json.loads(line) for line in b"".join(result.streaming_content).decode().splitlines()]
    assert [(line["line"], line["allowed"]) for line in lines] == [(2, True), (3, False), (4, False), (5, False)]
    assert "ana@example.com" not in json.dumps(lines)  # lines are named by number, never by address
    # Checked: the uploaded list (personal data) is gone, and so is its key.
    check = AudienceCheck.objects.get(pk=check_id)
    assert not input_path(check).exists()
    assert check.input_wrapped_key is None


def test_jsonl_with_malformed_lines_reports_them_and_checks_the_rest(
    api_key_client, granted, django_capture_on_commit_callbacks
):
    client = api_key_client("consent:check")
    content = b'{"email": "ana@example.com"}\n{broken\n\n{"phone": "11987654321"}\n{"email": 42}\n'

    check_id = run_on_commit(client, content, "list.jsonl", django_capture_on_commit_callbacks).json()["id"]

    body = client.get(f"/api/v1/audience-checks/{check_id}").json()
    assert (body["allowed"], body["denied"], body["invalid"]) == (1, 1, 2)


def test_the_uploaded_list_is_stored_encrypted(api_key_client, granted):
    client = api_key_client("consent:check")

    check_id = upload(client, b"email\nana@example.com\n", "list.csv").json()["id"]  # not run: the task is queued

    stored = input_path(AudienceCheck.objects.get(pk=check_id)).read_bytes()
    assert b"ana@example.com" not in stored
    assert stored.startswith(b"C360F1")


@pytest.mark.parametrize(
    ("content", "fields", "field"),
    [
        (b"", {}, "file"),
        (b"email\na@b.com\n", {"purpose": "marketing.unknown"}, "purpose"),
        (b"email\na@b.com\n", {"channel": "push"}, "channel"),
        (b"email\na@b.com\n", {"format": "xlsx"}, "format"),
    ],
)
def test_bad_uploads_answer_400_and_queue_nothing(api_key_client, newsletter, content, fields, field):
    response = upload(api_key_client("consent:check"), content, "list.csv", **fields)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not AudienceCheck.objects.exists()


def test_a_csv_without_a_recipient_column_fails_and_can_be_retried(
    api_key_client, newsletter, django_capture_on_commit_callbacks
):
    client = api_key_client("consent:check")

    with pytest.raises(ValueError, match="CSV header"):
        run_on_commit(client, b"name\nAna\n", "list.csv", django_capture_on_commit_callbacks)

    check = AudienceCheck.objects.get()
    assert check.status == "failed"
    assert "CSV header" in check.error
    assert input_path(check).exists()  # kept for the retry
    assert client.get(f"/api/v1/audience-checks/{check.id}/result").status_code == 409
