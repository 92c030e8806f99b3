"""Celery entry points for consent: thin, id-in wrappers around services. Messages carry ids only."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(name="consent.audience_check_run", acks_late=True, autoretry_for=(OperationalError,), max_retries=3)
def audience_check_run_task(check_id: str) -> str:
    from consent.services.audiences import audience_check_run

    return audience_check_run(check_id=check_id).status


@shared_task(name="consent.expire")
def consents_expire_task() -> int:
    from consent.services.events import consents_expire

    return consents_expire()


@shared_task(name="consent.ledger_verify")
def ledger_verify_task() -> bool:
    """Daily walk of the whole ledger; the result is kept for the dashboard and for auditors."""
    from c360.lib.history import Actor
    from consent.services.events import ledger_verification_record

    return ledger_verification_record(actor=Actor.system("ledger-verify")).ok


@shared_task(name="consent.ledger_checkpoint")
def ledger_checkpoint_task() -> str:
    from consent.services.events import ledger_checkpoint

    return ledger_checkpoint().heads_sha256
