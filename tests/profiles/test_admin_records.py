"""Admin pages for sources, the quarantine, identity decisions and splits."""

from __future__ import annotations

import json

import pytest

from c360.lib.history import Actor
from profiles.models import MatchSuggestion, MergeDecision, Source, SourceRecord, Subject, SubjectAccess
from profiles.services.ingestion import records_ingest

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("admin-tests")


@pytest.fixture
def crm():
    return Source.objects.create(code="crm", name="CRM", trust_rank=80)


def ingest(source, *records):
    return records_ingest(source=source, records=list(records), actor=SYSTEM).outcomes


def test_the_quarantine_shows_reasons_and_a_record_is_fixed_through_an_audited_reveal(admin_client, admin_user, crm):
    (bad,) = ingest(crm, {"external_id": "C1", "full_name": "Maria Souza", "email": "maria at gmail"})
    listing = admin_client.get("/admin/profiles/sourcerecord/?status__exact=quarantined")
    assert str(bad.record_id)[:8] in listing.content.decode()
    assert "Maria" not in listing.content.decode()

    page = admin_client.get(f"/admin/profiles/sourcerecord/{bad.record_id}/change/")
    assert "Not a valid email address" in page.content.decode()

    url = f"/admin/profiles/sourcerecord/{bad.record_id}/fix/"
    revealed = admin_client.post(url, {"reason": "fixing quarantine ticket 12"})
    assert "maria at gmail" in revealed.content.decode()
    access = SubjectAccess.objects.get()
    assert (access.record_id, access.subject_id, access.user) == (bad.record_id, None, admin_user)

    fixed = {"external_id": "C1", "full_name": "Maria Souza", "email": "maria@gmail.com"}
    response = admin_client.post(url, {"record": json.dumps(fixed)})
    assert response.status_code == 302
    assert SourceRecord.objects.get(pk=bad.record_id).status == SourceRecord.Status.LINKED

    broken = admin_client.post(url, {"record": "{not json"})
    assert "Not valid JSON" in broken.content.decode()


def test_suggestions_are_accepted_or_rejected_from_the_admin(admin_client, crm):
    shop = Source.objects.create(code="shop", name="Shop", trust_rank=60)
    common = {"birth_date": "1980-02-03", "address": {"postal_code": "70000-000"}}
    ingest(crm, {"external_id": "C1", "given_name": "Maria", "family_name": "Lima", "email": "m@example.com", **common})
    ingest(shop, {"external_id": "S1", "full_name": "Maria Lima", "phone": "61987654321", **common})
    suggestion = MatchSuggestion.objects.get()

    admin_client.post(
        "/admin/profiles/matchsuggestion/", {"action": "accept_selected", "_selected_action": [suggestion.pk]}
    )

    suggestion.refresh_from_db()
    assert suggestion.status == MatchSuggestion.Status.ACCEPTED
    assert MergeDecision.objects.get().decided_by.startswith("user:")
    assert admin_client.get("/admin/profiles/mergedecision/").status_code == 200


def test_a_subject_is_split_from_its_admin_page(admin_client, crm):
    shop = Source.objects.create(code="shop", name="Shop", trust_rank=60)
    (joana,) = ingest(crm, {"external_id": "C1", "given_name": "Joana", "email": "casa@example.com"})
    ingest(shop, {"external_id": "S1", "phone": "21987650002"})
    ingest(crm, {"external_id": "C2", "given_name": "Joana", "email": "casa@example.com", "phone": "21987650002"})
    record = SourceRecord.objects.get(source=shop)
    assert record.subject_id == joana.subject_id

    page = admin_client.get(f"/admin/profiles/subject/{joana.subject_id}/change/")
    assert f"/admin/profiles/subject/{joana.subject_id}/split/" in page.content.decode()
    response = admin_client.post(f"/admin/profiles/subject/{joana.subject_id}/split/", {"record": [str(record.pk)]})

    assert response.status_code == 302
    record.refresh_from_db()
    assert record.subject_id != joana.subject_id
    assert Subject.objects.get(pk=record.subject_id).status == Subject.Status.ACTIVE


def test_reveal_shows_where_each_value_comes_from_and_where_sources_disagree(admin_client, crm):
    shop = Source.objects.create(code="shop", name="Shop", trust_rank=60)
    (maria,) = ingest(
        crm, {"external_id": "C1", "given_name": "Maria", "family_name": "Souza", "email": "m@example.com"}
    )
    ingest(shop, {"external_id": "S1", "full_name": "Mariah Souza Lima", "email": "m@example.com"})

    page = admin_client.post(f"/admin/profiles/subject/{maria.subject_id}/reveal/", {"reason": "data quality review"})

    content = page.content.decode()
    assert "from crm" in content
    assert "Where the sources disagree" in content
    assert "Mariah" in content


def test_sources_are_edited_through_the_service_and_never_deleted(admin_client, crm):
    response = admin_client.post(
        f"/admin/profiles/source/{crm.pk}/change/",
        {"code": "crm", "name": "CRM", "kind": "crm", "trust_rank": "95", "emails_verified": "on", "description": ""},
    )

    assert response.status_code == 302
    crm.refresh_from_db()
    assert (crm.trust_rank, crm.emails_verified) == (95, True)
    assert crm.history.latest().history_user is not None
    assert admin_client.post(f"/admin/profiles/source/{crm.pk}/delete/", {"post": "yes"}).status_code == 403
