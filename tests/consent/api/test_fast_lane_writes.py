"""The consent write's fast lane answers as the DRF view does, and hands everything short of a 201 to it."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from c360.lib.history import Actor
from consent.api.views import consent_event_fast_lane
from consent.models import ConsentEvent
from profiles.services.subjects import IdentifierInput, subject_create, subject_erase

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("fast-lane-tests")
URL = "/api/v1/consent/events"


@pytest.fixture
def ana(db):
    return subject_create(actor=ACTOR, source="tests", identifiers=[IdentifierInput("email", "ana@example.com")])


def _writes(ana, notice) -> list[tuple[dict, dict]]:
    """(body, extra headers): a grant with its proof, a withdrawal by address, an objection by an agent, GPC."""
    grant = {
        "subject_id": str(ana.id),
        "purpose": "marketing.newsletter",
        "channel": "email",
        "action": "grant",
        "method": "form_checkbox",
        "notice_version": notice.pk,
        "evidence": {"ip": "203.0.113.9", "user_agent": "Mozilla/5.0", "form_sha256": "a" * 64},
    }
    by_address = {
        "contact": {"kind": "email", "value": "Ana@Example.com"},
        "purpose": "marketing.newsletter",
        "channel": "email",
        "action": "withdraw",
        "method": "reply_stop",
        "source_system": "crm",
    }
    objection = {
        "subject_id": str(ana.id),
        "purpose": "*",
        "channel": "*",
        "action": "object",
        "method": "call_centre",
        "actor": {"kind": "agent", "ref": "desk-7"},
    }
    gpc_in_body, gpc_header = ({**grant, "gpc": True}, {}), (grant, {"HTTP_SEC_GPC": "1"})
    return [(grant, {}), (by_address, {}), (objection, {}), gpc_in_body, gpc_header]


def _comparable(answer: dict) -> dict:
    """What must match between two writes of the same event: all but its id, place in the chain and time."""
    assert set(answer) == {"id", "chain", "sequence", "status", "hash", "recorded_at", "valid_until", "gpc_objections"}
    assert answer["recorded_at"][-6:] in {"-03:00", "+00:00"} or answer["recorded_at"].endswith("Z")
    until = answer["valid_until"]  # the purpose's validity from the time of each write: only its form must match
    return {key: answer[key] for key in ("chain", "status", "gpc_objections")} | {
        "recorded_at_zone": answer["recorded_at"][-6:],
        "valid_until_zone": until[-6:] if until else None,
    }


def test_the_lane_writes_what_the_view_writes(api_key_client, ana, notice, settings):
    writer = api_key_client("consent:write")
    for body, headers in _writes(ana, notice):
        settings.C360_API_FAST_LANE = True
        fast = writer.post(URL, body, format="json", **headers)
        settings.C360_API_FAST_LANE = False
        full = writer.post(URL, body, format="json", **headers)

        assert fast.status_code == full.status_code == 201, (fast.content, full.content)
        assert "Allow" not in fast  # DRF's header: the lane answered the first
        assert "Allow" in full
        assert _comparable(fast.json()) == _comparable(full.json())
        assert full.json()["sequence"] == fast.json()["sequence"] + 1 + fast.json()["gpc_objections"]
        assert fast["Content-Type"] == full["Content-Type"] == "application/json"
        assert fast["X-Content-Type-Options"] == "nosniff"
        assert fast["X-Frame-Options"] == "DENY"
        assert fast["X-Request-ID"]
        # and the two events are the same but for their place and time
        first, second = (ConsentEvent.objects.get(pk=answer.json()["id"]) for answer in (fast, full))
        for name in ("action", "purpose_code", "channel", "method", "actor_kind", "actor_ref", "source_system"):
            assert getattr(first, name) == getattr(second, name)
        assert first.evidence == second.evidence
        assert (first.ip_enc is None) == (second.ip_enc is None)


def _request(body, key: str, content_type: str = "application/json"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RequestFactory().post(URL, raw, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}")


def _key(api_key_client, *scopes: str) -> str:
    return api_key_client(*scopes)._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"notice_version": None}, (400, "validation_error")),  # a grant without its proof: the service refuses
        ({"purpose": "nope"}, (400, "validation_error")),
        ({"channel": "fax"}, (400, "validation_error")),
        ({"action": 7}, (400, "validation_error")),
        ({"evidence": {"ip": "not an address"}}, (400, "validation_error")),
        ({"surprise": 1}, (400, "validation_error")),
        ({"subject_id": "4f0c9a3e-0000-4000-8000-000000000000"}, (400, "validation_error")),
    ],
)
def test_refused_and_invalid_writes_go_to_the_view_and_write_nothing(api_key_client, ana, notice, change, refusal):
    body, _ = _writes(ana, notice)[0]
    body = {key: value for key, value in {**body, **change}.items() if value is not None}
    key = _key(api_key_client, "consent:write")
    before = ConsentEvent.objects.count()

    assert consent_event_fast_lane(_request(body, key)) is None
    assert ConsentEvent.objects.count() == before

    answer = api_key_client("consent:write").post(URL, body, format="json")
    assert (answer.status_code, answer.json()["code"]) == refusal
    assert ConsentEvent.objects.count() == before


def test_an_erased_person_gets_the_views_410(api_key_client, ana, notice):
    body, _ = _writes(ana, notice)[0]
    subject_erase(subject_id=ana.id, actor=ACTOR, reason="tests")
    assert consent_event_fast_lane(_request(body, _key(api_key_client, "consent:write"))) is None
    answer = api_key_client("consent:write").post(URL, body, format="json")
    assert answer.status_code == 410
    assert answer.json()["code"] == "subject_erased"


def test_keys_scopes_and_media_types_are_the_views_to_refuse(api_key_client, ana, notice):
    body, _ = _writes(ana, notice)[0]
    writer_key = _key(api_key_client, "consent:write")
    assert consent_event_fast_lane(_request(b"{not json", writer_key)) is None
    assert consent_event_fast_lane(_request(body, "c360_nope_nope")) is None
    assert consent_event_fast_lane(_request(body, _key(api_key_client, "consent:check"))) is None
    assert consent_event_fast_lane(_request(body, writer_key, content_type="text/plain")) is None
    assert ConsentEvent.objects.count() == 0
    assert consent_event_fast_lane(_request(body, writer_key)).status_code == 201
    assert ConsentEvent.objects.count() == 1
