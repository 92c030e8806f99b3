"""Ingestion: idempotent upserts, each match rule, transitive closure, guard rails, quarantine, erasure."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from c360.lib.history import Actor
from profiles.models import (
    Identifier,
    MatchSuggestion,
    MergeDecision,
    RecordKey,
    Source,
    SourceRecord,
    Subject,
)
from profiles.services.ingestion import records_ingest
from profiles.services.subjects import subject_erase, subject_reveal

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("ingest-tests")


@pytest.fixture
def crm():
    return Source.objects.create(code="crm", name="CRM", kind="crm", trust_rank=80, emails_verified=True)


@pytest.fixture
def shop():
    return Source.objects.create(code="shop", name="Shop", kind="ecommerce", trust_rank=60)


@pytest.fixture
def support():
    return Source.objects.create(code="support", name="Support desk", kind="support", trust_rank=30)


def ingest(source, *records):
    return records_ingest(source=source, records=list(records), actor=ACTOR)


def attributes(subject_id):
    return subject_reveal(subject_id=subject_id, actor=ACTOR, reason="test read back").attributes


MARIA = {
    "external_id": "C-1",
    "given_name": "Maria",
    "family_name": "Silva Souza",
    "email": "maria.souza@gmail.com",
    "phone": "(11) 98765-4321",
    "cpf": "529.982.247-25",
    "birth_date": "1990-05-17",
    "address": {"street": "Rua Augusta", "number": "100", "city": "São Paulo", "postal_code": "01305-000"},
}


# ---------------------------------------------------------------- upserts


def test_sending_the_same_record_again_changes_nothing(crm):
    first = ingest(crm, MARIA).outcomes[0]
    counts = (
        SourceRecord.objects.count(),
        Subject.objects.count(),
        SourceRecord.history.count(),
        Subject.history.count(),
    )

    again = ingest(crm, MARIA).outcomes[0]

    assert first.status == "created"
    assert again.status == "unchanged"
    assert (again.record_id, again.subject_id) == (first.record_id, first.subject_id)
    assert counts == (
        SourceRecord.objects.count(),
        Subject.objects.count(),
        SourceRecord.history.count(),
        Subject.history.count(),
    )


def test_a_changed_record_updates_its_row_and_profile(crm):
    first = ingest(crm, MARIA).outcomes[0]

    changed = ingest(crm, {**MARIA, "family_name": "Souza Lima", "updated_at": "2026-10-01T12:00:00Z"}).outcomes[0]

    assert changed.status == "updated"
    assert changed.record_id == first.record_id
    assert changed.match["rule"] == "external_id"
    assert SourceRecord.objects.count() == 1
    assert attributes(first.subject_id)["family_name"] == "Souza Lima"
    assert SourceRecord.history.filter(id=first.record_id).count() == 2


def test_two_copies_in_one_batch_keep_the_last(crm):
    result = ingest(crm, MARIA, {**MARIA, "family_name": "Lima"})

    assert [outcome.status for outcome in result.outcomes] == ["superseded", "created"]
    assert result.outcomes[0].record_id == result.outcomes[1].record_id
    assert attributes(result.outcomes[1].subject_id)["family_name"] == "Lima"


# ---------------------------------------------------------------- each rule


@pytest.mark.parametrize(
    ("shop_record", "rule"),
    [
        ({"external_id": "S-1", "full_name": "MARIA SOUZA", "cpf": "52998224725"}, "cpf"),
        ({"external_id": "S-1", "full_name": "Maria Souza", "email": " MARIA.SOUZA@gmail.com"}, "email"),
        ({"external_id": "S-1", "full_name": "Maria", "phone": "+55 11 98765-4321"}, "phone"),
    ],
)
def test_each_deterministic_rule_links_to_the_existing_subject(crm, shop, shop_record, rule):
    maria = ingest(crm, MARIA).outcomes[0]

    outcome = ingest(shop, shop_record).outcomes[0]

    assert outcome.subject_id == maria.subject_id
    assert outcome.match["rule"] == rule
    assert outcome.match["subject_is_new"] is False
    assert "Linked by" in outcome.match["explanation"]


def test_an_email_verified_on_both_sides_links_even_when_the_name_differs(crm):
    # Both accounts confirmed the address by double opt-in: a nickname does not make two people.
    first = ingest(crm, {"external_id": "C-7", "given_name": "Beatriz", "email": "bia@example.com"}).outcomes[0]

    second = ingest(crm, {"external_id": "C-8", "given_name": "Bia", "email": "bia@example.com"}).outcomes[0]

    assert second.subject_id == first.subject_id
    assert second.match["rule"] == "verified_email"


def test_a_verified_email_does_not_vouch_for_someone_who_only_used_it(crm, shop):
    # A child's shop account on the parent's address: the parent verified it, the child did not.
    child = ingest(shop, {"external_id": "S-9", "full_name": "Pedro Souza", "email": "maria.souza@gmail.com"})

    parent = ingest(crm, {**MARIA, "cpf": None}).outcomes[0]

    assert parent.subject_id != child.outcomes[0].subject_id
    assert parent.match["vetoes"] == ["email:different_name"]


def test_an_unverified_email_does_not_link_clearly_different_people(crm, shop):
    maria = ingest(crm, MARIA).outcomes[0]

    # A parent's email on a child's shop account: a family email, not one person.
    child = ingest(shop, {"external_id": "S-2", "full_name": "Pedro Souza", "email": "maria.souza@gmail.com"}).outcomes[
        0
    ]

    assert child.subject_id != maria.subject_id
    assert child.match["vetoes"] == ["email:different_name"]
    assert not MergeDecision.objects.exists()


def test_different_cpfs_veto_a_shared_phone(crm, shop):
    maria = ingest(crm, MARIA).outcomes[0]

    other = ingest(
        shop, {"external_id": "S-3", "full_name": "Maria Souza", "phone": "11987654321", "cpf": "111.444.777-35"}
    )

    assert other.outcomes[0].subject_id != maria.subject_id
    assert other.outcomes[0].match["vetoes"] == ["phone:different_cpf"]


# ---------------------------------------------------------------- transitive closure and merges


def test_transitive_links_within_a_batch_make_one_person(shop):
    result = ingest(
        shop,
        {"external_id": "A", "full_name": "Ana Lima", "email": "ana@example.com"},
        {"external_id": "B", "full_name": "Ana Lima", "email": "ana@example.com", "phone": "21987654321"},
        {"external_id": "C", "full_name": "Ana Lima", "phone": "+55 21 98765-4321"},
    )

    assert len({outcome.subject_id for outcome in result.outcomes}) == 1
    assert Subject.objects.count() == 1


def test_a_record_joining_two_existing_subjects_merges_them_with_a_decision(crm, shop, support):
    by_email = ingest(
        crm, {"external_id": "C-2", "given_name": "Ana", "family_name": "Lima", "email": "ana@example.com"}
    )
    by_phone = ingest(support, {"external_id": "Z-2", "given_name": "Ana", "phone": "21987654321"})
    older, newer = by_email.outcomes[0].subject_id, by_phone.outcomes[0].subject_id
    assert older != newer

    bridge = ingest(
        shop, {"external_id": "S-2", "full_name": "Ana Lima", "email": "ana@example.com", "phone": "21987654321"}
    )

    assert bridge.outcomes[0].subject_id == older
    assert bridge.outcomes[0].match["merged_subjects"] == [str(newer)]
    absorbed = Subject.objects.get(pk=newer)
    assert absorbed.status == Subject.Status.MERGED
    assert absorbed.merged_into_id == older
    decision = MergeDecision.objects.get()
    assert (decision.survivor_id, decision.absorbed_id) == (older, newer)
    assert decision.rule == "phone"
    assert decision.decided_by == "rule:phone"
    assert decision.records == [str(bridge.outcomes[0].record_id)]
    # Everything of the absorbed subject now lives (re-encrypted) with the survivor.
    assert set(SourceRecord.objects.values_list("subject_id", flat=True)) == {older}
    assert set(Identifier.objects.values_list("subject_id", flat=True)) == {older}
    revealed = subject_reveal(subject_id=older, actor=ACTOR, reason="check merge")
    assert {item.value for item in revealed.identifiers} == {"ana@example.com", "+5521987654321"}


def test_a_link_is_checked_against_the_whole_cluster(shop):
    # r2 is compatible with r1 and with r3, but r1 and r3 carry different CPFs: no chain through r2.
    result = ingest(
        shop,
        {"external_id": "1", "full_name": "Joao Costa", "email": "home@example.com", "cpf": "529.982.247-25"},
        {"external_id": "2", "full_name": "Joao", "email": "home@example.com", "phone": "11912345678"},
        {"external_id": "3", "full_name": "Joao Costa", "phone": "11912345678", "cpf": "111.444.777-35"},
    )

    first, second, third = (outcome.subject_id for outcome in result.outcomes)
    assert first != third
    assert second in {first, third}


# ---------------------------------------------------------------- guard rails


@pytest.mark.parametrize("email", ["noreply@loja.com.br", "teste@gmail.com"])
def test_role_and_test_addresses_never_link(shop, email):
    result = ingest(
        shop,
        {"external_id": "1", "full_name": "Ana Lima", "email": email},
        {"external_id": "2", "full_name": "Ana Lima", "email": email},
    )

    assert result.outcomes[0].subject_id != result.outcomes[1].subject_id


@override_settings(C360_RESOLUTION_BLOCKED_VALUES={"email": [], "phone": ["+5511999990000"], "cpf": []})
def test_configured_blocked_values_never_link(shop):
    result = ingest(
        shop,
        {"external_id": "1", "full_name": "Ana Lima", "phone": "(11) 99999-0000"},
        {"external_id": "2", "full_name": "Ana Lima", "phone": "11999990000"},
    )

    assert result.outcomes[0].subject_id != result.outcomes[1].subject_id


@override_settings(C360_RESOLUTION_MAX_SHARED=3)
def test_a_value_shared_by_more_than_the_limit_never_links_on_its_own(support):
    switchboard = "(11) 3003-4000"
    people = [
        {"external_id": f"Z-{n}", "given_name": name, "phone": switchboard}
        for n, name in enumerate(["Ana", "Bruno", "Carla", "Diego"])
    ]
    ingest(support, *people)
    assert Subject.objects.count() == 4

    # Another Ana calls from the same switchboard: a same-name coincidence, not the first Ana.
    outcome = ingest(support, {"external_id": "Z-9", "given_name": "Ana", "phone": switchboard}).outcomes[0]

    assert outcome.match["rule"] == "new_subject"
    assert Subject.objects.count() == 5


# ---------------------------------------------------------------- weak evidence


def test_same_name_birth_date_and_postal_code_is_only_a_suggestion(crm, support):
    maria = ingest(crm, MARIA).outcomes[0]

    twin = ingest(
        support,
        {
            "external_id": "Z-7",
            "given_name": "Maria",
            "family_name": "Silva Souza",
            "birth_date": "1990-05-17",
            "address": {"postal_code": "01305000"},
            "phone": "(21) 99876-1234",
        },
    ).outcomes[0]

    assert twin.subject_id != maria.subject_id
    suggestion = MatchSuggestion.objects.get()
    assert {suggestion.subject_a_id, suggestion.subject_b_id} == {maria.subject_id, twin.subject_id}
    assert suggestion.evidence == "same_name_birth_postal"
    assert suggestion.status == MatchSuggestion.Status.OPEN
    assert not MergeDecision.objects.exists()


# ---------------------------------------------------------------- quarantine


def test_a_bad_record_is_quarantined_encrypted_and_the_batch_goes_on(crm):
    result = ingest(
        crm,
        {"external_id": "C-3", "email": "maria at gmail", "cpf": "529.982.247-26", "nickname": "Mari"},
        MARIA,
    )

    bad, good = result.outcomes
    assert bad.status == "quarantined"
    assert set(bad.errors) == {"email", "cpf", "nickname"}
    assert bad.subject_id is None
    assert good.status == "created"
    row = SourceRecord.objects.get(pk=bad.record_id)
    assert row.status == SourceRecord.Status.QUARANTINED
    assert b"maria at gmail" not in bytes(row.payload_enc)
    assert b"check digits" not in bytes(row.errors_enc)
    assert RecordKey.objects.filter(record_id=row.pk).exists()


def test_a_quarantined_record_sent_again_fixed_is_linked_and_loses_its_own_key(crm):
    bad = ingest(crm, {**MARIA, "email": "maria at gmail"}).outcomes[0]

    fixed = ingest(crm, MARIA).outcomes[0]

    assert fixed.status == "updated"
    assert fixed.record_id == bad.record_id
    assert fixed.subject_id is not None
    assert not RecordKey.objects.filter(record_id=bad.record_id).exists()
    assert SourceRecord.objects.get(pk=bad.record_id).status == SourceRecord.Status.LINKED


def test_records_that_are_not_objects_are_kept_too(crm):
    result = ingest(crm, "just a string", ["a", "list"])

    assert [outcome.status for outcome in result.outcomes] == ["quarantined", "quarantined"]
    assert SourceRecord.objects.filter(status="quarantined").count() == 2


# ---------------------------------------------------------------- history, erasure, no clear text


def test_bulk_paths_write_history_with_the_actor(crm, shop):
    maria = ingest(crm, MARIA).outcomes[0]
    ingest(shop, {"external_id": "S-1", "full_name": "Maria Souza", "email": "maria.souza@gmail.com"})

    assert SourceRecord.history.count() == 2
    assert set(SourceRecord.history.values_list("history_actor", flat=True)) == {"system:ingest-tests"}
    assert Subject.history.filter(id=maria.subject_id, history_type="+").count() == 1
    assert Identifier.history.filter(history_type="+").count() == Identifier.objects.count()


def test_erasure_tombstones_records_and_a_resent_record_is_refused(crm, shop):
    maria = ingest(crm, MARIA).outcomes[0]
    ingest(shop, {"external_id": "S-1", "full_name": "Maria Souza", "email": "maria.souza@gmail.com"})

    subject_erase(subject_id=maria.subject_id, actor=ACTOR, reason="dsar 2026-0201")

    for row in SourceRecord.objects.all():
        assert row.status == SourceRecord.Status.ERASED
        assert row.payload_enc is None
        assert row.external_id_enc is None
        assert row.identifier_indexes == []
        assert row.external_id_index is not None
    again = ingest(crm, MARIA).outcomes[0]
    assert again.status == "erased"
    assert Subject.objects.filter(status="active").count() == 0


def test_no_clear_text_in_the_stored_rows(crm):
    ingest(crm, MARIA)

    with connection.cursor() as cursor:
        cursor.execute("SELECT payload_enc, external_id_enc FROM profiles_sourcerecord")
        payload, external_id = (bytes(value) for value in cursor.fetchone())
    for clear in (b"Maria", b"maria.souza", b"52998224725", b"98765", b"C-1"):
        assert clear not in payload
        assert clear not in external_id
