"""The consent check's fast lane answers exactly as the DRF view would, and hands every other case to it."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from c360.access.services import api_key_revoke
from c360.lib.history import Actor
from consent.api.views import consent_check_fast_lane
from consent.models import Method
from consent.services.events import EventInput, consent_record
from profiles.services.subjects import IdentifierInput, subject_create

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("fast-lane-tests")
URL = "/api/v1/consent/check"


@pytest.fixture
def people(notice):
    """Ana granted the newsletter by email, Bruno granted then withdrew it, Carla never answered."""
    ana, bruno, carla = (
        subject_create(
            actor=ACTOR,
            source="tests",
            identifiers=[IdentifierInput("email", f"{name}@example.com"), IdentifierInput("phone", phone)],
        )
        for name, phone in (("ana", "+5511987650001"), ("bruno", "+5511987650002"), ("carla", "+5511987650003"))
    )
    for subject, action in ((ana, "grant"), (bruno, "grant"), (bruno, "withdraw")):
        consent_record(
            event=EventInput(
                purpose_code="marketing.newsletter",
                channel="email",
                action=action,
                method=Method.FORM_CHECKBOX,
                subject_id=subject.id,
                notice_version_id=notice.pk,
            ),
            actor=ACTOR,
        )
    return {"ana": ana, "bruno": bruno, "carla": carla}


def _bodies(people):
    recipients = [
        {"email": "ana@example.com"},
        {"email": "bruno@example.com"},
        {"email": "carla@example.com"},
        {"email": "nobody@example.com"},
        {"phone": "+5511987650001"},
        {"subject_id": str(people["ana"].id)},
        {"subject_id": str(people["bruno"].id)},
    ]
    return [
        {"recipient": recipient, "purpose": purpose, "channel": channel}
        for recipient in recipients
        for purpose, channel in (("marketing.newsletter", "email"), ("marketing.newsletter", "sms"), ("nope", "email"))
    ]


def _without_time(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key != "checked_at"}


def test_the_lane_answers_what_the_view_answers(api_key_client, people, settings):
    checker = api_key_client("consent:check")
    for body in _bodies(people):
        settings.C360_API_FAST_LANE = True
        fast = checker.post(URL, body, format="json")
        settings.C360_API_FAST_LANE = False
        full = checker.post(URL, body, format="json")

        assert fast.status_code == full.status_code == 200
        assert "Allow" not in fast  # DRF's header: the lane answered the first
        assert "Allow" in full
        assert _without_time(fast.json()) == _without_time(full.json())
        assert fast["Content-Type"] == full["Content-Type"] == "application/json"
        assert fast["X-Content-Type-Options"] == full["X-Content-Type-Options"] == "nosniff"
        assert fast["X-Request-ID"]
        assert fast["X-Frame-Options"] == "DENY"

    def reasons(recipient: dict, channel: str = "email") -> list[str]:
        body = {"recipient": recipient, "purpose": "marketing.newsletter", "channel": channel}
        return checker.post(URL, body, format="json").json()["reasons"]

    # And the answers are the right ones, not merely the same.
    assert reasons({"email": "ana@example.com"}) == ["GRANTED"]
    assert reasons({"phone": "+5511987650001"}) == ["GRANTED"]  # Ana's consent is hers, on any of her points
    assert reasons({"email": "bruno@example.com"}) == ["WITHDRAWN"]
    assert reasons({"email": "carla@example.com"}) == ["NO_RECORD"]
    assert reasons({"email": "ana@example.com"}, channel="sms") == ["NO_RECORD"]


def _request(body, key: str, content_type: str = "application/json"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RequestFactory().post(URL, raw, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.mark.parametrize(
    "body",
    [
        # Text the serializer trims or that is not ASCII: valid, but the view's to read (it answers 200).
        {"recipient": {"email": " ana@example.com"}, "purpose": "marketing.newsletter", "channel": "email"},
        {"recipient": {"email": "añá@example.com"}, "purpose": "marketing.newsletter", "channel": "email"},
        {"recipient": {"subject_id": 12}, "purpose": "marketing.newsletter", "channel": "email"},  # DRF: UUID(int=12)
        # Errors: the view gives them their 400 with field errors.
        {"recipient": {"email": "not an email"}, "purpose": "marketing.newsletter", "channel": "email"},
        {"recipient": {"email": "ana@example.com", "phone": "+5511987650001"}, "purpose": "x", "channel": "email"},
        {"recipient": {"subject_id": "not-a-uuid"}, "purpose": "marketing.newsletter", "channel": "email"},
        {"recipient": {"email": "ana@example.com"}, "purpose": "", "channel": "email"},
        {"recipient": {"email": "ana@example.com"}, "purpose": "p" * 81, "channel": "email"},
        {"recipient": {"email": "ana@example.com"}, "purpose": "marketing\x00", "channel": "email"},
        {"recipient": {"email": "ana@example.com"}, "purpose": 7, "channel": "email"},
        {"recipient": {"email": "ana@example.com"}, "purpose": "marketing.newsletter", "channel": "email", "x": 1},
        {"recipient": "ana@example.com", "purpose": "marketing.newsletter", "channel": "email"},
        ["not", "an", "object"],
        b"{not json",
    ],
)
def test_anything_irregular_goes_to_the_view(api_key_client, people, body):
    assert consent_check_fast_lane(_request(body, _key(api_key_client, "consent:check"))) is None
    checker = api_key_client("consent:check")
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = checker.post(URL, payload, content_type="application/json")
    valid = isinstance(body, dict) and body["recipient"] in (
        {"email": " ana@example.com"},
        {"email": "añá@example.com"},
        {"subject_id": 12},
    )
    assert answer.status_code == (200 if valid else 400)


def _key(api_key_client, *scopes: str, rate: str = "") -> str:
    client = api_key_client(*scopes, rate=rate)
    return client._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")


def test_keys_scopes_media_types_and_budgets_are_the_views_to_refuse(api_key_client, people):
    good = {"recipient": {"email": "ana@example.com"}, "purpose": "marketing.newsletter", "channel": "email"}
    checker_key = _key(api_key_client, "consent:check")
    assert consent_check_fast_lane(_request(good, checker_key)) is not None

    assert consent_check_fast_lane(_request(good, "c360_nope_nope")) is None
    assert consent_check_fast_lane(_request(good, _key(api_key_client, "consent:write"))) is None
    assert consent_check_fast_lane(_request(good, checker_key, content_type="text/plain")) is None
    revoked = api_key_client("consent:check")
    api_key_revoke(prefix=revoked.api_key.prefix, actor=ACTOR)
    revoked_key = revoked._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    assert consent_check_fast_lane(_request(good, revoked_key)) is None
    assert revoked.post(URL, good, format="json").json()["code"] == "revoked_key"

    # A budget of one request a minute: the lane spends it, then the view answers 429.
    once = api_key_client("consent:check", rate="1/min")
    assert once.post(URL, good, format="json").status_code == 200
    refused = once.post(URL, good, format="json")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
