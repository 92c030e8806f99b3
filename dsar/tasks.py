"""Thin Celery wrappers: the work is in ``dsar.services``. Message bodies carry ids only."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from dsar.services.execution import RetryLater, request_task_run
from dsar.services.requests import requests_flag_overdue, requests_remind


@shared_task(name="dsar.run_task", bind=True, acks_late=True, max_retries=None)
def request_task_run_task(self, task_id: int) -> str:  # noqa: ANN001
    """One request's work in one source; retryable failures come back with exponential backoff."""
    while True:
        try:
            task = request_task_run(task_id=task_id)
        except RetryLater as retry:
            if self.request.is_eager:
                continue  # no broker (demo, tests): nothing can wait, so the attempts run back to back
            countdown = min(settings.C360_DSAR_RETRY_BASE_SECONDS * 2 ** (retry.attempts - 1), 3600)
            raise self.retry(countdown=countdown, exc=None) from None
        return task.status if task else "missing"


@shared_task(name="dsar.deadlines")
def requests_deadlines_task() -> dict[str, int]:
    return {"reminded": requests_remind(), "overdue": requests_flag_overdue()}
