"""Selectors of the DPO's dashboard and request queue: aggregate reads only.

Every number on the dashboard comes from one GROUP BY (or one conditional aggregate) per panel, so the
page costs a fixed number of queries whatever the size of the registers (``DASHBOARD_QUERIES``).
Nothing here reads personal data: requests are counted by type, state and due date; sources report
their task times and error messages, which hold no personal data by design (``RequestTask.error``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncWeek
from django.utils import timezone

from consent.models import Action, AudienceCheck, ConsentEvent, LedgerCheckpoint, LedgerVerification
from consent.services.events import CLOCK_SKEW
from dsar.models import DataRequest, DataSource, RequestTask

Status = DataRequest.Status
OPEN_STATUSES = (Status.RECEIVED, Status.AWAITING_VERIFICATION, Status.IN_PROGRESS, Status.IN_REVIEW)
DUE_SOON = dt.timedelta(days=3)
BUCKETS = {
    "overdue": "Overdue",
    "due_soon": "Due within 3 days",
    "on_track": "On track",
}
WEEKS = 12
RECENT_ERRORS = dt.timedelta(days=7)
# Regimes are stored sorted (``request_create``): exact matches work on every backend, where a JSON
# "contains" lookup does not (SQLite).
REGIME_VALUES = {"lgpd": (["lgpd"], ["gdpr", "lgpd"]), "gdpr": (["gdpr"], ["gdpr", "lgpd"])}


def bucket_q(bucket: str, *, now: dt.datetime) -> Q:
    """Open requests past their due date, due within three days, or further off (or with no due date)."""
    is_open = Q(status__in=OPEN_STATUSES)
    if bucket == "overdue":
        return is_open & Q(due_at__lt=now)
    if bucket == "due_soon":
        return is_open & Q(due_at__gte=now, due_at__lt=now + DUE_SOON)
    if bucket == "on_track":
        return is_open & (Q(due_at__gte=now + DUE_SOON) | Q(due_at__isnull=True))
    raise ValueError(f"unknown bucket {bucket!r}")


def open_requests_by_bucket(*, now: dt.datetime) -> dict[str, int]:
    """One query: the open requests in each due-date bucket."""
    # Filtered on the open states first, so the index on (status, due_at) bounds the scan to open requests.
    counts = DataRequest.objects.filter(status__in=OPEN_STATUSES).aggregate(
        **{name: Count("pk", filter=bucket_q(name, now=now)) for name in BUCKETS},
    )
    return {name: counts[name] or 0 for name in BUCKETS}


def open_requests_by(field_name: str) -> list[dict[str, Any]]:
    """One query: open requests counted by ``request_type`` or ``status``, with each value's label."""
    labels = dict(DataRequest._meta.get_field(field_name).choices)
    rows = (
        DataRequest.objects.filter(status__in=OPEN_STATUSES)
        .values(field_name)
        .annotate(count=Count("pk"))
        .order_by(field_name)
    )
    return [
        {"value": row[field_name], "label": labels.get(row[field_name], row[field_name]), "count": row["count"]}
        for row in rows
    ]


