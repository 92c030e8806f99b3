"""Consent writes, a merge and an erasure of the same person at once: nothing acknowledged is lost.

Per round, two subjects of one person (``survivor`` and ``absorbed``) get a consent history; then, all at once:
three threads write consent through the service and one through the API (each thread its own database
connection), on both subjects, until the erasure is done and twice after; a thread merges ``absorbed`` into
``survivor``; and two real Celery worker processes erase the person (by either id, or the same erasure
delivered twice). The interleaving is random, from a fixed seed, and differs each round. Afterwards:

- every acknowledged write is in the ledger, on the chain of the subject it was recorded for, and that is the
  subject asked for, or its survivor when the merge came first (a write is never kept on a merged subject);
- the merge reconciled exactly what the absorbed subject held when it happened (a refusal stricter than the
  survivor's own answer travels as a merge event naming its origin; a grant never does), and nothing was
  appended to the absorbed subject's chain after it;
- nothing was appended to an erased subject's chain after its erasure event, and only erased people's writes
  were refused;
- every chain is unforked (sequences 1..n, each event pointing at the previous one) and ``verify_ledger`` passes;
- each subject's ``ConsentState`` is the fold of its chain (merged: none; erased: the erasure row only);
- PostgreSQL reports no deadlock, and no actor failed in any other way.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from c360.access.services import api_key_issue
from c360.lib.errors import Conflict, Gone
from c360.lib.events import subjects_merged
from c360.lib.history import Actor
from consent.models import ALL, ConsentEvent, ConsentState, Notice, NoticeVersion, Purpose
from consent.selectors import ledger_verify
from consent.services.events import (
    RESTRICTIVENESS,
    RESTRICTIVENESS_EVERY_PURPOSE,
    EventInput,
    consent_record,
)
from profiles.models import MergeDecision, Subject
from profiles.services.merges import subjects_merge
from profiles.services.subjects import IdentifierInput, subject_create
from tests.leaks import publishing_to, worker_processes
from tests.processes import answers, private_redis

SEED = 20261123
ROUNDS = 6
WRITES_PER_THREAD = 10
MAX_WRITES_PER_THREAD = 400
AFTER_ERASURE = 2
SERVICE_WRITERS = 3
PURPOSES = {"marketing.newsletter": ["email", "sms"], "marketing.offers": ["email", "push"]}
ACTIONS = ("grant", "grant", "withdraw", "deny", "object")
# What the merge saw of each subject's consent, inside its transaction: {subject: {(purpose, channel): (status, event)}}
Snapshot = dict[uuid.UUID, dict[tuple[str, str], tuple[str, uuid.UUID]]]


@dataclass
class Outcome:
    """What one actor was told: each acknowledged write, each refusal, anything else that went wrong."""

    acknowledged: list[tuple[str, uuid.UUID, uuid.UUID]] = field(default_factory=list)  # (actor, asked, event)
    refused: list[tuple[str, uuid.UUID, str]] = field(default_factory=list)  # (actor, asked, code)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, bucket: str, item: Any) -> None:
        with self.lock:
            getattr(self, bucket).append(item)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Path]]:
    """Two worker processes on a Redis of the test's own (or C360_TEST_CONCURRENCY_BROKER_URL)."""
    given = os.environ.get("C360_TEST_CONCURRENCY_BROKER_URL")
    if given and not answers(given):
        pytest.skip(f"no Redis answers at C360_TEST_CONCURRENCY_BROKER_URL={given}")
    if not given and shutil.which("redis-server") is None:
        pytest.skip("no redis-server to start a broker of the test's own (apt-get install redis-server)")
    with ExitStack() as stack:
        broker_url = given or stack.enter_context(private_redis(tmp_path / "redis"))
        stack.enter_context(publishing_to(broker_url, result_backend=broker_url))
        environment = {"CELERY_RESULT_BACKEND": broker_url, "C360_FILES_DIR": str(tmp_path / "files")}
        yield stack.enter_context(
            worker_processes(2, broker_url=broker_url, directory=tmp_path / "workers", environment=environment)
        )


