from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Who may call the API: hashed, scoped, revocable API keys."""

    name = "c360.access"
    label = "access"
    verbose_name = "API access"
    default_auto_field = "django.db.models.BigAutoField"
