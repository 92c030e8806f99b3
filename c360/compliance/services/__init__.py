"""The only writers of the compliance registers: one transactional function per use case, each with an actor."""

from .activities import international_transfer_delete, international_transfer_save, processing_activity_save
from .incidents import incident_checklist_tick, incident_notification_record, incident_save
from .reports import monthly_report_build
from .retention import legal_hold_release, legal_hold_save, retention_rule_save, retention_run

__all__ = [
    "incident_checklist_tick",
    "incident_notification_record",
    "incident_save",
    "international_transfer_delete",
    "international_transfer_save",
    "legal_hold_release",
    "legal_hold_save",
    "monthly_report_build",
    "processing_activity_save",
    "retention_rule_save",
    "retention_run",
]
