"""The consent catalogue, the append-only ledger, and the current-state projection.

``ConsentEvent`` is the truth: never updated nor deleted (the database refuses it), each event chained
to the previous one of the same subject (or contact point) by SHA-256, so any change is detectable.
``ConsentState`` is a projection written in the same transaction as each event, so "may we contact
this person for this purpose on this channel?" is one indexed read. ``Suppression`` outlives erasure:
an erased person is never contacted again.
"""

from __future__ import annotations

import hashlib
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from c360.lib.history import audited_history
from profiles.fields import EncryptedField
from profiles.models import Subject

ALL = "*"  # a state row for every purpose (or every channel): global opt-outs and objections


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    PHONE = "phone", "Phone call"
    PUSH = "push", "Push notification"
    POST = "post", "Post"
    PAID_MEDIA = "paid_media", "Paid media audiences"


class LgpdBasis(models.TextChoices):
    """LGPD Art. 7 (and Art. 11 for sensitive data)."""

    CONSENT = "art7_i", "Art. 7 I: consent"
    LEGAL_OBLIGATION = "art7_ii", "Art. 7 II: legal or regulatory obligation"
    PUBLIC_POLICY = "art7_iii", "Art. 7 III: public policies"
    RESEARCH = "art7_iv", "Art. 7 IV: research"
    CONTRACT = "art7_v", "Art. 7 V: contract or preliminary steps"
    EXERCISE_OF_RIGHTS = "art7_vi", "Art. 7 VI: exercise of rights in proceedings"
    PROTECTION_OF_LIFE = "art7_vii", "Art. 7 VII: protection of life"
    HEALTH = "art7_viii", "Art. 7 VIII: health protection"
    LEGITIMATE_INTEREST = "art7_ix", "Art. 7 IX: legitimate interest"
    CREDIT_PROTECTION = "art7_x", "Art. 7 X: credit protection"
    SENSITIVE_CONSENT = "art11_i", "Art. 11 I: specific and highlighted consent (sensitive data)"
    SENSITIVE_LEGAL_OBLIGATION = "art11_ii_a", "Art. 11 II a: legal obligation (sensitive data)"
    SENSITIVE_FRAUD_PREVENTION = "art11_ii_g", "Art. 11 II g: fraud prevention and authentication (sensitive data)"


class GdprBasis(models.TextChoices):
    """GDPR Art. 6(1) (and Art. 9(2)(a) for special categories)."""

    CONSENT = "6_1_a", "Art. 6(1)(a): consent"
    CONTRACT = "6_1_b", "Art. 6(1)(b): contract"
    LEGAL_OBLIGATION = "6_1_c", "Art. 6(1)(c): legal obligation"
    VITAL_INTERESTS = "6_1_d", "Art. 6(1)(d): vital interests"
    PUBLIC_TASK = "6_1_e", "Art. 6(1)(e): public task"
    LEGITIMATE_INTEREST = "6_1_f", "Art. 6(1)(f): legitimate interests"
    EXPLICIT_CONSENT = "9_2_a", "Art. 9(2)(a): explicit consent (special categories)"


CONSENT_BASES = {LgpdBasis.CONSENT, LgpdBasis.SENSITIVE_CONSENT, GdprBasis.CONSENT, GdprBasis.EXPLICIT_CONSENT}
LEGITIMATE_INTEREST_BASES = {LgpdBasis.LEGITIMATE_INTEREST, GdprBasis.LEGITIMATE_INTEREST}


