from __future__ import annotations

import pytest

from c360.lib.errors import Gone, NotFound, ValidationFailed
from c360.lib.history import Actor
from profiles.models import SubjectAccess
from profiles.services.subjects import subject_erase, subject_reveal
from tests.factories import SubjectFactory

pytestmark = pytest.mark.django_db


def test_it_decrypts_and_writes_the_access_log(django_user_model):
    staff = django_user_model.objects.create_user("analyst", password="x" * 12, is_staff=True)
    subject = SubjectFactory()

    revealed = subject_reveal(
        subject_id=subject.id, actor=Actor.for_user(staff), reason="DSAR 2026-0042 identity check"
    )

    assert revealed.attributes["family_name"] == subject.person.attributes["family_name"]
    access = SubjectAccess.objects.get()
    assert access.subject_id == subject.id
    assert access.user == staff
    assert access.actor == f"user:{staff.pk}"
    assert access.reason == "DSAR 2026-0042 identity check"
    assert "identifiers" in access.fields


def test_only_the_requested_attributes_are_decrypted_and_logged():
    subject = SubjectFactory()

    revealed = subject_reveal(
        subject_id=subject.id, actor=Actor.system("tests"), reason="locale for email", attributes=["locale"]
    )

    assert revealed.attributes == {"locale": "pt-BR"}
    assert SubjectAccess.objects.get().fields == ["locale", "identifiers"]


@pytest.mark.parametrize("reason", ["", "   ", "why"])
def test_a_reason_is_required(reason):
    subject = SubjectFactory()

    with pytest.raises(ValidationFailed) as excinfo:
        subject_reveal(subject_id=subject.id, actor=Actor.system("tests"), reason=reason)

    assert excinfo.value.code == "reason_required"
    assert not SubjectAccess.objects.exists()


def test_erased_and_unknown_subjects_reveal_nothing():
    subject = SubjectFactory()
    subject_erase(subject_id=subject.id, actor=Actor.system("tests"), reason="dsar 2026-0004")

    with pytest.raises(Gone):
        subject_reveal(subject_id=subject.id, actor=Actor.system("tests"), reason="after erasure")
    with pytest.raises(NotFound):
        subject_reveal(subject_id="00000000-0000-0000-0000-000000000000", actor=Actor.system("t"), reason="missing")
    assert not SubjectAccess.objects.exists()
