from django.apps import AppConfig


class ConsentConfig(AppConfig):
    """The consent ledger per purpose and channel, and the check API marketing systems call."""

    name = "consent"
    default_auto_field = "django.db.models.BigAutoField"
