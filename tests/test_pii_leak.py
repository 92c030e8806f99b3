"""No personal data in clear text at rest or in logs: 1,000 subjects, then pg_dump and the captured logs."""

from __future__ import annotations

import logging
import re

import pytest
from django.db import connection
from faker import Faker

from c360.lib.history import Actor
from profiles.demo import fake_person
from profiles.services.subjects import IdentifierInput, subject_create, subject_reveal
from tests.leaks import decoded_bytea, find_leaks
from tests.processes import pg_dump_text

SUBJECTS = 1000


def clear_text_forms(person) -> set[str]:
    """Every spelling of the person's data that would count as a leak."""
    given, family = person.attributes["given_name"], person.attributes["family_name"]
    full_name = f"{given} {family}"
    digits = lambda value: re.sub(r"\D", "", value)  # noqa: E731
    forms = {
        full_name,
        full_name.lower(),
        person.email,
        person.email.lower(),
        person.phone,
        digits(person.phone),
        person.cpf,
        digits(person.cpf),
    }
    # Single name parts, capitalised as written, when long enough not to be an ordinary word of the schema.
    forms |= {part for part in f"{given} {family}".split() if len(part) >= 5}
    return forms


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_dump_and_logs_hold_no_clear_personal_data(caplog):
    # Given 1,000 generated people stored through the services, with every log line captured,
    # SQL statements and their parameters included.
    caplog.set_level(logging.DEBUG)
    connection.force_debug_cursor = True
    faker = Faker("pt_BR")
    faker.seed_instance(1000)
    people = [fake_person(faker) for _ in range(SUBJECTS)]
    try:
        subjects = [
            subject_create(
                actor=Actor.system("leak-test"),
                source="leak-test",
                attributes=person.attributes,
                identifiers=[IdentifierInput(**item) for item in person.identifiers()],
            )
            for person in people
        ]
        # Reading back is part of normal use and must not leak either (only the access log is written).
        for subject in subjects[:50]:
            subject_reveal(subject_id=subject.id, actor=Actor.system("leak-test"), reason="leak test read")
    finally:
        connection.force_debug_cursor = False

    # When the whole database is dumped.
    dump = pg_dump_text(connection.settings_dict)
    logs = "\n".join(record.getMessage() for record in caplog.records)

    # Then the data is there (as ciphertext) but no clear-text form of any value appears.
    assert dump.count("leak-test") >= SUBJECTS
    assert len(caplog.records) > SUBJECTS
    forms = {form for person in people for form in clear_text_forms(person)}
    texts = {"pg_dump": dump, "pg_dump bytea": decoded_bytea(dump), "logs": logs}
    assert len(texts["pg_dump bytea"]) > SUBJECTS * 100  # the ciphertexts were found and decoded
    assert find_leaks(texts, forms) == []


