"""The ledger is append-only and tamper-evident: the database refuses changes, the chain shows them."""

from __future__ import annotations

import contextlib
import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from c360.lib.history import Actor
from consent.models import ConsentEvent, ConsentState
from consent.selectors import ledger_verify
from consent.services.events import EventInput, consent_record, consent_withdraw, ledger_checkpoint
from profiles.services.subjects import IdentifierInput, subject_create

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("ledger-tests")


def people(count):
    return [
        subject_create(actor=ACTOR, source="tests", identifiers=[IdentifierInput("email", f"p{n}@example.com")])
        for n in range(count)
    ]


def events_for(subjects, notice, per_subject=2):
    for subject in subjects:
        consent_record(
            event=EventInput(
                purpose_code="marketing.newsletter",
                channel="email",
                action="grant",
                method="form_checkbox",
                subject_id=subject.id,
                notice_version_id=notice.pk,
            ),
            actor=ACTOR,
        )
        for _ in range(per_subject - 1):
            consent_withdraw(
                purpose_code="marketing.newsletter",
                channel="email",
                method="portal",
                actor=ACTOR,
                subject_id=subject.id,
            )


@contextlib.contextmanager
def tampering():
    """What an attacker with the table owner's rights can do: lift the append-only guard (rolled back
    with the test's transaction on both databases)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Django's foreign keys are deferred: settle them so the table can be altered mid-transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE consent_consentevent DISABLE TRIGGER consent_consentevent_append_only")
        else:
            cursor.execute("DROP TRIGGER consent_consentevent_no_update")
            cursor.execute("DROP TRIGGER consent_consentevent_no_delete")
        yield cursor
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE consent_consentevent ENABLE TRIGGER consent_consentevent_append_only")


def test_update_and_delete_are_refused_by_the_database(notice):
    events_for(people(1), notice, per_subject=1)
    event = ConsentEvent.objects.get()

    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).update(status="withdrawn")
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).delete()
    assert ConsentEvent.objects.get(pk=event.pk).status == "granted"


def test_an_intact_ledger_verifies(notice):
    events_for(people(3), notice, per_subject=3)

    report = ledger_verify()

    assert (report.chains, report.events, report.broken) == (3, 9, [])
    call_command("verify_ledger", stdout=io.StringIO())


def test_every_altered_row_is_reported(notice):
    # Given 100 chains of 2 events, and an attacker who can disable the trigger.
    events_for(people(100), notice, per_subject=2)
    victims = list(ConsentEvent.objects.filter(sequence=2).values_list("id", flat=True))
    assert len(victims) == 100

    with tampering():
        ConsentEvent.objects.filter(pk__in=victims).update(status="granted")

    report = ledger_verify()

    assert sorted(link.event_id for link in report.broken) == sorted(str(victim) for victim in victims)
    assert all(link.problem == "content does not match its hash" for link in report.broken)
    with pytest.raises(CommandError, match="100 broken link"):
        call_command("verify_ledger", stdout=io.StringIO())


def test_a_removed_tail_is_caught_by_the_checkpoint(notice):
    events_for(people(5), notice, per_subject=2)
    ledger_checkpoint(now=timezone.now() + dt.timedelta(seconds=1))
    assert ledger_verify().checkpoint_matches is True
    last = ConsentEvent.objects.order_by("chain", "-sequence").first()

    with tampering():
        ConsentState.objects.filter(last_event=last).delete()
        ConsentEvent.objects.filter(pk=last.pk).delete()

    report = ledger_verify()
    assert report.broken == []  # every remaining chain is internally consistent...
    assert report.checkpoint_matches is False  # ...but the heads no longer match the checkpoint


def test_a_rewritten_link_breaks_the_chain(notice):
    events_for(people(1), notice, per_subject=3)

    with tampering():
        ConsentEvent.objects.filter(sequence=3).update(previous_hash="0" * 64)

    problems = {link.problem for link in ledger_verify().broken}
    assert problems == {"does not point at the previous event's hash", "content does not match its hash"}


def test_a_verification_is_kept_with_its_result_and_shown_on_the_dashboard(db, admin_client):
    from django.core.management import call_command

    from consent.models import LedgerVerification

    call_command("verify_ledger", stdout=io.StringIO())
    verification = LedgerVerification.objects.get()
    assert verification.ok is True
    assert verification.broken == 0
    page = admin_client.get("/console/dashboard/").content.decode()
    assert "Last verification" in page
    assert "intact" in page
