"""Data subject requests, the sources they reach, and the work done in each source.

A request's personal data (who asked, how to reach them, the identities to look for) is encrypted
under the request's own data key; erasing a request's trail after its retention period is a key shred.
States, times, counts and reason codes stay in clear: they are the register the law asks for
(GDPR Art. 5(2), LGPD Art. 37) and hold no personal data.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from c360.lib.history import audited_history
from c360.lib.models import WrappedDataKey
from profiles.fields import EncryptedField
from profiles.models import Subject


class Regime(models.TextChoices):
    LGPD = "lgpd", "LGPD (Brazil)"
    GDPR = "gdpr", "GDPR (EU)"


class RequestType(models.TextChoices):
    CONFIRMATION = "confirmation", "Confirmation that data is processed"
    ACCESS = "access", "Access to the data"
    PORTABILITY = "portability", "Portability"
    RECTIFICATION = "rectification", "Rectification"
    ERASURE = "erasure", "Erasure"
    ANONYMISATION = "anonymisation", "Anonymisation"
    RESTRICTION = "restriction", "Restriction (blocking)"
    OBJECTION = "objection", "Objection"
    CONSENT_REVOCATION = "consent_revocation", "Consent revocation"
    SHARING_INFO = "sharing_info", "Information about sharing"


# What each request type asks of every connected source, after locating the person there.
OPERATIONS = {
    RequestType.CONFIRMATION: "locate",
    RequestType.ACCESS: "export",
    RequestType.PORTABILITY: "export",
    RequestType.SHARING_INFO: "export",
    RequestType.RECTIFICATION: "rectify",
    RequestType.ERASURE: "erase",
    RequestType.ANONYMISATION: "erase",
    RequestType.RESTRICTION: "restrict",
    RequestType.OBJECTION: "object",  # c360 records it in the consent ledger; other sources only locate
    RequestType.CONSENT_REVOCATION: "revoke",
}


IDENTITY_KINDS = ("email", "phone", "cpf", "external_id", "subject_id")


class IntakeChannel(models.TextChoices):
    PORTAL = "portal", "Self-service portal"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    LETTER = "letter", "Letter"
    IN_PERSON = "in_person", "In person"
    API = "api", "API (another system)"


class DataRequest(models.Model):
    """One request by or for a data subject, from its first arrival to its answer."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        AWAITING_VERIFICATION = "awaiting_verification", "Awaiting identity verification"
        IN_PROGRESS = "in_progress", "In progress"
        IN_REVIEW = "in_review", "In review"
        COMPLETED = "completed", "Completed"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    class Requester(models.TextChoices):
        SUBJECT = "subject", "The data subject"
        REPRESENTATIVE = "representative", "A representative (with proof)"
        GUARDIAN = "guardian", "A parent or guardian"

    class Verification(models.TextChoices):
        NONE = "", "Not yet"
        PORTAL_SESSION = "portal_session", "Authenticated portal session"
        ONE_TIME_CODE = "one_time_code", "One-time code to a contact on file"
        DOCUMENT = "document", "Identity document checked (image deleted after)"
        STAFF = "staff", "Checked by staff"

    class Outcome(models.TextChoices):
        PENDING = "", "Pending"
        VERIFIED = "verified", "Verified"
        FAILED = "failed", "Failed"

    class RejectionReason(models.TextChoices):
        IDENTITY_NOT_VERIFIED = "identity_not_verified", "Identity could not be verified"
        NOT_OUR_DATA = "not_our_data", "We are not the processing agent (the agent is named)"
        MANIFESTLY_UNFOUNDED = "manifestly_unfounded", "Manifestly unfounded or excessive (GDPR only)"
        LEGAL_OBLIGATION = "legal_obligation", "A legal obligation prevents it"
        NO_AUTHORITY = "no_authority", "The representative's authority was not proven"
        OTHER = "other", "Other (explained in the text)"

    VERIFICATION_METHODS = ("portal_session", "one_time_code", "document", "staff")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    protocol = models.CharField(max_length=20, unique=True, editable=False, help_text="Given to the requester.")
    request_type = models.CharField(max_length=24, choices=RequestType.choices)
    regimes = models.JSONField(default=list, help_text="lgpd, gdpr or both: the earliest deadline governs.")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requester = models.CharField(max_length=16, choices=Requester.choices, default=Requester.SUBJECT)
    intake_channel = models.CharField(max_length=16, choices=IntakeChannel.choices)
    language = models.CharField(max_length=8, default="pt-br")
    received_at = models.DateTimeField(help_text="First arrival at any of the controller's channels.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    small_agent = models.BooleanField(default=False, help_text="LGPD small processing agent (doubled periods).")

    verification_method = models.CharField(max_length=24, choices=Verification.choices, blank=True, default="")
    verification_outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    verified_at = models.DateTimeField(null=True, blank=True)
    authority_proven = models.BooleanField(default=False, help_text="A representative's proof was checked.")
    # Blind index of the contact point the requester proved by signing in to the portal: the portal lists a
    # person's requests with one indexed equality lookup, and never needs the address in clear to do it.
    requester_index = models.BinaryField(max_length=32, null=True, blank=True, editable=False, db_index=True)

    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    internal_target = models.DateField(null=True, blank=True)
    deadline = models.JSONField(default=dict, blank=True, help_text="Rule, calendar and inputs of the due date.")
    extension_notified_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.TextField(blank=True, default="")
    overdue_flagged_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.JSONField(default=list, blank=True)

    rejection_reason = models.CharField(max_length=24, choices=RejectionReason.choices, blank=True, default="")
    rejection_text = models.TextField(blank=True, default="")
    completed_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="Per source: counts found, exported, erased, kept.")

    # Encrypted under the request's own key (RequestKey): who asked and what to look for.
    requester_name_enc = EncryptedField()
    contact_email_enc = EncryptedField()
    identities_enc = EncryptedField(value_type="json")
    details_enc = EncryptedField(value_type="json")

    history = audited_history()

    class Meta:
        ordering = ("-received_at",)
        indexes = [models.Index(fields=["status", "due_at"], name="dsar_request_open")]

    def __str__(self) -> str:
        return f"{self.protocol} ({self.get_request_type_display()})"

    @property
    def is_open(self) -> bool:
        return self.status not in {self.Status.COMPLETED, self.Status.REJECTED, self.Status.CANCELLED}

    @property
    def operation(self) -> str:
        return OPERATIONS[RequestType(self.request_type)]


