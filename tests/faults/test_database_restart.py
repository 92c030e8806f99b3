"""PostgreSQL restarted under a stream of consent writes: every acknowledged event is in the ledger and every
chain verifies; while the database is down the API answers 503 with Retry-After, never a 500.

The database is a cluster of the test's own (``pg_createcluster`` on a free port; the shared server on
5432 is never restarted), holding a copy of the test database with a purpose, a notice and an API key.
c360 runs under gunicorn, two workers, with its production settings (persistent connections with health
checks). Two client threads post consent events for a handful of contact points, so chains interleave
across the server's workers, and keep every answer. Mid-stream the cluster is restarted (``pg_ctlcluster
restart``: fast mode, every connection cut), later stopped for a while and started again; the server is
never touched and must recover by itself.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from c360.access.services import api_key_issue
from c360.lib.history import Actor
from consent.models import Notice, NoticeVersion, Purpose
from tests.faults.helpers import Cluster, ClusterUnavailable, database_url, manage, serve, stop_process, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CONTACTS = [f"pessoa{number}@example.com" for number in range(6)]
STEP = 25  # acknowledged events between two moves of the test


@dataclass
class Answers:
    """What the clients got back, kept under a lock (two threads)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: list[str] = field(default_factory=list)  # event ids of 201 answers
    unavailable: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)  # 503 bodies, Retry-After
    unexpected: list[tuple[int, str]] = field(default_factory=list)  # anything else (must stay empty)
    broken_connections: int = 0

    def count(self) -> tuple[int, int]:
        with self.lock:
            return len(self.acknowledged), len(self.unavailable)


def event_body(number: int, notice_id: int) -> bytes:
    grant = number % 3 != 2  # mostly grants, some withdrawals: each chain moves both ways
    return json.dumps(
        {
            "contact": {"kind": "email", "value": CONTACTS[number % len(CONTACTS)]},
            "purpose": "marketing.newsletter",
            "channel": "email",
            "action": "grant" if grant else "withdraw",
            "method": "form_checkbox" if grant else "portal",
            "notice_version": notice_id,
            "source_system": "site",
        }
    ).encode()


def post_events(base: str, key: str, *, notice_id: int, offset: int, stop: threading.Event, answers: Answers) -> None:
    """A client that records every answer; it keeps going whatever it gets (a 503 is retried by the next post)."""
    host, port = base.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    client = http.client.HTTPConnection(host, int(port), timeout=20)
    number = offset
    while not stop.is_set():
        try:
            client.request("POST", "/api/v1/consent/events", event_body(number, notice_id), headers)
            response = client.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            with answers.lock:
                answers.broken_connections += 1
            client.close()
            client = http.client.HTTPConnection(host, int(port), timeout=20)
            time.sleep(0.05)
            continue
        number += 2
        with answers.lock:
            if response.status == 201:
                answers.acknowledged.append(json.loads(payload)["id"])
            elif response.status == 503:
                answers.unavailable.append((json.loads(payload), response.getheader("Retry-After")))
            else:
                answers.unexpected.append((response.status, payload[:300].decode(errors="replace")))
        if response.status != 201:
            time.sleep(0.05)  # the database is away: do not spin
    client.close()


