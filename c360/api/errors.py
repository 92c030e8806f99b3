"""One error shape for the whole API: ``{"code", "message", "errors"}``.

``code`` is stable and meant for programs; ``errors`` maps each field to a list of
``{"code", "message"}`` (nested for nested input).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from c360.lib.crypto import CryptoError
from c360.lib.errors import ApplicationError
from c360.lib.identifiers import IdentifierError

logger = logging.getLogger("c360.api")
# Seconds a client is asked to wait when the database cannot be reached (a restart, a failover).
DATABASE_RETRY_AFTER_SECONDS = 5

_MESSAGES = {
    "validation_error": "The request has invalid fields; see errors.",
    "malformed_json": "The request body is not valid JSON.",
    "not_authenticated": "An API key is required: send Authorization: Bearer <key>.",
}


def _code_of(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "validation_error"
    if isinstance(exc, exceptions.ParseError):
        return "malformed_json"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def _field_errors(detail: Any) -> Any:
    """DRF's nested error details (or a service's lists of messages) as ``[{"code", "message"}]`` leaves."""
    if isinstance(detail, dict):
        return {str(key): _field_errors(value) for key, value in detail.items()}
    if isinstance(detail, list) and all(isinstance(item, str) for item in detail):
        return [{"code": getattr(item, "code", None) or "invalid", "message": str(item)} for item in detail]
    if isinstance(detail, list):
        return [_field_errors(item) for item in detail]
    if isinstance(detail, str):
        return [{"code": getattr(detail, "code", None) or "invalid", "message": str(detail)}]
    return detail


def error_response(code: str, message: str, status_code: int, errors: Any = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return Response(body, status=status_code)


def _server_side_failure(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The answer to a failure that is not the caller's doing and that we know how to name, or None."""
    view = context["view"].__class__.__name__
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable or dropped the connection (a restart, a failover, too many clients).
        # The same call works once it is back: Django opens a new connection on the next request.
        logger.warning("Database unavailable in %s: %s", view, type(exc).__name__)
        set_rollback()
        response = error_response(
            "service_unavailable",
            "The service cannot reach its database right now. Try again shortly.",
            status.HTTP_503_SERVICE_UNAVAILABLE,
            retry_after_seconds=DATABASE_RETRY_AFTER_SECONDS,
        )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, CryptoError):
        # Stored ciphertext that fails authentication is an integrity incident, not a client error.
        logger.error("Integrity failure in %s: %s", view, exc)
        set_rollback()
        return error_response(
            "data_integrity_error",
            "Stored data failed its integrity check; the incident has been logged.",
            500,
        )
    return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, RequestDataTooBig):
        return error_response("body_too_large", "The request body is larger than this endpoint accepts.", 413)
    if isinstance(exc, ApplicationError):
        set_rollback()
        return error_response(exc.code, exc.message, exc.status_code, _field_errors(exc.errors) or None)
    if isinstance(exc, IdentifierError):
        set_rollback()
        return error_response(
            "validation_error",
            exc.message,
            status.HTTP_400_BAD_REQUEST,
            {"value": [{"code": exc.code, "message": exc.message}]},
        )

    failure = _server_side_failure(exc, context)
    if failure is not None:
        return failure

    response = exception_handler(exc, context)
    if response is None:
        # Unexpected: the log filter redacts personal data from the exception text; the caller gets no detail.
        logger.error(
            "Unhandled API error %s in %s",
            type(exc).__name__,
            context["view"].__class__.__name__,
            exc_info=exc,
        )
        set_rollback()
        return error_response("server_error", "Internal error; it has been logged.", 500)

    code = _code_of(exc)  # only APIExceptions get a response from DRF's handler
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        message, errors = _MESSAGES[code], _field_errors(detail)
    else:
        message, errors = _MESSAGES.get(code) or str(exc.detail), None
    extra: dict[str, Any] = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        extra["retry_after_seconds"] = int(exc.wait)
    response.data = {"code": code, "message": message, **({"errors": errors} if errors else {}), **extra}
    return response
