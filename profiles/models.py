"""The subject store. No column holds personal data in clear text, history tables included.

Personal attributes are ``EncryptedField`` columns under the subject's own data key (``SubjectKey``);
identifiers are found through blind indexes. Erasure destroys the data key (crypto-shredding) and
leaves a tombstone: the subject's id, status and dates, nothing that identifies a person.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from c360.lib.history import audited_history
from c360.lib.identifiers import IdentifierKind
from c360.lib.models import WrappedDataKey

from .fields import EncryptedField


class Regime(models.TextChoices):
    LGPD = "lgpd", "LGPD (Brazil)"
    GDPR = "gdpr", "GDPR (EU)"


class RegimeReason(models.TextChoices):
    """Why a regime applies (LEGAL.md X-01): kept so the rights menu and deadlines can be explained."""

    RESIDENCE = "residence", "Residence of the subject"
    ESTABLISHMENT = "establishment", "Establishment of the controller"
    COLLECTION = "collection", "Where the data was collected"
    OFFERING = "offering", "Goods or services offered to people there"
    UNSPECIFIED = "", "Not recorded"


class Subject(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RESTRICTED = "restricted", "Restricted (blocked)"
        MERGED = "merged", "Merged into another subject"
        ERASED = "erased", "Erased"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    regimes = models.JSONField(default=list, help_text="Applicable laws: lgpd, gdpr or both.")
    regimes_reason = models.CharField(max_length=16, choices=RegimeReason.choices, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    restricted_at = models.DateTimeField(null=True, blank=True, editable=False)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="absorbed", editable=False
    )
    provenance = models.JSONField(
        default=dict, blank=True, help_text="Per attribute, the source record its value came from (survivorship)."
    )

    given_name_enc = EncryptedField()
    family_name_enc = EncryptedField()
    social_name_enc = EncryptedField(
        help_text="Nome social: the name the person uses, shown instead of the civil name."
    )
    birth_date_enc = EncryptedField(value_type="date")
    address_enc = EncryptedField(value_type="json")
    locale_enc = EncryptedField()
    # Every name and birth date seen in the subject's records, for identity-resolution vetoes. Derived data:
    # recomputed from the records, so it is left out of history.
    match_profile_enc = EncryptedField(value_type="json")

    history = audited_history(excluded_fields=["updated_at", "match_profile_enc"])

    class Meta:
        ordering = ("-created_at",)
        permissions = [("reveal_subject", "Can reveal a subject's personal data (audited)")]

    def __str__(self) -> str:
        return f"Subject {self.id}"

    @property
    def is_erased(self) -> bool:
        return self.status == self.Status.ERASED

    @property
    def is_live(self) -> bool:
        """Holds data and takes part in identity resolution (not merged away, not erased)."""
        return self.status in {self.Status.ACTIVE, self.Status.RESTRICTED}


# The attributes a subject may carry, and the keys an address may hold. Minimal on purpose (GDPR
# Art. 25(2), LGPD Art. 6 III): a new attribute is a schema decision, not a free-form field.
DERIVED_ATTRIBUTES = ("match_profile",)
SUBJECT_ATTRIBUTES = tuple(
    field.attribute
    for field in Subject._meta.concrete_fields
    if isinstance(field, EncryptedField) and field.attribute not in DERIVED_ATTRIBUTES
)
ADDRESS_KEYS = ("street", "number", "complement", "district", "city", "state", "postal_code", "country")


def subject_key_context(subject_id: object) -> bytes:
    """Associated data of a subject's wrapped data key: it unwraps for that subject only."""
    return f"c360.dek|profiles.subject|{subject_id}".encode()


def record_key_context(record_id: object) -> bytes:
    return f"c360.dek|profiles.sourcerecord|{record_id}".encode()


class SubjectKey(WrappedDataKey):
    """The subject's data key, wrapped by the keyring. Not history-tracked, so shredding is final."""

    subject = models.OneToOneField(Subject, primary_key=True, on_delete=models.PROTECT, related_name="key")

    def key_context(self) -> bytes:
        return subject_key_context(self.subject_id)


class VerificationMethod(models.TextChoices):
    NONE = "", "Not verified"
    DOUBLE_OPT_IN = "double_opt_in", "Double opt-in confirmation"
    ONE_TIME_CODE = "one_time_code", "One-time code sent to it"
    PORTAL_SIGN_IN = "portal_sign_in", "Portal sign-in by magic link"
    DOCUMENT_CHECK = "document_check", "Checked against an identity document"
    SOURCE_ASSERTED = "source_asserted", "Asserted verified by a trusted source"
    STAFF = "staff", "Verified by staff"


