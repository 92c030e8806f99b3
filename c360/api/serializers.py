"""Serializer bases shared by every app's API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail


class StrictSerializer(serializers.Serializer):
    # Refuses fields it does not know: a typo in a field name must not be silently ignored.
    # (A comment, not a docstring: OpenAPI would show a docstring on every subclass.)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(name) for name in data if name not in known)
            if unknown:
                raise serializers.ValidationError(
                    {name: [ErrorDetail("Unknown field.", code="unknown_field")] for name in unknown}
                )
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField would quietly turn 123 or 1.5 into "123" or "1.5"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only: DRF's BooleanField also takes "yes", "on" or 1."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class ErrorSerializer(serializers.Serializer):
    # The one error shape of the API (c360.api.errors): documented on every operation so that clients (and the
    # schema fuzzer) know every 4xx answer's body.
    code = serializers.CharField(help_text="Stable, for programs: validation_error, not_found, insufficient_scope, ...")
    message = serializers.CharField(help_text="For people; never contains personal data.")
    errors = serializers.JSONField(
        required=False,
        help_text='Per field, a list of {"code", "message"} (nested like the input); only on validation errors.',
    )
    retry_after_seconds = serializers.IntegerField(required=False, help_text="On 429: when to try again.")
