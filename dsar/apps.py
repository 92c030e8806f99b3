from django.apps import AppConfig


class DsarConfig(AppConfig):
    """Data subject requests: locate, export, rectify, restrict or erase across connected sources."""

    name = "dsar"
    verbose_name = "Data subject requests"
    default_auto_field = "django.db.models.BigAutoField"