class Purpose(models.Model):
    """Why personal data is used, under which legal basis per regime, on which channels.

    New purposes start inactive (privacy by default): nothing is allowed for a purpose until the DPO
    activates it. Every change is versioned (``version`` and history); events record the version.
    """

    code = models.CharField(
        max_length=80,
        unique=True,
        validators=[
            RegexValidator(
                r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$",
                "Use lower-case letters and digits, in parts joined by dots, dashes or underscores.",
            )
        ],
        help_text="Stable code, e.g. marketing.newsletter.",
    )
    names = models.JSONField(default=dict, help_text="Per language: pt-br, en, es.")
    descriptions = models.JSONField(default=dict, help_text="Per language: what is done and why.")
    lgpd_basis = models.CharField(max_length=16, choices=LgpdBasis.choices)
    gdpr_basis = models.CharField(max_length=8, choices=GdprBasis.choices)
    channels = models.JSONField(default=list, help_text="Channels this purpose may use.")
    sensitive = models.BooleanField(default=False, help_text="Uses sensitive data (LGPD Art. 11, GDPR Art. 9).")
    direct_marketing = models.BooleanField(default=False, help_text="An objection to it is absolute (GDPR Art. 21(3)).")
    sale_or_share = models.BooleanField(default=False, help_text="Sale or sharing of data: a GPC signal objects to it.")
    minors_need_guardian = models.BooleanField(default=True, help_text="A minor's consent must come from a guardian.")
    validity_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Consent expires after this; blank: never."
    )
    lia_reference = models.CharField(
        max_length=200, blank=True, help_text="Legitimate-interest assessment reference (required for that basis)."
    )
    # What people are told about the purpose (LGPD Art. 9 and 18 VIII, GDPR Art. 13), on the portal's
    # "what we do" page.
    data_categories = models.JSONField(
        default=list, blank=True, help_text='Kinds of data used, as short codes: ["contact", "purchases"].'
    )
    retention = models.JSONField(
        default=dict, blank=True, help_text='Per language, how long data is kept: {"pt-br": "5 anos após ..."}.'
    )
    recipients = models.JSONField(
        default=list,
        blank=True,
        help_text='Who receives the data: [{"name": "...", "role": "processor", "country": "BR"}].',
    )
    refusal_consequences = models.JSONField(
        default=dict, blank=True, help_text="Per language: what happens if the person does not consent or objects."
    )
    is_active = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    history = audited_history()

    class Meta:
        ordering = ("code",)

    def __str__(self) -> str:
        return self.code

    @property
    def needs_consent(self) -> bool:
        return self.lgpd_basis in CONSENT_BASES or self.gdpr_basis in CONSENT_BASES

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names.get("pt-br") or self.code

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        unknown = [channel for channel in self.channels if channel not in Channel.values]
        if unknown or not self.channels:
            errors["channels"] = [f"Give one or more of {', '.join(Channel.values)}."]
        if self.sensitive and self.lgpd_basis in {LgpdBasis.LEGITIMATE_INTEREST, LgpdBasis.CREDIT_PROTECTION}:
            errors["lgpd_basis"] = [
                "Sensitive data cannot rest on legitimate interest or credit protection (LGPD Art. 11)."
            ]
        if self.sensitive and self.lgpd_basis in CONSENT_BASES and self.lgpd_basis != LgpdBasis.SENSITIVE_CONSENT:
            errors["lgpd_basis"] = ["Sensitive data needs specific, highlighted consent: Art. 11 I."]
        if (self.lgpd_basis in LEGITIMATE_INTEREST_BASES or self.gdpr_basis in LEGITIMATE_INTEREST_BASES) and not (
            self.lia_reference.strip()
        ):
            errors["lia_reference"] = ["Legitimate interest needs a documented assessment (LIA) reference."]
        if errors:
            raise ValidationError(errors)


class Notice(models.Model):
    """A privacy notice (or consent text) shown to people, with versioned texts per language."""

    code = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    purposes = models.ManyToManyField(Purpose, related_name="notices", blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = audited_history()

    def __str__(self) -> str:
        return self.code


class NoticeVersion(models.Model):
    """The exact text shown, immutable once published; its SHA-256 is the proof of what was said."""

    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    language = models.CharField(max_length=8)
    text = models.TextField()
    text_sha256 = models.CharField(max_length=64, editable=False)
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notice", "version", "language"], name="notice_version_unique"),
        ]
        ordering = ("notice", "-version", "language")

    def __str__(self) -> str:
        return f"{self.notice_id} v{self.version} ({self.language})"

    def save(self, *args: object, **kwargs: object) -> None:
        self.text_sha256 = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the ledger


class Action(models.TextChoices):
    GRANT = "grant", "Granted"
    DENY = "deny", "Refused"
    WITHDRAW = "withdraw", "Withdrawn"
    OBJECT = "object", "Objected"
    EXPIRE = "expire", "Expired"
    ERASE_SUPPRESS = "erase_suppress", "Erased: never contact again"
    MERGE = "merge", "Merged from another subject"


