"""The DSAR API: scoped, validated, and the same services as the admin and the portal."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from dsar.models import DataRequest, DataSource
from profiles.services.subjects import IdentifierInput, subject_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dpo(api_key_client):
    return api_key_client("dsar:manage")


@pytest.fixture
def person(system_actor):
    DataSource.objects.create(code="c360", name="c360", kind="c360")
    return subject_create(
        actor=system_actor,
        source="crm",
        attributes={"given_name": "Bruno"},
        identifiers=[IdentifierInput("email", "bruno@example.com")],
    )


def file_request(client, **extra):
    body = {
        "request_type": "access",
        "regimes": ["lgpd"],
        "intake_channel": "email",
        "received_at": "2026-11-20T09:30:00-03:00",
        "identities": [{"kind": "email", "value": "bruno@example.com"}],
        **extra,
    }
    return client.post("/api/v1/dsar/requests", body, format="json")


def test_a_request_is_filed_verified_answered_and_its_package_downloaded_once(dpo, person):
    created = file_request(dpo)
    assert created.status_code == 201, created.content
    request_id = created.json()["id"]
    assert created.json()["status"] == "awaiting_verification"
    assert created.json()["due_at"].startswith("2026-12-05")

    verified = dpo.post(
        f"/api/v1/dsar/requests/{request_id}/actions",
        {"action": "verify", "method": "staff", "verified": True},
        format="json",
    )
    assert verified.status_code == 200, verified.content
    detail = dpo.get(f"/api/v1/dsar/requests/{request_id}").json()
    assert detail["status"] == "in_review"
    assert [task["status"] for task in detail["tasks"]] == ["done"]
    assert [event["kind"] for event in detail["events"]][:2] == ["received", "transition"]

    link = dpo.post(f"/api/v1/dsar/requests/{request_id}/package/link")
    assert link.status_code == 201
    token = link.json()["token"]
    download = dpo.post("/api/v1/dsar/packages/download", {"token": token}, format="json")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert {"manifest.json", "manifest.sig", "data.csv", "sources/c360.json"} <= set(names)
    again = dpo.post("/api/v1/dsar/packages/download", {"token": token}, format="json")
    assert again.status_code == 410

    done = dpo.post(f"/api/v1/dsar/requests/{request_id}/actions", {"action": "complete"}, format="json")
    assert done.json()["status"] == "completed"


def test_bad_requests_get_field_errors_and_nothing_is_filed(dpo, person):
    response = file_request(dpo, request_type="teleport", identities=[{"kind": "email", "value": "nope"}])
    assert response.status_code == 400
    assert "request_type" in json.dumps(response.json())

    response = file_request(dpo)
    request_id = response.json()["id"]
    bad = dpo.post(f"/api/v1/dsar/requests/{request_id}/actions", {"action": "complete"}, format="json")
    assert bad.status_code == 409
    unknown = dpo.post(f"/api/v1/dsar/requests/{request_id}/actions", {"action": "verify"}, format="json")
    assert unknown.status_code == 400
    assert DataRequest.objects.count() == 1


def test_the_api_needs_the_dsar_scope(api_key_client, person):
    checker = api_key_client("consent:check")
    assert file_request(checker).status_code == 403
    assert DataRequest.objects.count() == 0
