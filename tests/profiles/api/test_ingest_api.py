"""The ingestion, quarantine and staff-search endpoints."""

from __future__ import annotations

import json

import pytest

from profiles.models import SourceRecord, Subject
from profiles.services.ingestion import MAX_BATCH

pytestmark = pytest.mark.django_db

RECORDS_URL = "/api/v1/sources/crm/records"


@pytest.fixture
def crm():
    from profiles.models import Source

    return Source.objects.create(code="crm", name="CRM", kind="crm", trust_rank=80, emails_verified=True)


MARIA = {
    "external_id": "C-1",
    "given_name": "Maria",
    "family_name": "Souza",
    "email": "Maria.Souza@gmail.com",
    "phone": "(11) 98765-4321",
    "cpf": "529.982.247-25",
}


def test_a_batch_answers_an_outcome_per_record(api_key_client, crm):
    client = api_key_client("profiles:write")

    response = client.post(
        RECORDS_URL,
        {"records": [MARIA, {"external_id": "C-2", "email": "broken@", "cpf": "111"}, {**MARIA, "external_id": "C-3"}]},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    first, bad, third = body["results"]
    assert (first["index"], first["status"], first["match"]["subject_is_new"]) == (0, "created", True)
    assert first["match"]["explanation"] == "Linked by CPF to another record of this batch."
    assert (bad["status"], bad["subject_id"]) == ("quarantined", None)
    assert set(bad["errors"]) == {"email", "cpf"}
    assert third["subject_id"] == first["subject_id"]
    assert third["match"]["rule"] == "cpf"
    assert body["counts"] == {"linked": 2, "new_subjects": 1, "quarantined": 1}
    assert "Maria" not in response.content.decode()  # outcomes carry ids and rules, never values


def test_sending_the_batch_again_answers_unchanged(api_key_client, crm):
    client = api_key_client("profiles:write")
    client.post(RECORDS_URL, {"records": [MARIA]}, format="json")

    again = client.post(RECORDS_URL, {"records": [MARIA]}, format="json").json()

    assert again["results"][0]["status"] == "unchanged"
    assert SourceRecord.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ('{"records": [', 400, "malformed_json"),
        ("[]", 400, "validation_error"),
        ('{"records": []}', 400, "validation_error"),
        ('{"records": {"external_id": "x"}}', 400, "validation_error"),
        ('{"records": [], "mode": "fast"}', 400, "validation_error"),
    ],
)
def test_a_malformed_batch_is_refused_whole(api_key_client, crm, body, status, code):
    response = api_key_client("profiles:write").post(RECORDS_URL, body, content_type="application/json")

    assert response.status_code == status
    assert response.json()["code"] == code
    assert not SourceRecord.objects.exists()


def test_an_oversize_batch_is_refused_with_413(api_key_client, crm):
    records = [{"external_id": str(n)} for n in range(MAX_BATCH + 1)]

    response = api_key_client("profiles:write").post(
        RECORDS_URL, json.dumps({"records": records}), content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json()["code"] == "batch_too_large"
    assert not SourceRecord.objects.exists()


def test_an_unknown_source_answers_404_and_a_read_key_cannot_ingest(api_key_client, crm):
    missing = api_key_client("profiles:write").post("/api/v1/sources/erp/records", {"records": [MARIA]}, format="json")
    denied = api_key_client("profiles:read").post(RECORDS_URL, {"records": [MARIA]}, format="json")

    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_source")
    assert (denied.status_code, denied.json()["code"]) == (403, "insufficient_scope")
    assert not SourceRecord.objects.exists()


def test_quarantine_is_listed_with_reasons_and_can_be_reprocessed(api_key_client, crm):
    writer, reader = api_key_client("profiles:write"), api_key_client("profiles:read")
    outcome = writer.post(RECORDS_URL, {"records": [{**MARIA, "email": "maria at gmail"}]}, format="json").json()
    record_id = outcome["results"][0]["record_id"]

    listed = reader.get("/api/v1/quarantine").json()

    assert [item["record_id"] for item in listed["results"]] == [record_id]
    assert listed["results"][0]["source"] == "crm"
    assert list(listed["results"][0]["errors"]) == ["email"]

    still_bad = writer.post(f"/api/v1/quarantine/{record_id}/reprocess", {}, format="json")
    assert still_bad.json()["status"] == "quarantined"

    fixed = writer.post(f"/api/v1/quarantine/{record_id}/reprocess", {"record": MARIA}, format="json")
    assert fixed.status_code == 200
    assert fixed.json()["status"] == "updated"
    assert fixed.json()["record_id"] == record_id
    assert reader.get("/api/v1/quarantine").json()["results"] == []

    again = writer.post(f"/api/v1/quarantine/{record_id}/reprocess", {}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "not_quarantined")


def test_a_record_quarantined_without_its_id_is_replaced_when_fixed(api_key_client, crm):
    writer = api_key_client("profiles:write")
    record_id = writer.post(RECORDS_URL, {"records": [{"email": "ana@example.com"}]}, format="json").json()["results"][
        0
    ]["record_id"]

    fixed = writer.post(
        f"/api/v1/quarantine/{record_id}/reprocess",
        {"record": {"external_id": "C-77", "email": "ana@example.com"}},
        format="json",
    ).json()

    assert fixed["status"] == "created"
    assert fixed["record_id"] != record_id
    assert not SourceRecord.objects.filter(pk=record_id).exists()
    assert SourceRecord.history.filter(id=record_id, history_type="-").exists()


@pytest.mark.parametrize(
    "query",
    [
        {"email": " MARIA.souza@gmail.com"},
        {"phone": "+55 11 98765-4321"},
        {"cpf": "52998224725"},
        {"source": "crm", "external_id": "C-1"},
    ],
)
def test_staff_search_by_any_identifier(api_key_client, crm, query):
    subject_id = (
        api_key_client("profiles:write")
        .post(RECORDS_URL, {"records": [MARIA]}, format="json")
        .json()["results"][0]["subject_id"]
    )

    response = api_key_client("profiles:read").get("/api/v1/subjects", query)

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [subject_id]


@pytest.mark.parametrize(
    "query",
    [{}, {"email": "a@b.com", "cpf": "52998224725"}, {"source": "crm"}, {"cpf": "123"}, {"shoe_size": "42"}],
)
def test_staff_search_needs_exactly_one_valid_identifier(api_key_client, crm, query):
    response = api_key_client("profiles:read").get("/api/v1/subjects", query)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_merged_subjects_answer_410_with_their_survivor(api_key_client, crm):
    writer = api_key_client("profiles:write")
    first = writer.post(
        RECORDS_URL, {"records": [{"external_id": "A", "given_name": "Ana", "email": "a@example.org"}]}, format="json"
    ).json()["results"][0]["subject_id"]
    second = writer.post(
        RECORDS_URL, {"records": [{"external_id": "B", "given_name": "Ana", "phone": "21987654321"}]}, format="json"
    ).json()["results"][0]["subject_id"]
    writer.post(
        RECORDS_URL,
        {"records": [{"external_id": "C", "given_name": "Ana", "email": "a@example.org", "phone": "21987654321"}]},
        format="json",
    )
    assert Subject.objects.get(pk=second).merged_into_id is not None

    response = api_key_client("profiles:read").get(f"/api/v1/subjects/{second}", HTTP_X_ACCESS_REASON="support 1")

    assert response.status_code == 410
    assert response.json()["code"] == "subject_merged"
    assert response.json()["errors"]["merged_into"][0]["message"] == first
