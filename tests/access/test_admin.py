from __future__ import annotations

import pytest

from c360.access.models import ApiKey
from c360.access.services import api_key_authenticate

pytestmark = pytest.mark.django_db


def test_the_admin_issues_a_key_and_shows_it_once(admin_client):
    response = admin_client.post(
        "/admin/access/apikey/add/",
        {"name": "Campaign tool", "scopes": ["consent:check"], "rate": "6000/min"},
    )

    assert response.status_code == 200
    plaintext = response.context["plaintext"]
    assert plaintext.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get()
    assert api_key_authenticate(plaintext) == key
    assert key.rate == "6000/min"
    # The change page never shows it again.
    assert plaintext.encode() not in admin_client.get(f"/admin/access/apikey/{key.pk}/change/").content


def test_the_admin_form_reports_bad_input_and_issues_nothing(admin_client):
    no_scope = admin_client.post("/admin/access/apikey/add/", {"name": "x", "scopes": []})
    bad_rate = admin_client.post(
        "/admin/access/apikey/add/", {"name": "x", "scopes": ["consent:check"], "rate": "lots"}
    )

    assert no_scope.status_code == bad_rate.status_code == 200
    assert no_scope.context["form"].errors.keys() == {"scopes"}
    assert bad_rate.context["form"].errors.keys() == {"rate"}
    assert not ApiKey.objects.exists()


def test_revoke_action(admin_client):
    admin_client.post("/admin/access/apikey/add/", {"name": "Old tool", "scopes": ["consent:check"]})
    key = ApiKey.objects.get()

    admin_client.post("/admin/access/apikey/", {"action": "revoke", "_selected_action": [key.pk]})

    key.refresh_from_db()
    assert key.revoked_at is not None
