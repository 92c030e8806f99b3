from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    """The subject store: one encrypted, audited profile per data subject (titular)."""

    name = "profiles"
    verbose_name = "Subjects (Customer 360)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from c360.lib.db import guard_append_only_tables, register_append_only  # also registers field__any

        register_append_only("profiles_subjectaccess")
        post_migrate.connect(guard_append_only_tables, sender=self, dispatch_uid="c360.append_only_guards")
