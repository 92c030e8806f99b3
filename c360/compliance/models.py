"""The registers the DPO keeps: processing activities (ROPA), incidents, retention rules, legal holds and runs.

No personal data is stored here except free text the DPO writes; subject and request ids are pseudonymous
UUIDs. Writes go through ``c360.compliance.services`` only, so every history row carries the actor.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from c360.lib.history import audited_history
from consent.models import Purpose
from dsar.models import DataSource


def dpo_name_default() -> str:
    return getattr(settings, "C360_DPO_NAME", "")


def dpo_email_default() -> str:
    return getattr(settings, "C360_DPO_EMAIL", "")


class Regime(models.TextChoices):
    LGPD = "lgpd", "LGPD (Brazil)"
    GDPR = "gdpr", "GDPR (EU)"


# ---------------------------------------------------------------- record of processing activities


class ProcessingActivity(models.Model):
    """One entry of the record of processing activities (GDPR Art. 30(1), LGPD Art. 37).

    The legal basis per regime comes from the linked purposes (``consent.Purpose``), so the record and the
    consent catalogue cannot disagree.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT, db_index=True)
    purposes = models.ManyToManyField(Purpose, related_name="processing_activities", blank=True)
    # Art. 30(1)(a)
    controller = models.TextField(blank=True, default="", help_text="Name and contact details of the controller.")
    joint_controllers = models.TextField(blank=True, default="", help_text="Joint controllers, if any (Art. 26).")
    representative = models.TextField(blank=True, default="", help_text="EU representative (Art. 27), if any.")
    dpo_name = models.CharField(max_length=200, blank=True, default=dpo_name_default)
    dpo_email = models.CharField(max_length=200, blank=True, default=dpo_email_default)
    # Art. 30(1)(c)
    subject_categories = models.JSONField(default=list, blank=True, help_text='e.g. ["customers", "leads"].')
    data_categories = models.JSONField(default=list, blank=True, help_text='e.g. ["contact", "purchases"].')
    # Art. 30(1)(d)
    recipient_categories = models.JSONField(default=list, blank=True, help_text='e.g. ["email service providers"].')
    recipients = models.JSONField(
        default=list, blank=True, help_text='Named recipients: [{"name": "...", "role": "processor", "country": "BR"}].'
    )
    # Art. 30(1)(f) and (g)
    retention_text = models.TextField(blank=True, default="", help_text="Time limits for erasure, as told.")
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    security_measures = models.TextField(blank=True, default="", help_text="General description (Art. 32(1)).")
    data_sources = models.ManyToManyField(DataSource, related_name="processing_activities", blank=True)
    lia_reference = models.CharField(
        max_length=200, blank=True, default="", help_text="Legitimate-interest assessment (required for that basis)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    history = audited_history(m2m_fields=[purposes, data_sources])

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "processing activities"

    def __str__(self) -> str:
        return self.name


class InternationalTransfer(models.Model):
    """A transfer to a third country (GDPR Art. 30(1)(e), Arts. 44-49; LGPD Art. 33)."""

    class Mechanism(models.TextChoices):
        ADEQUACY = "adequacy", "Adequacy decision (GDPR Art. 45 / LGPD Art. 33 I)"
        SCCS = "sccs", "Standard contractual clauses (GDPR Art. 46(2)(c) / LGPD Art. 33 II b)"
        BCRS = "bcrs", "Binding corporate rules (GDPR Art. 47 / LGPD Art. 33 II c)"
        DEROGATION = "art49", "Derogation for a specific situation (GDPR Art. 49)"
        LGPD_ART33 = "lgpd_art33", "Another LGPD Art. 33 item (give it)"

    activity = models.ForeignKey(ProcessingActivity, on_delete=models.CASCADE, related_name="transfers")
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2.")
    recipient = models.CharField(max_length=200)
    mechanism = models.CharField(max_length=12, choices=Mechanism.choices)
    lgpd_item = models.CharField(max_length=16, blank=True, default="", help_text="e.g. 'II d' or 'IX'.")
    safeguard_reference = models.CharField(
        max_length=300, blank=True, default="", help_text="Document of the safeguards (contract, BCR approval...)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = audited_history()

    class Meta:
        ordering = ("activity", "country", "recipient")

    def __str__(self) -> str:
        return f"{self.recipient} ({self.country}, {self.mechanism})"


# ---------------------------------------------------------------- incidents

# The content a notification must carry, ticked off as the notice is prepared.
CHECKLIST_ITEMS: dict[str, str] = {
    "gdpr_33_3_a": "GDPR 33(3)(a): nature of the breach, categories and approximate numbers of subjects and records",
    "gdpr_33_3_b": "GDPR 33(3)(b): name and contact details of the DPO",
    "gdpr_33_3_c": "GDPR 33(3)(c): likely consequences",
    "gdpr_33_3_d": "GDPR 33(3)(d): measures taken or proposed, including mitigation",
    "lgpd_48_1_i": "LGPD 48 §1 I: nature of the affected personal data",
    "lgpd_48_1_ii": "LGPD 48 §1 II: information on the subjects involved",
    "lgpd_48_1_iii": "LGPD 48 §1 III: technical and security measures used to protect the data",
    "lgpd_48_1_iv": "LGPD 48 §1 IV: risks related to the incident",
    "lgpd_48_1_v": "LGPD 48 §1 V: reasons for delay, if not immediate",
    "lgpd_48_1_vi": "LGPD 48 §1 VI: measures taken or to be taken to reverse or mitigate the effects",
}

INCIDENT_RETENTION_YEARS = 5  # Res. CD/ANPD 15/2024 art. 10


class Incident(models.Model):
    """A security incident with personal data (GDPR Art. 33(5); Res. CD/ANPD 15/2024 art. 10).

    Every incident is kept, also those not notified, for at least five years from the record date. The
    due dates of the clocks are computed by the service on every save and stored with their rule data.
    """

    class Risk(models.TextChoices):
        UNASSESSED = "", "Not assessed yet"
        NONE = "none", "None"
        LOW = "low", "Low"
        RELEVANT = "relevant", "Relevant (Res. 15/2024 art. 5)"
        HIGH = "high", "High (GDPR Art. 34)"

    class Status(models.TextChoices):
        OPEN = "open", "Open (assessing)"
        NOTIFIED = "notified", "Notified"
        CLOSED = "closed", "Closed"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="", help_text="Facts and main cause. No personal data.")
    occurred_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField()
    aware_at = models.DateTimeField(help_text="When the controller became aware that personal data was affected.")
    data_categories = models.JSONField(default=list, blank=True)
    systems = models.JSONField(default=list, blank=True, help_text="Systems involved.")
    activities = models.ManyToManyField(ProcessingActivity, related_name="incidents", blank=True)
    subjects_affected = models.PositiveIntegerField(null=True, blank=True, help_text="Approximate.")
    records_affected = models.PositiveIntegerField(null=True, blank=True, help_text="Approximate.")
    children_affected = models.PositiveIntegerField(null=True, blank=True)
    adolescents_affected = models.PositiveIntegerField(null=True, blank=True)
    elderly_affected = models.PositiveIntegerField(null=True, blank=True)
    regimes = models.JSONField(default=list, help_text="lgpd, gdpr or both.")
    small_agent = models.BooleanField(default=False, help_text="LGPD small processing agent (doubled periods).")
    risk = models.CharField(max_length=8, choices=Risk.choices, blank=True, default=Risk.UNASSESSED)
    risk_reasoning = models.TextField(blank=True, default="")
    notify_authority = models.BooleanField(null=True, blank=True, help_text="Blank: not decided yet.")
    notify_subjects = models.BooleanField(null=True, blank=True, help_text="Blank: not decided yet.")
    decision_reasons = models.TextField(blank=True, default="", help_text="Required when not notifying.")
    measures_taken = models.TextField(blank=True, default="")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN, db_index=True)
    first_notice_partial = models.BooleanField(
        default=False, help_text="The first notice to the ANPD was partial: a supplement is due."
    )

    gdpr_authority_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    anpd_authority_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    anpd_subjects_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    anpd_supplement_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    deadlines = models.JSONField(default=dict, blank=True, editable=False, help_text="Rule and calendar per clock.")
    eu_sa_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    anpd_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    subjects_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    anpd_supplement_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    checklist = models.JSONField(
        default=dict, blank=True, editable=False, help_text="Per content item: done, by whom, when."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    retain_until = models.DateField(editable=False)

    history = audited_history()

    class Meta:
        ordering = ("-aware_at",)

    def __str__(self) -> str:
        return self.title

    def clocks(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Each clock that applies: name, due, done at, and met / missed / running."""
        now = now or timezone.now()
        rows = []
        gdpr, lgpd = Regime.GDPR in self.regimes, Regime.LGPD in self.regimes
        candidates = [
            ("gdpr_authority", gdpr and self.notify_authority is not False, self.gdpr_authority_due_at, "eu_sa"),
            ("anpd_authority", lgpd and self.notify_authority is not False, self.anpd_authority_due_at, "anpd"),
            ("anpd_subjects", lgpd and self.notify_subjects is not False, self.anpd_subjects_due_at, "subjects"),
            ("anpd_supplement", lgpd and self.first_notice_partial, self.anpd_supplement_due_at, "supplement"),
        ]
        done_at = {
            "eu_sa": self.eu_sa_notified_at,
            "anpd": self.anpd_notified_at,
            "subjects": self.subjects_notified_at,
            "supplement": self.anpd_supplement_sent_at,
        }
        for name, applies, due, done_key in candidates:
            if not applies or due is None:
                continue
            done = done_at[done_key]
            late = done > due if done is not None else now > due
            outcome = "missed" if late else ("met" if done is not None else "running")
            rows.append({"clock": name, "due_at": due, "done_at": done, "outcome": outcome})
        return rows


class IncidentNotification(models.Model):
    """A notification sent: to the ANPD, to an EU supervisory authority, or to the data subjects."""

    class Recipient(models.TextChoices):
        ANPD = "anpd", "ANPD"
        EU_SA = "eu_sa", "EU supervisory authority"
        SUBJECTS = "subjects", "Data subjects"

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="notifications")
    recipient = models.CharField(max_length=8, choices=Recipient.choices)
    authority = models.CharField(max_length=120, blank=True, default="", help_text="Which EU SA, when EU_SA.")
    sent_at = models.DateTimeField()
    reference = models.CharField(max_length=200, blank=True, default="", help_text="Protocol or filing number.")
    partial = models.BooleanField(default=False, help_text="A first notice to be supplemented (ANPD art. 6 §3).")
    supplement = models.BooleanField(default=False, help_text="This is the supplementary information.")
    reason_for_delay = models.TextField(blank=True, default="")
    recorded_by = models.CharField(max_length=80, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = audited_history()

    class Meta:
        ordering = ("incident", "sent_at")

    def __str__(self) -> str:
        return f"{self.get_recipient_display()} at {self.sent_at:%Y-%m-%d %H:%M}"


# ---------------------------------------------------------------- retention


class RetentionRule(models.Model):
    """How long something is kept and what happens after (GDPR 5(1)(e), LGPD Arts. 15-16)."""

    class Target(models.TextChoices):
        INACTIVE_SUBJECTS = "inactive_subjects", "Subjects inactive for the period (no live consent, no open request)"
        CLOSED_REQUESTS = "closed_requests", "Data subject requests closed for the period (their personal data)"

    class Action(models.TextChoices):
        ERASE = "erase", "Erase (crypto-shred)"
        ANONYMISE = "anonymise", "Anonymise (crypto-shred, keep the PII-free tombstone)"
        SHRED_REQUEST_PII = "shred_request_pii", "Shred the request's personal data, keep the register row"

    name = models.CharField(max_length=200, unique=True)
    target = models.CharField(max_length=24, choices=Target.choices)
    purpose = models.ForeignKey(Purpose, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    data_category = models.CharField(max_length=64, blank=True, default="")
    period_days = models.PositiveIntegerField()
    action = models.CharField(max_length=24, choices=Action.choices)
    is_active = models.BooleanField(default=False)
    legal_basis = models.TextField(blank=True, default="", help_text="Why this period (law, limitation period...).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    history = audited_history()

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class LegalHold(models.Model):
    """Suspends deletion for a subject, a data source or a data category (GDPR 17(3)(e); LGPD Art. 16 I)."""

    class Scope(models.TextChoices):
        SUBJECT = "subject", "A subject"
        DATA_SOURCE = "data_source", "A data source"
        DATA_CATEGORY = "data_category", "A data category"

    scope = models.CharField(max_length=16, choices=Scope.choices)
    subject_id = models.UUIDField(null=True, blank=True, db_index=True, help_text="Pseudonymous subject id.")
    data_source = models.ForeignKey(DataSource, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    data_category = models.CharField(max_length=64, blank=True, default="")
    reason = models.TextField()
    authority = models.CharField(max_length=200, help_text="Authority or requestor (court, ANPD, legal team...).")
    starts_at = models.DateTimeField(default=timezone.now)
    review_at = models.DateField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = audited_history()

    class Meta:
        ordering = ("-starts_at",)

    def __str__(self) -> str:
        target = self.subject_id or self.data_source_id or self.data_category
        return f"hold on {self.scope} {target}"

    def in_force(self, now: dt.datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.starts_at <= now and (self.released_at is None or self.released_at > now)


class RetentionRun(models.Model):
    """One pass of the retention rules: what would be / was purged, and what holds kept."""

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=True)
    actor = models.CharField(max_length=80)
    results = models.JSONField(
        default=dict, blank=True, help_text="Per rule id: eligible, purged, held, errors and affected ids."
    )

    class Meta:
        ordering = ("-started_at",)

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "run"
        return f"retention {kind} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def total_eligible(self) -> int:
        return sum(result.get("eligible", 0) for result in self.results.values())

    @property
    def total_purged(self) -> int:
        return sum(result.get("purged", 0) for result in self.results.values())

    @property
    def total_held(self) -> int:
        return sum(result.get("held", 0) for result in self.results.values())
