"""Typed readers for settings that come from the environment.

Every reader fails with ImproperlyConfigured naming the variable and the form it takes, so a
misconfigured deployment stops at start-up instead of running with a surprising default.
Secrets may also be given as ``NAME_FILE`` (a path), the Docker/Kubernetes secrets convention.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, *, allow_file: bool) -> str | None:
    if allow_file:
        path = os.environ.get(f"{name}_FILE")
        if path:
            if name in os.environ:
                raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ImproperlyConfigured(
                    f"{name}_FILE points to {path!r}, which cannot be read ({exc.strerror})."
                ) from None
    return os.environ.get(name)


def envstr(name: str, default: str | None = None) -> str | None:
    value = _raw(name, allow_file=False)
    return default if value is None else value


def envbool(name: str, default: bool = False) -> bool:
    value = _raw(name, allow_file=False)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), not {value!r}.")


def envint(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name, allow_file=False)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {number}.")
    return number


def envlist(name: str, default: list[str]) -> list[str]:
    value = _raw(name, allow_file=False)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def envsecret(
    name: str,
    *,
    required: bool,
    form: str,
    parse: Callable[[str], T] | None = None,
) -> T | str | None:
    """Read a secret from NAME or NAME_FILE; ``form`` describes the expected shape for error messages.

    The value itself never appears in an error: only the variable's name and the expected form.
    """
    value = _raw(name, allow_file=True)
    if value is None or value.strip() == "":
        if required:
            raise ImproperlyConfigured(
                f"{name} is not set. It must be {form} (or set {name}_FILE to a file holding it)."
            )
        return None
    if parse is None:
        return value
    try:
        return parse(value.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is malformed: {exc}. It must be {form}.") from None
