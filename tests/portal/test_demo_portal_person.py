from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_the_demo_names_a_person_to_sign_in_with(person, settings):
    settings.C360_DEMO = True
    out = io.StringIO()
    call_command("demo_portal_person", stdout=out)
    assert "/portal/" in out.getvalue()
    assert person.person.email.lower() in out.getvalue()


def test_outside_the_demo_it_refuses(person, settings):
    settings.C360_DEMO = settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("demo_portal_person", stdout=io.StringIO())