def check_consent(base: str, key: str) -> tuple[int, dict[str, Any], str | None]:
    """One consent check (the fast lane's endpoint): status, body and Retry-After."""
    host, port = base.removeprefix("http://").split(":")
    client = http.client.HTTPConnection(host, int(port), timeout=20)
    body = {"recipient": {"email": "someone@example.com"}, "purpose": "marketing.newsletter", "channel": "email"}
    try:
        client.request(
            "POST",
            "/api/v1/consent/check",
            json.dumps(body).encode(),
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = client.getresponse()
        return response.status, json.loads(response.read()), response.getheader("Retry-After")
    finally:
        client.close()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    try:
        made = Cluster(f"c360faults_{os.getpid()}")
    except ClusterUnavailable as exc:
        pytest.skip(f"cannot make a throwaway PostgreSQL cluster: {exc}")
    try:
        made.create()
        yield made
    finally:
        made.drop()


@pytest.fixture
def seeded(transactional_db: None) -> dict[str, Any]:
    """A purpose with a notice and a writing API key, committed in the test database (copied from there)."""
    purpose = Purpose.objects.create(
        code="marketing.newsletter",
        names={"pt-br": "Newsletter", "en": "Newsletter"},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email"],
        direct_marketing=True,
        is_active=True,
    )
    notice = Notice.objects.create(code="privacy", title="Aviso de privacidade")
    notice.purposes.add(purpose)
    version = NoticeVersion.objects.create(notice=notice, version=1, language="pt-br", text="Usamos seu e-mail.")
    issued = api_key_issue(
        name="crash tests", scopes=["consent:write", "consent:check"], rate="100000/min", actor=Actor.system("tests")
    )
    return {"notice": version.pk, "key": issued.plaintext}


def test_every_acknowledged_consent_survives_a_database_restart_and_the_chains_verify(
    cluster: Cluster, seeded: dict[str, Any], tmp_path: Path
) -> None:
    cluster.copy_database(database_url(connection.settings_dict), "c360")
    server, base = serve(cluster.url("c360"), tmp_path)
    answers, stop = Answers(), threading.Event()
    clients = [
        threading.Thread(
            target=post_events,
            args=(base, seeded["key"]),
            kwargs={"notice_id": seeded["notice"], "offset": offset, "stop": stop, "answers": answers},
        )
        for offset in (0, 1)
    ]
    try:
        for client in clients:
            client.start()
        wait_until(lambda: answers.count()[0] >= STEP, timeout=60, what="the first acknowledged events")

        cluster.ctl("restart")  # mid-stream: every connection is cut, the server is not told
        acknowledged, _ = answers.count()
        wait_until(lambda: answers.count()[0] >= acknowledged + STEP, timeout=60, what="writes after the restart")

        cluster.ctl("stop", "-m", "fast")
        _, refused = answers.count()
        wait_until(lambda: answers.count()[1] >= refused + 5, timeout=30, what="503 answers while it is down")
        checks_while_down = [check_consent(base, seeded["key"]) for _ in range(4)]  # each server process
        cluster.ctl("start")
        acknowledged, _ = answers.count()
        wait_until(lambda: answers.count()[0] >= acknowledged + STEP, timeout=60, what="writes after the start")
        checks_after = [check_consent(base, seeded["key"]) for _ in range(4)]
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=30)
        stop_process(server)

    assert answers.unexpected == []  # never a 500 (nor anything but 201 and 503)
    # The check's fast lane hands a lost database to the view, which answers like every other endpoint.
    assert {(status, body["code"], retry_after) for status, body, retry_after in checks_while_down} == {
        (503, "service_unavailable", "5")
    }
    assert {(status, body["allowed"], body["reasons"][0]) for status, body, _ in checks_after} == {
        (200, False, "UNKNOWN_RECIPIENT")
    }
    assert answers.broken_connections == 0  # the server itself stayed up and answered every call
    assert len(answers.unavailable) >= 5
    for body, retry_after in answers.unavailable:
        assert body["code"] == "service_unavailable"
        assert body["retry_after_seconds"] == 5
        assert retry_after == "5"
    with psycopg.connect(cluster.url("c360")) as ledger:
        stored = {row[0] for row in ledger.execute("SELECT id::text FROM consent_consentevent")}
    assert len(answers.acknowledged) >= 3 * STEP
    assert set(answers.acknowledged) <= stored  # every acknowledged write is in the ledger
    verified = manage(cluster.url("c360"), "verify_ledger")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{len(CONTACTS)} chains, {len(stored)} events, 0 broken link(s)" in verified.stdout