def test_the_scanner_finds_plaintext_whether_written_as_text_or_as_bytes():
    # Guards the test above against passing vacuously.
    dump = "COPY t (a, b) FROM stdin;\\nMaria Silva\t\\\\x" + "joão@example.com".encode().hex() + "\\n"

    leaks = find_leaks({"dump": dump, "bytea": decoded_bytea(dump)}, {"Maria Silva", "joão@example.com", "absent"})

    assert leaks == [("bytea", "joão@example.com"), ("dump", "Maria Silva")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ingested_source_records_leave_no_clear_personal_data(caplog):
    # Given three messy sources of 300 people ingested through the batch path (COPY, bulk history),
    # quarantined rows included, with every log line captured.
    from profiles.demo import DEMO_SOURCES, generate_records
    from profiles.models import Source
    from profiles.services.import_pipeline import ingest_stream

    caplog.set_level(logging.DEBUG)
    sources = {item["code"]: Source.objects.create(**item) for item in DEMO_SOURCES}
    records = list(generate_records(subjects=300, seed=7))
    for _ in ingest_stream(
        ((record.source, record.fields) for record in records), sources=sources, actor=Actor.system("leak-test")
    ):
        pass

    forms: set[str] = set()
    for record in records:
        fields = record.fields if isinstance(record.fields, dict) else {}
        for name in ("email", "phone", "cpf", "full_name"):
            value = fields.get(name)
            if isinstance(value, str) and len(value.strip()) >= 6:
                forms |= {value.strip(), value.strip().lower(), re.sub(r"\D", "", value)} - {""}
        if fields.get("given_name") and fields.get("family_name"):
            forms.add(f"{fields['given_name']} {fields['family_name']}")
    forms = {form for form in forms if len(form) >= 6}

    dump = pg_dump_text(connection.settings_dict)
    texts = {
        "pg_dump": dump,
        "pg_dump bytea": decoded_bytea(dump),
        "logs": "\n".join(r.getMessage() for r in caplog.records),
    }

    assert len(forms) > 500
    assert find_leaks(texts, forms) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_consent_and_dsar_flows_leave_no_clear_personal_data(caplog, settings, tmp_path):
    # Given 60 people with consent given from a browser (IP and user agent kept as evidence), then access,
    # rectification and erasure requests answered by c360's store, with every log line and SQL captured.
    from consent.models import Notice, NoticeVersion, Purpose
    from consent.services.events import EventInput, consent_record
    from dsar.models import DataSource
    from dsar.services.packages import package_link_issue
    from dsar.services.requests import request_create, request_verify

    settings.C360_FILES_DIR = tmp_path
    caplog.set_level(logging.DEBUG)
    faker = Faker("pt_BR")
    faker.seed_instance(60)
    people = [fake_person(faker) for _ in range(60)]
    actor = Actor.system("leak-test")
    purpose = Purpose.objects.create(
        code="marketing.newsletter",
        names={"pt-br": "Novidades"},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email"],
        direct_marketing=True,
        is_active=True,
    )
    notice = Notice.objects.create(code="privacy", title="Aviso")
    notice.purposes.add(purpose)
    version = NoticeVersion.objects.create(notice=notice, version=1, language="pt-br", text="Usamos seu e-mail.")
    DataSource.objects.create(code="c360", name="c360", kind="c360")
    ips = [f"198.51.100.{number}" for number in range(1, 61)]
    connection.force_debug_cursor = True
    try:
        for person, ip in zip(people, ips, strict=True):
            subject = subject_create(
                actor=actor,
                source="leak-test",
                attributes=person.attributes,
                identifiers=[IdentifierInput(**item) for item in person.identifiers()],
            )
            consent_record(
                event=EventInput(
                    purpose_code="marketing.newsletter",
                    channel="email",
                    action="grant",
                    method="form_checkbox",
                    subject_id=subject.id,
                    notice_version_id=version.pk,
                    ip=ip,
                    user_agent="Mozilla/5.0 LeakTest",
                ),
                actor=actor,
            )
        for index, (kind, details) in enumerate(
            [("access", {}), ("rectification", {"corrections": {"given_name": "Renomeada"}}), ("erasure", {})] * 5
        ):
            person = people[index]
            request = request_create(
                request_type=kind,
                regimes=["lgpd"],
                intake_channel="portal",
                actor=actor,
                details=details,
                identities=[{"kind": "email", "value": person.email}],
                contact_email=person.email,
                requester_name=f"{person.attributes['given_name']} {person.attributes['family_name']}",
            )
            request_verify(request_id=request.id, method="portal_session", verified=True, actor=actor)
            if kind == "access":
                package_link_issue(request_id=request.id, actor=actor)
    finally:
        connection.force_debug_cursor = False

    files = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    dump = pg_dump_text(connection.settings_dict)
    texts = {
        "pg_dump": dump,
        "pg_dump bytea": decoded_bytea(dump),
        "logs": "\n".join(record.getMessage() for record in caplog.records),
        "files": files.decode("latin-1"),
    }
    assert len(files) > 1000  # exports and packages were written (encrypted)
    forms = {form for person in people for form in clear_text_forms(person)} | set(ips)
    assert find_leaks(texts, forms) == []
