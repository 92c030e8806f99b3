"""c360: privacy and consent compliance for LGPD and GDPR."""

from .celery import app as celery_app

__all__ = ("celery_app",)
