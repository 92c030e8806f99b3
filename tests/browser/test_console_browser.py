"""The DPO console in a real browser: sign in with password and a one-time code, find an erasure in the
queue, verify the requester, let the workers run the sources, approve, and see the request closed.
Screenshots of the dashboard and the queue."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from c360.access.roles import DPO, roles_sync
from c360.lib.history import Actor
from dsar.models import DataRequest, DataSource
from dsar.services.requests import request_create
from profiles.models import Subject
from tests.factories import SubjectFactory

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long demo passphrase 4 tests"


@pytest.fixture
def dpo(django_user_model, settings):
    settings.C360_ADMIN_OTP = True
    roles_sync()
    user = django_user_model.objects.create_user("encarregado", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=DPO.name))
    device = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
    StaticToken.objects.create(device=device, token="31415926")
    return user


def admin_sign_in(page) -> None:
    """Password, then the one-time code of the chosen device (django-otp asks which device once it knows the user)."""
    page.goto("/admin/login/?next=/console/dashboard/")
    page.fill("input[name=username]", "encarregado")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=otp_token]", "31415926")
    page.click("form#login-form input[type=submit]")
    page.wait_for_load_state()
    if page.locator("select[name=otp_device]").count():
        page.select_option("select[name=otp_device]", label="backup codes")
        page.fill("input[name=password]", PASSWORD)
        page.fill("input[name=otp_token]", "31415926")
        page.click("form#login-form input[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/console/dashboard/"))


def test_the_dpo_approves_an_erasure_from_the_queue_and_sees_it_close(page, screenshot, dpo, workers):
    DataSource.objects.create(code="c360", name="c360 profiles", kind="c360")
    person = SubjectFactory()
    erasure = request_create(
        request_type="erasure",
        regimes=["lgpd"],
        intake_channel="email",
        identities=[{"kind": "email", "value": person.person.email}],
        contact_email=person.person.email,
        actor=Actor.system("tests"),
    )

    admin_sign_in(page)
    screenshot("console-dashboard")
    page.goto("/console/queue/")
    screenshot("console-queue")
    assert erasure.protocol in page.content()
    assert person.person.email not in page.content()  # the queue shows protocols, never who asked

    page.click(f"a[href='/console/queue/{erasure.protocol}/']")
    page.select_option("select[name=verify-method]", "staff")
    page.select_option("select[name=verify-outcome]", "verified")
    page.click("form#action-verify input[type=submit]")
    page.wait_for_load_state()

    deadline = time.monotonic() + 60
    while DataRequest.objects.get(pk=erasure.pk).status != DataRequest.Status.IN_REVIEW:
        assert time.monotonic() < deadline, f"the workers ({workers}) did not run the sources"
        time.sleep(0.25)
    assert Subject.objects.get(pk=person.pk).status == Subject.Status.ERASED  # the c360 source ran

    page.reload()
    screenshot("console-request")
    page.click("form#action-complete input[type=submit]")
    page.wait_for_load_state()
    assert DataRequest.objects.get(pk=erasure.pk).status == DataRequest.Status.COMPLETED
    assert "Completed" in page.locator("body").inner_text()
