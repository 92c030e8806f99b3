from __future__ import annotations

import pytest
from django.test import override_settings

from c360.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_says_the_process_is_up(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_and_reports_eager_celery(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "eager"}}


def test_readyz_fails_when_the_configured_broker_is_unreachable(client):
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
            response = client.get("/readyz")
    finally:
        celery_app.conf.broker_url = original

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "unreachable"}


@pytest.mark.broker
def test_readyz_is_ready_with_a_live_broker(client):
    import os

    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = os.environ.get("C360_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
            response = client.get("/readyz")
    finally:
        celery_app.conf.broker_url = original

    assert response.json()["checks"]["broker"] == "ok", "is Redis running on 127.0.0.1:6379?"
    assert response.status_code == 200


def test_the_home_page_renders_in_portuguese_by_default(client):
    response = client.get("/")

    assert response.status_code == 200
    assert b'lang="pt-br"' in response.content
