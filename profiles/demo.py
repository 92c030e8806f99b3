"""Synthetic, realistic Brazilian people for the demo and the tests. Never real data (LEGAL.md S-07).

Two generators live here:

- ``fake_person``: one clean person through Faker, for fixtures and the ``generate_demo`` command.
- ``generate_records``: a fast, deterministic stream of messy, overlapping customer records from three
  source systems (``DEMO_SOURCES``), with the ground truth (which records are the same real person) kept
  apart in ``DemoRecord.person``, so identity resolution can be measured (``pairwise_quality``).
  Faker is only used once per call to build name, street, district and city pools; the records are drawn
  from those with one seeded ``random.Random``, so a seed (and ``today``) always gives the same stream.

What the stream holds (shares of people unless said otherwise; in brackets as measured with seed 360 on
400,000 people, 993,023 records):

- Sources: crm ~85% of people (85.5%), shop ~92% (92.3%), support ~68% (67.8%), everyone in at least one;
  ~3% of shop customers have a second shop account (2.95%); ~2.5 records per person (2.48), so 1,000,000
  records ~ 400,000 people. Records of one person share a CPF, an own email, an own mobile or an own
  (not household) landline, directly or through another record of theirs, except for the lost links below:
  linking on identifiers inside each true person reaches pairwise recall 0.995 at precision 1.
- Mess: phones in five spellings, emails with capitals and stray spaces, CPFs with and without mask, names
  split or whole, ALL CAPS or without accents, one-character typos in ~2% of records, ~2% of women with
  more than one record carry their maiden family name in one of them, ~5% of people (5.0%) have two emails
  used in different sources. CPFs: crm 84% of records, shop 60%, support 10%.
- Invalid rows, ~1% of records (1.00%, ``valid=False``): an email without @ or with a broken domain, a CPF
  with a wrong check digit, a phone like "123", a birth date like "31/02/1990" or "1990-13-45", no
  external_id, or a CPF or phone sent as a number. Rows without an external_id are left out of truth.csv.

Traps, where matching on a contact point alone over-merges different people (a union over every shared
identifier scores pairwise precision 0.067 on the 400,000 people):

- Households: ~8% of people (8.1%, 11,843 households) live in households of 2-4 (same family name and
  address, different given names, CPFs and birth dates) that share one landline; in ~half of them (5,930)
  every member but the head uses the head's email in their shop and support records (family email).
- Company switchboards: 30 corporate landlines (one per 10,000 people below 300,000), each the ``phone``
  of the support records of 50-300 different people (5,261 people in all).
- Assistants: ~0.5% of people (1,960) are executives whose shop records carry their assistant's email and
  mobile (and their own CPF); the assistant is another person with records of her own using both.
- Name twins: ~0.5% of people (1,970) have a twin, another person with the same given and family name in
  the same city, with no identifier in common.
- Lost links: ~1% of people (1.00%) have exactly two records (crm: CPF and email A; shop: email B and
  mobile) with no identifier in common, only the same name, birth date and postal code. A careful resolver
  only suggests these, so they cost recall by design (0.5% of true pairs).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import math
import random
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from faker import Faker

from c360.lib.identifiers import IdentifierKind


@dataclass(frozen=True)
class FakePerson:
    attributes: dict[str, Any]
    email: str
    phone: str
    cpf: str

    @property
    def full_name(self) -> str:
        return f"{self.attributes['given_name']} {self.attributes['family_name']}"

    def identifiers(self) -> list[dict[str, Any]]:
        return [
            {"kind": IdentifierKind.EMAIL, "value": self.email},
            {"kind": IdentifierKind.PHONE, "value": self.phone},
            {"kind": IdentifierKind.CPF, "value": self.cpf},
        ]


def fake_person(faker: Faker) -> FakePerson:
    given, family = faker.first_name(), f"{faker.last_name()} {faker.last_name()}"
    birth_date: dt.date = faker.date_of_birth(minimum_age=18, maximum_age=90)
    return FakePerson(
        attributes={
            "given_name": given,
            "family_name": family,
            "birth_date": birth_date,
            "locale": "pt-BR",
            "address": {
                "street": faker.street_name(),
                "number": faker.building_number(),
                "district": faker.bairro(),
                "city": faker.city(),
                "state": faker.estado_sigla(),
                "postal_code": faker.postcode(),
                "country": "BR",
            },
        },
        # A unique local part keeps generated people distinct; the domain is a real provider's.
        email=f"{faker.unique.user_name()}@{faker.free_email_domain()}",
        phone=faker.cellphone_number(),
        cpf=faker.unique.cpf(),
    )


# ================================================================ messy multi-source records

DEMO_SOURCES: list[dict[str, Any]] = [
    {
        "code": "crm",
        "name": "Newsletter CRM",
        "kind": "crm",
        "trust_rank": 80,
        "emails_verified": True,
        "description": "Double opt-in newsletter CRM: verified emails, split names, most CPFs and birth dates.",
    },
    {
        "code": "shop",
        "name": "Online shop",
        "kind": "ecommerce",
        "trust_rank": 60,
        "emails_verified": False,
        "description": "E-commerce customers: shipping addresses, CPF for the invoice, some duplicate accounts.",
    },
    {
        "code": "support",
        "name": "Customer support",
        "kind": "support",
        "trust_rank": 30,
        "emails_verified": False,
        "description": "Help-desk requesters: often only a given name and an email or a phone, rarely a CPF.",
    },
]
SOURCE_CODES = tuple(source["code"] for source in DEMO_SOURCES)


@dataclass(frozen=True)
class DemoRecord:
    source: str  # "crm" | "shop" | "support"
    person: int  # ground truth person id, never given to c360
    fields: dict[str, Any]  # the record exactly as the source would send it
    valid: bool  # False for the deliberately invalid rows, which should be quarantined


# Shares of people in each source. ~2.5 records per person needs high coverage: with at most one record
# per source (plus the rare duplicate shop account) the coverages must add up to ~2.45.
COVERAGE = (("crm", 0.85), ("shop", 0.92), ("support", 0.68))
SHOP_DUPLICATE_SHARE = 0.03
INVALID_SHARE = 0.01
TYPO_SHARE = 0.02
MARRIAGE_SHARE = 0.02  # of women with records in more than one source
TWO_EMAILS_SHARE = 0.05
LANDLINE_SHARE = 0.30
SOCIAL_NAME_SHARE = 0.003
HOUSEHOLD_PEOPLE_SHARE = 0.08
HOUSEHOLD_SIZES = ((2, 0.45), (3, 0.35), (4, 0.20))
FAMILY_EMAIL_SHARE = 0.5  # of households
TWIN_SHARE = 0.005  # people who get a name twin (the twins are extra people)
EXECUTIVE_SHARE = 0.005  # executives, each with an assistant who is another person
LOST_LINK_SHARE = 0.01
SWITCHBOARDS = 30
SWITCHBOARD_SIZE = (50, 300)
SHUFFLE_WINDOW = 4096  # records are emitted in a locally shuffled order, not person by person

# Real Brazilian area codes (DDD) by state, and the postal code (CEP) ranges of each state.
_STATE_DDDS = {
    "SP": (11, 12, 13, 14, 15, 16, 17, 18, 19),
    "RJ": (21, 22, 24),
    "ES": (27, 28),
    "MG": (31, 32, 33, 34, 35, 37, 38),
    "PR": (41, 42, 43, 44, 45, 46),
    "SC": (47, 48, 49),
    "RS": (51, 53, 54, 55),
    "DF": (61,),
    "GO": (62, 64),
    "TO": (63,),
    "MT": (65, 66),
    "MS": (67,),
    "AC": (68,),
    "RO": (69,),
    "BA": (71, 73, 74, 75, 77),
    "SE": (79,),
    "PE": (81, 87),
    "AL": (82,),
    "PB": (83,),
    "RN": (84,),
    "CE": (85, 88),
    "PI": (86, 89),
    "PA": (91, 93, 94),
    "AM": (92, 97),
    "RR": (95,),
    "AP": (96,),
    "MA": (98, 99),
}
DDDS = tuple(sorted(ddd for ddds in _STATE_DDDS.values() for ddd in ddds))
_STATE_CEPS = {
    "SP": (1000, 19999),
    "RJ": (20000, 28999),
    "ES": (29000, 29999),
    "MG": (30000, 39999),
    "BA": (40000, 48999),
    "SE": (49000, 49999),
    "PE": (50000, 56999),
    "AL": (57000, 57999),
    "PB": (58000, 58999),
    "RN": (59000, 59999),
    "CE": (60000, 63999),
    "PI": (64000, 64999),
    "MA": (65000, 65999),
    "PA": (66000, 68899),
    "AP": (68900, 68999),
    "AM": (69000, 69299),
    "RR": (69300, 69399),
    "AC": (69900, 69999),
    "DF": (70000, 72799),
    "GO": (72800, 76799),
    "RO": (76800, 76999),
    "TO": (77000, 77999),
    "MT": (78000, 78899),
    "MS": (79000, 79999),
    "PR": (80000, 87999),
    "SC": (88000, 89999),
    "RS": (90000, 99999),
}
_PARTICLES = frozenset({"da", "das", "de", "do", "dos", "e"})
_DOMAIN_WEIGHTS = {"gmail.com": 8, "hotmail.com": 4, "yahoo.com.br": 2, "outlook.com.br": 2, "bol.com.br": 2}
_COMPLEMENTS = ("Apto {n}", "Apto {n}", "Casa {c}", "Bloco {b} Apto {n}", "Fundos", "Sala {n}", "Lote {c}")
_BAD_PHONES = ("123", "0000", "(11) 1234", "9999-999", "+55 123")
_CHANNELS = ("email", "email", "phone", "chat", "whatsapp")
_SEGMENTS = ("varejo", "premium", "novo", "inativo")
_CRM, _SHOP, _SUPPORT = SOURCE_CODES
# What a record plan refers to: the person's own identifiers ("c" CPF, "e0"/"e1" emails, "m" mobile,
# "l" landline) and borrowed ones ("fe" family email, "ae"/"am" assistant's email/mobile, "sw" switchboard).
_PREFERENCE = {
    _CRM: ("e0", "c", "m", "e1", "l"),
    _SHOP: ("c", "m", "e0", "e1", "l"),
    _SUPPORT: ("m", "e0", "c", "e1", "l"),
}
_OWN_EMAILS = frozenset({"e0", "e1"})
_PHONE_REFS = frozenset({"m", "l", "am", "sw"})


def _fold_table(texts: Iterable[str]) -> dict[int, str]:
    """A str.translate table removing accents from every character that occurs in ``texts``."""
    table: dict[int, str] = {}
    for char in {char for text in texts for char in text if not char.isascii()}:
        stripped = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        table[ord(char)] = stripped if stripped.isascii() else ""
    return table


@dataclass(frozen=True)
class _Pools:
    male: tuple[str, ...]
    female: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]
    districts: tuple[str, ...]
    cities: tuple[tuple[str, str, str, int, int], ...]  # name, state, DDD, first and last CEP prefix
    domains: tuple[str, ...]
    fold: dict[int, str]


@functools.lru_cache(maxsize=4)
def _pools(seed: int) -> _Pools:
    faker = Faker("pt_BR")
    faker.seed_instance(seed)
    male = tuple(faker.first_name_male() for _ in range(1500))
    female = tuple(faker.first_name_female() for _ in range(1500))
    last = tuple(faker.last_name() for _ in range(2000))
    streets = tuple(faker.street_name() for _ in range(2000))
    districts = tuple(faker.bairro() for _ in range(500))
    cities = []
    for _ in range(1000):
        state = faker.estado_sigla()
        ddd = faker.random_element(_STATE_DDDS[state])
        cities.append((faker.city(), state, str(ddd), *_STATE_CEPS[state]))
    free_domains = next(p.free_email_domains for p in faker.get_providers() if hasattr(p, "free_email_domains"))
    domains = tuple(domain for domain in free_domains for _ in range(_DOMAIN_WEIGHTS.get(domain, 1)))
    fold = _fold_table((*male, *female, *last, *streets, *districts, *(city[0] for city in cities)))
    return _Pools(male, female, last, streets, districts, tuple(cities), domains, fold)


class _Bijection:
    """i -> (a*i + b) mod m: scattered yet unique ids, CPFs and phone numbers without remembering any."""

    __slots__ = ("a", "b", "m")

    def __init__(self, rng: random.Random, m: int) -> None:
        a = rng.randrange(m // 3, m) | 1
        while math.gcd(a, m) != 1:
            a += 2
        self.a, self.b, self.m = a, rng.randrange(m), m

    def __call__(self, i: int) -> int:
        return (self.a * i + self.b) % self.m


def _weighted_sums(weights: tuple[int, int, int]) -> tuple[int, ...]:
    return tuple(
        a * weights[0] + b * weights[1] + c * weights[2] for a in range(10) for b in range(10) for c in range(10)
    )


# The weighted digit sums of the CPF check digits, three digits at a time (the hot loop makes many CPFs).
_CPF_FIRST = (_weighted_sums((10, 9, 8)), _weighted_sums((7, 6, 5)), _weighted_sums((4, 3, 2)))
_CPF_SECOND = (_weighted_sums((11, 10, 9)), _weighted_sums((8, 7, 6)), _weighted_sums((5, 4, 3)))


def cpf_check_digits(base: int) -> str:
    """The two mod-11 check digits of the CPF whose first nine digits are ``base`` (0 <= base < 10**9)."""
    high, middle, low = base // 1_000_000, base // 1000 % 1000, base % 1000
    first = (_CPF_FIRST[0][high] + _CPF_FIRST[1][middle] + _CPF_FIRST[2][low]) * 10 % 11 % 10
    second = (_CPF_SECOND[0][high] + _CPF_SECOND[1][middle] + _CPF_SECOND[2][low] + 2 * first) * 10 % 11 % 10
    return f"{first}{second}"


class _Person:
    __slots__ = (
        "address",
        "assistant",
        "birth",
        "city",
        "cpf",
        "emails",
        "family",
        "family_email",
        "female",
        "force_phone",
        "forced",
        "given",
        "landline",
        "landline_shared",
        "lost_link",
        "mobile",
        "pid",
        "social",
        "switchboard",
        "two_emails",
    )

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.emails: list[str] = []
        self.landline: tuple[str, str] | None = None
        self.landline_shared = False
        self.family_email: str | None = None
        self.assistant: _Person | None = None
        self.switchboard: tuple[str, str] | None = None
        self.social: str | None = None
        self.forced: tuple[str, ...] = ()
        self.force_phone = False
        self.lost_link = False
        self.two_emails = False


class _Plan:
    """Which identifiers and attributes one record of a person carries, before it is written out."""

    __slots__ = ("address", "birth", "cpf", "emails", "family", "invalid", "phones", "source")

    def __init__(self, source: str, *, invalid: bool) -> None:
        self.source = source
        self.invalid = invalid
        self.emails: list[str] = []
        self.phones: list[str] = []
        self.cpf = False
        self.birth = False
        self.address = False
        self.family: str | None = None  # a different family name (maiden name) in this record only

    def unique(self, person: _Person) -> set[str]:
        """The refs of this record that identify only this person."""
        refs = {ref for ref in self.emails if ref in _OWN_EMAILS}
        refs.update(ref for ref in self.phones if ref == "m" or (ref == "l" and not person.landline_shared))
        if self.cpf:
            refs.add("c")
        return refs

    def add(self, ref: str) -> None:
        if ref == "c":
            self.cpf = True
        elif ref in _PHONE_REFS:
            self.phones.append(ref)
        else:
            self.emails.append(ref)


class _Generator:
    def __init__(self, subjects: int, seed: int, today: dt.date) -> None:
        self.subjects = subjects
        self.rng = rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible on purpose
        self.random = rng.random
        self.pools = _pools(seed)
        self.today = today.toordinal()
        self.days = tuple(dt.date.fromordinal(self.today - back).isoformat() for back in range(1, 3 * 365 + 32))
        self.cpf_ids = _Bijection(rng, 10**9)
        self.email_ids = _Bijection(rng, 10 ** max(4, len(str(3 * subjects))))
        self.mobile_ids = _Bijection(rng, 4 * 10**7)
        self.landline_ids = _Bijection(rng, 4 * 10**7)
        crm_width = max(7, len(str(subjects)))
        self.crm_ids = _Bijection(rng, 10**crm_width)
        self.crm_format = f"CRM-{{:0{crm_width}d}}"
        self.shop_ids = _Bijection(rng, max(900_000, 2 * subjects))
        self.support_ids = _Bijection(rng, 16**8)
        self.counters = dict.fromkeys(SOURCE_CODES, 0)
        self.ascii_names: dict[str, list[str]] = {}
        self.switchboards = self._switchboards()
        # Units of people are drawn one after another: a single person, a household, a pair of name twins or
        # an executive with an assistant. Unit odds chosen so that the shares of *people* hold.
        mean_household = sum(size * weight for size, weight in HOUSEHOLD_SIZES)
        people_per_unit = 1 / (
            1 - HOUSEHOLD_PEOPLE_SHARE * (mean_household - 1) / mean_household - TWIN_SHARE - EXECUTIVE_SHARE
        )
        self.unit_odds = (
            HOUSEHOLD_PEOPLE_SHARE * people_per_unit / mean_household,
            TWIN_SHARE * people_per_unit,
            EXECUTIVE_SHARE * people_per_unit,
        )
        self.lost_link_odds = LOST_LINK_SHARE / (1 - HOUSEHOLD_PEOPLE_SHARE - 2 * TWIN_SHARE - 2 * EXECUTIVE_SHARE)

    # ------------------------------------------------------------ people

    def _switchboards(self) -> dict[int, tuple[str, str]]:
        """Who calls support from a company switchboard, as person id -> corporate landline."""
        cap = self.subjects // 20
        count = min(SWITCHBOARDS, max(1, self.subjects // 10_000))
        if cap < 2:
            return {}
        sizes = [min(self.rng.randint(*SWITCHBOARD_SIZE), cap) for _ in range(count)]
        callers = self.rng.sample(range(self.subjects), min(sum(sizes), self.subjects))
        result: dict[int, tuple[str, str]] = {}
        for board, size in enumerate(sizes):
            number = self._landline(self.subjects + board, str(self.rng.choice(DDDS)))
            for pid in callers[:size]:
                result[pid] = number
            callers = callers[size:]
        return result

    def _landline(self, index: int, ddd: str) -> tuple[str, str]:
        number = self.landline_ids(index)
        return ddd, f"{2 + number // 10**7}{number % 10**7:07d}"

    def _cpf(self, pid: int) -> str:
        base = self.cpf_ids(pid)
        if base % 111_111_111 == 0:  # 000000000, 111111111, ...: never a real CPF
            base = self.cpf_ids(2 * self.subjects + pid)
        return f"{base:09d}{cpf_check_digits(base)}"

    def _person(
        self,
        pid: int,
        *,
        female: bool | None = None,
        given: str | None = None,
        family: str | None = None,
        city: tuple[str, str, str, int, int] | None = None,
        address: dict[str, str] | None = None,
        ages: tuple[float, float] = (18, 90),
    ) -> _Person:
        random_, pools = self.random, self.pools
        person = _Person(pid)
        person.female = random_() < 0.52 if female is None else female
        names = pools.female if person.female else pools.male
        person.given = given or names[int(random_() * len(names))]
        if family is None:
            last = pools.last
            family = last[int(random_() * len(last))]
            if random_() < 0.85:  # most Brazilians carry two family names: mother's and father's
                second = last[int(random_() * len(last))]
                family = f"{family} {second}" if second != family else family
        person.family = family
        age = ages[0] + random_() * (ages[1] - ages[0])
        person.birth = dt.date.fromordinal(self.today - int(age * 365.25)).isoformat()
        person.cpf = self._cpf(pid)
        if address is not None:
            person.city = city
            person.address = address
        else:
            person.city = city = city or pools.cities[int(random_() * len(pools.cities))]
            person.address = self._address(city)
        ddd = city[2]
        mobile = self.mobile_ids(pid)
        person.mobile = (ddd, f"9{6 + mobile // 10**7}{mobile % 10**7:07d}")
        if random_() < LANDLINE_SHARE:
            person.landline = self._landline(pid, ddd)
        person.switchboard = self.switchboards.get(pid)
        person.two_emails = random_() < TWO_EMAILS_SHARE
        if random_() < SOCIAL_NAME_SHARE:
            others = pools.male if person.female else pools.female
            person.social = f"{others[int(random_() * len(others))]} {family}"
        return person

    def _address(self, city: tuple[str, str, str, int, int]) -> dict[str, str]:
        random_, pools = self.random, self.pools
        address = {
            "street": pools.streets[int(random_() * len(pools.streets))],
            "number": "S/N" if random_() < 0.02 else str(1 + int(random_() ** 2 * 3000)),
        }
        if random_() < 0.3:
            template = _COMPLEMENTS[int(random_() * len(_COMPLEMENTS))]
            address["complement"] = template.format(
                n=int(11 + random_() * 190), c=int(1 + random_() * 9), b="ABCDEF"[int(random_() * 6)]
            )
        address["district"] = pools.districts[int(random_() * len(pools.districts))]
        address["city"], address["state"] = city[0], city[1]
        address["postal_code"] = f"{int(city[3] + random_() * (city[4] - city[3] + 1)):05d}{int(random_() * 1000):03d}"
        return address

    def _ascii_name(self, name: str) -> list[str]:
        """The tokens of a name as they appear in email addresses: no accents, lower case, no particles."""
        tokens = self.ascii_names.get(name)
        if tokens is None:
            folded = name.translate(self.pools.fold).lower().split()
            tokens = self.ascii_names[name] = [token for token in folded if token not in _PARTICLES] or folded
        return tokens

    def _email(self, person: _Person, slot: int) -> str:
        while len(person.emails) <= slot:
            random_ = self.random
            number = self.email_ids(person.pid + len(person.emails) * self.subjects)
            given, family = "".join(self._ascii_name(person.given)), self._ascii_name(person.family)
            style = random_()
            if style < 0.35:
                local = f"{given}.{family[-1]}{number}"
            elif style < 0.55:
                local = f"{given}{family[-1]}{number}"
            elif style < 0.7:
                local = f"{given}_{family[0]}{number}"
            elif style < 0.85:
                local = f"{given[0]}{family[-1]}{number}"
            else:
                local = f"{given}{number}"
            domains = self.pools.domains
            person.emails.append(f"{local}@{domains[int(random_() * len(domains))]}")
        return person.emails[slot]

    def units(self) -> Iterator[list[_Person]]:
        """People in groups generated together: single people, households, twins, executive and assistant."""
        random_ = self.random
        household, twins, executive = self.unit_odds
        twins += household
        executive += twins
        pid, subjects = 0, self.subjects
        while pid < subjects:
            left = subjects - pid
            draw = random_() if left >= 2 else 1.0
            if draw < household:
                unit = self._household(pid, min(self._household_size(), left))
            elif draw < twins:
                original = self._person(pid)
                twin = self._person(
                    pid + 1, female=original.female, given=original.given, family=original.family, city=original.city
                )
                unit = [original, twin]
            elif draw < executive:
                unit = self._executive(pid)
            else:
                person = self._person(pid)
                person.lost_link = person.switchboard is None and random_() < self.lost_link_odds
                unit = [person]
            pid += len(unit)
            yield unit

    def _household_size(self) -> int:
        draw = self.random()
        for size, weight in HOUSEHOLD_SIZES:
            if draw < weight:
                return size
            draw -= weight
        return HOUSEHOLD_SIZES[-1][0]

    def _household(self, pid: int, size: int) -> list[_Person]:
        random_ = self.random
        head = self._person(pid, ages=(42, 80))
        head_age = (self.today - dt.date.fromisoformat(head.birth).toordinal()) / 365.25
        head.landline = head.landline or self._landline(pid, head.city[2])
        members = [head]
        if size >= 3 or random_() < 0.5:
            spouse_ages = (max(18.0, head_age - 6), head_age + 4)
            members.append(self._household_member(members, pid + 1, not head.female, spouse_ages))
        while len(members) < size:
            members.append(self._household_member(members, pid + len(members), None, (18, max(18.5, head_age - 20))))
        family_email = self._email(head, 0) if random_() < FAMILY_EMAIL_SHARE else None
        for member in members:
            member.landline = head.landline
            member.landline_shared = True
            if member is not head:
                member.family_email = family_email
        return members

    def _household_member(
        self, members: list[_Person], pid: int, female: bool | None, ages: tuple[float, float]
    ) -> _Person:
        head = members[0]
        member = self._person(pid, female=female, family=head.family, city=head.city, address=head.address, ages=ages)
        names = self.pools.female if member.female else self.pools.male
        taken = {other.given for other in members}
        while member.given in taken:
            member.given = names[int(self.random() * len(names))]
        return member

    def _executive(self, pid: int) -> list[_Person]:
        executive = self._person(pid, ages=(35, 70))
        assistant = self._person(pid + 1, female=self.random() < 0.9, city=executive.city, ages=(22, 55))
        executive.assistant = assistant
        executive.forced = (_CRM, _SHOP)
        assistant.forced = (_CRM,)
        assistant.force_phone = True
        return [executive, assistant]

    # ------------------------------------------------------------ plans

    def plans(self, person: _Person) -> list[_Plan]:
        random_ = self.random
        if person.lost_link:
            return self._lost_link_plans(person)
        sources = [code for code, share in COVERAGE if random_() < share or code in person.forced]
        if person.switchboard is not None and _SUPPORT not in sources:
            sources.append(_SUPPORT)
        if not sources:
            sources.append(_CRM if random_() < 0.35 else _SHOP)
        alternative = None  # the source that gets the person's second email
        if person.two_emails:
            self._email(person, 1)
            alternative = sources[1 + int(random_() * (len(sources) - 1))] if len(sources) > 1 else sources[0]
        plans = []
        for source in sources:
            plan = _Plan(source, invalid=random_() < INVALID_SHARE)
            if source == _CRM:
                self._crm_plan(person, plan, alternative)
            elif source == _SHOP:
                self._shop_plan(person, plan, alternative)
            else:
                self._support_plan(person, plan, alternative)
            plans.append(plan)
            if source == _SHOP and random_() < SHOP_DUPLICATE_SHARE:
                second = _Plan(_SHOP, invalid=random_() < INVALID_SHARE)
                self._shop_plan(person, second, alternative)
                if random_() < 0.4:  # a new account opened with another address
                    self._email(person, 1)
                    second.emails = ["e1"]
                second.cpf = plan.cpf
                plans.append(second)
        if len(plans) > 1 and person.female and random_() < MARRIAGE_SHARE:
            last = self.pools.last
            kept = person.family.split()[:-1]  # the mother's family name stays, the husband's goes
            maiden = " ".join([*kept, last[int(random_() * len(last))]])
            if maiden != person.family:
                plans[int(random_() * len(plans))].family = maiden
        self._link(person, plans)
        return plans

    def _lost_link_plans(self, person: _Person) -> list[_Plan]:
        self._email(person, 1)
        crm, shop = _Plan(_CRM, invalid=False), _Plan(_SHOP, invalid=False)
        crm.emails, crm.cpf = ["e0"], True
        shop.emails, shop.phones = ["e1"], ["m"]
        crm.birth = shop.birth = crm.address = shop.address = True
        return [crm, shop]

    def _own_phones(self, person: _Person, plan: _Plan) -> None:
        random_ = self.random
        landline_use = 0.35 if person.landline_shared else 0.15
        if person.landline is not None and random_() < landline_use:
            plan.phones.append("l")
            if random_() < 0.4:
                plan.phones.append("m")
        else:
            plan.phones.append("m")
            if person.landline is not None and random_() < landline_use + 0.1:
                plan.phones.append("l")

    def _own_email(self, person: _Person, plan: _Plan, alternative: str | None) -> None:
        if person.two_emails and plan.source == alternative:
            plan.emails.append("e1")
        else:
            plan.emails.append("e0")

    def _crm_plan(self, person: _Person, plan: _Plan, alternative: str | None) -> None:
        random_ = self.random
        self._own_email(person, plan, alternative)
        if person.two_emails and random_() < 0.25:
            plan.emails.append("e1" if plan.emails[0] == "e0" else "e0")
        if random_() < 0.6 or person.force_phone:
            self._own_phones(person, plan)
        plan.cpf = random_() < 0.85 or person.assistant is not None
        plan.birth = random_() < 0.7
        plan.address = random_() < 0.85

    def _shop_plan(self, person: _Person, plan: _Plan, alternative: str | None) -> None:
        random_ = self.random
        if person.assistant is not None:
            plan.emails.append("ae")
            plan.phones.append("am")
            plan.cpf = True
        else:
            if random_() < 0.97:
                if person.family_email is not None:
                    plan.emails.append("fe")
                else:
                    self._own_email(person, plan, alternative)
            if random_() < 0.85:
                self._own_phones(person, plan)
            plan.cpf = random_() < 0.6
        plan.birth = random_() < 0.3
        plan.address = random_() < 0.85

    def _support_plan(self, person: _Person, plan: _Plan, alternative: str | None) -> None:
        random_ = self.random
        if random_() < 0.85:
            if person.family_email is not None:
                plan.emails.append("fe")
            else:
                self._own_email(person, plan, alternative)
        if person.switchboard is not None:
            plan.phones.append("sw")
            if random_() < 0.3:
                plan.phones.append("m")
        elif random_() < 0.55:
            self._own_phones(person, plan)
        plan.cpf = random_() < 0.1
        plan.address = random_() < 0.05

    def _link(self, person: _Person, plans: list[_Plan]) -> None:
        """Make the person's valid records one connected group through identifiers only they hold."""
        valid = [plan for plan in plans if not plan.invalid]
        if len(valid) < 2:
            return
        uniques = [plan.unique(person) for plan in valid]
        if set.intersection(*uniques):
            return  # the common case: one identifier in every record
        has_e1 = len(person.emails) > 1
        groups: list[tuple[list[_Plan], set[str]]] = []
        for plan, refs in zip(valid, uniques, strict=True):
            if not refs:
                ref = next(t for t in _PREFERENCE[plan.source] if t != "e1" or has_e1)
                plan.add(ref)
                refs.add(ref)
            joined = [group for group in groups if group[1] & refs]
            merged: tuple[list[_Plan], set[str]] = ([plan], refs)
            for group in joined:
                groups.remove(group)
                merged[0].extend(group[0])
                merged[1].update(group[1])
            groups.append(merged)
        while len(groups) > 1:
            (target, refs), (members, others) = groups[0], groups.pop()
            plan = members[0]
            plan.add(next(ref for ref in _PREFERENCE[plan.source] if ref in refs))
            target.extend(members)
            refs.update(others)

    # ------------------------------------------------------------ records

    def records(self) -> Iterator[DemoRecord]:
        """The records, in a locally shuffled order (a window of ``SHUFFLE_WINDOW`` records)."""
        random_, fields_of, spoil = self.random, self._fields, self._spoil
        window: list[DemoRecord] = []
        for unit in self.units():
            for person in unit:
                for plan in self.plans(person):
                    fields = fields_of(person, plan)
                    if plan.invalid:
                        spoil(person, fields)
                    record = DemoRecord(plan.source, person.pid, fields, not plan.invalid)
                    if len(window) < SHUFFLE_WINDOW:
                        window.append(record)
                        continue
                    at = int(random_() * SHUFFLE_WINDOW)
                    yield window[at]
                    window[at] = record
        self.rng.shuffle(window)
        yield from window

    def _external_id(self, source: str) -> str:
        count = self.counters[source]
        self.counters[source] = count + 1
        if source == _CRM:
            return self.crm_format.format(self.crm_ids(count))
        if source == _SHOP:
            return str(100_000 + self.shop_ids(count))
        return f"ZD-{self.support_ids(count):08x}"

    def _fields(self, person: _Person, plan: _Plan) -> dict[str, Any]:
        random_ = self.random
        source = plan.source
        day, second = divmod(int(random_() * 1095 * 86400), 86400)
        fields: dict[str, Any] = {
            "external_id": self._external_id(source),
            "updated_at": f"{self.days[day]}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z",
        }
        if plan.emails:
            messy_email, email_value = self._messy_email, self._email_value
            if len(plan.emails) == 1:
                fields["email"] = messy_email(email_value(person, plan.emails[0]))
            else:
                emails = [messy_email(email_value(person, ref)) for ref in plan.emails]
                fields["email"], fields["emails"] = emails[0], emails[1:]
        if source == _CRM:
            fields["email_verified"] = random_() < 0.7
        if plan.phones:
            phone_text, phone_value = self._phone_text, self._phone_value
            if len(plan.phones) == 1:
                fields["phone"] = phone_text(phone_value(person, plan.phones[0]))
            else:
                phones = [phone_text(phone_value(person, ref)) for ref in plan.phones]
                fields["phone"], fields["phones"] = phones[0], phones[1:]
        if plan.cpf:
            cpf = person.cpf
            fields["cpf"] = f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}" if random_() < 0.5 else cpf
        self._names(person, plan, fields)
        if plan.birth:
            fields["birth_date"] = person.birth
        if source == _CRM or random_() < (0.5 if source == _SHOP else 0.3):
            fields["locale"] = "pt-BR"
        if plan.address:
            fields["address"] = self._address_fields(person.address, full=source != _SUPPORT)
        fields["extra"] = self._extra(source, day)
        return fields

    def _names(self, person: _Person, plan: _Plan, fields: dict[str, Any]) -> None:
        random_ = self.random
        source = plan.source
        given, family = person.given, plan.family or person.family
        if random_() < TYPO_SHARE and not person.lost_link:
            if random_() < 0.5:
                given = self._typo(given)
            else:
                family = self._typo(family)
        if source == _CRM:
            fields["given_name"], fields["family_name"] = given, family
            if person.social is not None:
                fields["social_name"] = person.social
            return
        fields.update(self._shop_names(given, family) if source == _SHOP else self._support_names(given, family))

    def _shop_names(self, given: str, family: str) -> dict[str, str]:
        names = (
            {"full_name": f"{given} {family}"} if self.random() < 0.5 else {"given_name": given, "family_name": family}
        )
        case = self.random()
        if case < 0.1:
            return {key: value.upper() for key, value in names.items()}
        if case < 0.25:
            return {key: value.translate(self.pools.fold) for key, value in names.items()}
        return names

    def _support_names(self, given: str, family: str) -> dict[str, str]:
        style = self.random()
        if style < 0.6:
            names = {"given_name": given}
        elif style < 0.85:
            names = {"full_name": f"{given} {family}"}
        else:
            names = {"given_name": given, "family_name": family}
        if self.random() < 0.15:
            return {key: value.translate(self.pools.fold) for key, value in names.items()}
        return names

    def _typo(self, name: str) -> str:
        random_ = self.random
        for _ in range(4):
            at = 1 + int(random_() * (len(name) - 1)) if len(name) > 1 else 0
            if name[at].isalpha():
                break
        else:
            return name
        kind = random_()
        if kind < 0.4:
            letter = "aeioulnrst"[int(random_() * 10)]
            if letter == name[at].lower():
                letter = "m"
            if name[at].isupper():
                letter = letter.upper()
            return name[:at] + letter + name[at + 1 :]
        if kind < 0.7 and len(name) > 3:
            return name[:at] + name[at + 1 :]
        if kind < 0.85 or at + 1 >= len(name) or not name[at + 1].isalpha():
            return name[:at] + name[at] + name[at:]
        return name[:at] + name[at + 1] + name[at] + name[at + 2 :]

    def _email_value(self, person: _Person, ref: str) -> str:
        if ref == "e0":
            return self._email(person, 0)
        if ref == "e1":
            return self._email(person, 1)
        if ref == "fe":
            assert person.family_email is not None  # noqa: S101 - plans only use it when set
            return person.family_email
        assert person.assistant is not None  # noqa: S101 - "ae" only for executives
        return self._email(person.assistant, 0)

    def _phone_value(self, person: _Person, ref: str) -> tuple[str, str]:
        if ref == "m":
            return person.mobile
        if ref == "l":
            assert person.landline is not None  # noqa: S101 - plans only use it when set
            return person.landline
        if ref == "sw":
            assert person.switchboard is not None  # noqa: S101
            return person.switchboard
        assert person.assistant is not None  # noqa: S101 - "am" only for executives
        return person.assistant.mobile

    def _messy_email(self, email: str) -> str:
        random_ = self.random
        case = random_()
        if case >= 0.75:
            if case < 0.85:
                email = email[0].upper() + email[1:]
            elif case < 0.92:
                email = email.upper()
            else:
                email = email.title()
        if random_() < 0.08:
            email = " " + email if random_() < 0.5 else email + "  "
        return email

    def _phone_text(self, phone: tuple[str, str]) -> str:
        ddd, number = phone
        split = len(number) - 4
        style = int(self.random() * 5)
        if style == 0:
            return f"({ddd}) {number[:split]}-{number[split:]}"
        if style == 1:
            return f"+55 {ddd} {number[:split]}-{number[split:]}"
        if style == 2:
            return ddd + number
        if style == 3:
            return f"0{ddd} {number[:split]}-{number[split:]}"
        if len(number) == 9:
            return f"+55 ({ddd}) {number[0]} {number[1:5]}-{number[5:]}"
        return f"+55 ({ddd}) {number[:4]}-{number[4:]}"

    def _address_fields(self, address: dict[str, str], *, full: bool) -> dict[str, str]:
        random_ = self.random
        if not full:
            return {"city": address["city"], "state": address["state"]}
        result = dict(address)
        cep = address["postal_code"]
        if random_() < 0.7:
            result["postal_code"] = f"{cep[:5]}-{cep[5:]}"
        if random_() < 0.5:
            result["country"] = "BR"
        return result

    def _extra(self, source: str, day: int) -> dict[str, Any]:
        """Source-specific fields; ``day`` is the record's update, as days before ``today``, minus one."""
        random_ = self.random
        if source == _CRM:
            return {"newsletter": random_() < 0.9, "segment": _SEGMENTS[int(random_() * 4)]}
        if source == _SHOP:
            last_order = self.days[day + int(random_() * 30)]
            return {"orders": 1 + int(random_() ** 2 * 20), "last_order": last_order}
        return {"tickets": 1 + int(random_() ** 3 * 10), "channel": _CHANNELS[int(random_() * 5)]}

    def _spoil(self, person: _Person, fields: dict[str, Any]) -> None:
        """Make a row invalid in one of the ways real exports are: every one fails cleaning."""
        random_ = self.random
        kind = random_()
        if kind < 0.25:
            email = fields.get("email") or self._email(person, 0)
            local, _, domain = email.strip().partition("@")
            broken = (f"{local}{domain}", f"{local}@{domain.split('.')[0]}", f"{local}@@{domain}")
            fields["email"] = broken[int(random_() * 3)]
        elif kind < 0.45:
            cpf = person.cpf
            fields["cpf"] = cpf[:10] + str((int(cpf[10]) + 1 + int(random_() * 9)) % 10)
        elif kind < 0.6:
            fields["phone"] = _BAD_PHONES[int(random_() * len(_BAD_PHONES))]
        elif kind < 0.7:
            year, _, day = person.birth.split("-")
            fields["birth_date"] = f"31/02/{year}" if random_() < 0.5 else f"{year}-13-{day}"
        elif kind < 0.85:
            del fields["external_id"]
        elif random_() < 0.5:
            fields["cpf"] = int(person.cpf)
        else:
            ddd, number = person.mobile
            fields["phone"] = int(ddd + number)


