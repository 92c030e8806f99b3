"""Thin Celery wrappers: the work is in ``dsar.services``. Message bodies carry ids only."""

from __future__ import annotations

import smtplib
from typing import Any

from celery import shared_task

from dsar.services.execution import RetryLater, request_task_run, requests_recover_stale, retry_countdown
from dsar.services.requests import requests_flag_overdue, requests_remind

# A mail server that is down or busy is worth another try; a refused address or a bad message is not.
_MAIL_RETRYABLE = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError)
# Mails to the requester: delivered at least once, retried for an hour and more while the mail server is down.
_MAIL_TASK: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": _MAIL_RETRYABLE,
    "retry_backoff": 60,
    "retry_backoff_max": 3600,
    "max_retries": 8,
}


@shared_task(name="dsar.run_task", bind=True, acks_late=True, max_retries=None)
def request_task_run_task(self, task_id: int) -> str:  # noqa: ANN001
    """One request's work in one source; retryable failures come back with exponential backoff."""
    while True:
        try:
            task = request_task_run(task_id=task_id)
        except RetryLater as retry:
            if self.request.is_eager:
                continue  # no broker (demo, tests): nothing can wait, so the attempts run back to back
            raise self.retry(countdown=retry_countdown(retry.attempts), exc=None) from None
        return task.status if task else "missing"


@shared_task(name="dsar.deadlines")
def requests_deadlines_task() -> dict[str, int]:
    return {"reminded": requests_remind(), "overdue": requests_flag_overdue()}


@shared_task(name="dsar.recover_stale")
def requests_recover_stale_task() -> dict[str, int]:
    """Crash recovery: requests that nothing has moved for C360_DSAR_STALE_SECONDS get their work again."""
    return requests_recover_stale()


@shared_task(name="dsar.mail_received", **_MAIL_TASK)
def request_received_mail_task(request_id: str) -> bool:
    """The acknowledgment mail of a request: the task gets the id, the service decrypts the address."""
    from dsar.services.notifications import request_mail_received

    return request_mail_received(request_id=request_id)


@shared_task(name="dsar.mail_answered", **_MAIL_TASK)
def request_answered_mail_task(request_id: str) -> bool:
    """The "your request was answered" mail (a link to the portal page, never the data)."""
    from dsar.services.notifications import request_mail_answered

    return request_mail_answered(request_id=request_id)


@shared_task(name="dsar.mail_extended", **_MAIL_TASK)
def request_extended_mail_task(request_id: str) -> bool:
    """The "we need more time" mail: reasons and the new due date (GDPR Art. 12(3))."""
    from dsar.services.notifications import request_mail_extended

    return request_mail_extended(request_id=request_id)
