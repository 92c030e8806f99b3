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
        ERASED = "erased", "Erased"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    regimes = models.JSONField(default=list, help_text="Applicable laws: lgpd, gdpr or both.")
    regimes_reason = models.CharField(max_length=16, choices=RegimeReason.choices, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    restricted_at = models.DateTimeField(null=True, blank=True, editable=False)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    given_name_enc = EncryptedField()
    family_name_enc = EncryptedField()
    social_name_enc = EncryptedField(
        help_text="Nome social: the name the person uses, shown instead of the civil name."
    )
    birth_date_enc = EncryptedField(value_type="date")
    address_enc = EncryptedField(value_type="json")
    locale_enc = EncryptedField()

    history = audited_history(excluded_fields=["updated_at"])

    class Meta:
        ordering = ("-created_at",)
        permissions = [("reveal_subject", "Can reveal a subject's personal data (audited)")]

    def __str__(self) -> str:
        return f"Subject {self.id}"

    @property
    def is_erased(self) -> bool:
        return self.status == self.Status.ERASED


# The attributes a subject may carry, and the keys an address may hold. Minimal on purpose (GDPR
# Art. 25(2), LGPD Art. 6 III): a new attribute is a schema decision, not a free-form field.
SUBJECT_ATTRIBUTES = tuple(
    field.attribute for field in Subject._meta.concrete_fields if isinstance(field, EncryptedField)
)
ADDRESS_KEYS = ("street", "number", "complement", "district", "city", "state", "postal_code", "country")


class SubjectKey(WrappedDataKey):
    """The subject's data key, wrapped by the keyring. Not history-tracked, so shredding is final."""

    subject = models.OneToOneField(Subject, primary_key=True, on_delete=models.PROTECT, related_name="key")

    def key_context(self) -> bytes:
        return f"c360.dek|profiles.subject|{self.subject_id}".encode()


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
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="accesses")
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
