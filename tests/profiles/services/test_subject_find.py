from __future__ import annotations

import pytest

from c360.lib.history import Actor
from c360.lib.identifiers import IdentifierError
from profiles.selectors import subject_find
from profiles.services.subjects import IdentifierInput, subject_create, subject_erase
from tests.factories import SubjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def maria():
    return subject_create(
        actor=Actor.system("tests"),
        source="shop",
        identifiers=[
            IdentifierInput("email", "maria.silva@gmail.com"),
            IdentifierInput("phone", "+5511987654321"),
            IdentifierInput("cpf", "52998224725"),
            IdentifierInput("external", "SHOP-77", namespace="shop"),
        ],
    )


@pytest.mark.parametrize(
    ("kind", "value", "namespace"),
    [
        ("email", "  MARIA.Silva@Gmail.Com ", ""),
        ("phone", "(11) 98765-4321", ""),
        ("phone", "11987654321", ""),
        ("cpf", "529.982.247-25", ""),
        ("external", "SHOP-77", "shop"),
    ],
)
def test_it_finds_by_any_identifier_after_normalisation(maria, kind, value, namespace):
    SubjectFactory()  # someone else

    assert list(subject_find(kind=kind, value=value, namespace=namespace)) == [maria]


def test_external_ids_are_namespaced_and_case_sensitive(maria):
    assert not subject_find(kind="external", value="SHOP-77", namespace="crm").exists()
    assert not subject_find(kind="external", value="shop-77", namespace="shop").exists()


def test_a_shared_contact_point_finds_every_holder(maria):
    brother = subject_create(
        actor=Actor.system("tests"),
        source="shop",
        identifiers=[IdentifierInput("phone", "+55 11 98765-4321")],
    )

    assert set(subject_find(kind="phone", value="11987654321")) == {maria, brother}


def test_erased_subjects_are_not_found(maria):
    subject_erase(subject_id=maria.id, actor=Actor.system("tests"), reason="dsar 2026-0003")

    assert not subject_find(kind="email", value="maria.silva@gmail.com").exists()


def test_a_value_that_cannot_be_an_identifier_raises(maria):
    with pytest.raises(IdentifierError):
        subject_find(kind="cpf", value="000")
