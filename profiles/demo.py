"""Synthetic, realistic Brazilian people for the demo and the tests. Never real data (LEGAL.md S-07)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

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
