from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """A request budget per API key: the key's own rate, or C360_API_KEY_RATE."""

    scope = "api_key"

    def __init__(self) -> None:  # the rate depends on the key, so it is read per request
        pass

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return f"throttle:api_key:{request.auth.prefix}"

    def allow_request(self, request: Request, view: Any) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        self.rate = request.auth.rate or settings.C360_API_KEY_RATE
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class _KeyedRequest:
    """What the throttle reads of a request: its API key."""

    def __init__(self, api_key: ApiKey) -> None:
        self.auth = api_key


def api_key_request_allowed(api_key: ApiKey) -> bool:
    """Count one request against the key's budget (for views outside DRF); False once it is spent."""
    return ApiKeyRateThrottle().allow_request(_KeyedRequest(api_key), None)  # type: ignore[arg-type]
