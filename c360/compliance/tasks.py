"""Thin Celery wrappers: the work is in ``c360.compliance.services``. Messages carry no personal data."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from c360.lib.history import Actor


@shared_task(name="compliance.retention_run")
def retention_run_task() -> dict[str, object]:
    """Daily: a dry run is always recorded first; purging follows only when C360_RETENTION_ACT is on."""
    from .services.retention import retention_run

    actor = Actor.system("retention")
    dry = retention_run(dry_run=True, actor=actor)
    report: dict[str, object] = {
        "dry_run_id": dry.pk,
        "would_purge": sum(r["would_purge"] for r in dry.results.values()),
    }
    if getattr(settings, "C360_RETENTION_ACT", False):
        run = retention_run(dry_run=False, actor=actor)
        report.update(run_id=run.pk, purged=run.total_purged)
    return report
