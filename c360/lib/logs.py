"""Logging that cannot leak personal data: structured JSON, request ids, and a redacting filter.

Code logs ids, never values. The filter is the second line of defence for what slips through
(a third-party message quoting an address, a stray f-string): emails, CPFs, CNPJs and phone
numbers are replaced before any handler sees the record.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("c360_request_id", default="-")

_PATTERNS = [
    re.compile(r"[^\s@<>()\[\]\"',;:]+@[^\s@<>()\[\]\"',;:]+\.[^\s@<>()\[\]\"',;:]+"),  # email
    re.compile(r"[^\s&?=/]+%40[^\s&?=/]+\.[^\s&?=/]+"),  # email URL-encoded in a logged query string
    re.compile(r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b"),  # CPF, with or without punctuation
    re.compile(r"\b[0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2}\b"),  # CNPJ, numeric or alphanumeric
    re.compile(r"(?<![\w-])(?:\+\d{1,3}[\s.-]?)?(?:\(?\d{2}\)?[\s.-]?)?\d{4,5}[\s.-]?\d{4}(?![\w-])"),  # phone
]
REDACTED = "[redacted]"
_TRACEBACK_FORMATTER = logging.Formatter()


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


class RedactPersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            # Django attaches the request to 4xx/5xx records; its repr would carry the query string.
            record.request = f"{request.method} {request.path}"
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log call must not raise where it was made
            record.msg, record.args = f"{record.msg} (unformattable arguments: {record.args!r})", None
            message = record.msg
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # The whole traceback: chained causes and quoted source lines can hold values too.
            formatted = record.exc_text or _TRACEBACK_FORMATTER.formatException(record.exc_info)
            if redact(formatted) != formatted:
                # Keep the traceback's shape but not the values in it.
                record.exc_text = redact(formatted)
                record.exc_info = None
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Tags every log line of a request with an id, taken from X-Request-ID when it is well-formed."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response
