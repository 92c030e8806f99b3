"""Celery entry points for profiles: thin, id-in wrappers. Messages carry ids and references, never PII."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.db import OperationalError

from c360.lib.history import Actor


@shared_task(
    name="profiles.subject_erase",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
)
def subject_erase_task(subject_id: str, actor: str, reason: str) -> dict[str, object]:
    """Crypto-shred one subject. Safe to deliver twice: erasure is idempotent."""
    from profiles.services.subjects import subject_erase

    outcome = subject_erase(subject_id=subject_id, actor=Actor.parse(actor), reason=reason)
    return {
        "subject_id": str(outcome.subject_id),
        "erased_at": outcome.erased_at.isoformat(),
        "already_erased": outcome.already_erased,
    }


@shared_task(
    name="profiles.portal_sign_in_send",
    autoretry_for=(OperationalError, smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=5,
    max_retries=5,
    acks_late=True,
)
def portal_sign_in_send_task(login_id: str) -> None:
    """Send a sign-in link or code; the message holds the sign-in id only (the secret is in the database)."""
    from profiles.services.portal import portal_sign_in_send

    portal_sign_in_send(login_id=login_id)


@shared_task(name="profiles.portal_logins_purge", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def portal_logins_purge_task() -> int:
    from profiles.services.portal import portal_logins_purge

    return portal_logins_purge()
