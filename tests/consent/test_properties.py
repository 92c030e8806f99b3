"""Properties over any sequence of events: the projection is a fold of the ledger; merges never upgrade."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from c360.lib.history import Actor
from consent.models import ConsentEvent, ConsentState
from consent.selectors import Recipient, consent_check
from consent.services.events import EventInput, consents_import, on_subjects_merged
from profiles.services.subjects import subject_create

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("property-tests")
PURPOSES = ["marketing.newsletter", "partners.share"]
BASE = timezone.now() - dt.timedelta(days=30)

event_strategy = st.fixed_dictionaries(
    {
        "purpose": st.sampled_from([*PURPOSES, "*"]),
        "channel": st.sampled_from(["email", "*"]),
        "action": st.sampled_from(["grant", "deny", "withdraw", "object"]),
        "minutes": st.integers(min_value=0, max_value=60 * 24 * 20),
    }
).filter(lambda event: event["action"] != "grant" or (event["purpose"] != "*" and event["channel"] != "*"))

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def as_inputs(subject, events):
    return [
        EventInput(
            purpose_code=event["purpose"],
            channel=event["channel"],
            action=event["action"],
            method="import",
            subject_id=subject.id,
            occurred_at=BASE + dt.timedelta(minutes=event["minutes"]),
            evidence={"legacy_reference": f"property-{n}"},
        )
        for n, event in enumerate(events)
    ]


@SETTINGS
@given(events=st.lists(event_strategy, min_size=1, max_size=25))
def test_the_projection_equals_a_fold_of_the_ledger(newsletter, partners, events):
    subject = subject_create(actor=ACTOR, source="tests")

    # Events arrive in any order (imports bring old ones late), one batch or one at a time.
    half = len(events) // 2
    consents_import(events=as_inputs(subject, events[:half]), actor=ACTOR)
    consents_import(events=as_inputs(subject, events[half:]), actor=ACTOR)

    folded: dict[tuple[str, str], tuple[dt.datetime, int, str]] = {}
    for event in ConsentEvent.objects.filter(subject=subject).order_by("sequence"):
        key = (event.purpose_code, event.channel)
        candidate = (event.occurred_at, event.sequence, event.status)
        if key not in folded or candidate[:2] > folded[key][:2]:
            folded[key] = candidate
    projected = {
        (state.purpose_code, state.channel): state.status for state in ConsentState.objects.filter(subject=subject)
    }
    assert projected == {key: value[2] for key, value in folded.items()}


def decisions(subject):
    return {
        (purpose, channel): consent_check(
            Recipient("subject_id", str(subject.id)), purpose_code=purpose, channel=channel
        ).decision.allowed
        for purpose in PURPOSES
        for channel in ["email"]
    }


@SETTINGS
@given(mine=st.lists(event_strategy, max_size=8), theirs=st.lists(event_strategy, max_size=8))
def test_a_merge_never_upgrades_consent(newsletter, partners, mine, theirs):
    survivor, absorbed = subject_create(actor=ACTOR, source="tests"), subject_create(actor=ACTOR, source="tests")
    consents_import(events=as_inputs(survivor, mine), actor=ACTOR)
    consents_import(events=as_inputs(absorbed, theirs), actor=ACTOR)
    before = decisions(survivor)

    on_subjects_merged(merges=[(survivor.id, absorbed.id, 1)], at=timezone.now(), actor=ACTOR)

    after = decisions(survivor)
    assert all(before[key] or not after[key] for key in before)  # allowed after => allowed before
    assert not ConsentState.objects.filter(subject=absorbed).exists()
