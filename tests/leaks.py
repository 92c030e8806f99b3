"""Scanning text for clear-text personal data, many values at once (Aho-Corasick, one pass per text).

Also what the wider scans need: real Celery worker processes on a Redis of their own, the raw contents of
that Redis, and ``run_leak_scan``, shared by ``tests/test_leak_scan.py`` and ``bench/leaks.py``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick

from tests.processes import database_url, pg_dump_text

_BYTEA_HEX = re.compile(r"\\\\?x([0-9a-f]{2,})")


def decoded_bytea(dump: str) -> str:
    """The bytes of every bytea value of a pg_dump, as latin-1 text: plaintext stored as bytes shows up here."""
    return "\n".join(bytes.fromhex(blob[: len(blob) // 2 * 2]).decode("latin-1") for blob in _BYTEA_HEX.findall(dump))


def find_leaks(texts: Mapping[str, str], forms: Iterable[str]) -> list[tuple[str, str]]:
    """(where, value) for every form found in any text; forms are also searched as UTF-8 bytes read as latin-1."""
    automaton = ahocorasick.Automaton()
    for form in set(forms):
        if form:
            automaton.add_word(form, form)
            as_bytes = form.encode("utf-8").decode("latin-1")
            automaton.add_word(as_bytes, form)
    automaton.make_automaton()
    return sorted({(where, form) for where, text in texts.items() for _, form in automaton.iter(text)})


# ---------------------------------------------------------------- whose data is where


class LeakScanner:
    """One automaton for many texts, fed as they come (log records, files, messages): memory stays flat.

    ``owners`` maps each form to the people it belongs to; ``scan(where, text, allowed=...)`` skips the forms
    of the people in ``allowed`` (a package or a mail handed to its own subject may hold that subject's data).
    """

    def __init__(self, owners: Mapping[str, set[int]], context: Mapping[int, Iterable[str]] | None = None) -> None:
        self.owners = {form: set(people) for form, people in owners.items() if form}
        # Each person's own values, and (``context``) more of their own text not searched for, such as their
        # address: someone else's given name inside the subject's own street name is the subject's data.
        self.forms_of: dict[int, set[str]] = {person: set(texts) for person, texts in (context or {}).items()}
        for form, people in self.owners.items():
            for person in people:
                self.forms_of.setdefault(person, set()).add(form)
        self.automaton = ahocorasick.Automaton()
        for form in self.owners:
            self.automaton.add_word(form, form)
            as_bytes = form.encode("utf-8").decode("latin-1")
            if as_bytes != form:
                self.automaton.add_word(as_bytes, form)
        self.automaton.make_automaton()
        self.leaks: set[tuple[str, str]] = set()
        self.scanned: dict[str, int] = {}

    def scan(self, where: str, text: str | bytes, *, allowed: Iterable[int] = ()) -> list[str]:
        """Record and return the forms found in ``text`` that belong to nobody in ``allowed`` (nor are part of
        one of their own values)."""
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        kind = where.split(" ", 1)[0]
        self.scanned[kind] = self.scanned.get(kind, 0) + len(text)
        own = set(allowed)
        found = {
            form
            for end, form in self.automaton.iter(text)
            if not self.owners[form] & own and self._stands_alone(text, end, form)
        }
        # Someone else's "da Rocha" inside the subject's own "Enzo Gabriel Gomes da Rocha" is the subject's.
        own_forms = [form for person in own for form in self.forms_of.get(person, ())]
        leaks = sorted(form for form in found if not any(form in mine for mine in own_forms))
        self.leaks.update((where, form) for form in leaks)
        return leaks

    @staticmethod
    def _stands_alone(text: str, end: int, form: str) -> bool:
        """A number counts only on its own: inside a longer run of letters and digits (a hex hash, a UUID) an
        11-digit CPF turns up by chance once the texts are large enough."""
        if not form.isdigit():
            return True
        start = end - len(form) + 1
        before = text[start - 1] if start > 0 else " "
        after = text[end + 1] if end + 1 < len(text) else " "
        return not (before.isalnum() or after.isalnum())

    def found(self, text: str | bytes) -> set[str]:
        """The forms in ``text``, recorded nowhere (to check that the forms match data that holds them)."""
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        return {form for end, form in self.automaton.iter(text) if self._stands_alone(text, end, form)}

    def contains(self, text: str | bytes, form: str) -> bool:
        """Whether ``form`` itself is in ``text`` (a package must hold its subject's own data)."""
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        return form in text or form.encode("utf-8").decode("latin-1") in text


class ScanningHandler(logging.Handler):
    """A logging handler that scans every record as it is emitted (message and traceback), keeping nothing."""

    def __init__(self, scanner: LeakScanner, where: str) -> None:
        super().__init__(logging.DEBUG)
        self.scanner, self.where, self.records = scanner, where, 0
        self.sql_statements = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        if record.name == "django.db.backends":
            self.sql_statements += 1
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.scanner.scan(f"{self.where} {record.name}", text)


# ---------------------------------------------------------------- real Celery workers, and what the broker holds


def broker_flush(url: str) -> None:
    """Empty the test's own Redis database (never a shared one: the URL names a database kept for this test)."""
    import redis

    redis.Redis.from_url(url).flushdb()


def broker_contents(url: str) -> dict[str, bytes]:
    """Every value of every key of a Redis database, as bytes, with kombu's base64 message bodies decoded too.

    Queues are lists of kombu envelopes (JSON with the task message base64-encoded in ``body``); unacked
    messages sit in hashes; bindings in sets. Nothing is left out, whatever the type.
    """
    import redis

    client = redis.Redis.from_url(url)
    contents: dict[str, bytes] = {}
    for key in client.scan_iter(count=1000):
        name = key.decode("latin-1")
        kind = client.type(key).decode()
        if kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [item for pair in client.hgetall(key).items() for item in pair]
        elif kind == "set":
            values = sorted(client.smembers(key))
        elif kind == "zset":
            values = client.zrange(key, 0, -1)
        elif kind == "string":
            values = [client.get(key) or b""]
        else:
            values = [client.dump(key) or b""]
        for position, value in enumerate(values):
            contents[f"redis {name}[{position}]"] = value
            body = _kombu_body(value)
            if body is not None:
                contents[f"redis {name}[{position}] body"] = body
    return contents


def _kombu_body(value: bytes) -> bytes | None:
    try:
        envelope = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("body"), str):
        return None
    if envelope.get("properties", {}).get("body_encoding") == "base64":
        return base64.b64decode(envelope["body"])
    return envelope["body"].encode()


@contextmanager
def publishing_to(broker_url: str, *, result_backend: str | None = None) -> Iterator[Any]:
    """c360's Celery app sends to ``broker_url`` (not eagerly) for the duration: tasks go through the broker."""
    from c360.celery import app

    def forget_connections() -> None:
        # Publishers cache their pools and the result backend: drop them so the settings made now are used.
        app._pool = None
        app.amqp._producer_pool = None
        app._local.__dict__.pop("backend", None)

    previous = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "result_backend")}
    app.conf.update(broker_url=broker_url, task_always_eager=False, result_backend=result_backend)
    forget_connections()
    try:
        yield app
    finally:
        app.conf.update(previous)
        forget_connections()


