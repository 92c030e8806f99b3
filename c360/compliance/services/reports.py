"""The monthly compliance report: a context dict the HTML/PDF templates render (no personal data)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from c360.compliance.models import Incident
from consent.models import ConsentEvent, LedgerCheckpoint
from dsar.models import DataRequest


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first instant, first instant of next month) in the project's time zone."""
    tz = ZoneInfo(settings.TIME_ZONE)
    start = dt.datetime(month.year, month.month, 1, tzinfo=tz)
    following = dt.datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=tz)
    return start, following


def parse_month(text: str) -> dt.date:
    try:
        year, month = (int(part) for part in text.split("-"))
        return dt.date(year, month, 1)
    except ValueError:
        raise ValueError("Give the month as YYYY-MM.") from None


def _requests_section(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    received = list(DataRequest.objects.filter(received_at__gte=start, received_at__lt=end))
    closed = list(
        DataRequest.objects.filter(
            completed_at__gte=start,
            completed_at__lt=end,
            status__in=[DataRequest.Status.COMPLETED, DataRequest.Status.REJECTED],
        )
    )
    rows: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"received": 0, "closed": 0, "on_time": 0, "late": 0}
    )
    for request in received:
        for regime in request.regimes:
            rows[request.request_type, regime]["received"] += 1
    durations = []
    on_time_total = 0
    for request in closed:
        on_time = request.due_at is None or request.completed_at <= request.due_at
        on_time_total += on_time
        durations.append((request.completed_at - request.received_at).total_seconds() / 86400)
        for regime in request.regimes:
            row = rows[request.request_type, regime]
            row["closed"] += 1
            row["on_time" if on_time else "late"] += 1
    return {
        "received": len(received),
        "closed": len(closed),
        "closed_on_time": on_time_total,
        "closed_late": len(closed) - on_time_total,
        "median_days_to_close": round(statistics.median(durations), 1) if durations else None,
        "by_type_and_regime": [
            {"request_type": request_type, "regime": regime, **counts}
            for (request_type, regime), counts in sorted(rows.items())
        ],
    }


def _consent_section(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    counts = Counter(
        ConsentEvent.objects.filter(recorded_at__gte=start, recorded_at__lt=end).values_list("purpose_code", "action")
    )
    per_purpose: dict[str, dict[str, int]] = defaultdict(dict)
    for (purpose_code, action), count in counts.items():
        per_purpose[purpose_code][action] = count
    actions = sorted({action for _, action in counts})
    return {
        "total": sum(counts.values()),
        "actions": actions,
        "by_purpose": [
            {"purpose": code, "counts": [per_purpose[code].get(action, 0) for action in actions]}
            for code in sorted(per_purpose)
        ],
    }


def _incidents_section(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[dict[str, Any]]:
    incidents = Incident.objects.filter(aware_at__gte=start, aware_at__lt=end).order_by("aware_at")
    return [
        {
            "id": incident.pk,
            "title": incident.title,
            "aware_at": incident.aware_at,
            "risk": incident.get_risk_display(),
            "regimes": ", ".join(incident.regimes),
            "notify_authority": incident.notify_authority,
            "clocks": incident.clocks(now),
        }
        for incident in incidents
    ]


def monthly_report_build(*, month: dt.date, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the monthly report shows, for ``month`` (any date in it)."""
    now = now or timezone.now()
    start, end = month_bounds(month)
    checkpoint = LedgerCheckpoint.objects.order_by("-taken_at").first()
    return {
        "month": start.strftime("%Y-%m"),
        "generated_at": now,
        "period_start": start,
        "period_end": end,
        "requests": _requests_section(start, end),
        "consent": _consent_section(start, end),
        "incidents": _incidents_section(start, end, now),
        "ledger_checkpoint": (
            {
                "taken_at": checkpoint.taken_at,
                "chains": checkpoint.chains,
                "events": checkpoint.events,
                "heads_sha256": checkpoint.heads_sha256,
            }
            if checkpoint
            else None
        ),
        "dpo_name": getattr(settings, "C360_DPO_NAME", ""),
        "dpo_email": getattr(settings, "C360_DPO_EMAIL", ""),
    }
