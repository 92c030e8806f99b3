"""Exports of the registers: the ROPA as CSV and PDF, the monthly report as HTML and PDF.

PDFs are rendered from Django templates with xhtml2pdf (pure Python, no system libraries).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from xhtml2pdf import pisa

from .models import ProcessingActivity
from .selectors import activity_missing_fields

# Every Art. 30(1) item, plus the LGPD fields (legal basis per Art. 7/11, LIA, Art. 33 mechanism).
CSV_COLUMNS = (
    "id",
    "name",
    "status",
    "controller",
    "joint_controllers",
    "representative",
    "dpo_name",
    "dpo_email",
    "purposes",
    "lgpd_legal_basis",
    "gdpr_legal_basis",
    "lia_reference",
    "subject_categories",
    "data_categories",
    "recipient_categories",
    "recipients",
    "international_transfers",
    "retention",
    "retention_days",
    "security_measures",
    "data_sources",
    "missing_fields",
    "updated_at",
)


class PdfRenderError(RuntimeError):
    """xhtml2pdf reported errors while rendering."""


def _join(values: Iterable[Any]) -> str:
    return "; ".join(str(value) for value in values if str(value).strip())


def activity_row(activity: ProcessingActivity) -> dict[str, Any]:
    """One activity as flat strings, lists joined with '; ' (shared by CSV and PDF)."""
    purposes = list(activity.purposes.all())
    transfers = list(activity.transfers.all())
    return {
        "id": activity.pk,
        "name": activity.name,
        "status": activity.status,
        "controller": activity.controller,
        "joint_controllers": activity.joint_controllers,
        "representative": activity.representative,
        "dpo_name": activity.dpo_name,
        "dpo_email": activity.dpo_email,
        "purposes": _join(purpose.code for purpose in purposes),
        "lgpd_legal_basis": _join(f"{p.code}: {p.get_lgpd_basis_display()}" for p in purposes),
        "gdpr_legal_basis": _join(f"{p.code}: {p.get_gdpr_basis_display()}" for p in purposes),
        "lia_reference": activity.lia_reference,
        "subject_categories": _join(activity.subject_categories),
        "data_categories": _join(activity.data_categories),
        "recipient_categories": _join(activity.recipient_categories),
        "recipients": _join(
            f"{item.get('name', '')} ({item.get('role', '')}, {item.get('country', '')})"
            for item in activity.recipients
        ),
        "international_transfers": _join(
            f"{t.recipient} ({t.country}): {t.get_mechanism_display()}"
            + (f" item {t.lgpd_item}" if t.lgpd_item else "")
            + (f" [{t.safeguard_reference}]" if t.safeguard_reference else "")
            for t in transfers
        ),
        "retention": activity.retention_text,
        "retention_days": "" if activity.retention_days is None else activity.retention_days,
        "security_measures": activity.security_measures,
        "data_sources": _join(source.code for source in activity.data_sources.all()),
        "missing_fields": _join(item["field"] for item in activity_missing_fields(activity)),
        "updated_at": activity.updated_at.isoformat(),
    }


def _safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value


def activities_csv(activities: Iterable[ProcessingActivity]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for activity in activities:
        writer.writerow({key: _safe_cell(value) for key, value in activity_row(activity).items()})
    return out.getvalue()


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    html = render_to_string(template, context)
    out = io.BytesIO()
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8")
    if status.err:
        raise PdfRenderError(f"xhtml2pdf failed rendering {template} ({status.err} error(s))")
    return out.getvalue()


def activities_pdf(activities: Iterable[ProcessingActivity]) -> bytes:
    rows = [activity_row(activity) for activity in activities]
    return render_pdf("compliance/ropa.html", {"activities": rows, "generated_at": timezone.now(), "for_pdf": True})


def report_html(context: dict[str, Any]) -> str:
    return render_to_string("compliance/monthly_report.html", {**context, "for_pdf": False})


def report_pdf(context: dict[str, Any]) -> bytes:
    return render_pdf("compliance/monthly_report.html", {**context, "for_pdf": True})
