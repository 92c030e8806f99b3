from __future__ import annotations

import pytest

from c360.lib.errors import Gone, NotFound, ValidationFailed
from c360.lib.history import Actor
from profiles.services.subjects import IdentifierInput, subject_erase, subject_reveal, subject_update
from tests.factories import SubjectFactory

pytestmark = pytest.mark.django_db

STAFF = Actor("user", "7", user_id=None)


def test_it_changes_attributes_and_identifiers_with_history():
    subject = SubjectFactory()
    phone = subject.identifiers.get(kind="phone")

    subject_update(
        subject_id=subject.id,
        actor=STAFF,
        source="admin",
        attributes={"family_name": "Souza", "social_name": "Léo", "address": None},
        add_identifiers=[IdentifierInput("email", "novo@example.com")],
        remove_identifier_ids=[phone.id],
        regimes=["lgpd", "gdpr"],
    )

    revealed = subject_reveal(subject_id=subject.id, actor=STAFF, reason="check update")
    assert revealed.attributes["family_name"] == "Souza"
    assert revealed.attributes["social_name"] == "Léo"
    assert revealed.attributes["address"] is None
    assert revealed.attributes["given_name"] == subject.person.attributes["given_name"]
    assert sorted(item.kind for item in revealed.identifiers) == ["cpf", "email", "email"]
    assert revealed.regimes == ["gdpr", "lgpd"]
    latest = subject.history.latest()
    assert latest.history_type == "~"
    assert latest.history_actor == "user:7"
    deleted_phone = phone.history.filter(history_type="-").get()
    assert deleted_phone.history_actor == "user:7"


def test_adding_an_identifier_it_already_has_is_a_no_op():
    subject = SubjectFactory()
    count = subject.identifiers.count()

    subject_update(
        subject_id=subject.id,
        actor=STAFF,
        source="admin",
        add_identifiers=[IdentifierInput("email", subject.person.email.upper())],
    )

    assert subject.identifiers.count() == count


def test_bad_input_changes_nothing():
    subject = SubjectFactory()
    history = subject.history.count()

    with pytest.raises(ValidationFailed):
        subject_update(
            subject_id=subject.id,
            actor=STAFF,
            source="admin",
            attributes={"family_name": "Souza"},
            add_identifiers=[IdentifierInput("phone", "12")],
        )

    assert subject.history.count() == history
    revealed = subject_reveal(subject_id=subject.id, actor=STAFF, reason="check nothing changed")
    assert revealed.attributes["family_name"] == subject.person.attributes["family_name"]


def test_an_erased_or_unknown_subject_cannot_be_updated():
    subject = SubjectFactory()
    subject_erase(subject_id=subject.id, actor=STAFF, reason="dsar 2026-0002")

    with pytest.raises(Gone):
        subject_update(subject_id=subject.id, actor=STAFF, source="admin", attributes={"given_name": "X"})
    with pytest.raises(NotFound):
        subject_update(subject_id="00000000-0000-0000-0000-000000000000", actor=STAFF, source="admin", attributes={})
