from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """The DPO's registers and console: processing activities, incidents, retention, dashboard, reports."""

    name = "c360.compliance"
    label = "compliance"
    verbose_name = "Compliance registers"