class RequestKey(WrappedDataKey):
    """The request's data key; shredding it makes the requester's details unreadable."""

    request = models.OneToOneField(DataRequest, primary_key=True, on_delete=models.CASCADE, related_name="key")

    def key_context(self) -> bytes:
        return f"c360.dek|dsar.datarequest|{self.request_id}".encode()


class RequestEvent(models.Model):
    """The audit trail of a request: every transition and step, written by the service that made it."""

    request = models.ForeignKey(DataRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=120)
    kind = models.CharField(max_length=32, help_text="transition, verification, task, extension, package...")
    from_status = models.CharField(max_length=24, blank=True, default="")
    to_status = models.CharField(max_length=24, blank=True, default="")
    note = models.TextField(blank=True, default="", help_text="No personal data: codes, counts, source names.")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("at", "id")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.kind} {self.to_status}".strip()


class DataSource(models.Model):
    """A system that holds personal data, and how c360 reaches it (the connector registry)."""

    class Kind(models.TextChoices):
        C360 = "c360", "c360's own store (profiles, consent)"
        POSTGRES = "postgres", "PostgreSQL database (dataset map)"
        MYSQL = "mysql", "MySQL / MariaDB database (dataset map)"
        HTTP = "http", "HTTP API"
        MANUAL = "manual", "Manual step (a person does it)"

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    is_active = models.BooleanField(default=True)
    owner = models.CharField(max_length=120, blank=True, default="", help_text="Team answerable for the system.")
    dataset_map = models.TextField(blank=True, default="", help_text="YAML dataset map (SQL sources).")
    config = models.JSONField(default=dict, blank=True, help_text="Connector settings (HTTP endpoints...).")
    secret_env = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Name of the environment variable (or NAME_FILE) holding the connection URL or API secret. "
        "Secrets are never stored in the database.",
    )
    categories = models.JSONField(default=list, blank=True, help_text="Data categories held here.")
    purposes = models.JSONField(default=list, blank=True, help_text="What the data is used for (access answers).")
    recipients = models.JSONField(default=list, blank=True, help_text="Named entities the data is shared with.")
    retention = models.CharField(max_length=200, blank=True, default="", help_text="Retention period or criteria.")
    instructions = models.TextField(blank=True, default="", help_text="For manual sources: what the person must do.")

    history = audited_history()

    class Meta:
        ordering = ("code",)

    def __str__(self) -> str:
        return self.name


