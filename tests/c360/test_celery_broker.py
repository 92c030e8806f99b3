"""A real task through a real broker and a real worker: Redis (and RabbitMQ), not eager mode."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

import profiles.tasks  # noqa: F401 - registers the shared task with every app
from profiles.models import Subject, SubjectKey
from tests.factories import SubjectFactory
from tests.processes import answers

BROKERS = {
    "redis": (os.environ.get("C360_TEST_BROKER_URL", "redis://127.0.0.1:6379/15"), None),
    "rabbitmq": (
        os.environ.get("C360_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"),
        "redis://127.0.0.1:6379/15",
    ),
}


@pytest.fixture(params=sorted(BROKERS))
def broker_app(request):
    broker_url, backend = BROKERS[request.param]
    if not answers(broker_url):
        pytest.skip(f"no {request.param} broker answers at {urlparse(broker_url).netloc}")
    app = Celery(f"c360-test-{request.param}", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url=broker_url,
        result_backend=backend or broker_url,
        task_always_eager=False,
        broker_connection_retry_on_startup=False,
        broker_heartbeat=0,
    )
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20, loglevel="WARNING"):
        yield app
    # start_worker makes the test app current; shared tasks must go back to c360's (eager) app afterwards.
    from c360.celery import app as c360_app

    c360_app.set_current()
    c360_app.set_default()


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_an_erasure_task_round_trips_through_the_broker(broker_app):
    subject = SubjectFactory()
    task = broker_app.tasks["profiles.subject_erase"]

    result = task.delay(str(subject.id), "system:tests", "dsar 2026-0009").get(timeout=30)

    assert result["subject_id"] == str(subject.id)
    assert result["already_erased"] is False
    assert Subject.objects.get(pk=subject.pk).status == Subject.Status.ERASED
    assert SubjectKey.objects.get(pk=subject.pk).wrapped_dek is None
    # Delivered again (at-least-once brokers do that): nothing more happens.
    again = task.delay(str(subject.id), "system:tests", "dsar 2026-0009").get(timeout=30)
    assert again["already_erased"] is True