class Identifier(models.Model):
    """An email, phone, CPF, CNPJ or source id by which a subject is found.

    The value is encrypted under the subject's key; ``blind_index`` (a keyed HMAC of the normalised
    value) serves equality search. The blind index is left out of history: after erasure the
    identifier row is deleted and no copy of its index remains.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=16, choices=[(kind.value, kind.name.title()) for kind in IdentifierKind])
    namespace = models.CharField(
        max_length=64, blank=True, default="", help_text="For external ids: the source system that issued it."
    )
    blind_index = models.BinaryField(max_length=32, editable=False)
    value_enc = EncryptedField(null=False)
    is_verified = models.BooleanField(default=False)
    verification_method = models.CharField(
        max_length=24, choices=VerificationMethod.choices, blank=True, default=VerificationMethod.NONE
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=64, help_text="Which system asserted this identifier (api, admin, portal...).")
    source_record = models.ForeignKey(
        "SourceRecord",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The best source record carrying this identifier (provenance).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = audited_history(excluded_fields=["blind_index"])

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "kind", "namespace", "blind_index"], name="identifier_unique_per_subject"
            ),
            models.CheckConstraint(
                condition=~models.Q(is_verified=True, verification_method=""),
                name="identifier_verified_says_how",
            ),
        ]
        indexes = [models.Index(fields=["blind_index", "kind"], name="identifier_lookup")]

    def __str__(self) -> str:
        return f"{self.kind} identifier {self.id}"

    @property
    def index_kind(self) -> str:
        return index_kind(self.kind, self.namespace)


def index_kind(kind: str, namespace: str = "") -> str:
    """The blind-index namespace: external ids are namespaced by the source that issued them."""
    return f"{kind}:{namespace}" if namespace else kind


class SubjectAccess(models.Model):
    """Access log: every reveal of a subject's personal data in clear text (who, when, why, what).

    Append-only (the database refuses UPDATE and DELETE on PostgreSQL and SQLite). The reason is
    required and shown to the DPO; it must say why, not quote the person's data.
    """

    id = models.BigAutoField(primary_key=True)
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.PROTECT, related_name="accesses")
    # A quarantined record has no subject yet; its id is kept as a plain value, since the log is never updated.
    record_id = models.UUIDField(null=True, blank=True)
    actor = models.CharField(max_length=80)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subject_accesses",
    )
    reason = models.CharField(max_length=500)
    fields = models.JSONField(default=list)
    accessed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name_plural = "subject accesses"
        ordering = ("-accessed_at",)

    def __str__(self) -> str:
        return f"{self.actor} read {self.subject_id} at {self.accessed_at:%Y-%m-%d %H:%M}"


# ---------------------------------------------------------------- sources and their records


class Source(models.Model):
    """A system that sends records about people: a CRM, a shop, a support desk."""

    class Kind(models.TextChoices):
        CRM = "crm", "CRM"
        ECOMMERCE = "ecommerce", "E-commerce"
        SUPPORT = "support", "Support desk"
        MARKETING = "marketing", "Marketing platform"
        LOYALTY = "loyalty", "Loyalty programme"
        OTHER = "other", "Other"

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OTHER)
    trust_rank = models.PositiveSmallIntegerField(
        default=50, help_text="0-100. Survivorship prefers values from higher-ranked sources."
    )
    emails_verified = models.BooleanField(
        default=False, help_text="The source confirms every email by double opt-in, so its emails count as verified."
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = audited_history()

    class Meta:
        ordering = ("-trust_rank", "code")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class SourceRecord(models.Model):
    """One source's record about one person: its fields encrypted, its identifiers as blind indexes.

    ``(source, external id)`` is unique: sending a record again updates it. A linked record is
    encrypted under its subject's key; a quarantined one (invalid input, kept with its reasons) under
    its own ``RecordKey`` until it is fixed. After erasure the row stays as a tombstone with only the
    blind index of its external id, so a source re-sending it cannot bring the person back.
    """

    class Status(models.TextChoices):
        LINKED = "linked", "Linked to a subject"
        QUARANTINED = "quarantined", "Quarantined (invalid, kept with its reasons)"
        ERASED = "erased", "Erased"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="records")
    external_id_index = models.BinaryField(max_length=32, null=True, editable=False)
    external_id_enc = EncryptedField()
    payload_enc = EncryptedField(value_type="json")
    payload_digest = models.BinaryField(max_length=32, null=True, editable=False)
    errors_enc = EncryptedField(value_type="json")
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.PROTECT, related_name="source_records")
    link_rule = models.CharField(max_length=32, blank=True, default="")
    link_explanation = models.JSONField(default=dict, blank=True)
    # Normalised identifiers and weak-evidence keys as blind indexes: identity resolution reads these
    # without decrypting anything. Left out of history so erasure leaves no copy behind.
    identifier_indexes = models.JSONField(default=list, blank=True, editable=False)
    block_key = models.BinaryField(max_length=32, null=True, editable=False)
    name_key = models.BinaryField(max_length=32, null=True, editable=False)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    history = audited_history(
        excluded_fields=["external_id_index", "payload_digest", "identifier_indexes", "block_key", "name_key"]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id_index"], name="source_record_unique_external_id"),
        ]
        indexes = [
            models.Index(fields=["block_key"], name="source_record_block_key"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} record {self.id}"


class RecordKey(WrappedDataKey):
    """The data key of a quarantined record, which has no subject yet. Shredded once it is linked."""

    record = models.OneToOneField(SourceRecord, primary_key=True, on_delete=models.CASCADE, related_name="key")

    def key_context(self) -> bytes:
        return record_key_context(self.record_id)


# ---------------------------------------------------------------- merge decisions and their review


class MergeDecision(models.Model):
    """Why two subjects became one: the rule or the person that decided, and the records involved."""

    survivor = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="merges_won")
    absorbed = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="merges_lost")
    rule = models.CharField(max_length=32)
    identifier_kind = models.CharField(max_length=16, blank=True, default="")
    records = models.JSONField(default=list, help_text="Ids of the source records that carried the link.")
    decided_at = models.DateTimeField(default=timezone.now, db_index=True)
    decided_by = models.CharField(max_length=80, help_text="rule:<name> for automatic merges, else the actor.")
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.CharField(max_length=80, blank=True, default="")

    history = audited_history()

    class Meta:
        ordering = ("-decided_at",)

    def __str__(self) -> str:
        return f"{self.absorbed_id} into {self.survivor_id} by {self.decided_by}"


class MatchSuggestion(models.Model):
    """Weak evidence that two subjects are one person: a person decides, never an automatic merge."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted (merged)"
        REJECTED = "rejected", "Rejected (kept apart)"
        OBSOLETE = "obsolete", "Obsolete (merged or erased meanwhile)"

    subject_a = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="+")
    subject_b = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="+")
    evidence = models.CharField(max_length=32)
    detail = models.JSONField(default=dict, blank=True)
    score = models.FloatField(default=0.0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=80, blank=True, default="")

    history = audited_history()

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["subject_a", "subject_b"],
                condition=models.Q(status="open"),
                name="one_open_suggestion_per_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_a_id} ~ {self.subject_b_id} ({self.evidence})"


