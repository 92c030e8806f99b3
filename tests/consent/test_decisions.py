"""``decide`` on its own: every reason code, fail-closed, and the order rules bind in."""

from __future__ import annotations

import datetime as dt

import pytest

from consent.decisions import ALL, PurposeRule, Reason, Situation, StateView, decide
from consent.models import CONSENT_BASES, LEGITIMATE_INTEREST_BASES

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
EARLIER, LATER = NOW - dt.timedelta(days=10), NOW - dt.timedelta(days=1)


def rule(**overrides):
    values = {
        "code": "marketing.newsletter",
        "is_active": True,
        "channels": frozenset({"email", "sms"}),
        "lgpd_basis": "art7_i",
        "gdpr_basis": "6_1_a",
        "consent_bases": frozenset(CONSENT_BASES),
        "legitimate_interest_bases": frozenset(LEGITIMATE_INTEREST_BASES),
        "direct_marketing": True,
        "sale_or_share": False,
        "minors_need_guardian": True,
    }
    return PurposeRule(**{**values, **overrides})


def state(status, *, purpose="marketing.newsletter", channel="email", at=LATER, owner="s:1", **extra):
    return StateView(owner, purpose, channel, status, at, f"event-{status}-{purpose}-{channel}", **extra)


def situation(*states, **extra):
    return Situation(**{"known": True, "subject_status": "active", "states": tuple(states), **extra})


def test_a_live_grant_is_allowed_with_its_evidence():
    until = NOW + dt.timedelta(days=30)
    decision = decide(rule(), "email", situation(state("granted", valid_until=until)), NOW)

    assert decision.allowed is True
    assert decision.reasons == (Reason.GRANTED,)
    assert decision.evidence_event_id == "event-granted-marketing.newsletter-email"
    assert decision.valid_until == until
    assert decision.legal_basis == "art7_i"


@pytest.mark.parametrize(
    ("states", "extra", "reason"),
    [
        ((), {}, Reason.NO_RECORD),
        ((state("denied"),), {}, Reason.DENIED),
        ((state("withdrawn"),), {}, Reason.WITHDRAWN),
        ((state("granted", valid_until=NOW - dt.timedelta(seconds=1)),), {}, Reason.EXPIRED),
        ((state("expired"),), {}, Reason.EXPIRED),
        ((state("objected"),), {}, Reason.OBJECTED),
        ((state("granted"), state("objected", purpose=ALL, channel=ALL)), {}, Reason.OBJECTED),
        ((state("granted"), state("withdrawn", purpose=ALL, channel="email")), {}, Reason.GLOBAL_OPT_OUT),
        ((state("granted"),), {"suppressed": True}, Reason.SUPPRESSED),
        ((state("granted"),), {"subject_status": "restricted"}, Reason.RESTRICTED),
        ((state("granted"),), {"subject_status": "erased"}, Reason.ERASED),
        ((state("granted", given_by_minor=True),), {}, Reason.MINOR_NO_GUARDIAN),
    ],
)
def test_each_reason_to_refuse(states, extra, reason):
    decision = decide(rule(), "email", situation(*states, **extra), NOW)

    assert decision.allowed is False
    assert decision.reasons[0] == reason


def test_an_unknown_recipient_is_refused():
    decision = decide(rule(), "email", Situation(known=False), NOW)

    assert (decision.allowed, decision.reasons) == (False, (Reason.UNKNOWN_RECIPIENT, Reason.NO_RECORD))


def test_a_channel_the_purpose_does_not_use_and_an_inactive_purpose_are_refused():
    assert decide(rule(), "push", situation(state("granted", channel="push")), NOW).reasons == (
        Reason.CHANNEL_NOT_ALLOWED,
    )
    assert decide(rule(is_active=False), "email", situation(state("granted")), NOW).reasons == (
        Reason.PURPOSE_INACTIVE,
    )
    assert decide(None, "email", situation(), NOW).reasons == (Reason.PURPOSE_INACTIVE,)


def test_gpc_objects_to_sale_and_share_purposes_only():
    gpc = state("objected", purpose="partners.share", channel=ALL, method="gpc", at=NOW)
    share = rule(code="partners.share", sale_or_share=True, direct_marketing=False)

    decision = decide(share, "email", situation(state("granted", purpose="partners.share"), gpc), NOW)

    assert decision.reasons == (Reason.GPC_OPT_OUT,)


def test_a_global_opt_out_beats_a_later_topic_opt_in():
    states = (state("withdrawn", purpose=ALL, channel="email", at=EARLIER), state("granted", at=LATER))

    assert decide(rule(), "email", situation(*states), NOW).reasons[0] == Reason.GLOBAL_OPT_OUT


def test_a_global_opt_out_on_another_channel_does_not_bind():
    states = (state("withdrawn", purpose=ALL, channel="sms"), state("granted"))

    assert decide(rule(), "email", situation(*states), NOW).allowed is True


def test_legitimate_interest_is_allowed_unless_objected():
    offers = rule(lgpd_basis="art7_ix", gdpr_basis="6_1_f")

    assert decide(offers, "email", situation(), NOW).reasons == (Reason.LEGITIMATE_INTEREST,)
    assert decide(offers, "email", situation(state("objected")), NOW).reasons == (Reason.OBJECTED,)
    objection = state("objected", purpose=ALL, channel=ALL)
    assert decide(offers, "email", situation(objection), NOW).reasons == (Reason.OBJECTED,)


def test_other_bases_are_allowed_and_an_all_marketing_objection_does_not_touch_them():
    service = rule(code="service.billing", lgpd_basis="art7_v", gdpr_basis="6_1_b", direct_marketing=False)

    decision = decide(service, "email", situation(state("objected", purpose=ALL, channel=ALL)), NOW)

    assert decision.reasons == (Reason.OTHER_LEGAL_BASIS,)


def test_with_both_regimes_the_stricter_basis_governs():
    mixed = rule(lgpd_basis="art7_ix", gdpr_basis="6_1_a")

    assert decide(mixed, "email", situation(regimes=("lgpd",)), NOW).allowed is True
    assert decide(mixed, "email", situation(regimes=("gdpr", "lgpd")), NOW).reasons == (Reason.NO_RECORD,)


def test_among_several_owners_the_strictest_answer_stands():
    # Two people behind one address (a family email): one withdrew, the other granted.
    states = (state("granted", owner="s:1"), state("withdrawn", owner="s:2", at=EARLIER))

    assert decide(rule(), "email", situation(*states), NOW).reasons == (Reason.WITHDRAWN,)


def test_for_one_owner_the_latest_answer_stands_across_channel_scopes():
    states = (state("withdrawn", channel=ALL, at=EARLIER), state("granted", channel="email", at=LATER))

    assert decide(rule(), "email", situation(*states), NOW).allowed is True


def test_every_applicable_reason_is_listed():
    decision = decide(rule(), "email", situation(state("withdrawn"), subject_status="restricted", suppressed=True), NOW)

    assert decision.reasons == (Reason.RESTRICTED, Reason.SUPPRESSED, Reason.WITHDRAWN)
    assert decision.state == "restricted"
