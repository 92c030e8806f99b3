"""The multi-source demo records: deterministic, messy, valid where they say so, and full of the traps."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from validate_docbr import CPF

from c360.lib.identifiers import IdentifierError, normalise_cpf, normalise_email, normalise_phone
from profiles.demo import (
    DDDS,
    DEMO_SOURCES,
    SOURCE_CODES,
    DemoRecord,
    cpf_check_digits,
    generate_records,
    pairwise_quality,
    write_demo_files,
)

TODAY = dt.date(2026, 11, 23)
SUBJECTS = 3000


@pytest.fixture(scope="module")
def records() -> list[DemoRecord]:
    return list(generate_records(subjects=SUBJECTS, seed=360, today=TODAY))


@pytest.fixture(scope="module")
def identifiers(records: list[DemoRecord]) -> list[set[tuple[str, str]] | None]:
    """The normalised identifiers of each valid record (None for the invalid ones)."""
    return [_identifiers(record.fields) if record.valid else None for record in records]


@pytest.fixture(scope="module")
def people_by_identifier(
    records: list[DemoRecord], identifiers: list[set[tuple[str, str]] | None]
) -> dict[tuple[str, str], set[int]]:
    people: dict[tuple[str, str], set[int]] = defaultdict(set)
    for record, found in zip(records, identifiers, strict=True):
        for identifier in found or ():
            people[identifier].add(record.person)
    return people


def _listed(fields: dict[str, Any], single: str, plural: str) -> list[Any]:
    return ([fields[single]] if single in fields else []) + list(fields.get(plural, []))


def _identifiers(fields: dict[str, Any]) -> set[tuple[str, str]]:
    """The normalised identifiers of a valid record."""
    found = {("email", normalise_email(value)) for value in _listed(fields, "email", "emails")}
    found |= {("phone", normalise_phone(value)) for value in _listed(fields, "phone", "phones")}
    if "cpf" in fields:
        found.add(("cpf", normalise_cpf(fields["cpf"])))
    return found


def _problems(fields: dict[str, Any]) -> list[str]:
    """Why a record must be quarantined: fields that fail cleaning, or are missing or of the wrong type."""
    problems = []
    if not isinstance(fields.get("external_id"), str):
        problems.append("external_id")
    checks = [
        *(("email", normalise_email, value) for value in _listed(fields, "email", "emails")),
        *(("phone", normalise_phone, value) for value in _listed(fields, "phone", "phones")),
        *([("cpf", normalise_cpf, fields["cpf"])] if "cpf" in fields else []),
        *([("birth_date", dt.date.fromisoformat, fields["birth_date"])] if "birth_date" in fields else []),
    ]
    for name, check, value in checks:
        try:
            check(value)
        except (IdentifierError, TypeError, ValueError):
            problems.append(name)
    return problems


def _full_name(fields: dict[str, Any]) -> str | None:
    if "full_name" in fields:
        return fields["full_name"]
    if "family_name" in fields:
        return f"{fields['given_name']} {fields['family_name']}"
    return None


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_the_same_records_and_another_seed_others() -> None:
    first = list(generate_records(subjects=200, seed=7, today=TODAY))
    again = list(generate_records(subjects=200, seed=7, today=TODAY))
    other = list(generate_records(subjects=200, seed=8, today=TODAY))

    assert first == again
    assert first != other
    assert {record.fields.get("cpf") for record in first} != {record.fields.get("cpf") for record in other}


def test_no_subjects_no_records() -> None:
    assert list(generate_records(subjects=0, today=TODAY)) == []
    with pytest.raises(ValueError, match="subjects"):
        generate_records(subjects=-1)


def test_sources_are_described() -> None:
    assert [(s["code"], s["kind"], s["trust_rank"], s["emails_verified"]) for s in DEMO_SOURCES] == [
        ("crm", "crm", 80, True),
        ("shop", "ecommerce", 60, False),
        ("support", "support", 30, False),
    ]
    assert all(source["name"] and source["description"] for source in DEMO_SOURCES)


# ---------------------------------------------------------------- proportions


def test_about_two_and_a_half_records_per_person_from_every_source(records: list[DemoRecord]) -> None:
    people = {record.person for record in records}
    sources_of: dict[int, Counter[str]] = defaultdict(Counter)
    for record in records:
        sources_of[record.person][record.source] += 1

    assert people == set(range(SUBJECTS))  # everyone appears somewhere
    assert 2.2 <= len(records) / SUBJECTS <= 2.8
    coverage = {code: sum(1 for seen in sources_of.values() if seen[code]) / SUBJECTS for code in SOURCE_CODES}
    assert coverage["crm"] == pytest.approx(0.85, abs=0.04)
    assert coverage["shop"] == pytest.approx(0.92, abs=0.03)
    assert coverage["support"] == pytest.approx(0.68, abs=0.04)
    shop_customers = [seen for seen in sources_of.values() if seen["shop"]]
    assert 0.01 <= sum(1 for seen in shop_customers if seen["shop"] == 2) / len(shop_customers) <= 0.05
    assert all(seen["crm"] <= 1 and seen["support"] <= 1 and seen["shop"] <= 2 for seen in sources_of.values())


def test_fields_follow_each_source_habits(records: list[DemoRecord]) -> None:
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.valid:
            by_source[record.source].append(record.fields)

    def share(source: str, condition: Any) -> float:
        return sum(1 for fields in by_source[source] if condition(fields)) / len(by_source[source])

    assert share("crm", lambda f: "cpf" in f) == pytest.approx(0.85, abs=0.05)
    assert share("shop", lambda f: "cpf" in f) == pytest.approx(0.60, abs=0.05)
    assert share("support", lambda f: "cpf" in f) == pytest.approx(0.10, abs=0.04)
    assert share("crm", lambda f: "birth_date" in f) == pytest.approx(0.70, abs=0.05)
    assert share("shop", lambda f: "birth_date" in f) == pytest.approx(0.30, abs=0.05)
    assert share("support", lambda f: "birth_date" in f) == 0
    assert share("crm", lambda f: f["email_verified"] is True) == pytest.approx(0.70, abs=0.05)
    assert share("shop", lambda f: "email_verified" in f) == share("support", lambda f: "email_verified" in f) == 0
    assert share("crm", lambda f: "given_name" in f and "family_name" in f) == 1
    assert share("shop", lambda f: "full_name" in f) == pytest.approx(0.5, abs=0.05)
    assert share("shop", lambda f: (_full_name(f) or "").isupper()) == pytest.approx(0.1, abs=0.04)
    assert share("support", lambda f: set(f) & {"given_name", "family_name", "full_name"} == {"given_name"}) > 0.5
    assert share("crm", lambda f: "address" in f) > 0.75
    assert share("shop", lambda f: "address" in f) > 0.75
    assert all(value is not None for fields in by_source["crm"] for value in fields.values())
    # Names without accents or in capitals, emails with capitals and spaces, CPFs with and without mask.
    assert any(f.get("email", "") != f.get("email", "").strip() for f in by_source["shop"] + by_source["crm"])
    assert any(f.get("email", "").lower() != f.get("email", "") for f in by_source["crm"])
    assert {len(fields["cpf"]) for fields in by_source["crm"] if "cpf" in fields} == {11, 14}
    assert any("Joao" in (_full_name(f) or "") for f in by_source["shop"] + by_source["support"])


def test_record_values_have_the_promised_shapes(records: list[DemoRecord]) -> None:
    three_years_ago = (TODAY - dt.timedelta(days=3 * 365 + 1)).isoformat()
    styles = {"crm": r"CRM-\d{7}", "shop": r"\d{6}", "support": r"ZD-[0-9a-f]{8}"}
    for record in records:
        fields = record.fields
        if "external_id" in fields:
            assert re.fullmatch(styles[record.source], fields["external_id"])
        assert three_years_ago <= fields["updated_at"] < TODAY.isoformat()
        assert fields["updated_at"].endswith("Z")
        dt.datetime.fromisoformat(fields["updated_at"])
        if record.valid and "birth_date" in fields:
            born = dt.date.fromisoformat(fields["birth_date"])
            assert dt.date(1900, 1, 1) < born <= TODAY - dt.timedelta(days=18 * 365)
        if "address" in fields:
            assert set(fields["address"]) <= {
                "street",
                "number",
                "complement",
                "district",
                "city",
                "state",
                "postal_code",
                "country",
            }
        assert isinstance(fields["extra"], dict)


def test_invalid_rows_are_about_one_percent_and_each_fails_cleaning(records: list[DemoRecord]) -> None:
    invalid = [record for record in records if not record.valid]

    assert 0.005 <= len(invalid) / len(records) <= 0.02
    assert all(_problems(record.fields) for record in invalid)
    kinds = Counter(problem for record in invalid for problem in _problems(record.fields))
    assert {"external_id", "email", "phone", "cpf"} <= set(kinds)


def test_valid_rows_normalise(records: list[DemoRecord]) -> None:
    for record in records:
        if record.valid:
            assert _problems(record.fields) == [], record.fields


def test_external_ids_are_unique_within_a_source(records: list[DemoRecord]) -> None:
    seen = Counter((record.source, record.fields["external_id"]) for record in records if record.valid)
    assert seen.most_common(1)[0][1] == 1
    everything = Counter((r.source, r.fields["external_id"]) for r in records if "external_id" in r.fields)
    assert everything.most_common(1)[0][1] == 1


PHONE_SPELLINGS = {
    "(11) 98765-4321": r"\(\d\d\) \d{4,5}-\d{4}",
    "+55 11 98765-4321": r"\+55 \d\d \d{4,5}-\d{4}",
    "11987654321": r"\d{10,11}",
    "011 98765-4321": r"0\d\d \d{4,5}-\d{4}",
    "+55 (11) 9 8765-4321": r"\+55 \(\d\d\) (9 )?\d{4}-\d{4}",
}


def test_phones_are_real_brazilian_numbers(records: list[DemoRecord]) -> None:
    mobiles = landlines = 0
    spellings = set()
    for record in records:
        if not record.valid:
            continue
        for text in _listed(record.fields, "phone", "phones"):
            number = phonenumbers.parse(text, "BR")
            assert phonenumbers.is_valid_number(number), text
            assert number.country_code == 55
            national = str(number.national_number)
            assert int(national[:2]) in DDDS
            kind = phonenumbers.number_type(number)
            if len(national) == 11:
                assert national[2:3] == "9"
                assert national[3] in "6789"
                assert kind == phonenumbers.PhoneNumberType.MOBILE
                mobiles += 1
            else:
                assert len(national) == 10
                assert national[2] in "2345"
                assert kind == phonenumbers.PhoneNumberType.FIXED_LINE
                landlines += 1
            spellings.add(next(name for name, pattern in PHONE_SPELLINGS.items() if re.fullmatch(pattern, text)))
    assert mobiles > 3 * landlines > 0
    assert spellings == set(PHONE_SPELLINGS)


def test_cpf_check_digits_agree_with_validate_docbr() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        base = rng.randrange(10**9)
        cpf = f"{base:09d}{cpf_check_digits(base)}"
        if base % 111_111_111:
            assert CPF().validate(cpf), cpf


def test_no_cpf_belongs_to_two_people(records: list[DemoRecord]) -> None:
    owners: dict[str, set[int]] = defaultdict(set)
    for record in records:
        if record.valid and "cpf" in record.fields:
            owners[normalise_cpf(record.fields["cpf"])].add(record.person)
    assert max(len(people) for people in owners.values()) == 1


# ---------------------------------------------------------------- traps


def test_company_switchboards_are_shared_by_many_people(records: list[DemoRecord]) -> None:
    support_phones: dict[str, set[int]] = defaultdict(set)
    for record in records:
        if record.valid and record.source == "support" and "phone" in record.fields:
            support_phones[normalise_phone(record.fields["phone"])].add(record.person)

    assert max(len(people) for people in support_phones.values()) >= 50


def test_households_share_an_email_and_a_landline(
    records: list[DemoRecord], people_by_identifier: dict[tuple[str, str], set[int]]
) -> None:
    family_of: dict[int, set[str]] = defaultdict(set)
    postal_codes_of: dict[int, set[str]] = defaultdict(set)
    for record in records:
        if record.valid and "family_name" in record.fields:
            family_of[record.person].add(record.fields["family_name"])
        if record.valid and "postal_code" in record.fields.get("address", {}):
            postal_codes_of[record.person].add(record.fields["address"]["postal_code"].replace("-", ""))

    def one_household(people: set[int]) -> bool:
        first, *others = sorted(people)
        return all(
            family_of[first] & family_of[other] and postal_codes_of[first] & postal_codes_of[other] for other in others
        )

    shared = {key: people for key, people in people_by_identifier.items() if len(people) > 1}
    family_emails = [people for (kind, _), people in shared.items() if kind == "email" and one_household(people)]
    landlines = [
        people
        for (kind, value), people in shared.items()
        if kind == "phone" and len(value) == 13 and len(people) <= 4 and one_household(people)
    ]
    assert len(family_emails) >= 5
    assert len(landlines) >= 10
    assert not [key for key, people in shared.items() if key[0] == "cpf"]


def test_assistants_lend_their_email_and_mobile(people_by_identifier: dict[tuple[str, str], set[int]]) -> None:
    shared = people_by_identifier
    # A mobile (+55 and 11 digits) is personal: households share landlines, offices switchboards (landlines).
    mobiles = {frozenset(people) for (kind, value), people in shared.items() if kind == "phone" and len(value) == 14}
    emails = {frozenset(people) for (kind, _), people in shared.items() if kind == "email"}
    pairs = [people for people in mobiles & emails if len(people) == 2]
    assert pairs
    assert all(len(people) <= 2 for people in mobiles)


def test_name_twins_exist(records: list[DemoRecord]) -> None:
    named: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for record in records:
        fields = record.fields
        if record.valid and record.source == "crm" and "city" in fields.get("address", {}):
            named[fields["given_name"], fields["family_name"], fields["address"]["city"]].add(record.person)

    assert len([people for people in named.values() if len(people) > 1]) >= 3


def test_careful_linking_finds_almost_every_pair(
    records: list[DemoRecord], identifiers: list[set[tuple[str, str]] | None]
) -> None:
    """Records of one person are linked by identifiers, except the ~1% lost links that cost recall by design."""
    components: dict[tuple[str, str], tuple[int, int]] = {}
    truth: dict[tuple[str, str], int] = {}
    by_person: dict[int, list[tuple[DemoRecord, set[tuple[str, str]]]]] = defaultdict(list)
    for record, found in zip(records, identifiers, strict=True):
        if found is not None:
            by_person[record.person].append((record, found))
            truth[record.source, record.fields["external_id"]] = record.person
    lost = 0
    for person, own in by_person.items():
        groups: list[tuple[list[DemoRecord], set[tuple[str, str]]]] = []
        for record, found in own:
            joined = [group for group in groups if group[1] & found]
            merged = ([record], set(found))
            for group in joined:
                groups.remove(group)
                merged[0].extend(group[0])
                merged[1].update(group[1])
            groups.append(merged)
        lost += len(groups) > 1
        for number, (members, _) in enumerate(groups):
            for record in members:
                components[record.source, record.fields["external_id"]] = (person, number)

    precision, recall = pairwise_quality(components, truth)
    assert precision == 1.0
    assert 0.98 <= recall < 1.0
    assert 0.003 <= lost / len(by_person) <= 0.02


# ---------------------------------------------------------------- files


def test_write_demo_files(records: list[DemoRecord], tmp_path: Path) -> None:
    paths = write_demo_files(records[:2000], tmp_path / "demo")

    assert set(paths) == {"crm", "shop", "support", "truth"}
    for code in SOURCE_CODES:
        lines = paths[code].read_bytes().decode("utf-8").splitlines()
        expected = [record.fields for record in records[:2000] if record.source == code]
        assert [json.loads(line) for line in lines] == expected
    text = "".join(paths[code].read_text(encoding="utf-8") for code in SOURCE_CODES)
    assert "\\u" not in text
    assert any(char in text for char in "ãçéí")
    with paths["truth"].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    expected_truth = [
        [record.source, record.fields["external_id"], str(record.person)]
        for record in records[:2000]
        if "external_id" in record.fields
    ]
    assert rows[0] == ["source", "external_id", "person"]
    assert rows[1:] == expected_truth
    assert len(expected_truth) < 2000  # rows without an external_id are left out


def test_write_demo_files_streams_any_iterable(tmp_path: Path) -> None:
    paths = write_demo_files(generate_records(subjects=20, today=TODAY), tmp_path)
    counts = {code: len(paths[code].read_text(encoding="utf-8").splitlines()) for code in SOURCE_CODES}
    assert sum(counts.values()) == len(list(generate_records(subjects=20, today=TODAY)))


# ---------------------------------------------------------------- pairwise quality


TRUTH = {("crm", "1"): 1, ("shop", "1"): 1, ("support", "1"): 1, ("crm", "2"): 2, ("shop", "2"): 2, ("crm", "3"): 3}


def test_pairwise_quality_of_a_perfect_clustering() -> None:
    predicted = {key: f"cluster-{person}" for key, person in TRUTH.items()}
    assert pairwise_quality(predicted, TRUTH) == (1.0, 1.0)


def test_pairwise_quality_of_one_big_cluster() -> None:
    precision, recall = pairwise_quality(dict.fromkeys(TRUTH, "all"), TRUTH)
    assert precision == pytest.approx(4 / 15)  # 3 + 1 true pairs among 6*5/2
    assert recall == 1.0


def test_pairwise_quality_of_singletons() -> None:
    predicted = {key: number for number, key in enumerate(TRUTH)}
    assert pairwise_quality(predicted, TRUTH) == (1.0, 0.0)


def test_pairwise_quality_of_a_partial_clustering() -> None:
    predicted = {("crm", "1"): "a", ("shop", "1"): "a", ("support", "1"): "b", ("crm", "2"): "b"}
    predicted |= {("shop", "2"): "c", ("crm", "3"): "c"}
    # predicted pairs: a(1), b(1), c(1) -> 3, of which one is true; true pairs: 3 + 1 = 4.
    assert pairwise_quality(predicted, TRUTH) == (pytest.approx(1 / 3), pytest.approx(1 / 4))


def test_pairwise_quality_ignores_keys_missing_from_either_side() -> None:
    predicted = {key: f"cluster-{person}" for key, person in TRUTH.items()}
    predicted[("crm", "unknown")] = "cluster-1"
    truth = dict(TRUTH) | {("shop", "not-predicted"): 1}
    assert pairwise_quality(predicted, truth) == (1.0, 1.0)
    assert pairwise_quality({}, truth) == (1.0, 1.0)
