"""Portal sign-in: magic links and SMS codes, no account enumeration, limits, lockout, short sessions."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from c360.lib import sms
from profiles.models import PortalLogin, SubjectAccess
from profiles.portal import SESSION_KEY
from tests.portal.conftest import link_secret

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_sms_outbox():
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def start(client: Client, contact: str, channel: str = "email", capture=None):
    if capture is None:
        return client.post(reverse("portal:sign_in"), {"channel": channel, "contact": contact})
    with capture(execute=True):
        return client.post(reverse("portal:sign_in"), {"channel": channel, "contact": contact})


def test_magic_link_signs_in_and_shows_my_data(person, django_capture_on_commit_callbacks):
    client = Client()
    response = start(client, person.person.email.upper(), capture=django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:sign_in_sent")
    (message,) = mail.outbox
    assert message.to == [person.person.email.lower()]
    assert {alternative[1] for alternative in message.alternatives} == {"text/html"}
    secret = link_secret(person.person.email.lower())
    stored = PortalLogin.objects.get()
    assert stored.secret_sha256 != secret  # only the hash is kept...
    assert stored.secret_enc is None  # ...once the mail is out

    # Following the link shows a button; the link is spent only by the POST (mail scanners follow links).
    page = client.get(reverse("portal:sign_in_link"), {"t": secret})
    assert page.status_code == 200
    assert PortalLogin.objects.get().redeemed_at is None
    response = client.post(reverse("portal:sign_in_link"), {"t": secret})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:index")

    data = client.get(reverse("portal:my_data"))
    assert data.status_code == 200
    assert person.person.attributes["given_name"] in data.content.decode()
    assert data["Cache-Control"] == "no-store"
    access = SubjectAccess.objects.get(subject=person)
    assert access.actor == f"subject:{person.id}"


def test_the_same_answer_for_an_unknown_address_and_a_contact_only_session(db, django_capture_on_commit_callbacks):
    client = Client()
    response = start(client, "nobody@example.org", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:sign_in_sent")
    client.post(reverse("portal:sign_in_link"), {"t": link_secret("nobody@example.org")})
    page = client.get(reverse("portal:my_data")).content.decode()
    assert "no customer profile" in page
    assert PortalLogin.objects.get().subject_id is None


def test_a_shared_address_opens_no_profile(person, other_person, django_capture_on_commit_callbacks):
    """Two people with one address: signing in with it must not show either profile."""
    from c360.lib.history import Actor
    from profiles.services.subjects import IdentifierInput, subject_update

    subject_update(
        subject_id=other_person.id,
        actor=Actor.system("tests"),
        source="tests",
        add_identifiers=[IdentifierInput(kind="email", value=person.person.email)],
    )
    client = Client()
    start(client, person.person.email, capture=django_capture_on_commit_callbacks)
    client.post(reverse("portal:sign_in_link"), {"t": link_secret(person.person.email.lower())})
    page = client.get(reverse("portal:my_data")).content.decode()
    assert person.person.attributes["given_name"] not in page
    assert other_person.person.attributes["given_name"] not in page


def test_malformed_contact_is_a_form_error_and_nothing_is_sent(db):
    client = Client()
    response = start(client, "not an address")
    assert response.status_code == 400
    assert "valid email address" in response.content.decode()
    response = client.post(reverse("portal:sign_in"), {"channel": "fax", "contact": "a@b.com"})
    assert response.status_code == 400
    assert PortalLogin.objects.count() == 0
    assert mail.outbox == []


def test_a_link_works_once(person, sign_in):
    client = sign_in(person.person.email)
    secret = link_secret(person.person.email.lower())
    other = Client()
    response = other.post(reverse("portal:sign_in_link"), {"t": secret})
    assert response.status_code == 400
    assert "already used" in response.content.decode()
    assert SESSION_KEY not in other.session
    assert client.get(reverse("portal:my_data")).status_code == 200


def test_an_expired_link_does_not_sign_in(person, django_capture_on_commit_callbacks):
    client = Client()
    start(client, person.person.email, capture=django_capture_on_commit_callbacks)
    secret = link_secret(person.person.email.lower())
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        response = client.post(reverse("portal:sign_in_link"), {"t": secret})
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert PortalLogin.objects.get().redeemed_at is None
    assert client.get(reverse("portal:my_data")).status_code == 302


def test_a_forged_link_does_not_sign_in(db):
    response = Client().post(reverse("portal:sign_in_link"), {"t": "forged-token-value"})
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_sms_code_signs_in_and_five_wrong_codes_end_the_sign_in(person, django_capture_on_commit_callbacks):
    client = Client()
    response = start(client, person.person.phone, channel="sms", capture=django_capture_on_commit_callbacks)
    assert response["Location"] == reverse("portal:sign_in_code")
    (message,) = sms.outbox
    code = re.search(r"\b(\d{6})\b", message.text).group(1)
    wrong = "000000" if code != "000000" else "111111"
    response = client.post(reverse("portal:sign_in_code"), {"code": wrong})
    assert response.status_code == 400
    assert client.post(reverse("portal:sign_in_code"), {"code": code}).status_code == 302
    assert person.person.attributes["given_name"] in client.get(reverse("portal:my_data")).content.decode()

    client = Client()
    start(client, person.person.phone, channel="sms", capture=django_capture_on_commit_callbacks)
    code = re.search(r"\b(\d{6})\b", sms.outbox[-1].text).group(1)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        client.post(reverse("portal:sign_in_code"), {"code": wrong})
    response = client.post(reverse("portal:sign_in_code"), {"code": code})
    assert response.status_code == 400
    assert "Too many wrong codes" in response.content.decode()
    assert client.get(reverse("portal:my_data")).status_code == 302


def test_a_code_only_counts_in_the_browser_that_asked_for_it(person, django_capture_on_commit_callbacks):
    start(Client(), person.person.phone, channel="sms", capture=django_capture_on_commit_callbacks)
    code = re.search(r"\b(\d{6})\b", sms.outbox[-1].text).group(1)
    response = Client().post(reverse("portal:sign_in_code"), {"code": code})
    assert response.status_code == 400
    assert PortalLogin.objects.get().redeemed_at is None


@override_settings(C360_PORTAL_RATE_PER_CONTACT="3/h")
def test_rate_limit_per_address_sends_no_more_mail_but_answers_the_same(person, django_capture_on_commit_callbacks):
    client = Client()
    answers = [
        start(client, person.person.email, capture=django_capture_on_commit_callbacks)["Location"] for _ in range(5)
    ]
    assert set(answers) == {reverse("portal:sign_in_sent")}
    assert len(mail.outbox) == 3


@override_settings(C360_PORTAL_RATE_PER_IP="4/h")
def test_rate_limit_per_connection(db, django_capture_on_commit_callbacks):
    client = Client()
    statuses = [
        start(client, f"person{number}@example.org", capture=django_capture_on_commit_callbacks).status_code
        for number in range(6)
    ]
    assert statuses == [302, 302, 302, 302, 429, 429]
    assert len(mail.outbox) == 4


@override_settings(C360_PORTAL_FAILURES_PER_IP="3/15m")
def test_repeated_failures_lock_the_connection_out(person, django_capture_on_commit_callbacks):
    client = Client()
    for _ in range(3):
        assert client.post(reverse("portal:sign_in_link"), {"t": "guess"}).status_code == 400
    start(client, person.person.email, capture=django_capture_on_commit_callbacks)
    response = client.post(reverse("portal:sign_in_link"), {"t": link_secret(person.person.email.lower())})
    assert response.status_code == 429
    assert client.get(reverse("portal:my_data")).status_code == 302


def test_sessions_are_short_and_signing_out_ends_them(person, sign_in):
    client = sign_in(person.person.email)
    login = PortalLogin.objects.get()
    assert login.session_expires_at - login.redeemed_at == dt.timedelta(minutes=30)
    assert client.session.get_expiry_age() <= 30 * 60
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=31)):
        assert client.get(reverse("portal:my_data")).status_code == 302

    client = sign_in(person.person.email)
    response = client.post(reverse("portal:sign_out"))
    assert response.status_code == 200
    assert client.get(reverse("portal:my_data")).status_code == 302
    ended = PortalLogin.objects.filter(ended_at__isnull=False).get()
    assert ended.key.wrapped_dek is None  # the stored contact point is shredded with the session


def test_sign_in_and_sign_out_need_the_csrf_token(person, sign_in):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("portal:sign_in"), {"channel": "email", "contact": person.person.email})
    assert response.status_code == 403
    assert PortalLogin.objects.count() == 0
    assert "the page was open too long" in response.content.decode()
    client.get(reverse("portal:sign_in"))  # the form sets the token cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("portal:sign_in"),
        {"channel": "email", "contact": person.person.email, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert PortalLogin.objects.count() == 1


def test_security_headers_on_portal_pages(person, portal_client):
    response = portal_client.get(reverse("portal:my_data"))
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "unsafe-inline" not in Client().get(reverse("portal:sign_in"))["Content-Security-Policy"]


def test_pages_answer_in_the_chosen_language(db, settings):
    settings.LANGUAGE_CODE = "pt-br"  # the deployment default
    client = Client()
    page = client.get(reverse("portal:sign_in"), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<html lang="es">' in page
    client.post(reverse("set_language"), {"language": "en", "next": reverse("portal:sign_in")})
    assert '<html lang="en">' in client.get(reverse("portal:sign_in")).content.decode()
    assert '<html lang="pt-br">' in Client().get(reverse("portal:sign_in")).content.decode()


def test_the_sending_task_carries_only_the_sign_in_id(person, monkeypatch, django_capture_on_commit_callbacks):
    from profiles import tasks

    real_task, sent = tasks.portal_sign_in_send_task, []

    class Recorder:
        def delay(self, *args):
            sent.append(args)

    monkeypatch.setattr(tasks, "portal_sign_in_send_task", Recorder())
    start(Client(), person.person.email, capture=django_capture_on_commit_callbacks)
    assert sent == [(str(PortalLogin.objects.get().id),)]
    assert mail.outbox == []
    assert real_task(*sent[0]) is None
    assert len(mail.outbox) == 1
    real_task(*sent[0])  # delivered twice: sent once
    assert len(mail.outbox) == 1


def test_old_sign_ins_are_purged(person, sign_in):
    from profiles.models import PortalLoginKey
    from profiles.services.portal import portal_logins_purge

    sign_in(person.person.email)
    assert portal_logins_purge() == 0
    assert portal_logins_purge(now=timezone.now() + dt.timedelta(days=31)) == 2  # the sign-in and its key
    assert PortalLogin.objects.count() == 0
    assert PortalLoginKey.objects.count() == 0
