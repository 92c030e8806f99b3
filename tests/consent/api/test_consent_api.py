"""The consent endpoints: events, subject consents, single and bulk checks, bad input."""

from __future__ import annotations

import json

import pytest

from c360.lib.history import Actor
from consent.models import ConsentEvent, ConsentState
from profiles.services.subjects import IdentifierInput, subject_create

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("api-tests")


@pytest.fixture
def maria():
    return subject_create(actor=ACTOR, source="tests", identifiers=[IdentifierInput("email", "maria@example.com")])


@pytest.fixture
def writer(api_key_client):
    return api_key_client("consent:write")


@pytest.fixture
def checker(api_key_client):
    return api_key_client("consent:check")


def grant_body(subject, notice, **changes):
    return {
        "subject_id": str(subject.id),
        "purpose": "marketing.newsletter",
        "channel": "email",
        "action": "grant",
        "method": "form_checkbox",
        "notice_version": notice.pk,
        "source_system": "site",
        "evidence": {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "form_sha256": "a" * 64},
        **changes,
    }


def check_body(email="maria@example.com", purpose="marketing.newsletter", channel="email"):
    return {"recipient": {"email": email}, "purpose": purpose, "channel": channel}


def test_a_recorded_grant_is_answered_by_the_check(writer, checker, maria, notice):
    created = writer.post("/api/v1/consent/events", grant_body(maria, notice), format="json")

    assert created.status_code == 201, created.content
    event = created.json()
    assert (event["sequence"], event["status"], event["gpc_objections"]) == (1, "granted", 0)
    answer = checker.post("/api/v1/consent/check", check_body(" Maria@Example.com"), format="json").json()
    assert answer["allowed"] is True
    assert answer["reasons"] == ["GRANTED"]
    assert answer["evidence_event_id"] == event["id"]
    assert answer["legal_basis"] == "art7_i"


def test_the_check_fails_closed_for_unknown_recipients(checker, newsletter):
    answer = checker.post("/api/v1/consent/check", check_body("nobody@example.com"), format="json").json()

    assert answer["allowed"] is False
    assert answer["reasons"] == ["UNKNOWN_RECIPIENT", "NO_RECORD"]


def test_sec_gpc_on_a_collection_request_objects_to_sale_and_share(writer, checker, maria, notice, partners):
    response = writer.post(
        "/api/v1/consent/events", grant_body(maria, notice, purpose="partners.share"), format="json", HTTP_SEC_GPC="1"
    )

    assert response.json()["gpc_objections"] == 1
    answer = checker.post("/api/v1/consent/check", check_body(purpose="partners.share"), format="json").json()
    assert answer["reasons"] == ["GPC_OPT_OUT"]


