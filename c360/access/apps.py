from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    """Who may call the API (hashed, scoped, revocable API keys) and who may use the console (staff roles)."""

    name = "c360.access"
    label = "access"
    verbose_name = "API access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .roles import roles_sync_after_migrate

        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="c360.access.roles_sync")
