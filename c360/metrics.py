"""Prometheus metrics at ``/metrics``: request latency per route, consent checks, DSAR work and deadlines.

What is measured, and what never is:

- ``c360_http_request_duration_seconds`` (histogram; labels view, method, status): the time each request
  spends in Django, labelled by the resolved URL route *name* (``"unmatched"`` when no route matched), the
  method and the status class (2xx, 4xx...). Never the raw path, which can carry subject or request ids.
  A streamed answer (bulk checks) is timed until its headers are ready, not until its last byte.
- ``c360_consent_checks_total`` (counter; labels decision, reason): one per recipient answered by the
  single and bulk check APIs, with the first reason code (GRANTED, WITHDRAWN, UNKNOWN_RECIPIENT...).
- ``c360_dsar_tasks`` (gauge; labels status, source code), ``c360_dsar_requests_open`` and
  ``c360_dsar_requests_overdue`` (gauges): counted in the database at scrape time, so every process
  reports the same figures.

Labels are codes and route names only: the exposition reveals volumes, never personal data. Even so it is
not public: with ``C360_METRICS_TOKEN`` set, a scrape needs ``Authorization: Bearer <token>``; without it,
only loopback addresses (127.0.0.1, ::1) are answered, and never a request relayed by a proxy.

Processes: the default registry lives in each process. Under gunicorn with several workers each worker
exposes its own request histogram and check counters, and a scrape reaches whichever worker answers; sum
them per instance in Prometheus or run one worker per container. To aggregate across workers instead, set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory, writable by the workers, before they start (and call
``prometheus_client.multiprocess.mark_process_dead`` from gunicorn's ``child_exit`` hook): this module then
answers from the shared files.

This module imports no app: the DSAR models are looked up through the app registry when a scrape runs, so
the consent API can import the counter without depending on the dsar app.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterator

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_OPEN_STATUSES = ("awaiting_verification", "in_progress", "in_review")

REQUEST_DURATION = Histogram(
    "c360_http_request_duration_seconds",
    "Time spent answering a request, by URL route name, method and status class.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

CONSENT_CHECKS = Counter(
    "c360_consent_checks",  # exposed as c360_consent_checks_total
    "Recipients answered by the consent check APIs, by decision and first reason code.",
    ["decision", "reason"],
)


def count_consent_check(*, allowed: bool, reasons: tuple[str, ...] | list[str]) -> None:
    """Count one answered check; ``reasons`` are reason codes (never identifiers)."""
    reason = str(reasons[0]) if reasons else "NONE"
    CONSENT_CHECKS.labels(decision="allowed" if allowed else "denied", reason=reason).inc()


def _view_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match is not None else "") or "unmatched"


class MetricsMiddleware:
    """Times every request into ``c360_http_request_duration_seconds`` (place it right after the request id)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        REQUEST_DURATION.labels(
            view=_view_label(request), method=method, status=f"{response.status_code // 100}xx"
        ).observe(time.perf_counter() - started)
        return response


class DsarCollector(Collector):
    """DSAR tasks by status and source, and open and overdue requests, counted when Prometheus scrapes."""

    def describe(self) -> list[Metric]:
        return []  # registering must not touch the database; the families appear at collect time

    def collect(self) -> Iterator[Metric]:
        try:
            families = self._families()
        except DatabaseError as exc:
            logger.warning("Metrics: DSAR counts unavailable (%s)", type(exc).__name__)
            return
        yield from families

    @staticmethod
    def _families() -> list[Metric]:
        task_model = apps.get_model("dsar", "RequestTask")
        request_model = apps.get_model("dsar", "DataRequest")
        tasks = GaugeMetricFamily(
            "c360_dsar_tasks", "DSAR tasks by status and source code.", labels=["status", "source"]
        )
        rows = task_model.objects.order_by().values_list("status", "source__code").annotate(count=Count("id"))
        for task_status, source, count in rows:
            tasks.add_metric([task_status, source], count)
        open_requests = request_model.objects.filter(status__in=_OPEN_STATUSES)
        totals = open_requests.aggregate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=timezone.now())))
        return [
            tasks,
            GaugeMetricFamily(
                "c360_dsar_requests_open",
                "DSAR requests awaiting verification, in progress or in review.",
                value=totals["open"],
            ),
            GaugeMetricFamily(
                "c360_dsar_requests_overdue",
                "Open DSAR requests past their legal deadline (due_at before now).",
                value=totals["overdue"],
            ),
        ]


DSAR_COLLECTOR = DsarCollector()
REGISTRY.register(DSAR_COLLECTOR)


def _registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(DSAR_COLLECTOR)
    return registry


def _loopback(request: HttpRequest) -> bool:
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False  # relayed by a proxy: the real client is elsewhere
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _token_ok(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition, for a bearer of C360_METRICS_TOKEN or, without one, for loopback only."""
    token = getattr(settings, "C360_METRICS_TOKEN", None)
    if token:
        if not _token_ok(request, token):
            response = HttpResponse("Metrics need a bearer token.\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not _loopback(request):
        return HttpResponse("Metrics answer only on loopback.\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