def generate_records(*, subjects: int, seed: int = 360, today: dt.date | None = None) -> Iterator[DemoRecord]:
    """Stream the records of ``subjects`` people (~2.5 records each) from crm, shop and support.

    Deterministic for a ``seed`` and ``today`` (the date the "last 3 years" and the ages count back from;
    by default the current UTC date). Records come in a locally shuffled order (a window of
    ``SHUFFLE_WINDOW`` records), so a person's records are near each other but not adjacent.
    """
    if subjects < 0:
        raise ValueError("subjects is a number of people, 0 or more.")
    return _Generator(subjects, seed, today or dt.datetime.now(dt.UTC).date()).records()


def write_demo_files(records: Iterable[DemoRecord], directory: Path) -> dict[str, Path]:
    """Write ``<directory>/<source>.jsonl`` (one ``fields`` object a line) and ``<directory>/truth.csv``.

    truth.csv has the columns source,external_id,person, one row per record with an external_id.
    Streams: memory does not grow with the number of records. Returns {"crm": path, ..., "truth": path}.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {code: directory / f"{code}.jsonl" for code in SOURCE_CODES}
    paths["truth"] = directory / "truth.csv"
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with ExitStack() as stack:
        handles: dict[str, IO[str]] = {
            code: stack.enter_context(paths[code].open("w", encoding="utf-8", newline="\n")) for code in SOURCE_CODES
        }
        truth_file = stack.enter_context(paths["truth"].open("w", encoding="utf-8", newline=""))
        truth = csv.writer(truth_file, lineterminator="\n")
        truth.writerow(["source", "external_id", "person"])
        for record in records:
            handle = handles.get(record.source)
            if handle is None:  # a source beyond DEMO_SOURCES: written all the same
                paths[record.source] = directory / f"{record.source}.jsonl"
                handle = handles[record.source] = stack.enter_context(
                    paths[record.source].open("w", encoding="utf-8", newline="\n")
                )
            handle.write(encode(record.fields))
            handle.write("\n")
            if "external_id" in record.fields:
                truth.writerow([record.source, record.fields["external_id"], record.person])
    return paths


def _pairs(sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def pairwise_quality(
    predicted: Mapping[tuple[str, str], object], truth: Mapping[tuple[str, str], int]
) -> tuple[float, float]:
    """Pairwise (precision, recall) of a clustering of records, keyed (source, external_id), against the truth.

    Only keys in both mappings count. Pairs are counted from cluster sizes (n*(n-1)/2 over the intersections
    of predicted and true clusters), never pair by pair. Precision is 1.0 without predicted pairs, recall
    1.0 without true pairs.
    """
    both: Counter[tuple[object, int]] = Counter()
    predicted_sizes: Counter[object] = Counter()
    true_sizes: Counter[int] = Counter()
    for key, cluster in predicted.items():
        if key in truth:
            person = truth[key]
            both[cluster, person] += 1
            predicted_sizes[cluster] += 1
            true_sizes[person] += 1
    found = _pairs(both.values())
    predicted_pairs, true_pairs = _pairs(predicted_sizes.values()), _pairs(true_sizes.values())
    precision = found / predicted_pairs if predicted_pairs else 1.0
    recall = found / true_pairs if true_pairs else 1.0
    return precision, recall