class MatchBlock(models.Model):
    """Two subjects that must never be merged automatically (a split, a rejected suggestion)."""

    subject_a = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="+")
    subject_b = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=80)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject_a", "subject_b"], name="match_block_unique_pair")]

    def __str__(self) -> str:
        return f"{self.subject_a_id} / {self.subject_b_id} never merged ({self.reason})"


# ---------------------------------------------------------------- portal sign-in


class PortalLogin(models.Model):
    """One sign-in to the self-service portal: a magic link (email) or a one-time code (SMS).

    Only the SHA-256 of the secret is stored. The contact point is kept encrypted under the login's own
    key (a request filed in the session needs it) and as a blind index (to find the person's requests
    and consents). Once redeemed, the row anchors the session: the browser's session holds only its id.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Magic link by email"
        SMS = "sms", "One-time code by SMS"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    contact_kind = models.CharField(max_length=8)
    contact_index = models.BinaryField(max_length=32, editable=False)
    contact_enc = EncryptedField()
    # The secret itself, encrypted, only until the mail or SMS carrying it has gone out.
    secret_enc = EncryptedField()
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    secret_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    language = models.CharField(max_length=8, default="pt-br")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    session_expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["contact_index", "created_at"], name="portal_login_contact")]

    def __str__(self) -> str:
        return f"portal sign-in {self.id} ({self.channel})"


class PortalLoginKey(WrappedDataKey):
    """The sign-in's data key; shredded when the session ends, so the contact point goes with it."""

    login = models.OneToOneField(PortalLogin, primary_key=True, on_delete=models.CASCADE, related_name="key")

    def key_context(self) -> bytes:
        return f"c360.dek|profiles.portallogin|{self.login_id}".encode()
