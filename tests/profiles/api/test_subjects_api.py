"""The subject endpoints: happy paths, authentication and scopes, and every kind of bad input."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from profiles.models import Identifier, Subject, SubjectAccess, SubjectKey
from tests.factories import SubjectFactory

pytestmark = pytest.mark.django_db

CREATE_URL = "/api/v1/subjects"
FIND_URL = "/api/v1/subjects/find"

VALID = {
    "given_name": "Maria",
    "family_name": "Silva Souza",
    "birth_date": "1990-05-17",
    "locale": "pt-BR",
    "address": {
        "street": "Rua Augusta",
        "number": "100",
        "city": "São Paulo",
        "state": "SP",
        "country": "BR",
    },
    "regimes": ["lgpd"],
    "identifiers": [
        {"kind": "email", "value": " Maria.Souza@Gmail.com "},
        {
            "kind": "phone",
            "value": "(11) 98765-4321",
            "is_verified": True,
            "verification_method": "one_time_code",
        },
        {"kind": "cpf", "value": "529.982.247-25"},
    ],
}


def error_codes(errors) -> set[str]:
    """Every ``code`` in a nested error tree."""
    if isinstance(errors, dict):
        return set(errors.get("code", "") and [errors["code"]]) | {
            code for key, value in errors.items() if key != "code" for code in error_codes(value)
        }
    if isinstance(errors, list):
        return {code for item in errors for code in error_codes(item)}
    return set()


def assert_nothing_written():
    assert Subject.objects.count() == 0
    assert SubjectKey.objects.count() == 0
    assert Identifier.objects.count() == 0
    assert Subject.history.count() == 0
    assert Identifier.history.count() == 0


def test_create_answers_201_with_ids_and_no_personal_data(api_key_client):
    client = api_key_client("profiles:write")

    response = client.post(CREATE_URL, VALID, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    subject = Subject.objects.get()
    assert body["id"] == str(subject.id)
    assert body["status"] == "active"
    assert sorted(item["kind"] for item in body["identifiers"]) == ["cpf", "email", "phone"]
    assert response["Location"].endswith(f"/api/v1/subjects/{subject.id}")
    text = response.content.decode()
    for secret in ("Maria", "Souza", "gmail", "98765", "52998224725", "529.982"):
        assert secret not in text
    assert subject.history.get().history_actor == f"api_key:{client.api_key.prefix}"


def test_read_reveals_with_a_reason_and_logs_the_access(api_key_client):
    writer, reader = api_key_client("profiles:write"), api_key_client("profiles:read")
    subject_id = writer.post(CREATE_URL, VALID, format="json").json()["id"]

    response = reader.get(f"/api/v1/subjects/{subject_id}", HTTP_X_ACCESS_REASON="support ticket 881")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["attributes"]["given_name"] == "Maria"
    assert body["attributes"]["birth_date"] == "1990-05-17"
    assert body["attributes"]["address"]["city"] == "São Paulo"
    assert {(item["kind"], item["value"]) for item in body["identifiers"]} == {
        ("email", "maria.souza@gmail.com"),
        ("phone", "+5511987654321"),
        ("cpf", "52998224725"),
    }
    access = SubjectAccess.objects.get()
    assert access.actor == f"api_key:{reader.api_key.prefix}"
    assert access.reason == "support ticket 881"


def test_read_without_a_reason_is_refused_and_not_logged(api_key_client):
    subject = SubjectFactory()

    response = api_key_client("profiles:read").get(f"/api/v1/subjects/{subject.id}")

    assert response.status_code == 400
    assert response.json()["code"] == "reason_required"
    assert response.json()["errors"]["reason"][0]["message"].startswith("Give a reason")
    assert not SubjectAccess.objects.exists()


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/subjects/00000000-0000-0000-0000-000000000000", 404, "not_found"),
        ("/api/v1/subjects/not-a-uuid", 404, "not_found"),
        ("/api/v1/nothing-here", 404, "not_found"),
    ],
)
def test_unknown_things_answer_json_404(api_key_client, path, status, code):
    response = api_key_client("profiles:read").get(path, HTTP_X_ACCESS_REASON="looking around")

    assert response.status_code == status
    assert response.json()["code"] == code


def test_an_erased_subject_answers_410(api_key_client):
    from c360.lib.history import Actor
    from profiles.services.subjects import subject_erase

    subject = SubjectFactory()
    subject_erase(subject_id=subject.id, actor=Actor.system("tests"), reason="dsar 2026-0005")

    response = api_key_client("profiles:read").get(f"/api/v1/subjects/{subject.id}", HTTP_X_ACCESS_REASON="after")

    assert response.status_code == 410
    assert response.json()["code"] == "subject_erased"


def test_tampered_storage_answers_a_clear_integrity_error(api_key_client):
    subject = SubjectFactory()
    tampered = bytearray(subject.given_name_enc)
    tampered[10] ^= 1
    Subject.objects.filter(pk=subject.pk).update(given_name_enc=bytes(tampered))

    response = api_key_client("profiles:read").get(f"/api/v1/subjects/{subject.id}", HTTP_X_ACCESS_REASON="audit")

    assert response.status_code == 500
    assert response.json()["code"] == "data_integrity_error"
    assert not SubjectAccess.objects.exists()


def test_find_by_a_messy_identifier(api_key_client):
    subject = SubjectFactory()
    SubjectFactory()

    response = api_key_client("profiles:read").post(
        FIND_URL,
        {"kind": "cpf", "value": subject.person.cpf.replace(".", "").replace("-", "")},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert response.json()["results"][0]["id"] == str(subject.id)


def test_find_with_no_match_answers_an_empty_list(api_key_client):
    response = api_key_client("profiles:read").post(
        FIND_URL, {"kind": "email", "value": "nobody@example.com"}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"count": 0, "results": []}


# ---------------------------------------------------------------- authentication and scopes


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("post", CREATE_URL, "profiles:write"),
        ("post", FIND_URL, "profiles:read"),
        ("get", "/api/v1/subjects/{id}", "profiles:read"),
    ],
)
def test_no_key_bad_key_revoked_key_and_wrong_scope(api_key_client, client, method, path, scope):
    from c360.access.services import api_key_revoke
    from c360.lib.history import Actor

    subject = SubjectFactory()
    before = Subject.objects.count()
    url = path.format(id=subject.id)
    payload = {"data": json.dumps(VALID), "content_type": "application/json"} if method == "post" else {}

    anonymous = getattr(client, method)(url, **payload)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="c360"'

    forged = getattr(client, method)(url, HTTP_AUTHORIZATION="Bearer c360_abcdefgh_forged", **payload)
    assert forged.status_code == 401
    assert forged.json()["code"] == "invalid_key"

    basic = getattr(client, method)(url, HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz", **payload)
    assert basic.status_code == 401
    assert basic.json()["code"] == "bad_header"

    other_scopes = [item for item in ("profiles:read", "profiles:write", "consent:check") if item != scope]
    wrong = api_key_client(*other_scopes)
    denied = getattr(wrong, method)(url, **payload)
    assert denied.status_code == 403
    assert denied.json()["code"] == "insufficient_scope"

    revoked = api_key_client(scope)
    api_key_revoke(prefix=revoked.api_key.prefix, actor=Actor.system("tests"))
    gone = getattr(revoked, method)(url, HTTP_X_ACCESS_REASON="try", **payload)
    assert gone.status_code == 401
    assert gone.json()["code"] == "revoked_key"

    assert Subject.objects.count() == before
    assert not SubjectAccess.objects.exists()


def test_each_key_has_its_own_request_budget(api_key_client):
    limited, other = api_key_client("profiles:read", rate="2/min"), api_key_client("profiles:read")
    body = {"kind": "email", "value": "x@example.com"}

    statuses = [limited.post(FIND_URL, body, format="json").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    throttled = limited.post(FIND_URL, body, format="json").json()
    assert throttled["code"] == "throttled"
    assert 0 < throttled["retry_after_seconds"] <= 60
    assert other.post(FIND_URL, body, format="json").status_code == 200


# ---------------------------------------------------------------- bad input: 400 with field errors, nothing written


def with_changes(**changes):
    body = json.loads(json.dumps(VALID))
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


BAD_BODIES = [
    ("unknown field", with_changes(nickname="Mari"), "nickname", "unknown_field"),
    ("unknown address key", with_changes(address={"planet": "Mars"}), "address", None),
    (
        "unknown identifier field",
        with_changes(identifiers=[{"kind": "email", "value": "a@b.com", "primary": True}]),
        "identifiers",
        None,
    ),
    ("name as number", with_changes(given_name=123), "given_name", "invalid"),
    ("name too long", with_changes(given_name="x" * 201), "given_name", "max_length"),
    ("birth date format", with_changes(birth_date="17/05/1990"), "birth_date", "invalid"),
    ("birth date in future", with_changes(birth_date="2999-01-01"), "birth_date", None),
    ("regimes as string", with_changes(regimes="lgpd"), "regimes", "not_a_list"),
    ("regimes empty", with_changes(regimes=[]), "regimes", "min_length"),
    ("unknown regime", with_changes(regimes=["ccpa"]), "regimes", None),
    ("identifiers as object", with_changes(identifiers={"kind": "email"}), "identifiers", "not_a_list"),
    (
        "identifier kind unknown",
        with_changes(identifiers=[{"kind": "fax", "value": "1"}]),
        "identifiers",
        None,
    ),
    (
        "email invalid",
        with_changes(identifiers=[{"kind": "email", "value": "maria at gmail"}]),
        "identifiers",
        None,
    ),
    ("phone invalid", with_changes(identifiers=[{"kind": "phone", "value": "12"}]), "identifiers", None),
    (
        "phone as number",
        with_changes(identifiers=[{"kind": "phone", "value": 11987654321}]),
        "identifiers",
        None,
    ),
    (
        "cpf check digits",
        with_changes(identifiers=[{"kind": "cpf", "value": "529.982.247-26"}]),
        "identifiers",
        None,
    ),
    (
        "cnpj invalid",
        with_changes(identifiers=[{"kind": "cnpj", "value": "11.222.333/0001-00"}]),
        "identifiers",
        None,
    ),
    (
        "external without namespace",
        with_changes(identifiers=[{"kind": "external", "value": "C-1"}]),
        "identifiers",
        None,
    ),
    (
        "verified as string",
        with_changes(identifiers=[{"kind": "email", "value": "a@b.com", "is_verified": "yes"}]),
        "identifiers",
        None,
    ),
    (
        "verified without method",
        with_changes(identifiers=[{"kind": "email", "value": "a@b.com", "is_verified": True}]),
        "identifiers",
        None,
    ),
]


@pytest.mark.parametrize(("case", "body", "field", "code"), BAD_BODIES, ids=[case for case, *_ in BAD_BODIES])
def test_create_refuses_bad_input_with_field_errors(api_key_client, case, body, field, code):
    response = api_key_client("profiles:write").post(CREATE_URL, body, format="json")

    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["code"] == "validation_error"
    assert field in payload["errors"]
    if code:
        assert code in error_codes(payload["errors"][field])
    assert_nothing_written()


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        ('{"given_name": "Maria",', "application/json", 400, "malformed_json"),
        ("not json at all", "application/json", 400, "malformed_json"),
        ("[1, 2, 3]", "application/json", 400, "validation_error"),
        ('"just a string"', "application/json", 400, "validation_error"),
        ("given_name=Maria", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_create_refuses_bodies_that_are_not_a_json_object(api_key_client, raw, content_type, status, code):
    response = api_key_client("profiles:write").post(CREATE_URL, raw, content_type=content_type)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert_nothing_written()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "email"}, "value"),
        ({"kind": "cpf", "value": "abc"}, "value"),
        ({"kind": "email", "value": "a@b.com", "extra": 1}, "extra"),
        ({"kind": "social", "value": "x"}, "kind"),
        ({"kind": "email", "value": ["a@b.com"]}, "value"),
    ],
)
def test_find_refuses_bad_input(api_key_client, body, field):
    response = api_key_client("profiles:read").post(FIND_URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_methods_not_offered_answer_405(api_key_client):
    response = api_key_client("profiles:read", "profiles:write").delete(CREATE_URL)

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get(reverse("api:schema"), HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    document = json.loads(schema.content)
    assert {"/api/v1/subjects", "/api/v1/subjects/find", "/api/v1/subjects/{subject_id}"} <= set(document["paths"])
    assert "SubjectCollectionInput" in json.dumps(document["components"])
    assert client.get(reverse("api:docs")).status_code == 200
