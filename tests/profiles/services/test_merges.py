"""Decisions people take on identity: accept or reject suggestions, merge by hand, split (unmerge)."""

from __future__ import annotations

import pytest

from c360.lib.errors import Conflict, ValidationFailed
from c360.lib.history import Actor
from profiles.models import Identifier, MatchBlock, MatchSuggestion, MergeDecision, Source, SourceRecord, Subject
from profiles.services.ingestion import records_ingest
from profiles.services.merges import subject_split, subjects_merge, suggestion_accept, suggestion_reject
from profiles.services.subjects import subject_reveal

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("merge-tests")
DPO = Actor("user", "42")


@pytest.fixture
def shop():
    return Source.objects.create(code="shop", name="Shop", kind="ecommerce", trust_rank=60)


@pytest.fixture
def crm():
    return Source.objects.create(code="crm", name="CRM", kind="crm", trust_rank=80)


def ingest(source, *records):
    return [
        outcome.subject_id for outcome in records_ingest(source=source, records=list(records), actor=SYSTEM).outcomes
    ]


def identifiers_of(subject_id):
    return {item.value for item in subject_reveal(subject_id=subject_id, actor=SYSTEM, reason="test read").identifiers}


@pytest.fixture
def wrongly_merged(crm, shop):
    """Two people joined through a guest checkout that gave no name: nothing could veto the link."""
    (joana,) = ingest(
        crm, {"external_id": "C-1", "given_name": "Joana", "email": "casa@example.com", "phone": "21987650001"}
    )
    (pedro_record,) = ingest(shop, {"external_id": "S-1", "phone": "21987650002"})
    (bridge,) = ingest(
        crm, {"external_id": "C-2", "given_name": "Joana", "email": "casa@example.com", "phone": "21987650002"}
    )
    assert bridge == joana
    assert Subject.objects.get(pk=pedro_record).status == Subject.Status.MERGED
    return joana, pedro_record


def test_split_moves_records_to_a_new_subject_that_never_merges_back(wrongly_merged, shop):
    joana, _ = wrongly_merged
    pedro_row = SourceRecord.objects.get(source__code="shop", subject_id=joana)
    bridge_row = SourceRecord.objects.get(source__code="crm", external_id_enc__isnull=False, link_rule="email")

    outcome = subject_split(subject_id=joana, record_ids=[pedro_row.id], actor=DPO)

    pedro = outcome.records[pedro_row.id]
    assert pedro != joana
    assert MatchBlock.objects.filter(subject_a=joana, subject_b=pedro, reason="split").exists()
    assert identifiers_of(pedro) == {"+5521987650002"}
    assert "+5521987650002" in identifiers_of(joana)  # the bridge record still carries it
    assert SourceRecord.objects.get(pk=bridge_row.pk).subject_id == joana
    decision = MergeDecision.objects.get()
    assert decision.undone_at is not None
    assert decision.undone_by == "user:42"
    # The shared number arrives again: it may not join the two people back together.
    ingest(shop, {"external_id": "S-1", "phone": "21987650002", "extra": {"orders": 2}})
    assert SourceRecord.objects.get(pk=pedro_row.pk).subject_id == pedro
    assert Subject.objects.get(pk=pedro).status == Subject.Status.ACTIVE


def test_split_records_rejoin_the_person_they_belong_to(crm, shop):
    (ana,) = ingest(crm, {"external_id": "C-9", "given_name": "Ana", "family_name": "Reis", "cpf": "529.982.247-25"})
    (carla,) = ingest(crm, {"external_id": "C-8", "given_name": "Carla", "phone": "31987654321"})
    # An operator typed Ana's CPF into a record that also carries her own shop email.
    (linked,) = ingest(
        shop, {"external_id": "S-5", "full_name": "Ana Reis", "cpf": "52998224725", "email": "ana.reis@example.com"}
    )
    assert linked == ana
    record = SourceRecord.objects.get(source__code="shop")

    outcome = subject_split(subject_id=ana, record_ids=[record.id], actor=DPO)

    assert outcome.records[record.id] not in {ana, carla}
    assert not Identifier.objects.filter(subject_id=ana, kind="email").exists()


def test_split_refuses_records_of_another_subject_or_all_of_them(wrongly_merged, shop):
    joana, _ = wrongly_merged
    all_records = list(SourceRecord.objects.filter(subject_id=joana).values_list("id", flat=True))

    with pytest.raises(ValidationFailed):
        subject_split(subject_id=joana, record_ids=all_records, actor=DPO)
    with pytest.raises(ValidationFailed):
        subject_split(subject_id=joana, record_ids=["00000000-0000-0000-0000-000000000000"], actor=DPO)
    assert SourceRecord.objects.filter(subject_id=joana).count() == len(all_records)


@pytest.fixture
def suggested(crm, shop):
    (maria,) = ingest(
        crm,
        {
            "external_id": "C-1",
            "given_name": "Maria",
            "family_name": "Lima",
            "birth_date": "1980-02-03",
            "address": {"postal_code": "70000-000"},
            "email": "maria.lima@example.com",
        },
    )
    (other,) = ingest(
        shop,
        {
            "external_id": "S-1",
            "full_name": "Maria Lima",
            "birth_date": "1980-02-03",
            "address": {"postal_code": "70000000"},
            "phone": "61987654321",
        },
    )
    return maria, other, MatchSuggestion.objects.get()


def test_accepting_a_suggestion_merges_the_newer_into_the_older(suggested):
    maria, other, suggestion = suggested

    decision = suggestion_accept(suggestion_id=suggestion.id, actor=DPO)

    assert (decision.survivor_id, decision.absorbed_id) == (maria, other)
    assert decision.rule == "suggestion"
    assert decision.decided_by == "user:42"
    suggestion.refresh_from_db()
    assert suggestion.status == MatchSuggestion.Status.ACCEPTED
    assert identifiers_of(maria) == {"maria.lima@example.com", "+5561987654321"}
    with pytest.raises(Conflict):
        suggestion_accept(suggestion_id=suggestion.id, actor=DPO)


def test_rejecting_a_suggestion_keeps_them_apart_for_good(suggested, shop):
    maria, other, suggestion = suggested

    suggestion_reject(suggestion_id=suggestion.id, actor=DPO)

    suggestion.refresh_from_db()
    assert suggestion.status == MatchSuggestion.Status.REJECTED
    assert MatchBlock.objects.filter(reason="rejected_suggestion").count() == 1
    assert not MergeDecision.objects.exists()
    # Even a later record carrying both identifiers does not join them.
    (bridge,) = ingest(
        shop,
        {"external_id": "S-2", "full_name": "Maria Lima", "email": "maria.lima@example.com", "phone": "61987654321"},
    )
    assert bridge in {maria, other}
    assert Subject.objects.filter(status="active").count() == 2


def test_a_dpo_can_merge_two_subjects_by_hand(suggested):
    maria, other, _ = suggested

    decision = subjects_merge(survivor_id=other, absorbed_id=maria, actor=DPO)

    assert decision.rule == "manual"
    assert Subject.objects.get(pk=maria).merged_into_id == other
    with pytest.raises(ValidationFailed):
        subjects_merge(survivor_id=other, absorbed_id=other, actor=DPO)
    with pytest.raises(Conflict):
        subjects_merge(survivor_id=other, absorbed_id=maria, actor=DPO)
