"""c360.lib.logs: redaction of personal data in log records, and the request id middleware."""

from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Iterator

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from c360.lib.logs import (
    REDACTED,
    RedactPersonalDataFilter,
    RequestIdFilter,
    RequestIdMiddleware,
    redact,
    request_id_var,
)

HEX_32 = re.compile(r"[0-9a-f]{32}")


def fail(exc: BaseException) -> None:
    raise exc


# ---------------------------------------------------------------- redact()


@pytest.mark.parametrize(
    "value",
    [
        "maria.silva@gmail.com",
        "Maria.Silva@Example.COM",
        "JOSE+news@Sub.Exemplo.com.br",
        "123.456.789-09",
        "12345678909",
        "11.222.333/0001-81",
        "11222333000181",
        "+5511987654321",
        "+55 11 98765-4321",
        "(11) 98765-4321",
        "11 98765-4321",
        "(11) 2345-6789",
        "98765-4321",
    ],
)
@pytest.mark.parametrize("template", ["{}", "Lookup for {} failed", "value: {}; retrying", "<{}>", "'{}'"])
def test_redact_removes_personal_data(value, template):
    # Given a line quoting a personal value
    text = template.format(value)

    # When it is redacted
    redacted = redact(text)

    # Then the value is gone and the rest of the line is kept
    assert redacted == template.format(REDACTED)


def test_redact_removes_every_value_in_a_line():
    text = "Merged maria@gmail.com (CPF 123.456.789-09, tel +55 11 98765-4321) into CNPJ 11.222.333/0001-81"

    assert redact(text) == f"Merged {REDACTED} (CPF {REDACTED}, tel {REDACTED}) into CNPJ {REDACTED}"


@pytest.mark.parametrize(
    "text",
    [
        "Subject 0b8e7f9c-3c52-4d0f-9f7e-2a1d5c6b7e8f erased",
        "Subject 12345678-1234-4abc-9def-123456789012 erased",  # first group all digits
        "Subject 20261123-0000-4000-8000-000000000000 erased",
        "request_id=3f2b9c1d8e7a4b6c9d0e1f2a3b4c5d6e",
        "Retention ran at 2026-11-23T10:00:00Z",
        "Retention ran at 2026-11-23T10:00:00.123456+00:00",
        "Exported 42 subjects in 3.5 s",
        "Exported 1200 subjects",
        "Key version 2 of 3 active since 2026-11-23",
        "POST /api/v1/subjects/ 201",
    ],
)
def test_redact_leaves_ids_times_and_counts_alone(text):
    assert redact(text) == text


@settings(max_examples=300, deadline=None)
@given(st.uuids())
def test_redact_leaves_any_uuid_alone(value):
    for text in (str(value), value.hex, f"subject={value}", f"Subject {value} erased", f"[{value}]"):
        assert redact(text) == text


@settings(max_examples=200, deadline=None)
@given(st.datetimes(timezones=st.timezones()), st.integers(min_value=0, max_value=9999))
def test_redact_leaves_timestamps_and_counts_alone(moment, count):
    text = f"{moment.isoformat()} processed {count} subjects"

    assert redact(text) == text


@settings(max_examples=200, deadline=None)
@given(st.emails().filter(lambda address: "'" not in address))
def test_redact_removes_any_email(address):
    # An apostrophe ends a match, so that 'maria@gmail.com' in quotes is redacted without its quotes.
    mixed = "".join(char.upper() if i % 2 else char for i, char in enumerate(address))

    assert redact(f"from {mixed} today") == f"from {REDACTED} today"


def test_redact_an_email_with_an_apostrophe_loses_at_least_the_address_after_it():
    redacted = redact("from o'brien@gmail.com today")

    assert "brien" not in redacted
    assert "gmail" not in redacted
    assert redacted == f"from o'{REDACTED} today"


def test_redact_takes_a_key_glued_to_an_email_with_it():
    # "=" may be part of an address's local part, so a key=value pair is redacted whole (over, never under).
    assert redact("lookup email=maria@gmail.com") == f"lookup {REDACTED}"