class Method(models.TextChoices):
    FORM_CHECKBOX = "form_checkbox", "Form checkbox (unticked by default)"
    DOUBLE_OPT_IN = "double_opt_in", "Double opt-in confirmation"
    REPLY_STOP = "reply_stop", "Reply STOP"
    UNSUBSCRIBE_LINK = "unsubscribe_link", "Unsubscribe link"
    CALL_CENTRE = "call_centre", "Call centre (recorded)"
    PAPER_FORM = "paper_form", "Paper form"
    IMPORT = "import", "Import of earlier consents"
    GPC = "gpc", "Global Privacy Control signal"
    DSAR = "dsar", "Data subject request"
    PORTAL = "portal", "Self-service portal"
    SYSTEM = "system", "Rule applied by c360 (expiry, merge)"


class ActorKind(models.TextChoices):
    SUBJECT = "subject", "The person"
    GUARDIAN = "guardian", "Parent or guardian"
    AGENT = "agent", "Representative"
    STAFF = "staff", "Staff member"
    SYSTEM = "system", "System"


class ConsentEvent(models.Model):
    """One thing that happened to consent. Append-only; tamper-evident by a hash chain.

    The chain is per subject (or per contact point when no subject is known): ``sequence`` numbers
    the chain and is unique in it, so two writers can never fork a chain; ``previous_hash`` is the
    hash of the event before; ``hash`` covers a canonical serialisation of this event.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.CharField(max_length=80, help_text="s:<subject id> or c:<kind>:<contact blind index>.")
    sequence = models.PositiveIntegerField()
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    contact_kind = models.CharField(max_length=16, blank=True, default="")
    contact_index = models.BinaryField(max_length=32, null=True, editable=False)
    purpose = models.ForeignKey(Purpose, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    purpose_code = models.CharField(max_length=80, help_text="The purpose, or * for every purpose.")
    purpose_version = models.PositiveIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=16, help_text="The channel, or * for every channel.")
    action = models.CharField(max_length=16, choices=Action.choices)
    status = models.CharField(max_length=16, help_text="The state this event leaves: granted, denied, withdrawn...")
    legal_basis = models.CharField(max_length=16, blank=True, default="")
    notice_version = models.ForeignKey(NoticeVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    method = models.CharField(max_length=24, choices=Method.choices)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_ref = models.CharField(max_length=80, blank=True, default="")
    source_system = models.CharField(max_length=64, blank=True, default="")
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    ip_enc = EncryptedField()
    user_agent_enc = EncryptedField()
    evidence = models.JSONField(default=dict, blank=True, help_text="Token and form hashes, GPC flag: no PII.")
    previous_hash = models.CharField(max_length=64, blank=True, default="")
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "sequence"], name="consent_chain_sequence_unique")]
        indexes = [
            models.Index(fields=["subject", "purpose_code", "channel"], name="consent_event_subject"),
            models.Index(fields=["recorded_at"], name="consent_event_recorded"),
        ]

    def __str__(self) -> str:
        return f"{self.chain} #{self.sequence} {self.action} {self.purpose_code}/{self.channel}"


class ConsentState(models.Model):
    """The current answer per (subject or contact point) x purpose x channel, from the latest event."""

    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    contact_kind = models.CharField(max_length=16, blank=True, default="")
    contact_index = models.BinaryField(max_length=32, null=True, editable=False)
    purpose_code = models.CharField(max_length=80)
    channel = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    legal_basis = models.CharField(max_length=16, blank=True, default="")
    method = models.CharField(max_length=24, blank=True, default="")
    actor_kind = models.CharField(max_length=16, blank=True, default="")
    given_by_minor = models.BooleanField(
        default=False,
        help_text="Granted by the person while a minor, not by a guardian: not valid where the purpose needs one.",
    )
    occurred_at = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    last_event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "purpose_code", "channel"],
                condition=models.Q(contact_index__isnull=True),
                name="consent_state_subject_unique",
            ),
            models.UniqueConstraint(
                fields=["contact_kind", "contact_index", "purpose_code", "channel"],
                condition=models.Q(contact_index__isnull=False),
                name="consent_state_contact_unique",
            ),
        ]
        indexes = [models.Index(fields=["contact_index", "contact_kind"], name="consent_state_contact")]

    def __str__(self) -> str:
        return f"{self.subject_id or self.contact_kind}: {self.purpose_code}/{self.channel} {self.status}"


class Suppression(models.Model):
    """A contact point never to be contacted again (erasure, hard objection). Survives erasure: it holds
    only the blind index of the address or number, never the value."""

    contact_kind = models.CharField(max_length=16)
    contact_index = models.BinaryField(max_length=32)
    channel = models.CharField(max_length=16, default=ALL)
    reason = models.CharField(max_length=32)
    since = models.DateTimeField(default=timezone.now)
    event = models.ForeignKey(ConsentEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_kind", "contact_index", "channel"], name="suppression_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_kind} suppressed on {self.channel} ({self.reason})"


class LedgerCheckpoint(models.Model):
    """Daily: the hash of every chain head, so a truncated or rewritten tail is detectable too."""

    taken_at = models.DateTimeField(default=timezone.now, db_index=True)
    chains = models.PositiveIntegerField()
    events = models.PositiveBigIntegerField()
    heads_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ("-taken_at",)

    def __str__(self) -> str:
        return f"checkpoint {self.taken_at:%Y-%m-%d %H:%M} ({self.chains} chains)"


class LedgerVerification(models.Model):
    """One walk of every chain (daily, or on demand): its result is evidence that the ledger was intact.

    Broken links name the chain (a subject id or a contact's blind index), the sequence and the problem:
    no personal data.
    """

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(db_index=True)
    chains = models.PositiveIntegerField()
    events = models.PositiveBigIntegerField()
    broken = models.PositiveIntegerField()
    broken_links = models.JSONField(default=list, blank=True, help_text="The first 100 broken links.")
    checkpoint = models.ForeignKey(LedgerCheckpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    checkpoint_matches = models.BooleanField(null=True)
    ok = models.BooleanField()
    run_by = models.CharField(max_length=80)

    class Meta:
        ordering = ("-finished_at",)

    def __str__(self) -> str:
        return f"ledger verification {self.finished_at:%Y-%m-%d %H:%M}: {'intact' if self.ok else 'BROKEN'}"


# ---------------------------------------------------------------- audience checks


class AudienceCheck(models.Model):
    """A whole campaign list checked before sending: per-recipient answers and a signed receipt.

    The receipt (purpose, channel, counts by reason, SHA-256 of the input list, catalogue version,
    time) is signed with Ed25519 and kept as evidence that the campaign was checked.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed (can be retried)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    requested_by = models.CharField(max_length=80)
    input_name = models.CharField(max_length=200, blank=True, default="")
    input_sha256 = models.CharField(max_length=64, blank=True, default="")
    input_format = models.CharField(max_length=8)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    allowed = models.PositiveIntegerField(default=0)
    denied = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    denied_by_reason = models.JSONField(default=dict, blank=True)
    receipt = models.JSONField(default=dict, blank=True)
    signature = models.CharField(max_length=128, blank=True, default="")
    # The uploaded list is personal data: kept encrypted under its own key until checked, then deleted.
    WRAPPED_KEYS = (("input_wrapped_key", "input_kek_version", "key_context"),)

    input_wrapped_key = models.BinaryField(null=True, editable=False)
    input_kek_version = models.PositiveIntegerField(null=True, editable=False)
    error = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    history = audited_history(excluded_fields=["processed", "input_wrapped_key", "input_kek_version"])

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"audience check {self.id} ({self.status})"

    def key_context(self) -> bytes:
        return f"c360.dek|consent.audiencecheck|{self.id}".encode()


class DoubleOptIn(models.Model):
    """A pending email confirmation. The link's token is stored hashed; the address only as blind index."""

    token_hash = models.CharField(max_length=64, unique=True)
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    contact_index = models.BinaryField(max_length=32)
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
    notice_version = models.ForeignKey(NoticeVersion, on_delete=models.PROTECT, related_name="+")
    source_system = models.CharField(max_length=64, blank=True, default="")
    requested_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"double opt-in for {self.purpose_id} ({'confirmed' if self.confirmed_at else 'pending'})"
