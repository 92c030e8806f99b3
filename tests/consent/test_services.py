"""Recording consent: validation, projection, withdrawal, objection, double opt-in, GPC, expiry, minors."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.utils import timezone

from c360.lib.errors import Conflict, Gone, NotFound, ValidationFailed
from c360.lib.history import Actor
from consent.models import ConsentEvent, ConsentState
from consent.selectors import Recipient, consent_check
from consent.services.events import (
    EventInput,
    consent_doi_confirm,
    consent_doi_start,
    consent_gpc_signal,
    consent_object,
    consent_record,
    consent_withdraw,
    consents_expire,
    consents_import,
)
from profiles.services.subjects import IdentifierInput, subject_create, subject_erase

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("consent-tests")


@pytest.fixture
def maria():
    return subject_create(
        actor=ACTOR,
        source="tests",
        attributes={"given_name": "Maria", "birth_date": dt.date(1990, 5, 17)},
        identifiers=[IdentifierInput("email", "maria@example.com"), IdentifierInput("phone", "+5511987654321")],
    )


def grant(subject, notice, purpose="marketing.newsletter", channel="email", **extra):
    return consent_record(
        event=EventInput(
            purpose_code=purpose,
            channel=channel,
            action="grant",
            method="form_checkbox",
            subject_id=subject.id,
            notice_version_id=notice.pk,
            ip="203.0.113.9",
            user_agent="Mozilla/5.0",
            **extra,
        ),
        actor=ACTOR,
    )


def check(value, purpose="marketing.newsletter", channel="email", kind="email"):
    return consent_check(Recipient(kind, value), purpose_code=purpose, channel=channel).decision


def test_a_grant_is_chained_projected_and_allows_contact(maria, notice):
    event = grant(maria, notice)

    assert (event.chain, event.sequence, event.previous_hash) == (f"s:{maria.id}", 1, "")
    assert event.status == "granted"
    assert event.valid_until.date() == (event.occurred_at + dt.timedelta(days=365)).date()
    assert event.ip_enc is not None
    assert b"203.0.113.9" not in bytes(event.ip_enc)
    state = ConsentState.objects.get()
    assert (state.status, state.last_event_id) == ("granted", event.id)
    decision = check(" MARIA@example.com ")
    assert decision.allowed is True
    assert decision.evidence_event_id == str(event.id)


def test_withdrawal_is_one_call_and_takes_effect_at_once(maria, notice):
    first = grant(maria, notice)

    second = consent_withdraw(
        purpose_code="marketing.newsletter",
        channel="email",
        method="portal",
        actor=Actor.for_subject(maria.id),
        subject_id=maria.id,
    )

    assert (second.sequence, second.previous_hash) == (2, first.hash)
    assert check("maria@example.com").reasons[0] == "WITHDRAWN"


def test_an_objection_to_direct_marketing_is_absolute(maria, notice, offers):
    grant(maria, notice)

    consent_object(actor=ACTOR, method="call_centre", subject_id=maria.id)

    assert check("maria@example.com").reasons[0] == "OBJECTED"
    assert check("maria@example.com", purpose="marketing.offers-post").reasons[0] == "OBJECTED"


def test_an_unsubscribe_by_address_binds_even_without_a_subject(maria, notice):
    grant(maria, notice)

    event = consent_withdraw(
        purpose_code="marketing.newsletter",
        channel="email",
        method="unsubscribe_link",
        actor=ACTOR,
        contact=("email", "Maria@Example.com"),
    )

    assert event.chain.startswith("c:email:")
    assert event.subject_id is None
    assert check("maria@example.com").reasons[0] == "WITHDRAWN"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"purpose_code": "nope"}, "purpose"),
        ({"channel": "pigeon"}, "channel"),
        ({"channel": "push"}, "channel"),  # not a channel of the purpose
        ({"action": "love"}, "action"),
        ({"method": "telepathy"}, "method"),
        ({"notice_version_id": None}, "notice_version"),
        ({"occurred_at": timezone.now() + dt.timedelta(days=1)}, "occurred_at"),
        ({"subject_id": None}, "subject_id"),
        ({"contact_kind": "email", "contact_value": "not an email"}, "contact_value"),
        ({"contact_kind": "phone", "contact_value": "+5511987654321"}, "contact_kind"),  # email channel
        ({"method": "import", "notice_version_id": None}, "evidence"),
        ({"purpose_code": "*"}, "purpose"),
    ],
)
def test_invalid_events_are_refused_with_field_errors_and_nothing_is_written(maria, notice, changes, field):
    values = {
        "purpose_code": "marketing.newsletter",
        "channel": "email",
        "action": "grant",
        "method": "form_checkbox",
        "subject_id": maria.id,
        "notice_version_id": notice.pk,
        **changes,
    }

    with pytest.raises(ValidationFailed) as excinfo:
        consent_record(event=EventInput(**values), actor=ACTOR)

    assert field in excinfo.value.errors
    assert not ConsentEvent.objects.exists()
    assert not ConsentState.objects.exists()


def test_nothing_is_recorded_for_an_erased_person_and_their_addresses_are_suppressed(maria, notice):
    grant(maria, notice)

    subject_erase(subject_id=maria.id, actor=ACTOR, reason="dsar 2026-0301")

    with pytest.raises(Gone):
        grant(maria, notice)
    proof = ConsentEvent.objects.get(action="erase_suppress")
    assert (proof.chain, proof.sequence) == (f"s:{maria.id}", 2)
    assert check("maria@example.com").reasons[0] == "SUPPRESSED"
    assert check("+55 11 98765-4321", channel="sms", kind="phone").reasons[0] == "SUPPRESSED"
    # The same address arriving again from a partner list is still never contacted.
    consent_record(
        event=EventInput(
            purpose_code="marketing.newsletter",
            channel="email",
            action="grant",
            method="import",
            contact_kind="email",
            contact_value="maria@example.com",
            evidence={"legacy_reference": "partner-list-7"},
        ),
        actor=ACTOR,
    )
    assert check("maria@example.com").reasons[0] == "SUPPRESSED"


def test_a_minor_grant_without_a_guardian_does_not_count(notice):
    fifteen = timezone.localdate().replace(year=timezone.localdate().year - 15)
    teen = subject_create(
        actor=ACTOR,
        source="tests",
        attributes={"birth_date": fifteen},
        identifiers=[IdentifierInput("email", "teen@example.com")],
    )

    grant(teen, notice)
    assert check("teen@example.com").reasons == ("MINOR_NO_GUARDIAN",)

    grant(teen, notice, actor_kind="guardian", actor_ref="guardian:verified-by-document")
    assert check("teen@example.com").allowed is True


def test_legacy_consents_are_imported_with_their_evidence_and_errors_reported_per_item(maria, notice):
    old = timezone.now() - dt.timedelta(days=400)
    result = consents_import(
        events=[
            EventInput(
                purpose_code="marketing.newsletter",
                channel="sms",
                action="grant",
                method="import",
                subject_id=maria.id,
                occurred_at=old,
                evidence={"legacy_reference": "crm-export-2025"},
            ),
            EventInput(
                purpose_code="marketing.newsletter", channel="sms", action="grant", method="import", subject_id=maria.id
            ),
            EventInput(purpose_code="nope", channel="sms", action="grant", method="import", subject_id=maria.id),
        ],
        actor=ACTOR,
    )

    assert result.recorded == 1
    assert set(result.errors) == {1, 2}
    assert result.errors[1]["errors"]["evidence"]
    # A year-old grant on a purpose valid for 365 days has already expired.
    assert check("+5511987654321", channel="sms", kind="phone").reasons == ("EXPIRED",)


def test_expiry_writes_an_event_for_every_grant_past_its_validity(maria, notice):
    grant(maria, notice, valid_until=timezone.now() + dt.timedelta(seconds=1))

    expired = consents_expire(now=timezone.now() + dt.timedelta(days=1))
    again = consents_expire(now=timezone.now() + dt.timedelta(days=1))

    assert (expired, again) == (1, 0)
    assert ConsentState.objects.get().status == "expired"
    assert ConsentEvent.objects.filter(action="expire", method="system").count() == 1


def test_double_opt_in_mails_a_link_and_the_confirmation_is_the_grant(
    maria, notice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        consent_doi_start(
            email="Maria@example.com",
            purpose_code="marketing.newsletter",
            notice_version_id=notice.pk,
            actor=ACTOR,
            subject_id=maria.id,
            confirm_url="https://privacy.example.com/c/{token}",
        )
    assert check("maria@example.com").allowed is False  # nothing is granted before the confirmation

    (message,) = mail.outbox
    assert message.to == ["maria@example.com"]
    token = re.search(r"/c/([\w-]+)", message.body).group(1)
    event = consent_doi_confirm(token=token, ip="198.51.100.4")

    assert event.method == "double_opt_in"
    assert event.evidence["doi_token_sha256"]
    assert token not in str(event.evidence)
    assert check("maria@example.com").allowed is True
    with pytest.raises(Conflict):
        consent_doi_confirm(token=token)
    with pytest.raises(NotFound):
        consent_doi_confirm(token="forged")


def test_gpc_objects_to_every_sale_and_share_purpose(maria, notice, partners):
    grant(maria, notice, purpose="partners.share")

    events = consent_gpc_signal(actor=ACTOR, subject_id=maria.id)

    assert [event.purpose_code for event in events] == ["partners.share"]
    assert check("maria@example.com", purpose="partners.share").reasons == ("GPC_OPT_OUT",)


def test_a_late_import_of_an_older_event_does_not_overwrite_a_newer_answer(maria, notice):
    consent_withdraw(
        purpose_code="marketing.newsletter", channel="email", method="portal", actor=ACTOR, subject_id=maria.id
    )

    consents_import(
        events=[
            EventInput(
                purpose_code="marketing.newsletter",
                channel="email",
                action="grant",
                method="import",
                subject_id=maria.id,
                occurred_at=timezone.now() - dt.timedelta(days=30),
                evidence={"legacy_reference": "old-crm"},
            )
        ],
        actor=ACTOR,
    )

    assert ConsentState.objects.get().status == "withdrawn"
    assert ConsentEvent.objects.count() == 2


def test_a_purpose_is_saved_with_a_dotted_code_and_each_change_is_a_new_version():
    from django.core.exceptions import ValidationError

    from consent.models import Purpose
    from consent.services.events import purpose_save

    values = {
        "names": {"pt-br": "Novidades"},
        "descriptions": {"pt-br": "Novidades da loja por e-mail."},
        "lgpd_basis": "art7_i",
        "gdpr_basis": "6_1_a",
        "channels": ["email"],
        "direct_marketing": True,
    }
    purpose = purpose_save(purpose=Purpose(code="marketing.store-news", **values), actor=ACTOR)
    assert purpose.version == 1
    purpose.channels = ["email", "sms"]
    assert purpose_save(purpose=purpose, actor=ACTOR).version == 2

    with pytest.raises(ValidationError) as refused:
        purpose_save(purpose=Purpose(code="Marketing News!", **values), actor=ACTOR)
    assert "code" in refused.value.message_dict