@dataclass
class ConsentSeries:
    """Grants and withdrawals per week (oldest first), in total and per (purpose, channel)."""

    weeks: list[dt.date]
    totals: list[dict[str, Any]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    chart: dict[str, Any] = field(default_factory=dict)


def _week_start(moment: dt.datetime) -> dt.date:
    local = timezone.localtime(moment).date()
    return local - dt.timedelta(days=local.weekday())


def consent_weekly(*, now: dt.datetime, weeks: int = WEEKS) -> ConsentSeries:
    """One query: grants and withdrawals per week over the last ``weeks`` weeks, per purpose and channel."""
    this_week = _week_start(now)
    week_list = [this_week - dt.timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    start = timezone.make_aware(dt.datetime.combine(week_list[0], dt.time.min))
    rows = (
        ConsentEvent.objects.filter(
            # An event is recorded after it happened (the service refuses events more than CLOCK_SKEW in the
            # future), so this bound on the indexed recorded_at never drops an event of the window, and it
            # spares the scan of the whole ledger that occurred_at alone (not indexed) would need.
            recorded_at__gte=start - CLOCK_SKEW,
            occurred_at__gte=start,
            action__in=[Action.GRANT, Action.WITHDRAW],
        )
        .annotate(week=TruncWeek("occurred_at"))
        .values("week", "purpose_code", "channel", "action")
        .annotate(count=Count("pk"))
        .order_by()
    )
    index = {week: position for position, week in enumerate(week_list)}
    totals = [{"week": week, "grant": 0, "withdraw": 0} for week in week_list]
    per_key: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(
        lambda: {"grant": [0] * weeks, "withdraw": [0] * weeks}
    )
    for row in rows:
        week = row["week"].date() if isinstance(row["week"], dt.datetime) else row["week"]
        position = index.get(week)
        if position is None:
            continue
        totals[position][row["action"]] += row["count"]
        per_key[(row["purpose_code"], row["channel"])][row["action"]][position] += row["count"]
    table = [
        {
            "purpose_code": purpose_code,
            "channel": channel,
            "cells": list(zip(series["grant"], series["withdraw"], strict=True)),
            "grants": sum(series["grant"]),
            "withdrawals": sum(series["withdraw"]),
        }
        for (purpose_code, channel), series in sorted(per_key.items())
    ]
    return ConsentSeries(weeks=week_list, totals=totals, rows=table, chart=_bar_chart(totals))


# Geometry of the server-rendered SVG chart (no script, no inline style: the console's CSP allows neither).
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM, CHART_TOP = 720, 220, 48, 30, 12


def _bar_chart(totals: list[dict[str, Any]]) -> dict[str, Any]:
    """Grouped bars (grants, withdrawals) per week, as coordinates for the template."""
    top = max([1, *(max(item["grant"], item["withdraw"]) for item in totals)])
    plot_height = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    slot = (CHART_WIDTH - CHART_LEFT) / max(len(totals), 1)
    bar = max(slot * 0.35, 1)
    bars = []
    for position, item in enumerate(totals):
        x = CHART_LEFT + position * slot + slot * 0.1
        for offset, kind in enumerate(("grant", "withdraw")):
            height = round(plot_height * item[kind] / top, 1)
            bars.append(
                {
                    "x": round(x + offset * bar, 1),
                    "y": round(CHART_TOP + plot_height - height, 1),
                    "width": round(bar, 1),
                    "height": height,
                    "kind": kind,
                    "value": item[kind],
                    "week": item["week"],
                }
            )
    labels = [
        {"x": round(CHART_LEFT + position * slot + slot / 2, 1), "text": item["week"].strftime("%d/%m")}
        for position, item in enumerate(totals)
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "axis_y": CHART_TOP + plot_height,
        "label_y": CHART_TOP + plot_height + 18,
        "top": top,
        "top_y": CHART_TOP + 4,
        "bars": bars,
        "labels": labels,
    }


def audience_checks_recent(*, limit: int = 10) -> list[AudienceCheck]:
    """One query: the latest audience checks with their purpose."""
    return list(
        AudienceCheck.objects.select_related("purpose")
        .only(
            "id",
            "purpose__code",
            "channel",
            "status",
            "total",
            "allowed",
            "denied",
            "invalid",
            "signature",
            "created_at",
            "finished_at",
        )
        .order_by("-created_at")[:limit]
    )


def ledger_checkpoint_last() -> LedgerCheckpoint | None:
    """One query: the latest daily checkpoint of the consent ledger."""
    return LedgerCheckpoint.objects.order_by("-taken_at").first()


def ledger_verification_last() -> LedgerVerification | None:
    """One query: the latest walk of the whole ledger and its result."""
    return LedgerVerification.objects.select_related("checkpoint").order_by("-finished_at").first()


def sources_health(*, now: dt.datetime) -> list[DataSource]:
    """One query: each active source with its last successful task, failures of the last 7 days and last error."""
    tasks = RequestTask.objects.filter(source=OuterRef("pk"))
    last_success = tasks.filter(status=RequestTask.Status.DONE).order_by().values("source")
    failed = tasks.filter(status=RequestTask.Status.FAILED, finished_at__gte=now - RECENT_ERRORS).order_by()
    last_error = tasks.exclude(error="").filter(finished_at__isnull=False).order_by("-finished_at")
    return list(
        DataSource.objects.filter(is_active=True)
        .only("id", "code", "name", "kind")
        .annotate(
            last_success_at=Subquery(last_success.annotate(last=Max("finished_at")).values("last")[:1]),
            failed_recently=Subquery(failed.values("source").annotate(n=Count("pk")).values("n")[:1]),
            last_error=Subquery(last_error.values("error")[:1]),
            last_error_at=Subquery(last_error.values("finished_at")[:1]),
        )
        .order_by("code")
    )


@dataclass
class Dashboard:
    now: dt.datetime
    buckets: dict[str, int]
    by_type: list[dict[str, Any]]
    by_status: list[dict[str, Any]]
    consent: ConsentSeries
    audience_checks: list[AudienceCheck]
    checkpoint: LedgerCheckpoint | None
    verification: LedgerVerification | None
    sources: list[DataSource]


# Queries the panels cost: buckets, by type, by status, consent weeks, audience checks, checkpoint,
# last verification, sources.
DASHBOARD_QUERIES = 8


def dashboard_get(*, now: dt.datetime | None = None) -> Dashboard:
    """Everything the dashboard shows, in ``DASHBOARD_QUERIES`` queries."""
    now = now or timezone.now()
    return Dashboard(
        now=now,
        buckets=open_requests_by_bucket(now=now),
        by_type=open_requests_by("request_type"),
        by_status=open_requests_by("status"),
        consent=consent_weekly(now=now),
        audience_checks=audience_checks_recent(),
        checkpoint=ledger_checkpoint_last(),
        verification=ledger_verification_last(),
        sources=sources_health(now=now),
    )


# ---------------------------------------------------------------- the queue

SORTS = {
    "due": ("due_at", "Due date, soonest first"),
    "-due": ("-due_at", "Due date, latest first"),
    "received": ("received_at", "Received, oldest first"),
    "-received": ("-received_at", "Received, newest first"),
}


def queue_list(
    *,
    now: dt.datetime,
    bucket: str = "",
    request_type: str = "",
    status: str = "",
    regime: str = "",
    sort: str = "due",
) -> QuerySet[DataRequest]:
    """The requests of the queue, filtered and sorted; without the encrypted columns (never shown)."""
    requests = DataRequest.objects.defer(
        "requester_name_enc", "contact_email_enc", "identities_enc", "details_enc", "requester_index", "summary"
    )
    if bucket in BUCKETS:
        requests = requests.filter(bucket_q(bucket, now=now))
    if status == "all":
        pass
    elif status in Status.values:
        requests = requests.filter(status=status)
    else:
        requests = requests.filter(status__in=OPEN_STATUSES)
    if request_type:
        requests = requests.filter(request_type=request_type)
    if regime in REGIME_VALUES:
        regime_filter = Q()
        for value in REGIME_VALUES[regime]:
            regime_filter |= Q(regimes=value)
        requests = requests.filter(regime_filter)
    order, _label = SORTS.get(sort, SORTS["due"])
    name = order.lstrip("-")
    expression = F(name).desc(nulls_last=True) if order.startswith("-") else F(name).asc(nulls_last=True)
    return requests.order_by(expression, "protocol")


def task_progress(request_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """One query: per request, its source tasks counted by state."""
    rows = (
        RequestTask.objects.filter(request_id__in=request_ids)
        .values("request_id")
        .annotate(
            total=Count("pk"),
            done=Count("pk", filter=Q(status=RequestTask.Status.DONE)),
            failed=Count("pk", filter=Q(status=RequestTask.Status.FAILED)),
        )
        .order_by()
    )
    return {row["request_id"]: row for row in rows}
