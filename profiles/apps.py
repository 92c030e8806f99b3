from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    """The subject store: one encrypted, audited profile per data subject (titular)."""

    name = "profiles"
    verbose_name = "Subjects (Customer 360)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import c360.lib.db  # noqa: F401 - registers the field__any lookup the batch paths use
