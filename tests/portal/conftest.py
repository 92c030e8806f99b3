"""Portal fixtures: people with a profile, and browsers signed in through the real magic-link flow."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import SubjectFactory

LINK = re.compile(r"https?://[^\s\"<>]+/portal/sign-in/link/\?t=([A-Za-z0-9_-]+)")


def link_secret(to: str) -> str:
    """The secret of the newest sign-in link mailed to ``to`` (text part)."""
    for message in reversed(mail.outbox):
        if to in message.to:
            return LINK.search(message.body).group(1)
    raise AssertionError("no sign-in link was mailed to that address")


@pytest.fixture(autouse=True)
def _english_unless_asked(settings):
    """Page assertions read the English source strings; tests of the pt-BR default set it back themselves."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def person(db):
    """A subject with a profile; ``person.person`` holds its clear-text email, phone, names."""
    return SubjectFactory()


@pytest.fixture
def other_person(db):
    return SubjectFactory()


@pytest.fixture
def sign_in(db, django_capture_on_commit_callbacks) -> Callable[..., Client]:
    """``sign_in(email)``: a client signed in to the portal by the emailed link, as a person would."""

    def make(email: str, *, client: Client | None = None, language: str = "en") -> Client:
        client = client or Client()
        client.cookies["django_language"] = language
        with django_capture_on_commit_callbacks(execute=True):  # the mail goes out when the sign-in commits
            response = client.post(reverse("portal:sign_in"), {"channel": "email", "contact": email})
        assert response.status_code == 302, response.content[:500]
        response = client.post(reverse("portal:sign_in_link"), {"t": link_secret(email.strip().lower())})
        assert response.status_code == 302, response.content[:500]
        return client

    return make


@pytest.fixture
def portal_client(person, sign_in) -> Client:
    """A client signed in as ``person``."""
    return sign_in(person.person.email)
