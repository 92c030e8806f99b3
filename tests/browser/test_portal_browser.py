"""The portal in a real browser (Debian's Chromium): a person signs in by the emailed link, withdraws a
consent and the check API denies at once, files an access request, the workers run it, the person
downloads the package, and switches language. Screenshots of each main page in pt-BR."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pytest
from django.core import mail

from c360.access.services import api_key_issue
from c360.lib.history import Actor
from consent.models import Notice, NoticeVersion, Purpose
from consent.services.events import EventInput, consent_record
from dsar.models import DataRequest, DataSource
from tests.factories import SubjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"(/portal/sign-in/link/\?t=[A-Za-z0-9_-]+)")


@pytest.fixture
def catalogue():
    newsletter = Purpose.objects.create(
        code="marketing.newsletter",
        names={"pt-br": "Newsletter de ofertas", "en": "Offers newsletter", "es": "Boletín de ofertas"},
        descriptions={"pt-br": "Ofertas semanais.", "en": "Weekly offers.", "es": "Ofertas semanales."},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email", "sms"],
        direct_marketing=True,
        is_active=True,
    )
    notice = Notice.objects.create(code="privacy", title="Aviso de privacidade")
    notice.purposes.add(newsletter)
    version = NoticeVersion.objects.create(
        notice=notice, version=2, language="pt-br", text="Usamos seu e-mail para enviar ofertas semanais."
    )
    DataSource.objects.create(code="c360", name="c360 profiles", kind="c360")
    return newsletter, version


@pytest.fixture
def person(catalogue):
    newsletter, version = catalogue
    subject = SubjectFactory()
    consent_record(
        event=EventInput(
            purpose_code=newsletter.code,
            channel="email",
            action="grant",
            method="form_checkbox",
            subject_id=subject.id,
            notice_version_id=version.pk,
            source_system="shop",
        ),
        actor=Actor.system("tests"),
    )
    return subject


def sign_in(page, email: str) -> None:
    page.goto("/portal/sign-in/")
    page.fill("input[name=contact]", email)
    page.click("form[action='/portal/sign-in/'] button[type=submit]")
    page.wait_for_url("**/portal/sign-in/sent/")
    deadline = time.monotonic() + 10
    while not any(email.lower() in message.to for message in mail.outbox):
        assert time.monotonic() < deadline, f"the sign-in mail never came: {[m.to for m in mail.outbox]}"
        time.sleep(0.1)
    link = LINK.search(mail.outbox[-1].body).group(1)
    page.goto(link)
    page.click("form[action='/portal/sign-in/link/'] button[type=submit]")
    page.wait_for_url("**/portal/")


def check(page, api_key: str, email: str) -> dict:
    response = page.request.post(
        "/api/v1/consent/check",
        data={"recipient": {"email": email}, "purpose": "marketing.newsletter", "channel": "email"},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.status == 200, response.text()
    return response.json()


def test_a_person_signs_in_withdraws_files_an_access_request_downloads_it_and_switches_language(
    page, screenshot, person, workers
):
    email = person.person.email.lower()
    api_key = api_key_issue(name="campaigns", scopes=["consent:check"], rate="", actor=Actor.system("tests")).plaintext

    page.goto("/portal/sign-in/")
    screenshot("portal-sign-in")
    sign_in(page, email)
    assert page.locator("html").get_attribute("lang") == "pt-br"
    screenshot("portal-home")

    # My data: the decrypted profile, with where each value came from.
    page.click("nav a[href='/portal/my-data/']")
    assert person.person.attributes["family_name"] in page.content()
    screenshot("portal-my-data")

    # Withdraw the newsletter by email with one click; the check API denies at once.
    assert check(page, api_key, email)["allowed"] is True
    page.click("nav a[href='/portal/consents/']")
    screenshot("portal-consents")
    withdraw = page.locator(
        "form[action='/portal/consents/change/']"
        ":has(input[name=purpose][value='marketing.newsletter'])"
        ":has(input[name=channel][value=email]) button"
    )
    withdraw.click()
    page.wait_for_load_state()
    answer = check(page, api_key, email)
    assert answer["allowed"] is False
    assert "WITHDRAWN" in answer["reasons"]
    page.click("a[href='/portal/consents/history/']")
    assert page.locator("main table tbody tr").count() >= 2
    screenshot("portal-consent-history")

    # File an access request; the workers run it across the sources; the package is released.
    page.click("nav a[href='/portal/requests/']")
    page.click("a[href^='/portal/requests/new/']")
    page.check("input[name=request_type][value=access]")
    screenshot("portal-request-new")
    page.click("form[action='/portal/requests/new/'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/portal/requests/\d{4}-\d{6}/$"))
    protocol = page.url.rstrip("/").rsplit("/", 1)[1]
    request = DataRequest.objects.get(protocol=protocol)
    deadline = time.monotonic() + 60
    while DataRequest.objects.get(pk=request.pk).status != DataRequest.Status.COMPLETED:
        assert time.monotonic() < deadline, f"the workers ({workers}) did not finish the request"
        time.sleep(0.25)
    page.reload()
    screenshot("portal-request-detail")
    with page.expect_download() as download_info:
        page.click(f"form[action='/portal/requests/{protocol}/download/'] button[type=submit]")
    download = download_info.value
    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    assert "manifest.json" in archive.namelist()
    assert any(email in archive.read(name).decode(errors="replace") for name in archive.namelist())
    page.reload()
    assert page.locator(f"form[action='/portal/requests/{protocol}/download/']").count() == 0
    page.click("nav a[href='/portal/requests/']")
    screenshot("portal-requests")

    page.goto("/portal/about/")
    screenshot("portal-about")

    # Switch language: the same page in English, then in Spanish.
    page.select_option("#language-select", "en")
    page.click("form.lang button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("nav a[href='/portal/my-data/']").inner_text() == "My data"
    page.select_option("#language-select", "es")
    page.click("form.lang button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("nav a[href='/portal/my-data/']").inner_text() == "Mis datos"


def test_the_portal_is_usable_with_the_keyboard_alone(page, person):
    """Skip link first, then the controls in reading order; every control shows where the focus is."""
    page.goto("/portal/sign-in/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.evaluate("getComputedStyle(document.activeElement).left") != "-999px"  # shown when focused
    page.keyboard.press("Tab")
    focused = []
    for _ in range(20):
        if page.evaluate("document.activeElement === document.body"):
            break  # past the last control
        focused.append(page.evaluate("document.activeElement.name || document.activeElement.id || ''"))
        element = page.evaluate("document.activeElement.outerHTML.slice(0, 80)")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", f"no visible focus on {element}"
        page.keyboard.press("Tab")
    assert "contact" in focused
    assert focused.index("channel") < focused.index("contact")
    # Typing the address and pressing Enter sends the form.
    page.focus("input[name=contact]")
    page.keyboard.type(person.person.email)
    page.keyboard.press("Enter")
    page.wait_for_url("**/portal/sign-in/sent/")


A11Y_PAGES = [
    "/portal/about/",
    "/portal/",
    "/portal/my-data/",
    "/portal/consents/",
    "/portal/consents/history/",
    "/portal/requests/",
    "/portal/requests/new/",
]


@pytest.mark.parametrize("language", ["pt-BR", "en", "es"])
def test_every_portal_page_passes_axe_wcag_2_1_aa(browser, live_server, person, language):
    """axe-core (the engine of most accessibility audits) finds no WCAG 2.1 A/AA violation on any page."""
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(locale=language, base_url=live_server.url)
    page = context.new_page()
    axe, found, audited = Axe(), {}, []

    def audit() -> None:
        results = axe.run(
            page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
        )
        audited.append(page.url)
        if violations := results.response["violations"]:
            found[page.url] = [(item["id"], [node["target"] for node in item["nodes"]][:3]) for item in violations]

    try:
        page.goto("/portal/sign-in/")
        audit()
        sign_in(page, person.person.email.lower())
        for path in A11Y_PAGES:
            page.goto(path)
            audit()
        assert found == {}
        assert len(audited) == len(A11Y_PAGES) + 1
    finally:
        context.close()
