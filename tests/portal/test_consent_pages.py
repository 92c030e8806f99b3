"""Portal consent pages: what we do, my consents (give, withdraw, object), history; bad input and isolation."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from c360.lib.history import Actor
from consent.models import (
    Action,
    ActorKind,
    Channel,
    ConsentEvent,
    GdprBasis,
    LgpdBasis,
    Method,
    Notice,
    NoticeVersion,
    Purpose,
)
from consent.services.events import EventInput, consent_record, consent_withdraw
from consent.views import MODEL_LABELS

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("portal-tests")
CHANGE = reverse("portal:consent_change")
OBJECT = reverse("portal:consent_object")
CONSENTS = reverse("portal:consents")
HISTORY = reverse("portal:consent_history")
ABOUT = reverse("portal:about")


@pytest.fixture
def newsletter(db):
    return Purpose.objects.create(
        code="marketing.newsletter",
        names={"pt-br": "Novidades da loja", "en": "Shop news", "es": "Novedades de la tienda"},
        descriptions={"pt-br": "Enviamos novidades semanais.", "en": "We send weekly news."},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email", "sms", "whatsapp"],
        direct_marketing=True,
        data_categories=["name", "contact", "engagement"],
        retention={"pt-br": "Enquanto o consentimento valer", "en": "While your consent lasts"},
        recipients=[{"name": "Envios Digitais Ltda.", "role": "processor", "country": "BR"}],
        refusal_consequences={"pt-br": "Você não recebe as novidades.", "en": "You do not get the news."},
        is_active=True,
    )


@pytest.fixture
def postal(db):
    return Purpose.objects.create(
        code="marketing.postal",
        names={"pt-br": "Catálogo por correio", "en": "Catalogue by post"},
        lgpd_basis="art7_ix",
        gdpr_basis="6_1_f",
        channels=["post"],
        direct_marketing=True,
        lia_reference="LIA-2026-03",
        is_active=True,
    )


@pytest.fixture
def retired(db):
    return Purpose.objects.create(
        code="marketing.retired",
        names={"pt-br": "Programa encerrado", "en": "Closed programme"},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email"],
        is_active=False,
    )


@pytest.fixture
def notice(newsletter, retired):
    entry = Notice.objects.create(code="privacy", title="Aviso de privacidade")
    entry.purposes.add(newsletter, retired)
    NoticeVersion.objects.create(notice=entry, version=1, language="pt-br", text="Texto antigo.")
    return NoticeVersion.objects.create(
        notice=entry, version=2, language="pt-br", text="Usamos seu e-mail para enviar novidades semanais."
    )


@pytest.fixture
def notice_en(notice):
    return NoticeVersion.objects.create(
        notice=notice.notice, version=2, language="en", text="We use your email to send weekly news."
    )


@pytest.fixture
def catalogue(newsletter, postal, retired, notice):
    return newsletter


def grant(client: Client, notice: NoticeVersion, purpose="marketing.newsletter", channel="email"):
    data = {"purpose": purpose, "channel": channel, "action": "grant", "notice_version": notice.pk}
    return client.post(CHANGE, data)


def withdraw(client: Client, purpose="marketing.newsletter", channel="email"):
    return client.post(CHANGE, {"purpose": purpose, "channel": channel, "action": "withdraw"})


def check(api, email: str, purpose="marketing.newsletter", channel="email") -> dict:
    body = {"recipient": {"email": email}, "purpose": purpose, "channel": channel}
    response = api.post("/api/v1/consent/check", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def page(client: Client, url: str = CONSENTS) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# ---------------------------------------------------------------- what we do


@pytest.mark.parametrize(
    ("_case", "language", "expected", "absent"),
    [
        ("portuguese", "pt-br", ["Novidades da loja", "Enviamos novidades semanais.", "Catálogo por correio"], []),
        ("english", "en", ["Shop news", "We send weekly news.", "Catalogue by post"], ["Novidades da loja"]),
    ],
)
def test_about_lists_every_active_purpose_in_the_language_of_the_person(catalogue, _case, language, expected, absent):
    client = Client()
    client.cookies["django_language"] = language

    html = page(client, ABOUT)

    for text in expected:
        assert text in html
    for text in absent:
        assert text not in html
    assert "Programa encerrado" not in html
    assert "Closed programme" not in html


def test_about_tells_basis_data_retention_recipients_and_refusal(catalogue, settings):
    client = Client()
    client.cookies["django_language"] = "en"

    html = page(client, ABOUT)

    assert LgpdBasis.CONSENT.label in html
    assert GdprBasis.LEGITIMATE_INTEREST.label in html
    assert "While your consent lasts" in html
    assert "Envios Digitais Ltda." in html
    assert "processes the data on our behalf" in html
    assert "You do not get the news." in html
    assert "Opens and clicks of our messages" in html
    assert settings.C360_CONTROLLER_NAME in html  # the controller
    assert reverse("portal:sign_in") in html  # not signed in: the rights section offers to sign in
    assert 'aria-current="page"' in html


def test_about_falls_back_to_portuguese_texts(catalogue):
    client = Client()
    client.cookies["django_language"] = "es"

    html = page(client, ABOUT)

    assert "Novedades de la tienda" in html
    assert "Enviamos novidades semanais." in html  # no Spanish description: the Portuguese one
    assert "Enquanto o consentimento valer" in html


def test_about_shows_the_signed_in_navigation(catalogue, portal_client):
    html = page(portal_client, ABOUT)

    assert reverse("portal:consents") in html
    assert reverse("portal:sign_out") in html


# ---------------------------------------------------------------- sign-in


@pytest.mark.parametrize(("_case", "method", "url"), [("page", "get", CONSENTS), ("history", "get", HISTORY)])
def test_consent_pages_need_sign_in(catalogue, _case, method, url):
    response = getattr(Client(), method)(url)

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:sign_in")


def test_a_change_without_sign_in_writes_nothing(catalogue, notice):
    response = grant(Client(), notice)

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:sign_in")
    assert ConsentEvent.objects.count() == 0


# ---------------------------------------------------------------- giving and withdrawing


def test_the_page_offers_one_unticked_button_per_channel(catalogue, notice, portal_client):
    portal_client.cookies["django_language"] = "en"

    html = page(portal_client)

    assert html.count('name="action" value="grant"') == 3  # email, sms, whatsapp
    assert html.count(f'name="notice_version" value="{notice.pk}"') == 3
    assert html.count(">Not given<") == 3
    assert "checked" not in html
    # no English text: the Portuguese one, its newest version
    assert "Usamos seu e-mail para enviar novidades semanais." in html
    assert "Texto antigo." not in html
    assert set(re.findall(r'<input type="hidden" name="([a-z_]+)"', html)) == {
        "csrfmiddlewaretoken",
        "purpose",
        "channel",
        "action",
        "notice_version",
    }  # no subject id in any form: whose consent it is comes from the session
    assert "style=" not in html
    assert "<script" not in html


def test_grant_then_withdraw_through_the_pages(catalogue, notice, person, portal_client, api_key_client):
    api = api_key_client("consent:check")
    email = person.person.email
    portal_client.cookies["django_language"] = "en"

    # when: the person gives consent by email
    response = grant(portal_client, notice)

    # then: the ledger has it, as a portal event with the notice shown, and the check allows
    assert response.status_code == 302
    assert response["Location"] == CONSENTS
    event = ConsentEvent.objects.get()
    assert (event.subject_id, event.chain) == (person.id, f"s:{person.id}")
    assert (event.purpose_code, event.channel, event.action) == ("marketing.newsletter", "email", Action.GRANT)
    assert (event.method, event.actor_kind, event.source_system) == (Method.PORTAL, ActorKind.SUBJECT, "portal")
    assert event.actor_ref == f"subject:{person.id}"
    assert event.notice_version_id == notice.pk
    assert check(api, email)["allowed"] is True
    html = page(portal_client)  # after the redirect: the page says what was done
    assert '<div class="alert success" role="status"><p>Consent given: Shop news, by Email.</p></div>' in html
    assert 'name="action" value="withdraw"' in html

    # when: the person withdraws it, in one click as well
    response = withdraw(portal_client)

    # then
    assert response.status_code == 302
    last = ConsentEvent.objects.order_by("-sequence").first()
    assert (last.action, last.method, last.subject_id, last.sequence) == (Action.WITHDRAW, Method.PORTAL, person.id, 2)
    answer = check(api, email)
    assert answer["allowed"] is False
    assert answer["reasons"][0] == "WITHDRAWN"
    assert "Consent withdrawn: Shop news, by Email. It takes effect at once." in page(portal_client)


def test_the_notice_shown_and_recorded_is_in_the_language_of_the_page(catalogue, notice, notice_en, portal_client):
    portal_client.cookies["django_language"] = "en"
    html = page(portal_client)
    assert f'name="notice_version" value="{notice_en.pk}"' in html
    assert f'name="notice_version" value="{notice.pk}"' not in html
    assert "We use your email to send weekly news." in html

    grant(portal_client, notice_en)

    assert ConsentEvent.objects.get().notice_version_id == notice_en.pk


def test_buttons_are_equal_and_name_their_purpose_and_channel(catalogue, notice, portal_client):
    portal_client.cookies["django_language"] = "en"
    grant(portal_client, notice)

    main = page(portal_client).split("<main", 1)[1].split("</main>", 1)[0]

    buttons = re.findall(r'<button type="submit" class="([^"]*)">(.*?)</button>', main, re.DOTALL)
    # give, withdraw and object: one look for all, none more prominent than another
    assert len(buttons) == 5
    assert {css for css, _ in buttons} == {"consent-action"}
    names = {re.sub(r"\s+", " ", re.sub(r"<[^>]*>", "", text)).strip() for _, text in buttons}
    assert names == {
        "Withdraw for “Shop news” by Email",
        "Give consent for “Shop news” by SMS",
        "Give consent for “Shop news” by WhatsApp",
        "Object to “Catalogue by post” on every channel",
        "Stop all direct marketing",
    }


def test_without_a_notice_no_grant_is_offered(newsletter, portal_client):
    portal_client.cookies["django_language"] = "en"

    html = page(portal_client)

    assert 'value="grant"' not in html
    assert html.count("the notice that explains this purpose is not published") == 3


def test_a_refusal_standing_on_the_signed_in_address_is_lifted_by_a_grant(
    catalogue, notice, person, portal_client, api_key_client
):
    # given: the person unsubscribed the address by a link in a mail (recorded for the address, not the subject)
    email = person.person.email
    consent_withdraw(
        purpose_code="marketing.newsletter",
        channel="email",
        method="unsubscribe_link",
        actor=ACTOR,
        contact=("email", email),
    )
    api = api_key_client("consent:check")
    assert check(api, email)["allowed"] is False

    # when: they give consent again in the portal
    grant(portal_client, notice)

    # then: it takes effect for that address too, and the history shows both chains
    assert check(api, email)["allowed"] is True
    grants = ConsentEvent.objects.filter(action="grant", method="portal")
    assert sorted(event.chain[:2] for event in grants) == ["c:", "s:"]
    assert {event.notice_version_id for event in grants} == {notice.pk}
    history = page(portal_client, HISTORY)
    assert history.count("status granted") == 2
    assert history.count("status withdrawn") == 1


def test_an_expired_consent_shows_as_expired_and_can_be_given_again(catalogue, notice, person, portal_client):
    now = timezone.now()
    consent_record(
        event=EventInput(
            purpose_code="marketing.newsletter",
            channel="email",
            action="grant",
            method="form_checkbox",
            subject_id=person.id,
            notice_version_id=notice.pk,
            occurred_at=now - dt.timedelta(days=400),
            valid_until=now - dt.timedelta(days=35),
        ),
        actor=ACTOR,
    )
    portal_client.cookies["django_language"] = "en"

    html = page(portal_client)

    assert html.count(">Expired<") == 1
    assert html.count('value="grant"') == 3


# ---------------------------------------------------------------- objections


def test_object_to_all_direct_marketing(catalogue, notice, person, portal_client, api_key_client):
    api = api_key_client("consent:check")
    grant(portal_client, notice)

    response = portal_client.post(OBJECT, {"purpose": "*"})

    assert response.status_code == 302
    event = ConsentEvent.objects.get(action=Action.OBJECT)
    assert (event.purpose_code, event.channel, event.method, event.subject_id) == ("*", "*", "portal", person.id)
    assert check(api, person.person.email)["reasons"][0] == "OBJECTED"
    assert check(api, person.person.email, purpose="marketing.postal", channel="post")["allowed"] is False
    portal_client.cookies["django_language"] = "en"
    html = page(portal_client)
    assert 'name="purpose" value="*"' not in html  # done: the button is gone, the date is shown
    assert "you objected to all direct marketing: we send you none" in html
    assert html.count("Not in effect: you objected to all direct marketing.") == 3  # every newsletter channel


def test_object_to_a_purpose_resting_on_legitimate_interest(catalogue, person, portal_client, api_key_client):
    html = page(portal_client)
    assert 'name="purpose" value="marketing.postal"' in html

    response = portal_client.post(OBJECT, {"purpose": "marketing.postal"})

    assert response.status_code == 302
    event = ConsentEvent.objects.get()
    assert (event.purpose_code, event.channel, event.action) == ("marketing.postal", "*", "object")
    api = api_key_client("consent:check")
    assert check(api, person.person.email, purpose="marketing.postal", channel="post")["reasons"][0] == "OBJECTED"
    assert 'name="purpose" value="marketing.postal"' not in page(portal_client)


# ---------------------------------------------------------------- history


def test_history_lists_the_events_newest_first_with_the_notice(catalogue, notice, portal_client):
    portal_client.cookies["django_language"] = "en"
    grant(portal_client, notice)
    withdraw(portal_client)

    html = page(portal_client, HISTORY)

    assert html.count("Shop news") == 2
    assert html.index(">Withdrawn<") < html.index(">Granted<")
    assert "Self-service portal" in html
    assert "Usamos seu e-mail para enviar novidades semanais." in html
    assert "Version 2 (pt-br)" in html


# ---------------------------------------------------------------- bad input


@pytest.fixture
def foreign_notice(db):
    """A published notice version that is not linked to the newsletter."""
    other = Notice.objects.create(code="cookies", title="Cookies")
    return NoticeVersion.objects.create(notice=other, version=1, language="pt-br", text="Cookies.")


@pytest.mark.parametrize(
    ("_case", "data"),
    [
        ("unknown purpose", {"purpose": "marketing.nope", "channel": "email", "action": "withdraw"}),
        ("inactive purpose", {"purpose": "marketing.retired", "channel": "email", "action": "withdraw"}),
        ("no purpose", {"channel": "email", "action": "withdraw"}),
        ("LI: object instead", {"purpose": "marketing.postal", "channel": "post", "action": "withdraw"}),
        ("channel not offered", {"purpose": "marketing.newsletter", "channel": "post", "action": "withdraw"}),
        ("every channel", {"purpose": "marketing.newsletter", "channel": "*", "action": "withdraw"}),
        ("unknown channel", {"purpose": "marketing.newsletter", "channel": "pigeon", "action": "withdraw"}),
        ("bad action", {"purpose": "marketing.newsletter", "channel": "email", "action": "delete"}),
        ("object is not a change", {"purpose": "marketing.newsletter", "channel": "email", "action": "object"}),
        ("no action", {"purpose": "marketing.newsletter", "channel": "email"}),
        ("grant without notice", {"purpose": "marketing.newsletter", "channel": "email", "action": "grant"}),
        ("grant, notice not a number", {"purpose": "marketing.newsletter", "channel": "email", "action": "grant",
                                        "notice_version": "x"}),
        ("grant, unknown notice", {"purpose": "marketing.newsletter", "channel": "email", "action": "grant",
                                   "notice_version": "999999"}),
        ("grant, inactive purpose", {"purpose": "marketing.retired", "channel": "email", "action": "grant",
                                     "notice_version": "NOTICE"}),
        ("grant, forged notice", {"purpose": "marketing.newsletter", "channel": "email", "action": "grant",
                                  "notice_version": "FOREIGN"}),
    ],
)  # fmt: skip
def test_bad_changes_are_refused_and_write_nothing(catalogue, notice, foreign_notice, portal_client, _case, data):
    substitutes = {"NOTICE": str(notice.pk), "FOREIGN": str(foreign_notice.pk)}
    data = {key: substitutes.get(value, value) for key, value in data.items()}

    response = portal_client.post(CHANGE, data)

    assert response.status_code == 400
    assert ConsentEvent.objects.count() == 0
    html = response.content.decode()
    assert 'class="alert error"' in html
    assert "<li>" in html.split('class="alert error"')[1]


@pytest.mark.parametrize(
    ("_case", "data"),
    [
        ("unknown purpose", {"purpose": "marketing.nope"}),
        ("consent purpose: withdraw instead", {"purpose": "marketing.newsletter"}),
        ("inactive purpose", {"purpose": "marketing.retired"}),
        ("nothing", {}),
    ],
)
def test_bad_objections_are_refused_and_write_nothing(catalogue, portal_client, _case, data):
    response = portal_client.post(OBJECT, data)

    assert response.status_code == 400
    assert ConsentEvent.objects.count() == 0


def test_a_form_without_its_csrf_token_is_refused(catalogue, notice, person, sign_in):
    signed_in = sign_in(person.person.email)
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = signed_in.cookies

    responses = [grant(strict, notice), withdraw(strict), strict.post(OBJECT, {"purpose": "*"})]

    assert [response.status_code for response in responses] == [403, 403, 403]
    assert ConsentEvent.objects.count() == 0


def test_the_page_works_with_csrf_checks(catalogue, notice, person, sign_in):
    signed_in = sign_in(person.person.email)
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = signed_in.cookies
    html = page(strict)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    response = strict.post(
        CHANGE,
        {
            "purpose": "marketing.newsletter",
            "channel": "email",
            "action": "grant",
            "notice_version": notice.pk,
            "csrfmiddlewaretoken": token,
        },
    )

    assert response.status_code == 302
    assert ConsentEvent.objects.count() == 1


# ---------------------------------------------------------------- whose consents


def test_another_person_never_sees_nor_changes_the_first_persons_consents(
    catalogue, notice, other_person, portal_client, sign_in
):
    grant(portal_client, notice)
    portal_client.post(OBJECT, {"purpose": "*"})
    first_events = set(ConsentEvent.objects.values_list("id", flat=True))

    other = sign_in(other_person.person.email)
    consents = page(other)
    history = page(other, HISTORY)

    assert 'value="withdraw"' not in consents
    assert "status granted" not in consents
    assert 'name="purpose" value="*"' in consents  # their own objection is still to be made
    assert "status granted" not in history
    assert "status objected" not in history
    for event_id in first_events:
        assert str(event_id) not in history

    # and what they change is theirs
    grant(other, notice, channel="sms")
    event = ConsentEvent.objects.exclude(id__in=first_events).get()
    assert event.subject_id == other_person.id


def test_a_subject_id_slipped_into_the_form_is_ignored(catalogue, notice, person, other_person, portal_client):
    data = {"purpose": "marketing.newsletter", "channel": "email", "action": "grant", "notice_version": notice.pk}

    portal_client.post(CHANGE, {**data, "subject_id": str(other_person.id), "subject": str(other_person.id)})

    assert ConsentEvent.objects.get().subject_id == person.id


def test_a_person_unknown_to_c360_manages_consent_by_contact_point(catalogue, notice, sign_in, api_key_client):
    client = sign_in("nobody@example.org", language="en")
    api = api_key_client("consent:check")
    html = page(client)
    assert html.count('value="grant"') == 1  # email only: SMS and WhatsApp reach people by phone
    assert html.count("To manage this channel, sign in with your mobile number.") == 2

    response = grant(client, notice)

    assert response.status_code == 302
    event = ConsentEvent.objects.get()
    assert event.subject_id is None
    assert event.chain.startswith("c:email:")
    assert event.method == Method.PORTAL
    assert event.actor_ref.startswith("subject:portal-login:")
    assert check(api, "nobody@example.org")["allowed"] is True
    assert page(client, HISTORY).count("status granted") == 1

    withdraw(client)
    assert check(api, "nobody@example.org")["allowed"] is False

    refused = grant(client, notice, channel="sms")
    assert refused.status_code == 400
    assert ConsentEvent.objects.count() == 2


# ---------------------------------------------------------------- cost


def test_the_consents_page_reads_a_bounded_number_of_queries(portal_client, django_assert_max_num_queries):
    notice = Notice.objects.create(code="privacy", title="Aviso")
    purposes = [
        Purpose.objects.create(
            code=f"marketing.topic-{number}",
            names={"pt-br": f"Tópico {number}"},
            lgpd_basis="art7_i",
            gdpr_basis="6_1_a",
            channels=["email", "sms", "whatsapp"],
            direct_marketing=True,
            is_active=True,
        )
        for number in range(10)
    ]
    notice.purposes.add(*purposes)
    version = NoticeVersion.objects.create(notice=notice, version=1, language="pt-br", text="Aviso.")
    for purpose in purposes[:5]:
        grant(portal_client, version, purpose=purpose.code, channel="sms")

    with django_assert_max_num_queries(8):  # today 6: session, sign-in, purposes, notices (2), states
        html = page(portal_client)

    assert html.count('value="grant"') == 25
    assert html.count('value="withdraw"') == 5


# ---------------------------------------------------------------- translations


def test_every_catalogue_label_shown_translated_is_marked_for_translation():
    labels = {str(label) for choices in (Channel, LgpdBasis, GdprBasis, Action, Method) for label in choices.labels}

    assert labels <= set(MODEL_LABELS)
