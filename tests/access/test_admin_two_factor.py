"""Signing in to the DPO console: a password and a one-time password; five wrong passwords lock out."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery 1"


@pytest.fixture
def dpo(django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("dpo-staff", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="DPO"))
    return user


@pytest.fixture
def phone(dpo):
    return TOTPDevice.objects.create(user=dpo, name="phone", confirmed=True)


def token_of(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def sign_in(client: Client, password: str, token: str = "", address: str = "198.51.100.7") -> object:
    device = TOTPDevice.objects.filter(name="phone").first()
    return client.post(
        "/admin/login/?next=/admin/",
        {
            "username": "dpo-staff",
            "password": password,
            "otp_device": device.persistent_id if device else "",
            "otp_token": token,
        },
        REMOTE_ADDR=address,
    )


def test_the_password_alone_opens_no_console_page(client, dpo, phone):
    response = sign_in(client, PASSWORD)

    assert response.status_code == 200  # the login form again, asking for the token
    assert "otp_token" in response.content.decode()
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/profiles/subject/").url.startswith("/admin/login/")


def test_a_session_signed_in_without_a_second_factor_is_treated_as_not_staff(client, dpo, phone):
    client.force_login(dpo)

    response = client.get("/admin/dsar/datarequest/")

    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_the_password_and_a_valid_totp_token_open_the_console(client, dpo, phone):
    response = sign_in(client, PASSWORD, token_of(phone))

    assert response.status_code == 302
    assert response.url == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/dsar/datarequest/").status_code == 200


def test_a_wrong_token_is_refused(client, dpo, phone):
    good = token_of(phone)
    wrong = f"{(int(good) + 1) % 10**6:06d}"

    sign_in(client, PASSWORD, wrong)

    assert client.get("/admin/").status_code == 302


def test_five_wrong_passwords_lock_the_login_out_even_with_the_right_one(client, dpo, phone):
    failures = [sign_in(client, "wrong password").status_code for _ in range(5)]

    locked = sign_in(client, PASSWORD, token_of(phone))

    assert failures == [200, 200, 200, 200, 429]  # the fifth failure locks
    assert locked.status_code == 429
    assert "too many failed sign-ins" in locked.content.decode()
    assert client.get("/admin/").status_code == 302


def test_the_lockout_is_per_login_and_address(client, dpo, phone):
    for _ in range(5):
        sign_in(client, "wrong password")

    elsewhere = sign_in(Client(), PASSWORD, token_of(phone), address="203.0.113.50")

    assert elsewhere.status_code == 302


def test_with_the_switch_off_the_password_is_enough(client, dpo, settings):
    settings.C360_ADMIN_OTP = False

    response = sign_in(client, PASSWORD)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
