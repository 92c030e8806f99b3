"""Schemathesis against the API's own OpenAPI schema, in-process on the WSGI app (so on the test database).

Shared by tests/fuzz/test_api_schema.py (a bounded CI run) and bench/fuzz.py (>= 10,000 cases). Every
operation of the schema is fuzzed with positive and negative data, each case sent with one of several
valid API keys (every scope alone, and all scopes together), and each response must pass:

- ``not_a_server_error``: no 5xx;
- ``status_code_conformance``: the status is documented for the operation;
- ``content_type_conformance`` and ``response_schema_conformance``: the body is what the schema says;
- ``response_headers_conformance``: documented headers are present and well-formed.

Failures are collected (not raised at the first) so that one run reports every distinct problem.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from c360.lib.history import Actor

SCOPES = ("profiles:read", "profiles:write", "consent:check", "consent:write", "dsar:manage")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
UNLIMITED = "1000000/sec"  # the fuzzer must not be measuring the rate limit


@dataclasses.dataclass
class FuzzReport:
    cases: int = 0
    operations: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = dataclasses.field(default_factory=Counter)
    by_operation: dict[str, Counter[int]] = dataclasses.field(default_factory=dict)
    failures: dict[str, str] = dataclasses.field(default_factory=dict)  # "METHOD path: title" -> one example

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        statuses = dict(sorted(self.statuses.items()))
        lines = [f"{self.cases} cases over {self.operations} operations; statuses {statuses}"]
        lines += [f"  {label}: {dict(sorted(counts.items()))}" for label, counts in self.by_operation.items()]
        lines += [f"- {key}\n{example}" for key, example in self.failures.items()]
        return "\n".join(lines)


def api_keys() -> list[str]:
    """One key per scope, and one with every scope that three cases in four use (so that most reach the view)."""
    from c360.access.services import api_key_issue

    actor = Actor.system("fuzz")
    keys = [api_key_issue(name=f"fuzz {scope}", scopes=[scope], actor=actor, rate=UNLIMITED) for scope in SCOPES]
    every_scope = api_key_issue(name="fuzz all", scopes=list(SCOPES), actor=actor, rate=UNLIMITED)
    # The all-scope key first: Hypothesis draws the first elements of a list more often than the last.
    return [every_scope.plaintext] * (3 * len(keys)) + [issued.plaintext for issued in keys]


def seed() -> dict[str, Any]:
    """What valid inputs need to reach deep paths: purposes with a notice, a subject, a DSAR source."""
    from consent.models import Notice, NoticeVersion, Purpose
    from dsar.models import DataSource
    from profiles.models import Source
    from tests.factories import SubjectFactory

    newsletter = Purpose.objects.create(
        code="marketing.newsletter",
        names={"pt-br": "Newsletter", "en": "Newsletter"},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email", "sms", "whatsapp"],
        direct_marketing=True,
        validity_days=365,
        is_active=True,
    )
    notice = Notice.objects.create(code="privacy", title="Aviso de privacidade")
    notice.purposes.add(newsletter)
    NoticeVersion.objects.create(notice=notice, version=1, language="pt-br", text="Usamos seu e-mail para ...")
    Source.objects.get_or_create(code="crm", defaults={"name": "CRM", "trust_rank": 80})
    DataSource.objects.get_or_create(code="c360", defaults={"name": "c360", "kind": "c360"})
    subjects = [SubjectFactory() for _ in range(3)]
    from dsar.services.requests import request_create

    dsar_request = request_create(
        request_type="access",
        regimes=["lgpd"],
        intake_channel="email",
        identities=[{"kind": "email", "value": subjects[0].person.email}],
        actor=Actor.system("fuzz"),
    )
    task_ids = [str(task_id) for task_id in dsar_request.tasks.values_list("id", flat=True)]
    subject_ids = [str(subject.id) for subject in subjects]
    # Known-good values that steered cases put in place of generated ones (by field name, anywhere in the case).
    return {
        "purpose": ["marketing.newsletter"],
        "channel": ["email", "sms"],
        "action": ["grant", "withdraw"],
        "subject_id": subject_ids,
        "email": [subject.person.email for subject in subjects],
        "source": ["crm"],
        "code": ["crm"],
        "notice_version": [1],
        "request_id": [str(dsar_request.id)],
        "task_id": task_ids or [str(dsar_request.id)],
    }


def load_schema() -> Any:
    from c360.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@contextlib.contextmanager
def _connections_kept_open() -> Iterator[None]:
    """As Django's test Client does: the handler must not close the connection that holds the test's
    transaction at the end of each request."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _known(key: str, data: st.DataObject, known: dict[str, list[Any]]) -> Any:
    return data.draw(st.sampled_from(known[key]))


def _steer(case: Any, data: st.DataObject, known: dict[str, list[Any]]) -> None:
    def steer(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: _known(key, data, known) if key in known and data.draw(st.booleans()) else steer(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [steer(item) for item in value]
        return value

    for part in ("path_parameters", "query", "body"):
        value = getattr(case, part, None)
        if isinstance(value, dict | list):
            setattr(case, part, steer(value))


def _label(case: Any) -> str:
    return f"{case.operation.method.upper()} {case.operation.path}"


def run(*, max_examples: int, keys: list[str], known: dict[str, list[Any]] | None = None) -> FuzzReport:
    """Fuzz every operation with ``max_examples`` positive and ``max_examples`` negative cases.

    ``known`` (from ``seed``): in positive cases, each field of that name takes one of those values half the
    time, so that valid input reaches past "no such purpose/subject" into the services."""
    report = FuzzReport()
    started = time.perf_counter()
    with _connections_kept_open():
        schema = load_schema()
        for result in schema.get_all_operations():
            operation = result.ok()
            report.operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                options = {"keys": keys, "max_examples": max_examples, "known": known or {}}
                _fuzz_operation(operation=operation, mode=mode, report=report, **options)
    report.seconds = round(time.perf_counter() - started, 2)
    return report


def _fuzz_operation(
    *,
    operation: Any,
    mode: GenerationMode,
    keys: list[str],
    max_examples: int,
    known: dict[str, list[Any]],
    report: FuzzReport,
) -> None:
    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not raised: nothing to shrink
    )
    @given(case=operation.as_strategy(generation_mode=mode), key=st.sampled_from(keys), data=st.data())
    def fuzz(case: Any, key: str, data: st.DataObject) -> None:
        if mode is GenerationMode.POSITIVE and known:
            _steer(case, data, known)
        headers = {"Authorization": f"Bearer {key}"}
        response = case.call(headers=headers)
        report.cases += 1
        report.statuses[response.status_code] += 1
        report.by_operation.setdefault(_label(case), Counter())[response.status_code] += 1
        if response.status_code >= 500:
            report.server_errors += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            report.schema_violations += 0 if response.status_code >= 500 else 1
            for failure in group.exceptions:
                name = f"{_label(case)} [{mode.value}]: {failure.title}"
                if name not in report.failures:
                    report.failures[name] = (
                        f"  {failure.message[:600]}\n  status {response.status_code}: {response.text[:400]}\n"
                        f"  reproduce: {case.as_curl_command(headers=headers)[:800]}"
                    )

    fuzz()
