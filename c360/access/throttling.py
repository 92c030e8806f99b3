"""Request budgets per API key, counted in fixed windows.

DRF's ``SimpleRateThrottle`` keeps a log of every request's time in the window and reads and rewrites the
whole log on each request: its cost grows with the budget (a marketing system allowed 200,000 checks a minute
would pickle 200,000 timestamps per check). Here each request is one atomic increment of the window's counter
in the cache (Redis in production, so every process shares it), whatever the budget. The price of fixed
windows, up to twice the budget across a window boundary, is the usual one and is acceptable for abuse
control; it is not a billing meter.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from .models import ApiKey


def _budget(api_key: ApiKey) -> tuple[int, int]:
    count, seconds = SimpleRateThrottle.parse_rate(None, api_key.rate or settings.C360_API_KEY_RATE)  # type: ignore[arg-type]
    return count, seconds


def api_key_spend(api_key: ApiKey) -> float | None:
    """Count one request against the key's budget: None when allowed, else the seconds until the next window."""
    count, seconds = _budget(api_key)
    now = time.time()
    window = math.floor(now / seconds)
    key = f"throttle:api_key:{api_key.prefix}:{seconds}:{window}"
    try:
        used = cache.incr(key)
    except ValueError:  # the window's first request (or its counter just expired)
        used = 1 if cache.add(key, 1, timeout=seconds + 1) else cache.incr(key)
    if used > count:
        return (window + 1) * seconds - now
    return None


def api_key_request_allowed(api_key: ApiKey) -> bool:
    """For views outside DRF (the fast lane): count the request; False once the budget is spent."""
    return api_key_spend(api_key) is None


class ApiKeyRateThrottle(BaseThrottle):
    """A request budget per API key: the key's own rate, or C360_API_KEY_RATE."""

    def __init__(self) -> None:
        self.retry_after: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        self.retry_after = api_key_spend(request.auth)
        return self.retry_after is None

    def wait(self) -> float | None:
        return self.retry_after