@pytest.mark.postgres
@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_consent_writes_a_merge_and_an_erasure_of_one_person_at_once_lose_nothing(workers: list[Path]) -> None:
    notice_version = _catalogue()
    client = APIClient()
    issued = api_key_issue(name="concurrency", scopes=["consent:write"], actor=Actor.system("tests"))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    deadlocks_before = _deadlocks()
    snapshots: dict[uuid.UUID, Snapshot] = {}

    def snapshot(*, merges: list[tuple[Any, Any, Any]], **_: Any) -> None:
        # Runs inside the merge's transaction, before consent reconciles: what the merge saw of both subjects.
        for survivor, absorbed, _decision in merges:
            snapshots[absorbed] = {subject_id: _states(subject_id) for subject_id in (survivor, absorbed)}

    subjects_merged.handlers.insert(0, snapshot)
    rounds = []
    try:
        rounds.extend(_round(number, notice_version, client, snapshots) for number in range(ROUNDS))
    finally:
        subjects_merged.handlers.remove(snapshot)

    for survivor, absorbed, outcome in rounds:
        _check_round(survivor, absorbed, outcome, snapshots.get(absorbed))
    call_command("verify_ledger")  # raises on any broken link
    assert ledger_verify().broken == []
    # The storm did write, was refused once the person was erased, and merged (the seed decides when).
    assert sum(len(outcome.acknowledged) for *_, outcome in rounds) > ROUNDS * 5
    assert any(outcome.refused for *_, outcome in rounds)
    assert any(absorbed in snapshots for _, absorbed, _ in rounds)
    logs = "\n".join(log.read_text(errors="replace") for log in workers)
    assert "deadlock" not in logs.lower()
    assert _deadlocks() == deadlocks_before


# ---------------------------------------------------------------- one round


def _round(
    number: int,
    notice_version: int,
    client: APIClient,
    snapshots: dict[uuid.UUID, Any],
) -> tuple[uuid.UUID, uuid.UUID, Outcome]:
    rng = random.Random(f"{SEED}:{number}")
    survivor, absorbed = (_subject(number, part) for part in ("a", "b"))
    for subject_id in (survivor, absorbed):  # a history for the merge to reconcile
        for _ in range(4):
            _write(subject_id, rng, notice_version)
    outcome = Outcome()
    targets = [survivor, absorbed]
    start = threading.Barrier(SERVICE_WRITERS + 3)
    erased = threading.Event()  # the writers keep writing until the erasures are done, and a little after

    def service_writer(name: str, seed: str) -> None:
        actor_rng = random.Random(seed)
        for _ in _storm(erased):
            time.sleep(actor_rng.uniform(0, 0.015))
            asked = actor_rng.choice(targets)
            try:
                event = _write(asked, actor_rng, notice_version)
            except Gone as exc:
                outcome.add("refused", (name, asked, exc.code))
            else:
                outcome.add("acknowledged", (name, asked, event.id))

    def api_writer(name: str, seed: str) -> None:
        actor_rng = random.Random(seed)
        for _ in _storm(erased):
            time.sleep(actor_rng.uniform(0, 0.015))
            asked = actor_rng.choice(targets)
            purpose, channel, action = _draw(actor_rng)
            body: dict[str, Any] = {
                "subject_id": str(asked),
                "purpose": purpose,
                "channel": channel,
                "action": action,
                "method": "form_checkbox" if action == "grant" else "portal",
            }
            if action == "grant":
                body["notice_version"] = notice_version
            response = client.post("/api/v1/consent/events", body, format="json")
            if response.status_code == 201:
                outcome.add("acknowledged", (name, asked, uuid.UUID(response.json()["id"])))
            elif response.status_code == 410:
                outcome.add("refused", (name, asked, response.json().get("code", "gone")))
            else:
                outcome.add("failures", f"{name}: HTTP {response.status_code} {response.content[:300]!r}")

    def merger(name: str, seed: str) -> None:
        time.sleep(random.Random(seed).uniform(0, 0.12))
        try:
            subjects_merge(survivor_id=survivor, absorbed_id=absorbed, actor=Actor.system("concurrency-merge"))
        except Conflict as exc:
            outcome.add("refused", (name, absorbed, exc.code))

    actors: list[tuple[str, Callable[[str, str], None]]] = [
        *((f"service{index}", service_writer) for index in range(SERVICE_WRITERS)),
        ("api", api_writer),
        ("merge", merger),
    ]
    threads = [
        threading.Thread(target=_actor, args=(outcome, start, body, name, f"{SEED}:{number}:{name}"), name=name)
        for name, body in actors
    ]
    for thread in threads:
        thread.start()
    start.wait()
    # Two worker processes erase the person while the others write: by both ids, or one erasure delivered twice.
    from profiles.tasks import subject_erase_task

    time.sleep(rng.uniform(0.15, 0.6))
    erased_ids = [survivor, absorbed] if number % 2 == 0 else [absorbed, absorbed]
    results = [
        subject_erase_task.delay(str(subject_id), "system:concurrency", "concurrency test") for subject_id in erased_ids
    ]
    for result in results:
        try:
            result.get(timeout=60)
        except Exception as exc:  # noqa: BLE001 - reported as a failure of the round, with its type
            outcome.add("failures", f"worker erasure: {type(exc).__name__}: {exc}")
    erased.set()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), f"{thread.name} is stuck"
    return survivor, absorbed, outcome


