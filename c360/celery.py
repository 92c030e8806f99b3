"""The Celery app. Tasks are thin id-in wrappers around services; messages never carry PII."""

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.settings.base")

app = Celery("c360")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


@worker_init.connect
def _lower_cpu_priority(**kwargs: Any) -> None:
    """C360_WORKER_NICE, set in the worker's main process before its pool forks (children inherit it)."""
    from django.conf import settings

    from c360.lib.priority import lower_cpu_priority

    if settings.C360_WORKER_NICE:
        logger.info("Worker running at nice %s", lower_cpu_priority(settings.C360_WORKER_NICE))
