"""The resolution rules on their own, without a database."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from profiles.records import Name, fold, name_of
from profiles.resolution import Evidence, IncomingRecord, birth_dates_compatible, names_compatible, resolve, veto


def name(text: str) -> Name:
    parsed = name_of(None, None, text)
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    ("first", "second", "compatible"),
    [
        ("Maria Silva", "MARIA SILVA", True),
        ("João da Silva", "Joao Silva", True),  # accents and particles do not matter
        ("Mariana Costa", "Marianna Souza", True),  # a typo and a married name
        ("Ana Maria Costa", "Maria Costa", True),  # a compound given name
        ("Pedro Silva", "Maria Silva", False),  # a family, not a person
        ("Bruno", "Carla", False),
    ],
)
def test_given_names_decide_whether_two_names_can_be_one_person(first, second, compatible):
    assert names_compatible(name(first), name(second)) is compatible


def test_folding_removes_accents_case_punctuation_and_particles():
    assert fold("  JOSÉ d'Ávila dos Santos-Neto ") == ["jose", "avila", "santos", "neto"]


def test_a_day_month_swap_is_the_same_birth_date():
    assert birth_dates_compatible(dt.date(1990, 3, 4), dt.date(1990, 4, 3))
    assert not birth_dates_compatible(dt.date(1990, 3, 4), dt.date(1991, 3, 4))


CPF_A, CPF_B = b"a" * 16, b"b" * 16


@pytest.mark.parametrize(
    ("rule", "first", "second", "expected"),
    [
        ("email", Evidence(cpfs={CPF_A}), Evidence(cpfs={CPF_B}), "different_cpf"),
        ("email", Evidence(names=[name("Ana")]), Evidence(names=[name("Bia")]), "different_name"),
        ("verified_email", Evidence(names=[name("Ana")]), Evidence(names=[name("Bia")]), None),
        (
            "phone",
            Evidence(birth_dates={dt.date(1990, 1, 1)}),
            Evidence(birth_dates={dt.date(1980, 1, 1)}),
            "different_birth_date",
        ),
        ("cpf", Evidence(names=[name("Ana")]), Evidence(names=[name("Bia")]), None),
        (
            "cpf",
            Evidence(names=[name("Ana")], birth_dates={dt.date(1990, 1, 1)}),
            Evidence(names=[name("Bia")], birth_dates={dt.date(1980, 1, 1)}),
            "different_name_and_birth_date",
        ),
        ("email", Evidence(), Evidence(names=[name("Bia")]), None),  # nothing to compare: no veto
    ],
)
def test_vetoes_per_rule(rule, first, second, expected):
    assert veto(first, second, rule) == expected


def test_a_blocked_pair_is_never_joined():
    a, b = uuid.uuid4(), uuid.uuid4()
    assert veto(Evidence(subjects={a}, blocked={b}), Evidence(subjects={b}), "cpf") == "blocked_pair"


def incoming(position, *, email=None, phone=None, cpf=None, full_name=None):
    keys = {
        "email": [("email", "", email)] if email else [],
        "phone": [("phone", "", phone)] if phone else [],
        "cpf": [("cpf", "", cpf)] if cpf else [],
    }
    evidence = Evidence(cpfs={cpf} if cpf else set(), names=[name(full_name)] if full_name else [])
    return IncomingRecord(position, keys, evidence)


def plan_of(records, *, holders=None, subjects=None, max_shared=3, widely_held=frozenset(), blocked=()):
    return resolve(
        records,
        holders=holders or {},
        subjects=subjects or {},
        subject_order=str,
        is_blocked=lambda key: key[2] in blocked,
        max_shared=max_shared,
        widely_held=set(widely_held),
    )


def groups(plan):
    return sorted(sorted(cluster.records) for cluster in plan.clusters)


def test_closure_links_through_compatible_records_only():
    plan = plan_of(
        [
            incoming(0, email=b"e1", full_name="Ana Lima"),
            incoming(1, email=b"e1", phone=b"p1", full_name="Ana"),
            incoming(2, phone=b"p1", full_name="Ana Lima"),
            incoming(3, phone=b"p1", full_name="Bruno Lima"),
        ]
    )

    assert groups(plan) == [[0, 1, 2], [3]]
    assert plan.reasons[1].rule == "email"
    assert any(item.reason == "different_name" for item in plan.vetoed)


def test_more_holders_than_allowed_means_no_link():
    records = [incoming(n, phone=b"switchboard", full_name="Ana") for n in range(5)]

    assert groups(plan_of(records, max_shared=3)) == [[0], [1], [2], [3], [4]]
    assert groups(plan_of(records[:3], max_shared=3)) == [[0, 1, 2]]
    assert groups(plan_of(records[:2], widely_held={("phone", "", b"switchboard")})) == [[0], [1]]


def test_blocked_values_never_link():
    records = [incoming(0, email=b"noreply"), incoming(1, email=b"noreply")]

    plan = plan_of(records, blocked={b"noreply"})

    assert groups(plan) == [[0], [1]]
    assert plan.blocked_values == {("email", "", b"noreply")}


def test_joining_two_existing_subjects_is_an_edge_the_caller_records_as_a_merge():
    older, newer = uuid.UUID(int=1), uuid.UUID(int=2)
    plan = plan_of(
        [incoming(0, email=b"e", phone=b"p", full_name="Ana")],
        holders={("email", "", b"e"): {older}, ("phone", "", b"p"): {newer}},
        subjects={older: Evidence(subjects={older}), newer: Evidence(subjects={newer})},
    )

    (cluster,) = plan.clusters
    assert cluster.subjects == [older, newer]
    assert plan.edges[0].records == (0,)
