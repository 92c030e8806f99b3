"""The Celery app. Tasks are thin id-in wrappers around services; messages never carry PII."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.settings.base")

app = Celery("c360")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