class RequestTask(models.Model):
    """The work one request needs in one source: locate the person there, then export, erase, rectify or
    restrict. Idempotent by construction: a plan is recorded before anything destructive runs, and a re-run
    after a crash finds the work done and reports it as such."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for a person (manual step)"
        DONE = "done", "Done"
        FAILED = "failed", "Failed (retry possible)"

    request = models.ForeignKey(DataRequest, on_delete=models.CASCADE, related_name="tasks")
    source = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="+")
    operation = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="", help_text="Source, step and cause: never personal data.")
    retryable = models.BooleanField(default=False)
    plan = models.JSONField(default=list, blank=True, help_text="Locators of the matches, recorded before acting.")
    outcome = models.JSONField(default=dict, blank=True, help_text="Counts per action and the items kept, and why.")
    evidence_note = models.TextField(blank=True, default="", help_text="Manual steps: what was done.")
    evidence_sha256 = models.CharField(max_length=64, blank=True, default="")
    WRAPPED_KEYS = (("export_wrapped_key", "export_kek_version", "export_key_context"),)

    export_wrapped_key = models.BinaryField(null=True, editable=False)
    export_kek_version = models.PositiveIntegerField(null=True, editable=False)

    class Meta:
        ordering = ("request", "source__code")
        constraints = [models.UniqueConstraint(fields=["request", "source"], name="dsar_task_per_source")]

    def __str__(self) -> str:
        return f"{self.request.protocol} / {self.source.code}: {self.operation} ({self.status})"

    def export_key_context(self) -> bytes:
        """Associated data of the wrapped key of this task's export file (one per request and source)."""
        return f"c360.dek|dsar.export|{self.request_id}|{self.source_id}".encode()


class ExportPackage(models.Model):
    """An access or portability answer: files encrypted at rest, a signed manifest, one download."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.OneToOneField(DataRequest, on_delete=models.CASCADE, related_name="package")
    created_at = models.DateTimeField(default=timezone.now)
    manifest = models.JSONField(default=dict, help_text="File names, sizes and SHA-256, request, time.")
    signature = models.CharField(max_length=200, help_text="Ed25519 over the canonical manifest, base64.")
    token_sha256 = models.CharField(max_length=64, blank=True, default="", db_index=True)
    link_expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    WRAPPED_KEYS = (("wrapped_key", "kek_version", "key_context"),)

    wrapped_key = models.BinaryField(null=True, editable=False)
    kek_version = models.PositiveIntegerField(null=True, editable=False)

    def __str__(self) -> str:
        return f"package of {self.request.protocol}"

    def key_context(self) -> bytes:
        return f"c360.dek|dsar.exportpackage|{self.id}".encode()


class RequestDocument(models.Model):
    """A file the requester sent with the request (a representative's proof of authority).

    The bytes live in a file under ``C360_FILES_DIR``, encrypted under the request's own data key
    (``RequestKey``) and bound to this row's id: shredding the request's key makes the file unreadable.
    Only what staff need to check it is kept in clear: kind, detected type, size and SHA-256 (never the
    file name the person's computer gave it, which often holds a name).
    """

    class Kind(models.TextChoices):
        PROOF_OF_AUTHORITY = "proof_of_authority", "Proof of authority (power of attorney, guardianship)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(DataRequest, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    content_type = models.CharField(max_length=64, help_text="Detected from the file's first bytes.")
    size = models.PositiveIntegerField(help_text="Bytes of the clear file.")
    sha256 = models.CharField(max_length=64, help_text="Of the clear file.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("request", "created_at")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.request_id}"

    def file_context(self) -> bytes:
        """Associated data binding the encrypted file to this row (a file moved to another row fails)."""
        return f"c360.file|dsar.requestdocument|{self.request_id}|{self.id}".encode()
