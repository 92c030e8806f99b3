"""The API against its own OpenAPI schema: every operation fuzzed (schemathesis), zero 5xx, zero responses that
the schema does not describe. Bounded for CI; bench/fuzz.py runs the same harness with >= 10,000 cases."""

from __future__ import annotations

import os

import pytest

from . import harness

pytestmark = [pytest.mark.django_db(transaction=False), pytest.mark.timeout(600)]

# Per operation and generation mode (positive, negative): 23 x 2 x 60 = 2,760 cases.
MAX_EXAMPLES = int(os.environ.get("C360_FUZZ_EXAMPLES", "60"))


def test_every_operation_conforms_to_the_schema() -> None:
    known = harness.seed()
    report = harness.run(max_examples=MAX_EXAMPLES, keys=harness.api_keys(), known=known)
    print(report.summary())  # noqa: T201
    assert report.operations >= 20
    assert report.ok, report.summary()
    assert report.server_errors == 0
    assert report.schema_violations == 0


# ---------------------------------------------------------------- what the fuzzer found, pinned


def test_bulk_check_refuses_a_purpose_with_a_nul_byte_before_streaming(api_key_client) -> None:
    # Found by the fuzzer: the bulk check validated purpose/channel by hand, so a NUL byte reached PostgreSQL
    # inside the streamed 200 answer (DataError after the headers were sent).
    client = api_key_client("consent:check")
    body = {"purpose": "marketing\x00newsletter", "channel": "email", "recipients": [{"email": "a@example.com"}]}

    response = client.post("/api/v1/consent/check/bulk", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["purpose"][0]["code"] == "null_characters_not_allowed"


def test_audience_check_refuses_a_list_that_is_not_utf8(api_key_client) -> None:
    # Found by the fuzzer: a non-UTF-8 upload was accepted (202) and failed in the task (500 with no broker).
    from django.core.files.uploadedfile import SimpleUploadedFile

    from consent.models import AudienceCheck, Purpose

    Purpose.objects.create(
        code="marketing.newsletter", names={"en": "Newsletter"}, lgpd_basis="art7_i", channels=["email"], is_active=True
    )
    upload = SimpleUploadedFile("list.csv", b"email\n\xff\xfe@example.com\n", content_type="text/csv")

    response = api_key_client("consent:check").post(
        "/api/v1/audience-checks",
        {"purpose": "marketing.newsletter", "channel": "email", "file": upload},
        format="multipart",
    )

    assert response.status_code == 400
    assert "file" in response.json()["errors"]
    assert not AudienceCheck.objects.exists()


def test_quarantine_list_refuses_a_source_filter_with_a_nul_byte(api_key_client) -> None:
    # Found by the fuzzer: ?source= went to PostgreSQL unvalidated, and a NUL byte made it a 500.
    response = api_key_client("profiles:read").get("/api/v1/quarantine", {"source": "crm\x00"})

    assert response.status_code == 400
    assert "source" in response.json()["errors"]
