from django.apps import AppConfig


class ConsentConfig(AppConfig):
    """The consent ledger per purpose and channel, and the check API marketing systems call."""

    name = "consent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from c360.lib.db import plan_prepared_statements_once, register_append_only
        from c360.lib.events import subject_erased, subjects_merged
        from consent.services.events import on_subject_erased, on_subjects_merged

        # profiles may not import consent: it announces merges and erasures, consent records them.
        subjects_merged.connect(on_subjects_merged)
        subject_erased.connect(on_subject_erased)
        register_append_only("consent_consentevent")
        connection_created.connect(plan_prepared_statements_once)  # the check's statement is prepared