def _storm(erased: threading.Event) -> Iterator[int]:
    """A writer's turns: at least WRITES_PER_THREAD, on until the erasures are done, then AFTER_ERASURE more
    (which must be refused), so writes and erasures meet however fast either is; never more than MAX_WRITES."""
    after = 0
    for turn in range(MAX_WRITES_PER_THREAD):
        if turn >= WRITES_PER_THREAD and erased.is_set():
            after += 1
            if after > AFTER_ERASURE:
                return
        yield turn


def _actor(outcome: Outcome, start: threading.Barrier, body: Callable[[str, str], None], name: str, seed: str) -> None:
    """Run one actor on its own database connection; anything but a documented refusal is a failure."""
    try:
        start.wait()
        body(name, seed)
    except Exception as exc:  # noqa: BLE001 - every unexpected error is the finding
        outcome.add("failures", f"{name}: {type(exc).__name__}: {exc}")
    finally:
        connection.close()


# ---------------------------------------------------------------- checks


def _check_round(survivor: uuid.UUID, absorbed: uuid.UUID, outcome: Outcome, snapshot: Snapshot | None) -> None:
    assert outcome.failures == []
    subjects = {subject.id: subject for subject in Subject.objects.filter(pk__in=[survivor, absorbed])}
    merged = subjects[absorbed].merged_into_id == survivor
    chains = {
        subject_id: list(ConsentEvent.objects.filter(chain=f"s:{subject_id}").order_by("sequence"))
        for subject_id in subjects
    }
    for events in chains.values():
        _assert_unforked(events)
    _check_answers(survivor, absorbed, outcome, subjects, chains, merged=merged)
    _check_erasures(subjects, chains)
    if merged:
        assert snapshot is not None
        _check_merge(survivor, absorbed, snapshot, chains)
    else:
        assert snapshot is None
        assert not any(event.action == "merge" for event in chains[survivor])
    # The projection is the fold of the ledger: all of it for a live subject, none for a merged one, only the
    # erasure row for an erased one.
    for subject_id, subject in subjects.items():
        folded = _fold(chains[subject_id])
        if subject.status == Subject.Status.ERASED:
            expected = {key: value for key, value in folded.items() if key == (ALL, ALL)}
        else:
            expected = {} if subject.status == Subject.Status.MERGED else folded
        assert _states(subject_id) == expected, subject.status


def _check_answers(
    survivor: uuid.UUID,
    absorbed: uuid.UUID,
    outcome: Outcome,
    subjects: dict[uuid.UUID, Subject],
    chains: dict[uuid.UUID, list[ConsentEvent]],
    *,
    merged: bool,
) -> None:
    """Every acknowledged write is in the ledger, kept for the subject asked or (after the merge) its survivor;
    only an erased person's writes are refused; a merge fails only when one side was erased first."""
    kept = {event.id: event for events in chains.values() for event in events}
    for actor, asked, event_id in outcome.acknowledged:
        assert event_id in kept, f"{actor}: acknowledged event {event_id} is not in the ledger"
        recorded_for = kept[event_id].subject_id
        assert recorded_for == asked or (asked == absorbed and merged and recorded_for == survivor), (actor, asked)
    for actor, asked, code in outcome.refused:
        if actor == "merge":
            assert (code, merged) == ("not_live", False)
            assert any(subject.status == Subject.Status.ERASED for subject in subjects.values())
        else:
            assert code == "subject_erased", (actor, code)
            target = survivor if asked == absorbed and merged else asked
            assert subjects[target].status == Subject.Status.ERASED


def _check_erasures(subjects: dict[uuid.UUID, Subject], chains: dict[uuid.UUID, list[ConsentEvent]]) -> None:
    """Erased once (a second delivery adds nothing), and nothing recorded after the erasure."""
    for subject_id, subject in subjects.items():
        erasures = [event for event in chains[subject_id] if event.action == "erase_suppress"]
        if subject.status == Subject.Status.ERASED:
            assert len(erasures) == 1
            assert chains[subject_id][-1].action == "erase_suppress", f"appended to {subject_id} after its erasure"
        else:
            assert erasures == []


