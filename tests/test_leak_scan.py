"""Leak scan of a whole deployment's worth of traces: no person's email, phone, CPF or name in clear anywhere.

The demo people (``generate_demo``, then ``load_demo_workflows``: consent ledger, double opt-ins, DSAR requests
in every state), then one request of every type filed for a demo person and run by a real Celery worker process
through Redis, a portal sign-in mail, an audience list and an erasure task. Scanned for every spelling of every
person's values (``tests/leaks.py``): the application's log records with the SQL statements and their parameters,
the worker's log, the broker's queued messages (kombu's envelopes and their decoded bodies) and what is left
there, the files at rest, every mail, the packages downloaded by their subjects (their own data only) and
``pg_dump`` with its bytea values decoded. ``bench/leaks.py`` runs the same scan on 10,000 people.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.leaks import LeakScanner, run_leak_scan, scan_mail
from tests.processes import answers, private_redis

SUBJECTS = 1000


@pytest.fixture
def broker_url(tmp_path: Path) -> Iterator[str]:
    """A Redis of the test's own (every key of it is read, then emptied), or C360_TEST_LEAKS_BROKER_URL."""
    given = os.environ.get("C360_TEST_LEAKS_BROKER_URL")
    if given:
        if not answers(given):
            pytest.skip(f"no Redis answers at C360_TEST_LEAKS_BROKER_URL={given}")
        yield given
        return
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server to start a broker of the test's own (apt-get install redis-server)")
    with private_redis(tmp_path / "redis") as url:
        yield url


@pytest.mark.postgres
@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_no_clear_personal_data_anywhere_after_every_request_type(tmp_path: Path, broker_url: str) -> None:
    report = run_leak_scan(subjects=SUBJECTS, workdir=tmp_path, broker_url=broker_url)
    (tmp_path / "report.json").write_text(json.dumps(report.as_json(), indent=2))  # kept with the test's files

    assert report.leaks == []
    # Every request type was answered, and every place was really read (the scan did not pass vacuously).
    assert report.requests == dict.fromkeys(report.requests, "completed")
    assert len(report.requests) == 10
    assert report.counts["forms_in_source_files"] > report.forms / 3  # they are the loaded people's values
    assert report.counts["broker_values"] >= 20  # the requests' tasks and mails, the sign-in, the list, the erasure
    assert report.counts["package_files"] >= 3 * 4  # access, portability, sharing info: sources, csv, summary...
    assert report.counts["packages_at_rest"] >= 4  # those three and the demo's completed access request
    assert report.counts["mails"] >= 20  # received and answered for each request, the sign-in, double opt-ins
    assert report.counts["sql_statements"] > 5 * SUBJECTS  # every person loaded and given a consent history
    assert report.scanned_bytes["worker-log"] > 10_000
    assert report.scanned_bytes["pg_dump"] > SUBJECTS * 1000


def test_the_scanner_tells_whose_data_is_where() -> None:
    # Guards the scan above against passing vacuously: a package or mail may hold its own person's values only;
    # a number found inside a longer run of letters and digits (a hash) is not a CPF.
    scanner = LeakScanner(
        {"Maria Silva": {1}, "maria@example.com": {1}, "João Souza": {2}, "12345678901": {2}, "Souza": {3}}
    )

    assert scanner.scan("package of 1", "Maria Silva <maria@example.com>", allowed={1}) == []
    assert scanner.scan("package of 1", "Souza", allowed={1}) == ["Souza"]
    assert scanner.scan("package of 1", "Maria Silva, João Souza", allowed={1}) == ["João Souza", "Souza"]
    assert scanner.scan("package of 2", "João Souza", allowed={2}) == []
    assert scanner.scan("dump", "João Souza".encode().decode("latin-1")) == ["João Souza", "Souza"]  # UTF-8 bytes
    assert scanner.scan("dump", "hash 0a12345678901f and cpf 12345678901.") == ["12345678901"]
    assert scanner.scan("dump", "hash 0a12345678901f only") == []
    mail = (
        "To: maria@example.com\nSubject: Ola\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n\nSm/Do28gU291emE=\n"
    )
    assert scan_mail(scanner, "mail", mail, {"maria@example.com": {1}}) == 1
    assert ("mail", "João Souza") in scanner.leaks  # found in the base64 body, decoded
    assert ("package of 1", "Maria Silva") not in scanner.leaks
