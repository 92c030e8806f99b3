"""Errors services raise on purpose. The API turns them into JSON with the same stable ``code``.

Messages are shown to callers and written to logs: they name ids and rules, never personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ApplicationError(Exception):
    code = "invalid"
    status_code = 400

    def __init__(self, message: str, *, code: str | None = None, errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.errors = dict(errors or {})


class ValidationFailed(ApplicationError):
    code = "validation_error"


class NotFound(ApplicationError):
    code = "not_found"
    status_code = 404


class Conflict(ApplicationError):
    code = "conflict"
    status_code = 409


class Gone(ApplicationError):
    code = "gone"
    status_code = 410
