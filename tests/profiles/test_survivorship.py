"""Survivorship: per-attribute rules, incremental and full choice agree, provenance is kept."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from c360.lib.history import Actor
from profiles.models import Source, Subject
from profiles.services.ingestion import records_ingest
from profiles.services.subjects import subject_reveal
from profiles.survivorship import RULES, Candidate, conflicts, survive

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def candidate(record_id, trust, days, verified=False, **attributes):
    return Candidate(record_id, "src", attributes, trust, verified, T0 + dt.timedelta(days=days))


def test_names_follow_trust_then_recency_and_the_address_follows_recency():
    crm = candidate("crm", 80, 0, given_name="Maria", address={"city": "Recife"})
    shop = candidate("shop", 60, 30, given_name="MARIA", address={"city": "Olinda"})

    chosen = survive([crm, shop])

    assert chosen["given_name"] == ("Maria", crm.provenance())
    assert chosen["address"] == ({"city": "Olinda"}, shop.provenance())


def test_verified_breaks_a_trust_tie_for_the_birth_date():
    plain = candidate("a", 50, 10, birth_date=dt.date(1990, 1, 2))
    verified = candidate("b", 50, 0, verified=True, birth_date=dt.date(1990, 2, 1))

    assert survive([plain, verified])["birth_date"][0] == dt.date(1990, 2, 1)


def test_a_new_candidate_only_replaces_a_current_winner_it_beats():
    current = {"given_name": candidate("crm", 80, 0, given_name="x").provenance()}

    assert "given_name" not in survive([candidate("shop", 60, 9, given_name="Y")], current)
    assert survive([candidate("vip", 90, 0, given_name="Z")], current)["given_name"][0] == "Z"


records = st.lists(
    st.builds(
        candidate,
        st.uuids().map(str),
        st.integers(0, 100),
        st.integers(0, 1000),
        st.booleans(),
        given_name=st.sampled_from(["Ana", "Bia", None]),
        address=st.sampled_from([{"city": "A"}, {"city": "B"}, None]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(records=records, split=st.integers(0, 8))
def test_incremental_choice_equals_choosing_among_all_records(records, split):
    # Winners of the first records, then the rest arriving later, give the same as all at once.
    first, later = records[:split], records[split:]
    current = {attribute: provenance for attribute, (_, provenance) in survive(first).items()}
    values = {attribute: value for attribute, (value, _) in survive(first).items()}
    for attribute, (value, provenance) in survive(later, current).items():
        current[attribute], values[attribute] = provenance, value

    everything = survive(records)
    assert {attribute: (values[attribute], current[attribute]) for attribute in current} == everything
    assert set(everything) <= set(RULES)


def test_conflicts_list_every_distinct_value_with_its_record():
    found = conflicts(
        [
            candidate("a", 1, 0, given_name="Ana"),
            candidate("b", 2, 0, given_name="Anna"),
            candidate("c", 3, 0, given_name="Ana"),
        ]
    )

    assert found == {"given_name": [("Ana", "a"), ("Anna", "b")]}


@pytest.mark.django_db
def test_the_profile_keeps_per_attribute_provenance():
    crm = Source.objects.create(code="crm", name="CRM", trust_rank=80)
    shop = Source.objects.create(code="shop", name="Shop", trust_rank=60)
    actor = Actor.system("tests")
    first = records_ingest(
        source=crm,
        actor=actor,
        records=[
            {
                "external_id": "C1",
                "given_name": "Maria",
                "family_name": "Souza",
                "email": "m@example.com",
                "address": {"city": "Recife"},
                "updated_at": "2026-01-01T00:00:00Z",
            }
        ],
    ).outcomes[0]
    second = records_ingest(
        source=shop,
        actor=actor,
        records=[
            {
                "external_id": "S1",
                "full_name": "MARIA SOUZA LIMA",
                "email": "m@example.com",
                "address": {"city": "Olinda"},
                "birth_date": "1990-01-01",
                "updated_at": "2026-06-01T00:00:00Z",
            }
        ],
    ).outcomes[0]

    subject = Subject.objects.get(pk=first.subject_id)
    revealed = subject_reveal(subject_id=subject.id, actor=actor, reason="provenance test").attributes
    assert revealed["given_name"] == "Maria"  # CRM outranks the shop for names
    assert revealed["address"] == {"city": "Olinda"}  # the latest address wins
    assert revealed["birth_date"] == dt.date(1990, 1, 1)  # only the shop knows it
    assert subject.provenance["given_name"]["record"] == str(first.record_id)
    assert subject.provenance["given_name"]["source"] == "crm"
    assert subject.provenance["address"]["record"] == str(second.record_id)
    assert subject.provenance["birth_date"]["source"] == "shop"