def _check_merge(
    survivor: uuid.UUID, absorbed: uuid.UUID, snapshot: Snapshot, chains: dict[uuid.UUID, list[ConsentEvent]]
) -> None:
    """Nothing was appended to the absorbed subject's chain after the merge saw it, what it saw was the fold of
    that chain, and the merge carried exactly the refusals stricter than the survivor's own answers."""
    decision = MergeDecision.objects.get(survivor_id=survivor, absorbed_id=absorbed)
    before_erasure = [event for event in chains[absorbed] if event.action != "erase_suppress"]
    assert _fold(before_erasure) == snapshot[absorbed]
    expected = set()
    for key, (status, last_event) in snapshot[absorbed].items():
        theirs = snapshot[survivor].get(key)
        order = RESTRICTIVENESS_EVERY_PURPOSE if key[0] == ALL else RESTRICTIVENESS
        if status == "granted" or (theirs and order.index(theirs[0]) <= order.index(status)):
            continue
        expected.add((key, status, str(last_event)))
    written = {
        ((event.purpose_code, event.channel), event.status, event.evidence["from_event"])
        for event in chains[survivor]
        if event.action == "merge" and event.evidence.get("merge_decision") == str(decision.pk)
    }
    assert written == expected


def _assert_unforked(events: list[ConsentEvent]) -> None:
    previous = ""
    for position, event in enumerate(events, start=1):
        assert event.sequence == position
        assert event.previous_hash == previous
        previous = event.hash
    assert len({event.previous_hash for event in events}) == len(events)


def _fold(events: list[ConsentEvent]) -> dict[tuple[str, str], tuple[str, uuid.UUID]]:
    """The state each (purpose, channel) should have: the projection's own rule, replayed in chain order
    (an event that happened before the current answer does not replace it)."""
    state: dict[tuple[str, str], ConsentEvent] = {}
    for event in events:
        key = (event.purpose_code, event.channel)
        current = state.get(key)
        if current is not None and current.occurred_at > event.occurred_at:
            continue
        state[key] = event
    return {key: (event.status, event.id) for key, event in state.items()}


def _states(subject_id: uuid.UUID) -> dict[tuple[str, str], tuple[str, uuid.UUID]]:
    return {
        (state.purpose_code, state.channel): (state.status, state.last_event_id)
        for state in ConsentState.objects.filter(subject_id=subject_id, contact_index__isnull=True)
    }


def _deadlocks() -> int:
    # Counted by the backend that detected the deadlock, reported when it goes idle or exits.
    time.sleep(1.1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


# ---------------------------------------------------------------- data


def _catalogue() -> int:
    for code, channels in PURPOSES.items():
        Purpose.objects.create(
            code=code,
            names={"pt-br": code},
            lgpd_basis="art7_i",
            gdpr_basis="6_1_a",
            channels=channels,
            direct_marketing=True,
            is_active=True,
        )
    notice = Notice.objects.create(code="privacy", title="Aviso")
    notice.purposes.add(*Purpose.objects.all())
    return NoticeVersion.objects.create(notice=notice, version=1, language="pt-br", text="Usamos seus contatos.").pk


def _subject(number: int, part: str) -> uuid.UUID:
    return subject_create(
        actor=Actor.system("tests"),
        source="concurrency",
        identifiers=[IdentifierInput(kind="email", value=f"pessoa{number}{part}@example.com")],
    ).id


def _draw(rng: random.Random) -> tuple[str, str, str]:
    action = rng.choice(ACTIONS)
    if action == "object" and rng.random() < 0.3:
        return ALL, ALL, action
    purpose = rng.choice(sorted(PURPOSES))
    return purpose, rng.choice(PURPOSES[purpose]), action


def _write(subject_id: uuid.UUID, rng: random.Random, notice_version: int) -> ConsentEvent:
    purpose, channel, action = _draw(rng)
    return consent_record(
        event=EventInput(
            purpose_code=purpose,
            channel=channel,
            action=action,
            method="form_checkbox" if action == "grant" else "portal",
            subject_id=subject_id,
            notice_version_id=notice_version if action == "grant" else None,
            ip="192.0.2.10" if action == "grant" else "",
        ),
        actor=Actor.for_subject(subject_id),
    )