# ---------------------------------------------------------------- the filter on a real logger


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose only handler redacts (as the console handler in settings does) and writes to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s [%(request_id)s] %(message)s"))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactPersonalDataFilter())
    logger = logging.getLogger(f"tests.c360.lib.logs.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_filter_redacts_an_email_given_as_a_percent_argument(captured):
    logger, stream = captured

    logger.warning("Bounce for %s on attempt %d", "Maria.Silva@Gmail.com", 3)

    assert stream.getvalue() == f"WARNING [-] Bounce for {REDACTED} on attempt 3\n"


def test_filter_leaves_clean_records_and_their_args_alone(captured):
    logger, stream = captured
    subject_id = uuid.UUID("12345678-1234-4abc-9def-123456789012")

    logger.info("Erased subject %s (%d identifiers)", subject_id, 4)

    assert stream.getvalue() == f"INFO [-] Erased subject {subject_id} (4 identifiers)\n"


def test_filter_redacts_the_text_of_a_logged_exception(captured):
    logger, stream = captured

    try:
        fail(ValueError("CPF 123.456.789-09 already belongs to another subject"))
    except ValueError:
        logger.exception("Import of row %d failed", 7)

    output = stream.getvalue()
    assert output.startswith("ERROR [-] Import of row 7 failed\n")
    assert f"ValueError: CPF {REDACTED} already belongs to another subject" in output
    assert "123.456.789-09" not in output
    assert "12345678909" not in output


def test_filter_redacts_the_cause_of_a_logged_exception(captured):
    # Given an exception with a clean message whose cause quotes a personal value (a third-party error, wrapped)
    logger, stream = captured

    try:
        try:
            fail(ValueError("duplicate key value (email)=(maria.silva@gmail.com)"))
        except ValueError as exc:
            raise RuntimeError("Import failed") from exc
    except RuntimeError:
        logger.exception("Import of row %d failed", 7)

    # Then the formatted traceback keeps both exceptions but not the value
    output = stream.getvalue()
    assert "maria.silva@gmail.com" not in output
    assert "RuntimeError: Import failed" in output
    assert "ValueError: duplicate key value" in output


def test_filter_keeps_a_clean_exception_traceback(captured):
    logger, stream = captured

    try:
        fail(KeyError("subject-key"))
    except KeyError:
        logger.exception("Lookup failed")

    output = stream.getvalue()
    assert "Traceback (most recent call last)" in output
    assert "KeyError: 'subject-key'" in output


def test_filter_does_not_turn_a_malformed_log_call_into_an_error(captured):
    # Given a log call whose arguments do not fit its format (normally reported by logging, never raised)
    logger, stream = captured

    # When it is logged, the caller does not see an exception, and the value is still redacted
    logger.info("Bounce for %d", "maria.silva@gmail.com")

    assert stream.getvalue() == f"INFO [-] Bounce for %d (unformattable arguments: ('{REDACTED}',))\n"


def test_request_id_filter_tags_records_with_the_current_request_id(captured):
    logger, stream = captured

    token = request_id_var.set("req-1234abcd")
    try:
        logger.info("inside")
    finally:
        request_id_var.reset(token)
    logger.info("outside")

    assert stream.getvalue() == "INFO [req-1234abcd] inside\nINFO [-] outside\n"


# ---------------------------------------------------------------- RequestIdMiddleware


def test_response_carries_a_fresh_request_id(client):
    first = client.get("/healthz")
    second = client.get("/healthz")

    assert first.status_code == 200
    assert HEX_32.fullmatch(first["X-Request-ID"])
    assert HEX_32.fullmatch(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize(
    "incoming", ["req-1234abcd", "0b8e7f9c-3c52-4d0f-9f7e-2a1d5c6b7e8f", "a" * 64, "lb.edge_01-xyz"]
)
def test_well_formed_incoming_request_id_is_echoed(client, incoming):
    response = client.get("/healthz", headers={"X-Request-ID": incoming})

    assert response["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "has spaces in it",
        "a" * 200,
        "a" * 65,
        "short",
        "",
        "abc/def/ghi",
        "maria@gmail.com",
        "<script>alert(1)</script>",
        "ok-id-1234\u00e9",
    ],
)
def test_malformed_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/healthz", headers={"X-Request-ID": incoming})

    assert response["X-Request-ID"] != incoming
    assert HEX_32.fullmatch(response["X-Request-ID"])


def test_request_id_is_set_while_the_request_runs_and_reset_after():
    seen = []

    def view(request):
        seen.append(request_id_var.get())
        return HttpResponse("ok")

    middleware = RequestIdMiddleware(view)

    response = middleware(RequestFactory().get("/", headers={"X-Request-ID": "req-1234abcd"}))

    assert seen == ["req-1234abcd"]
    assert response["X-Request-ID"] == "req-1234abcd"
    assert request_id_var.get() == "-"


def test_request_id_is_reset_when_the_view_raises():
    def view(request):
        raise RuntimeError("boom")

    middleware = RequestIdMiddleware(view)

    with pytest.raises(RuntimeError):
        middleware(RequestFactory().get("/", headers={"X-Request-ID": "req-1234abcd"}))

    assert request_id_var.get() == "-"


def test_a_request_attached_by_django_keeps_its_path_not_its_query(rf):
    import io
    import logging

    from c360.lib.logs import RedactPersonalDataFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactPersonalDataFilter())
    handler.setFormatter(logging.Formatter("%(message)s %(request)s"))
    logger = logging.getLogger("tests.request-extra")
    logger.addHandler(handler)
    logger.propagate = False
    request = rf.get("/api/v1/subjects", {"email": "alice@example.com"})

    logger.warning("Unauthorized: %s", request.path, extra={"request": request})

    assert stream.getvalue().strip() == "Unauthorized: /api/v1/subjects GET /api/v1/subjects"


def test_url_encoded_emails_are_redacted():
    from c360.lib.logs import redact

    assert "alice" not in redact("GET /api/v1/subjects?email=alice%40example.com&x=1")
