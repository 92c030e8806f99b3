"""factory_boy factories. Subjects are created through the service, as in production."""

from __future__ import annotations

from typing import Any

import factory
from faker import Faker

from c360.lib.history import Actor
from profiles.demo import FakePerson, fake_person
from profiles.models import Subject
from profiles.services.subjects import IdentifierInput, subject_create

faker = Faker("pt_BR")


class SubjectFactory(factory.Factory):
    """``SubjectFactory()`` -> a saved Subject; ``subject.person`` is its clear-text truth for assertions."""

    class Meta:
        model = Subject

    person = factory.LazyFunction(lambda: fake_person(faker))
    source = "tests"
    regimes = ("lgpd",)

    @classmethod
    def _create(cls, model_class: type[Subject], *, person: FakePerson, source: str, regimes: Any) -> Subject:
        subject = subject_create(
            actor=Actor.system("tests"),
            source=source,
            attributes=person.attributes,
            identifiers=[IdentifierInput(**item) for item in person.identifiers()],
            regimes=regimes,
        )
        subject.person = person  # type: ignore[attr-defined]
        return subject