@contextmanager
def worker_processes(
    count: int,
    *,
    broker_url: str,
    directory: Path,
    environment: Mapping[str, str] | None = None,
    loglevel: str = "INFO",
    wait_until_ready: bool = True,
) -> Iterator[list[Path]]:
    """``count`` real Celery workers (``celery -A c360 worker --pool=solo``), each a process of its own on this
    process's database, with stdout and stderr in ``directory/worker<N>.log`` (yielded, to be scanned).
    Stopped (warm shutdown, then killed) on the way out."""
    from django.db import connection

    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "c360.settings.base",
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": broker_url,
        "LOG_FORMAT": "json",
        **(environment or {}),
    }
    directory.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    logs = [directory / f"worker{number}.log" for number in range(1, count + 1)]
    try:
        for number, log in enumerate(logs, start=1):
            with log.open("wb") as handle:
                processes.append(
                    subprocess.Popen(
                        [
                            str(Path(sys.executable).parent / "celery"),
                            "-A",
                            "c360",
                            "worker",
                            "--pool=solo",
                            f"--hostname=c360-test{number}-{os.getpid()}@%h",
                            f"--loglevel={loglevel}",
                            "--without-gossip",
                            "--without-mingle",
                            "--without-heartbeat",
                            "-Q",
                            "celery",
                        ],
                        cwd=root,
                        env=env,
                        stdout=handle,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 90
        while wait_until_ready and not all(b" ready." in log.read_bytes() for log in logs):
            if time.monotonic() > deadline or any(process.poll() is not None for process in processes):
                tails = "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
                raise RuntimeError(f"the Celery workers did not start:\n{tails}")
            time.sleep(0.2)
        yield logs
    finally:
        _stop(processes)


def _stop(processes: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    """Warm shutdown of every worker at once (each is the leader of a group started here), then kill."""
    for process in processes:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# ---------------------------------------------------------------- the whole scan: demo people, every request type


RECTIFIED_NAME = "Rosalinda Quaresma"  # a correction sent in a rectification: new personal data, never in clear
LEAK_SCAN_SEED = 360


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


@dataclass
class DemoTruth:
    """The demo people's clear values: every spelling of each email, phone, CPF and name with the people it
    belongs to (a family email or a switchboard is several people's), and each person's emails and names."""

    owners: dict[str, set[int]]
    emails: dict[int, list[str]]
    names: dict[int, str]
    context: dict[int, set[str]]  # more of each person's own text (address parts), not searched for


def demo_forms(subjects: int, seed: int = LEAK_SCAN_SEED) -> DemoTruth:
    """From ``profiles.demo``'s ground truth: the same records ``generate_demo`` loads for that size and seed."""
    from c360.lib.identifiers import IdentifierError, normalise
    from profiles.demo import generate_records

    owners: dict[str, set[int]] = {}
    emails: dict[int, list[str]] = {}
    full_names: dict[int, str] = {}
    context: dict[int, set[str]] = {}

    def add(form: str, person: int) -> None:
        form = form.strip()
        if len(form) >= 6 and not (form.isdigit() and len(form) < 10):
            owners.setdefault(form, set()).add(person)

    for record in generate_records(subjects=subjects, seed=seed):
        fields, person = record.fields, record.person
        for value in [fields.get("email"), *(fields.get("emails") or [])]:
            if isinstance(value, str) and value.strip():
                add(value, person)
                add(value.strip().lower(), person)
                emails.setdefault(person, []).append(value.strip().lower())
        for name in ("phone", "phones", "cpf"):
            values = fields.get(name) if name == "phones" else [fields.get(name)]
            for raw in values or []:
                value = str(raw) if isinstance(raw, int) else raw
                if isinstance(value, str) and value.strip():
                    add(value, person)
                    add(_digits(value), person)
                    with suppress(IdentifierError):
                        add(normalise("cpf" if name == "cpf" else "phone", value), person)  # as c360 stores it
        given, family, full = fields.get("given_name"), fields.get("family_name"), fields.get("full_name")
        names = [full] if isinstance(full, str) else []
        if isinstance(given, str) and isinstance(family, str):
            names.append(f"{given} {family}")
        for name in names:
            add(name, person)
            add(name.lower(), person)
            full_names.setdefault(person, name)
        for part in (given, family):
            if isinstance(part, str) and (len(part) >= 7 or (" " in part.strip() and len(part) >= 6)):
                add(part, person)
        address = fields.get("address")
        if isinstance(address, dict):
            context.setdefault(person, set()).update(str(part) for part in address.values() if part)
    return DemoTruth(owners, emails, full_names, context)


def scan_mail(scanner: LeakScanner, where: str, raw: str | bytes, recipients_of: Mapping[str, set[int]]) -> int:
    """Scan every message in a mail file (or one message), headers and decoded parts: a mail to a person may
    hold that person's own data. Returns how many messages were read."""
    import email
    from email import policy

    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    messages = [part for part in re.split(r"\n-{79}\n", text) if part.strip()]
    for message_text in messages:
        message = email.message_from_string(message_text.lstrip(), policy=policy.default)
        allowed = {
            person
            for address in str(message.get("To", "")).split(",")
            for person in recipients_of.get(address.strip().lower(), set())
        }
        parts = [f"{key}: {value}" for key, value in message.items()]
        parts += [str(part.get_content()) for part in message.walk() if not part.is_multipart()]
        scanner.scan(where, "\n".join(parts), allowed=allowed)
    return len(messages)


@dataclass
class LeakScanReport:
    """What a leak scan read, and what it found (``leaks`` must be empty)."""

    subjects: int
    forms: int
    requests: dict[str, str] = field(default_factory=dict)  # request type -> final status
    counts: dict[str, int] = field(default_factory=dict)
    scanned_bytes: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    leaks: list[tuple[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "subjects": self.subjects,
            "forms": self.forms,
            "requests": self.requests,
            **self.counts,
            "scanned_bytes": self.scanned_bytes,
            "seconds": self.seconds,
            "leaks": len(self.leaks),
            "leak_examples": [f"{where}: {form[:3]}..." for where, form in self.leaks[:10]],
        }


@contextmanager
def _every_log_record(handler: ScanningHandler) -> Iterator[None]:
    """Send every record, SQL statements with their parameters included, to ``handler`` (and only there:
    the other handlers keep their own level, so a run does not print or keep gigabytes of SQL)."""
    from django.db import connection

    root, sql = logging.getLogger(), logging.getLogger("django.db.backends")
    saved = (root.level, sql.level, [(other, other.level) for other in root.handlers])
    for other in root.handlers:
        other.setLevel(max(other.level, logging.WARNING))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sql.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True
    try:
        yield
    finally:
        connection.force_debug_cursor = False
        root.removeHandler(handler)
        root.setLevel(saved[0])
        sql.setLevel(saved[1])
        for other, level in saved[2]:
            other.setLevel(level)


def run_leak_scan(*, subjects: int, workdir: Path, broker_url: str, seed: int = LEAK_SCAN_SEED) -> LeakScanReport:
    """Load ``subjects`` demo people and their consent and DSAR history, run every request type through the
    broker and a real worker process, then scan everything c360 wrote for any person's clear values.

    Needs Django set up on an empty, migrated PostgreSQL database, and a Redis database of its own at
    ``broker_url`` (it is emptied). Scanned: every log record of this process (SQL statements and their
    parameters included) and of the worker, the broker's queued messages (and what is left there at the end),
    every file under ``C360_FILES_DIR``, every mail sent (each to a person may hold that person's own data),
    the packages handed to their subjects (only their own data), and ``pg_dump`` with its bytea values decoded.
    """
    from django.core import mail
    from django.core.management import call_command
    from django.test.utils import override_settings

    clock = time.monotonic()
    truth = demo_forms(subjects, seed)
    owners, emails = truth.owners, truth.emails
    owners[RECTIFIED_NAME] = set()  # the rectifying person's, once chosen
    scanner = LeakScanner(owners, truth.context)
    report = LeakScanReport(subjects=subjects, forms=len(owners))
    handler = ScanningHandler(scanner, "log")
    files_dir, mail_dir = workdir / "files", workdir / "mail"
    report.seconds["forms"] = round(time.monotonic() - clock, 1)

    with override_settings(C360_FILES_DIR=files_dir), _every_log_record(handler):
        clock = time.monotonic()
        output = io.StringIO()
        call_command("generate_demo", subjects=subjects, seed=seed, output=workdir / "demo", stdout=output)
        report.seconds["generate_demo"] = round(time.monotonic() - clock, 1)
        # The forms are really the loaded people's: the source files generate_demo wrote hold them in clear.
        in_sources: set[str] = set()
        for path in (workdir / "demo").glob("*.jsonl"):
            in_sources |= scanner.found(path.read_bytes())
        report.counts["forms_in_source_files"] = len(in_sources)
        clock = time.monotonic()
        call_command("load_demo_workflows", seed=seed, stdout=output)
        report.seconds["load_demo_workflows"] = round(time.monotonic() - clock, 1)
        scanner.scan("command output", output.getvalue())

        clock = time.monotonic()
        people = _requesters(truth, subjects, seed)
        rectifying = people["rectification"].person
        scanner.owners[RECTIFIED_NAME].add(rectifying)
        scanner.forms_of.setdefault(rectifying, set()).add(RECTIFIED_NAME)
        broker_flush(broker_url)
        with publishing_to(broker_url):
            queued = _queue_work(people, files_dir)
            contents = broker_contents(broker_url)
            report.counts["broker_values"] = len(contents)
            for where, value in contents.items():
                scanner.scan(where, value)
            environment = {
                "C360_FILES_DIR": str(files_dir),
                "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                "EMAIL_FILE_PATH": str(mail_dir),
                "LOG_LEVEL": "DEBUG",
            }
            with worker_processes(
                1,
                broker_url=broker_url,
                directory=workdir / "workers",
                environment=environment,
                loglevel="DEBUG",
                wait_until_ready=False,
            ) as logs:
                _wait(lambda: _first_round_done(people, queued), logs, "the worker did not finish the queued work")
                packages = _answer(people)
                _wait(lambda: _answered_mails_sent(people), logs, "the answer mails were not sent")
        report.seconds["requests"] = round(time.monotonic() - clock, 1)

    clock = time.monotonic()
    for log in logs:
        scanner.scan(f"worker-log {log.name}", log.read_bytes())
    for where, value in broker_contents(broker_url).items():
        scanner.scan(f"{where} (after)", value)
    broker_flush(broker_url)
    report.requests = {person.kind: str(person.status) for person in people.values() if person.request_id}
    for person in people.values():
        if person.kind in packages:
            report.counts["package_files"] = report.counts.get("package_files", 0) + _scan_package(
                scanner, person, packages[person.kind]
            )
    recipients_of: dict[str, set[int]] = {}
    for person, addresses in emails.items():
        for address in addresses:
            recipients_of.setdefault(address, set()).add(person)
    mails = sum(
        scan_mail(scanner, f"mail {path.name}", path.read_bytes(), recipients_of) for path in sorted(mail_dir.glob("*"))
    )
    for message in getattr(mail, "outbox", []):
        mails += scan_mail(scanner, "mail outbox", message.message().as_string(), recipients_of)
    report.counts["mails"] = mails
    at_rest = [path for path in files_dir.rglob("*") if path.is_file()]
    for path in at_rest:
        scanner.scan(f"file {path.relative_to(files_dir)}", path.read_bytes())
    report.counts["files_at_rest"] = len(at_rest)
    report.counts["packages_at_rest"] = len(list((files_dir / "packages").glob("*.zip.enc")))
    from django.db import connection

    dump = pg_dump_text(connection.settings_dict)
    scanner.scan("pg_dump", dump)
    scanner.scan("pg_dump bytea", decoded_bytea(dump))
    report.counts["log_records"], report.counts["sql_statements"] = handler.records, handler.sql_statements
    report.seconds["scan"] = round(time.monotonic() - clock, 1)
    report.scanned_bytes = dict(scanner.scanned)
    report.leaks = sorted(scanner.leaks)
    return report


@dataclass
class Requester:
    """A demo person who files one request: their subject, the email they write from, what became of it."""

    kind: str
    person: int
    subject_id: Any
    email: str
    name: str
    request_id: Any = None
    status: str = ""


REQUEST_DETAILS: dict[str, dict[str, Any]] = {
    "rectification": {"corrections": {"given_name": RECTIFIED_NAME}},
    "objection": {"purposes": ["marketing.newsletter"]},
    "consent_revocation": {},
}
EXTRA_KINDS = ("sign_in", "erase_task")  # a portal sign-in mail; an erasure sent to the worker directly


def _requesters(truth: DemoTruth, subjects: int, seed: int) -> dict[str, Requester]:
    """One person per request type (and for a sign-in and a direct erasure): active, with an email only they
    have, whose records all resolved into one subject holding nobody else's (so their package is theirs)."""
    from dsar.models import RequestType
    from profiles.demo import generate_records
    from profiles.models import Subject
    from profiles.records import external_index
    from profiles.selectors import record_subjects, subject_find

    records: dict[tuple[str, bytes], int] = {}
    for record in generate_records(subjects=subjects, seed=seed):
        external_id = record.fields.get("external_id") if isinstance(record.fields, dict) else None
        if record.valid and external_id is not None:
            records[(record.source, external_index(record.source, str(external_id).strip()))] = record.person
    people_of: dict[Any, set[int]] = {}
    subjects_of: dict[int, set[Any]] = {}
    for key, subject_id in record_subjects(list(records)).items():
        people_of.setdefault(subject_id, set()).add(records[key])
        subjects_of.setdefault(records[key], set()).add(subject_id)
    active = set(Subject.objects.filter(status=Subject.Status.ACTIVE).values_list("id", flat=True))
    kinds = [*RequestType.values, *EXTRA_KINDS]
    chosen: dict[str, Requester] = {}
    for person in sorted(subjects_of):
        if len(chosen) == len(kinds):
            break
        (subject_id,) = subjects_of[person] if len(subjects_of[person]) == 1 else (None,)
        if subject_id not in active or people_of[subject_id] != {person}:
            continue
        own = [
            address for address in dict.fromkeys(truth.emails.get(person, [])) if truth.owners.get(address) == {person}
        ]
        if own and list(subject_find(kind="email", value=own[0]).values_list("id", flat=True)) == [subject_id]:
            kind = kinds[len(chosen)]
            chosen[kind] = Requester(kind, person, subject_id, own[0], truth.names.get(person, ""))
    assert len(chosen) == len(kinds), "not enough demo people with an email of their own"
    return chosen


def _queue_work(people: Mapping[str, Requester], files_dir: Path) -> dict[str, Any]:
    """File and verify one request of every type, start a portal sign-in, upload an audience list and send an
    erasure task: each queues its tasks on the broker (the worker is not running yet)."""
    from c360.lib.history import Actor
    from consent.services.audiences import audience_check_create
    from dsar.services.requests import request_create, request_verify
    from profiles.services.portal import portal_sign_in_start
    from profiles.tasks import subject_erase_task

    staff = Actor.system("leak-scan-dpo")
    for person in people.values():
        if person.kind in EXTRA_KINDS:
            continue
        request = request_create(
            request_type=person.kind,
            regimes=["lgpd"],
            intake_channel="email",
            identities=[{"kind": "email", "value": person.email}],
            actor=staff,
            requester_name=person.name,
            contact_email=person.email,
            details={"message": "pedido de teste", **REQUEST_DETAILS.get(person.kind, {})},
        )
        request_verify(request_id=request.id, method="staff", verified=True, actor=staff)
        person.request_id = request.id
    login = portal_sign_in_start(channel="email", contact=people["sign_in"].email, language="pt-br")
    audience = "email\n" + "".join(f"{person.email}\n" for person in people.values())
    check = audience_check_create(
        purpose_code="marketing.newsletter",
        channel="email",
        chunks=[audience.encode()],
        input_format="csv",
        name="campanha-teste.csv",
        actor=staff,
    )
    erase = people["erase_task"]
    subject_erase_task.delay(str(erase.subject_id), "system:leak-scan", "leak scan: erasure by task")
    return {"login": login.id, "audience_check": check.id}


def _first_round_done(people: Mapping[str, Requester], queued: Mapping[str, Any]) -> bool:
    from consent.models import AudienceCheck
    from dsar.models import RequestEvent, RequestTask
    from profiles.models import PortalLogin, Subject

    request_ids = [person.request_id for person in people.values() if person.request_id]
    tasks = RequestTask.objects.filter(request_id__in=request_ids)
    return (
        not tasks.filter(status__in=[RequestTask.Status.PENDING, RequestTask.Status.RUNNING]).exists()
        and RequestEvent.objects.filter(request_id__in=request_ids, kind="mail", note="received").count()
        == len(request_ids)
        and AudienceCheck.objects.filter(pk=queued["audience_check"], status=AudienceCheck.Status.DONE).exists()
        and PortalLogin.objects.filter(pk=queued["login"], secret_enc__isnull=True).exists()
        and Subject.objects.filter(pk=people["erase_task"].subject_id, status=Subject.Status.ERASED).exists()
    )


def _answer(people: Mapping[str, Requester]) -> dict[str, bytes]:
    """The DPO records the manual steps and signs every answer off; each access-like package is downloaded
    by its requester. Returns the packages (zip bytes) by request type."""
    from c360.lib.history import Actor
    from dsar.models import DataRequest, RequestTask
    from dsar.services.execution import manual_task_complete
    from dsar.services.packages import package_download_by_requester
    from dsar.services.requests import request_complete

    staff = Actor.system("leak-scan-dpo")
    request_ids = [person.request_id for person in people.values() if person.request_id]
    for task_id in RequestTask.objects.filter(
        request_id__in=request_ids, status=RequestTask.Status.WAITING
    ).values_list("id", flat=True):
        manual_task_complete(task_id=task_id, actor=staff, note="Arquivo de papel conferido: nada encontrado.")
    packages = {}
    for person in people.values():
        if not person.request_id:
            continue
        request = DataRequest.objects.get(pk=person.request_id)
        if request.status == DataRequest.Status.IN_REVIEW:
            request = request_complete(request_id=request.id, actor=staff, note="Resposta conferida.")
        person.status = request.status
        if request.operation == "export" and request.status == DataRequest.Status.COMPLETED:
            _, packages[person.kind] = package_download_by_requester(
                request_id=request.id, actor=Actor.for_subject(person.subject_id)
            )
    return packages


def _answered_mails_sent(people: Mapping[str, Requester]) -> bool:
    from dsar.models import RequestEvent

    request_ids = [person.request_id for person in people.values() if person.request_id]
    return RequestEvent.objects.filter(request_id__in=request_ids, kind="mail", note="answered").count() == len(
        request_ids
    )


def _scan_package(scanner: LeakScanner, person: Requester, package: bytes) -> int:
    """A package handed to its subject holds their data (their email, at least) and nobody else's."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        names = archive.namelist()
        contents = {name: archive.read(name) for name in names}
    for name, content in contents.items():
        scanner.scan(f"package {person.kind}/{name}", content, allowed={person.person})
    if not any(scanner.contains(content, person.email) for content in contents.values()):
        scanner.leaks.add((f"package {person.kind}", "the subject's own email is missing: not their package?"))
    return len(names)


def _wait(done: Callable[[], bool], logs: list[Path], message: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            tails = "\n".join(log.read_text(errors="replace")[-3000:] for log in logs)
            raise RuntimeError(f"{message} within {timeout:.0f}s:\n{tails}")
        time.sleep(0.3)
