from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from faker import Faker

from c360.lib.history import Actor
from profiles.demo import fake_person
from profiles.models import Subject
from profiles.services.subjects import IdentifierInput, subject_create


class Command(BaseCommand):
    help = "Create synthetic pt-BR subjects (names, addresses, emails, phones, CPFs) through the services."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subjects", type=int, default=200)
        parser.add_argument("--seed", type=int, default=360)
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when subjects already exist.")

    def handle(self, *args: Any, subjects: int, seed: int, if_empty: bool, **options: Any) -> None:
        if subjects < 0:
            raise CommandError("--subjects must be zero or more.")
        if if_empty and Subject.objects.exists():
            self.stdout.write("Demo data already loaded; leaving it as it is.")
            return
        faker = Faker("pt_BR")
        faker.seed_instance(seed)
        actor = Actor.system("generate_demo")
        started = time.monotonic()
        for _ in range(subjects):
            person = fake_person(faker)
            subject_create(
                actor=actor,
                source="demo",
                attributes=person.attributes,
                identifiers=[IdentifierInput(**item) for item in person.identifiers()],
            )
        self.stdout.write(f"Created {subjects} demo subjects in {time.monotonic() - started:.1f}s.")