def test_a_subjects_consents_show_state_and_history_with_the_notice_hash(writer, checker, maria, notice):
    writer.post("/api/v1/consent/events", grant_body(maria, notice), format="json")
    writer.post("/api/v1/consent/events", grant_body(maria, notice, action="withdraw", method="portal"), format="json")

    body = checker.get(f"/api/v1/subjects/{maria.id}/consents").json()

    assert [(state["purpose"], state["status"]) for state in body["states"]] == [("marketing.newsletter", "withdrawn")]
    assert [event["action"] for event in body["history"]] == ["grant", "withdraw"]
    assert body["history"][0]["notice_sha256"] == notice.text_sha256
    assert "203.0.113.7" not in json.dumps(body)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"purpose": "marketing.unknown"}, "purpose"),
        ({"channel": "fax"}, "channel"),
        ({"action": "like"}, "action"),
        ({"method": "guess"}, "method"),
        ({"subject_id": "not-a-uuid"}, "subject_id"),
        ({"evidence": {"ip": "not an ip"}}, "evidence"),
        ({"evidence": {"shoe_size": 42}}, "evidence"),
        ({"contact": {"kind": "email", "value": "maria at example"}, "subject_id": None}, "contact_value"),
        ({"nickname": "mari"}, "nickname"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
    ],
)
def test_bad_events_answer_400_with_field_errors_and_nothing_is_written(writer, maria, notice, changes, field):
    body = {key: value for key, value in grant_body(maria, notice, **changes).items() if value is not None}

    response = writer.post("/api/v1/consent/events", body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not ConsentEvent.objects.exists()
    assert not ConsentState.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"recipient": {"email": "not-an-email"}, "purpose": "marketing.newsletter", "channel": "email"}, "recipient"),
        ({"recipient": {"email": "a@b.com", "phone": "11987654321"}, "purpose": "x", "channel": "email"}, "recipient"),
        ({"recipient": {}, "purpose": "marketing.newsletter", "channel": "email"}, "recipient"),
        ({"recipient": {"external_id": "C1"}, "purpose": "marketing.newsletter", "channel": "email"}, "recipient"),
        ({"recipient": {"email": "a@b.com"}, "channel": "email"}, "purpose"),
    ],
)
def test_bad_checks_answer_400(checker, newsletter, body, field):
    response = checker.post("/api/v1/consent/check", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_unknown_purpose_or_channel_is_a_clear_no(checker, maria, newsletter):
    unknown = checker.post("/api/v1/consent/check", check_body(purpose="marketing.nope"), format="json").json()
    wrong_channel = checker.post("/api/v1/consent/check", check_body(channel="push"), format="json").json()

    assert unknown["reasons"] == ["PURPOSE_INACTIVE"]
    assert wrong_channel["reasons"] == ["CHANNEL_NOT_ALLOWED"]


def test_scopes_are_enforced(api_key_client, maria, notice):
    reader = api_key_client("consent:check")
    writer = api_key_client("consent:write")

    assert reader.post("/api/v1/consent/events", grant_body(maria, notice), format="json").status_code == 403
    assert writer.post("/api/v1/consent/check", check_body(), format="json").status_code == 403
    assert api_key_client("profiles:read").get(f"/api/v1/subjects/{maria.id}/consents").status_code == 403
    assert not ConsentEvent.objects.exists()


def bulk_lines(response):
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def test_bulk_check_streams_one_line_per_recipient_and_a_summary(writer, checker, maria, notice):
    writer.post("/api/v1/consent/events", grant_body(maria, notice), format="json")
    recipients = [
        {"email": "maria@example.com"},
        {"email": "nobody@example.com"},
        {"email": "broken"},
        "string",
        {"subject_id": str(maria.id)},
        {"fax": "123"},
    ]

    response = checker.post(
        "/api/v1/consent/check/bulk",
        {"purpose": "marketing.newsletter", "channel": "email", "recipients": recipients},
        format="json",
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    lines = bulk_lines(response)
    assert [line.get("allowed") for line in lines[:6]] == [True, False, False, False, True, False]
    assert [bool(line.get("error")) for line in lines[:6]] == [False, False, True, True, False, True]
    assert lines[-1] == {"summary": {"total": 6, "allowed": 2, "denied": 1, "invalid": 3}}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"purpose": "marketing.newsletter", "channel": "email", "recipients": []}, 400, "validation_error"),
        ({"purpose": "marketing.newsletter", "channel": "email"}, 400, "validation_error"),
        (
            {"purpose": "marketing.newsletter", "channel": "email", "recipients": [{"email": "a@b.com"}], "x": 1},
            400,
            "validation_error",
        ),
        ([], 400, "validation_error"),
    ],
)
def test_bad_bulk_requests_are_refused_whole(checker, newsletter, body, status, code):
    response = checker.post("/api/v1/consent/check/bulk", body, format="json")

    assert response.status_code == status
    assert response.json()["code"] == code


def test_a_full_list_of_100000_real_sized_addresses_is_answered_line_by_line(checker, newsletter):
    # About 5 MB of JSON: more than Django's default body limit, which this endpoint raises on purpose.
    recipients = [{"email": f"cliente.numero.{n}@exemplo-loja.com.br"} for n in range(100_000)]
    body = {"purpose": "marketing.newsletter", "channel": "email", "recipients": recipients}

    response = checker.post("/api/v1/consent/check/bulk", json.dumps(body), content_type="application/json")

    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 100_001
    assert json.loads(lines[-1])["summary"] == {"total": 100_000, "allowed": 0, "denied": 100_000, "invalid": 0}


def test_a_bulk_list_must_be_json(checker, newsletter):
    response = checker.post("/api/v1/consent/check/bulk", "email\na@b.com", content_type="text/csv")

    assert response.status_code == 415


def test_more_than_100000_recipients_answer_413(checker, newsletter):
    recipients = [{"email": f"cliente.numero.{n}@exemplo-loja.com.br"} for n in range(100_001)]
    body = {"purpose": "marketing.newsletter", "channel": "email", "recipients": recipients}

    response = checker.post("/api/v1/consent/check/bulk", json.dumps(body), content_type="application/json")

    assert response.status_code == 413
    assert response.json()["code"] == "batch_too_large"
