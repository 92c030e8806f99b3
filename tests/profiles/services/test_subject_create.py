from __future__ import annotations

import datetime as dt

import pytest

from c360.lib.errors import ValidationFailed
from c360.lib.history import Actor
from profiles.models import Identifier, Subject, SubjectKey
from profiles.services.subjects import IdentifierInput, subject_create, subject_reveal

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")


def test_it_creates_an_encrypted_subject_with_normalised_identifiers():
    subject = subject_create(
        actor=ACTOR,
        source="crm",
        attributes={
            "given_name": " Maria ",
            "birth_date": dt.date(1990, 5, 17),
            "address": {"city": "Recife"},
        },
        identifiers=[
            IdentifierInput("email", " Maria.Silva@GMAIL.com "),
            IdentifierInput("phone", "(81) 98765-4321", is_verified=True, verification_method="one_time_code"),
            IdentifierInput("cpf", "529.982.247-25"),
            IdentifierInput("external", "C-001", namespace="crm"),
        ],
        regimes=["gdpr", "lgpd"],
        regimes_reason="residence",
    )

    assert SubjectKey.objects.get(pk=subject.pk).kek_version == 1
    revealed = subject_reveal(subject_id=subject.id, actor=ACTOR, reason="check create")
    assert revealed.attributes["given_name"] == "Maria"
    assert revealed.attributes["birth_date"] == dt.date(1990, 5, 17)
    assert revealed.attributes["address"] == {"city": "Recife"}
    assert revealed.regimes == ["gdpr", "lgpd"]
    values = {(item.kind, item.value) for item in revealed.identifiers}
    assert values == {
        ("email", "maria.silva@gmail.com"),
        ("phone", "+5581987654321"),
        ("cpf", "52998224725"),
        ("external", "C-001"),
    }
    phone = subject.identifiers.get(kind="phone")
    assert phone.is_verified
    assert phone.verified_at is not None
    assert {row.source for row in subject.identifiers.all()} == {"crm"}


def test_the_same_identifier_twice_is_stored_once_verified_copy_winning():
    subject = subject_create(
        actor=ACTOR,
        source="api",
        identifiers=[
            IdentifierInput("email", "ana@example.com"),
            IdentifierInput("email", "ANA@example.com", is_verified=True, verification_method="double_opt_in"),
        ],
    )

    email = subject.identifiers.get()
    assert email.is_verified is True
    assert email.verification_method == "double_opt_in"


def test_regimes_default_to_settings():
    subject = subject_create(actor=ACTOR, source="api")
    assert subject.regimes == ["lgpd"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"attributes": {"nickname": "x"}}, "nickname"),
        ({"attributes": {"birth_date": dt.date(2999, 1, 1)}}, "birth_date"),
        ({"attributes": {"birth_date": "1990-01-01"}}, "birth_date"),
        ({"attributes": {"address": {"planet": "Mars"}}}, "address"),
        ({"attributes": {"given_name": "x" * 201}}, "given_name"),
        ({"regimes": []}, "regimes"),
        ({"regimes": ["ccpa"]}, "regimes"),
        ({"regimes_reason": "astrology"}, "regimes_reason"),
        ({"identifiers": [IdentifierInput("cpf", "111.111.111-11")]}, "identifiers"),
        ({"identifiers": [IdentifierInput("external", "C-1")]}, "identifiers"),
        ({"identifiers": [IdentifierInput("email", "a@b.com", is_verified=True)]}, "identifiers"),
        ({"identifiers": [IdentifierInput("fax", "123")]}, "identifiers"),
    ],
)
def test_invalid_input_is_refused_and_nothing_is_written(kwargs, field):
    with pytest.raises(ValidationFailed) as excinfo:
        subject_create(actor=ACTOR, source="api", **kwargs)

    assert field in excinfo.value.errors
    assert Subject.objects.count() == 0
    assert SubjectKey.objects.count() == 0
    assert Identifier.objects.count() == 0
    assert Subject.history.count() == 0


def test_identifier_errors_point_at_the_item_and_never_quote_the_value():
    with pytest.raises(ValidationFailed) as excinfo:
        subject_create(
            actor=ACTOR,
            source="api",
            identifiers=[
                IdentifierInput("email", "ok@example.com"),
                IdentifierInput("cpf", "123.456.789-00"),
            ],
        )

    errors = excinfo.value.errors["identifiers"]
    assert list(errors) == ["1"]
    assert errors["1"]["value"] == ["The CPF check digits do not match."]
    assert "123.456.789-00" not in str(excinfo.value.errors)
