"""The only writers of the consent ledger: record, withdraw, object, import, double opt-in, expiry, GPC,
erasure suppression and merges. Every write appends a chained event and updates the projection in the
same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.template.loader import render_to_string
from django.utils import timezone

from c360.lib.crypto import blind_index, data_key_open
from c360.lib.db import upsert_rows
from c360.lib.errors import Conflict, Gone, NotFound, ValidationFailed
from c360.lib.history import Actor, acting_as
from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise
from consent.ledger import event_hash, heads_digest
from consent.models import (
    ALL,
    Action,
    ActorKind,
    Channel,
    ConsentEvent,
    ConsentState,
    DoubleOptIn,
    LedgerCheckpoint,
    LedgerVerification,
    Method,
    NoticeVersion,
    Purpose,
    Suppression,
)
from consent.selectors import RULE_CACHE_SECONDS, forget_cached_rules, heads_as_of, ledger_verify
from profiles.encryption import cipher_for, unseal
from profiles.lock_objects import subjects_lock_for_consent
from profiles.models import Subject

logger = logging.getLogger(__name__)

EVENTS = cipher_for(ConsentEvent)
STATUS_OF = {
    Action.GRANT: "granted",
    Action.DENY: "denied",
    Action.WITHDRAW: "withdrawn",
    Action.OBJECT: "objected",
    Action.EXPIRE: "expired",
    Action.ERASE_SUPPRESS: "suppressed",
}
RESTRICTIVENESS = ["suppressed", "objected", "withdrawn", "denied", "expired", "granted"]  # most restrictive first
# On a row for every purpose (*) a withdrawal or refusal reaches further than an objection: it blocks every
# purpose that needs consent on that channel, an objection only direct marketing (decisions.py).
RESTRICTIVENESS_EVERY_PURPOSE = ["suppressed", "withdrawn", "denied", "objected", "expired", "granted"]
CONTACT_KINDS_BY_CHANNEL = {
    Channel.EMAIL: IdentifierKind.EMAIL,
    Channel.SMS: IdentifierKind.PHONE,
    Channel.WHATSAPP: IdentifierKind.PHONE,
    Channel.PHONE: IdentifierKind.PHONE,
}
CLOCK_SKEW = dt.timedelta(minutes=5)
PROJECTED_FIELDS = (
    "status",
    "legal_basis",
    "method",
    "actor_kind",
    "given_by_minor",
    "occurred_at",
    "valid_until",
    "last_event",
    "updated_at",
)
DOI_VALIDITY = dt.timedelta(days=7)
LIVE_STATUSES = (Subject.Status.ACTIVE, Subject.Status.RESTRICTED)
WRITE_ATTEMPTS = 5  # a write prepared again each time a merge or an erasure of its subject got in first


@dataclass(frozen=True)
class EventInput:
    """One consent event as callers describe it; the service checks and completes it."""

    purpose_code: str
    channel: str
    action: str
    method: str
    actor_kind: str = ActorKind.SUBJECT
    actor_ref: str = ""
    subject_id: uuid.UUID | str | None = None
    contact_kind: str = ""
    contact_value: str = ""
    notice_version_id: int | None = None
    occurred_at: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    source_system: str = ""
    ip: str = ""
    user_agent: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    status: str = ""  # only for merge events, which carry the status they propagate


# ---------------------------------------------------------------- checking and completing an event


@dataclass
class _Prepared:
    row: dict[str, Any]
    key: tuple[Any, ...]
    live_subject: bool = False  # prepared for a subject that was live then: it must still be when locked
    subject_locked: bool = False  # its subject was read locked, so it is live and held already


class _SubjectChanged(Exception):
    """A subject was merged or erased between preparing an event for it and locking it: prepare again."""


def _contact_index(kind: str, value: str) -> bytes:
    return blind_index(kind, normalise(kind, value))


# What a write reads of its subject: not the other encrypted attributes, which may be large.
_SUBJECT_FIELDS = Subject.objects.select_related("key").only(
    "id", "status", "regimes", "merged_into", "birth_date_enc", "key__wrapped_dek", "key__kek_version"
)


def _subject_for(subject_id: uuid.UUID | str, errors: dict[str, list[str]], *, lock: bool = False) -> Subject | None:
    """The subject a write is for (following merges). ``lock``: read it locked (step 2 of the lock order), which
    spares ``_lock_subjects`` a statement; a merged subject's lock is let go at once (``_SubjectChanged``, the
    attempt rolls back) so that its survivor is never locked after it."""
    query = _SUBJECT_FIELDS.select_for_update(of=("self",), no_key=True) if lock else _SUBJECT_FIELDS
    try:
        subject = query.filter(pk=subject_id).first()
    except (ValueError, TypeError, ValidationError):
        subject = None
    if lock and subject is not None and subject.status == Subject.Status.MERGED:
        raise _SubjectChanged
    while subject is not None and subject.status == Subject.Status.MERGED:
        subject = _SUBJECT_FIELDS.filter(pk=subject.merged_into_id).first()
    if subject is None:
        errors["subject_id"] = ["No subject has that id."]
    elif subject.is_erased:
        raise Gone("The subject was erased; nothing is recorded for an erased person.", code="subject_erased")
    return subject


def _check_catalogue(event: EventInput, purpose: Purpose | None, errors: dict[str, list[str]]) -> None:
    if event.action not in Action.values or event.action == Action.MERGE:
        errors["action"] = [f"Use one of {', '.join(a for a in Action.values if a != Action.MERGE)}."]
    if event.purpose_code == ALL:
        if event.action == Action.GRANT:
            errors["purpose"] = ["A grant is always for one purpose: consent must be specific."]
    elif purpose is None:
        errors["purpose"] = ["No purpose has that code."]
    elif event.action == Action.GRANT and not purpose.is_active:
        errors["purpose"] = ["The purpose is not active; nothing can be granted for it."]
    if event.channel != ALL and event.channel not in Channel.values:
        errors["channel"] = [f"Use one of {', '.join(Channel.values)}, or * for every channel."]
    elif purpose is not None and event.channel != ALL and event.channel not in purpose.channels:
        errors["channel"] = ["The purpose does not use this channel."]
    elif event.channel == ALL and event.action == Action.GRANT:
        errors["channel"] = ["A grant is always for one channel."]
    if event.method not in Method.values:
        errors["method"] = [f"Use one of {', '.join(Method.values)}."]
    if event.actor_kind not in ActorKind.values:
        errors["actor_kind"] = [f"Use one of {', '.join(ActorKind.values)}."]


def _check_contact(event: EventInput, errors: dict[str, list[str]]) -> bytes | None:
    if not (event.contact_kind or event.contact_value):
        if not event.subject_id:
            errors["subject_id"] = ["Give the subject, the contact point the consent is tied to, or both."]
        return None
    expected = CONTACT_KINDS_BY_CHANNEL.get(event.channel)
    if event.contact_kind not in {IdentifierKind.EMAIL, IdentifierKind.PHONE}:
        errors["contact_kind"] = ["Give email or phone."]
    elif expected and event.contact_kind != expected:
        errors["contact_kind"] = [f"The {event.channel} channel reaches people by {expected}."]
    else:
        try:
            return _contact_index(event.contact_kind, event.contact_value)
        except IdentifierError as exc:
            errors["contact_value"] = [exc.message]
    return None


def _check_proof(event: EventInput, now: dt.datetime, errors: dict[str, list[str]]) -> NoticeVersion | None:
    if (event.occurred_at or now) > now + CLOCK_SKEW:
        errors["occurred_at"] = ["The event cannot happen in the future."]
    if event.action == Action.GRANT and event.method == Method.IMPORT and not event.evidence.get("legacy_reference"):
        errors["evidence"] = ["An imported grant needs evidence.legacy_reference (where the original proof is)."]
    if event.notice_version_id is not None:
        notice = _notice_version(event.notice_version_id)
        if notice is None:
            errors["notice_version"] = ["No notice version has that id."]
        return notice
    if event.action == Action.GRANT and event.method not in {Method.IMPORT, Method.SYSTEM}:
        errors["notice_version"] = ["A grant needs the notice version that was shown (proof of what was said)."]
    return None


def _is_minor(data_key: Any, subject: Subject, on: dt.datetime) -> bool:
    """Whether the person was under age on that day, for the strictest of their regimes."""
    birth_date = unseal(data_key, subject, "birth_date")
    if birth_date is None:
        return False
    age_limit = max(settings.C360_MINOR_AGE.get(regime, 18) for regime in subject.regimes or ["lgpd"])
    day = on.date()
    age = day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
    return age < age_limit


def _prepare(
    event: EventInput, purposes: Mapping[str, Purpose], now: dt.datetime, *, lock_subject: bool = False
) -> _Prepared:
    errors: dict[str, list[str]] = {}
    purpose = purposes.get(event.purpose_code)
    _check_catalogue(event, purpose, errors)
    subject = _subject_for(event.subject_id, errors, lock=lock_subject) if event.subject_id else None
    contact_index = _check_contact(event, errors)
    notice = _check_proof(event, now, errors)
    if errors:
        raise ValidationFailed("The consent event is invalid.", errors=errors)

    occurred_at = event.occurred_at or now
    valid_until = event.valid_until
    if event.action == Action.GRANT and valid_until is None and purpose is not None and purpose.validity_days:
        valid_until = occurred_at + dt.timedelta(days=purpose.validity_days)
    regimes = list(subject.regimes) if subject else list(settings.C360_DEFAULT_REGIMES)
    legal_basis = ""
    if purpose is not None:
        legal_basis = purpose.gdpr_basis if regimes == ["gdpr"] else purpose.lgpd_basis
    chain = f"s:{subject.id}" if subject else f"c:{event.contact_kind}:{contact_index.hex()}"  # type: ignore[union-attr]
    event_id = uuid.uuid4()
    row: dict[str, Any] = {
        "id": event_id,
        "chain": chain,
        "subject_id": subject.id if subject else None,
        "contact_kind": event.contact_kind if contact_index else "",
        "contact_index": contact_index,
        "purpose_id": purpose.id if purpose else None,
        "purpose_code": event.purpose_code,
        "purpose_version": purpose.version if purpose else None,
        "channel": event.channel,
        "action": event.action,
        "status": event.status or STATUS_OF[event.action],
        "legal_basis": legal_basis,
        "notice_version_id": notice.pk if notice else None,
        "method": event.method,
        "actor_kind": event.actor_kind,
        "actor_ref": event.actor_ref[:80],
        "source_system": event.source_system[:64],
        "occurred_at": occurred_at,
        "recorded_at": now,
        "valid_until": valid_until,
        "ip_enc": None,
        "user_agent_enc": None,
        "evidence": dict(event.evidence),
    }
    if subject is not None and (event.ip or event.user_agent or event.action == Action.GRANT):
        data_key = data_key_open(subject.key)
        # Evidence about the person's device is personal data: under their key, shredded with them.
        row["ip_enc"] = EVENTS.seal(data_key, event_id, "ip", event.ip or None)
        row["user_agent_enc"] = EVENTS.seal(data_key, event_id, "user_agent", event.user_agent[:500] or None)
        if (
            event.action == Action.GRANT
            and event.actor_kind != ActorKind.GUARDIAN
            and _is_minor(data_key, subject, occurred_at)
        ):
            row["evidence"]["minor_without_guardian"] = True
    key = (
        ("c", row["contact_kind"], contact_index, event.purpose_code, event.channel)
        if contact_index is not None
        else ("s", row["subject_id"], event.purpose_code, event.channel)
    )
    return _Prepared(row, key, live_subject=subject is not None, subject_locked=lock_subject and subject is not None)


# ---------------------------------------------------------------- appending to chains and projecting


def _lock_subjects(prepared: Sequence[_Prepared]) -> None:
    """Lock the subjects of these events before their chains (profiles/lock_objects.py gives the order).

    An event prepared for a live subject needs it still live once locked: a merge or an erasure that got in
    between raises ``_SubjectChanged``. Callers run each attempt in a transaction (or savepoint) of its own,
    whose rollback lets go of the locks taken here, so they prepare again (following the merge, or refusing
    the erased) without waiting for another subject while they hold one.
    """
    pending = [item for item in prepared if item.row["subject_id"] is not None and not item.subject_locked]
    subject_ids = {item.row["subject_id"] for item in pending}
    if not subject_ids:
        return
    expected_live = {item.row["subject_id"] for item in pending if item.live_subject}
    statuses = subjects_lock_for_consent(subject_ids)
    if any(statuses.get(subject_id) not in LIVE_STATUSES for subject_id in expected_live):
        raise _SubjectChanged


def _appended(prepare: Callable[[], list[_Prepared]], actor: Actor) -> list[ConsentEvent]:
    """Prepare and append, again when a subject was merged or erased meanwhile (rare: the two raced).

    Each attempt is atomic on its own: the transaction itself when the caller has none (a single write
    needs no savepoint), a savepoint inside the caller's.
    """
    for _ in range(WRITE_ATTEMPTS):
        try:
            with transaction.atomic(), acting_as(actor):
                return _append(prepare())
        except _SubjectChanged:
            continue
    raise Conflict("The subject kept changing while the consent was recorded; try again.", code="subject_changed")


def _lock_chains(chains: Iterable[str]) -> None:
    """Lock the chains of contact points. A subject's chain (``s:<id>``) needs no lock of its own: every writer
    of it holds its subject's row first (``_lock_subjects``), which already lets one writer in at a time."""
    if connection.vendor != "postgresql":
        return  # SQLite serialises writers; the unique (chain, sequence) constraint guards the rest
    contact_chains = {chain for chain in chains if not chain.startswith("s:")}
    keys = sorted({int.from_bytes(hashlib.sha256(c.encode()).digest()[:8], "big", signed=True) for c in contact_chains})
    with connection.cursor() as cursor:
        for key in keys:  # always in the same order: no deadlock between two writers
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _chain_heads(chains: set[str]) -> dict[str, tuple[int, str]]:
    if len(chains) == 1:  # the usual single write: the last entry of the (chain, sequence) index
        (chain,) = chains
        head = ConsentEvent.objects.filter(chain=chain).order_by("-sequence").values_list("sequence", "hash").first()
        return {chain: head} if head else {}
    latest = ConsentEvent.objects.filter(chain=OuterRef("chain")).order_by("-sequence").values("sequence")[:1]
    rows = ConsentEvent.objects.filter(chain__in=chains, sequence=Subquery(latest))
    return {chain: (sequence, head) for chain, sequence, head in rows.values_list("chain", "sequence", "hash")}


def _append(prepared: Sequence[_Prepared]) -> list[ConsentEvent]:
    """Give each event its place in its chain, hash it, store it, and update the projection."""
    _lock_subjects(prepared)
    chains = {item.row["chain"] for item in prepared}
    _lock_chains(chains)
    heads = _chain_heads(chains)
    events = []
    for item in prepared:
        sequence, previous = heads.get(item.row["chain"], (0, ""))
        item.row.update(sequence=sequence + 1, previous_hash=previous)
        item.row["hash"] = event_hash(item.row)
        heads[item.row["chain"]] = (sequence + 1, item.row["hash"])
        events.append(ConsentEvent(**item.row))
    ConsentEvent.objects.bulk_create(events)
    _project(prepared)
    return events


def _project(prepared: Sequence[_Prepared]) -> None:
    """Each event becomes the state of its key unless a later event (by when it happened) already is.

    One conditional upsert per kind of key (a subject's own, a contact point's): an older event arriving late
    (an import) does not overwrite a newer answer, with no read before the write. Within a batch the latest
    event of each key is the one written (the last of equals).
    """
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in prepared:
        current = latest.get(item.key)
        if current is None or current["occurred_at"] <= item.row["occurred_at"]:
            latest[item.key] = item.row
    for kind, unique, unique_where in (
        ("s", ("subject", "purpose_code", "channel"), "contact_index IS NULL"),
        ("c", ("contact_kind", "contact_index", "purpose_code", "channel"), "contact_index IS NOT NULL"),
    ):
        upsert_rows(
            ConsentState,
            [_state_row(row) for key, row in latest.items() if key[0] == kind],
            unique=unique,
            unique_where=unique_where,
            update=PROJECTED_FIELDS,
            update_where="existing.occurred_at <= EXCLUDED.occurred_at",
        )


def _state_row(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject_id": event["subject_id"],
        "contact_kind": event["contact_kind"],
        "contact_index": event["contact_index"],
        "purpose_code": event["purpose_code"],
        "channel": event["channel"],
        "status": event["status"],
        "legal_basis": event["legal_basis"],
        "method": event["method"],
        "actor_kind": event["actor_kind"],
        "given_by_minor": bool(event["evidence"].get("minor_without_guardian")),
        "occurred_at": event["occurred_at"],
        "valid_until": event["valid_until"],
        "last_event_id": event["id"],
        "updated_at": event["recorded_at"],
    }


# Writes read the catalogue on every call: purposes are kept for the same few seconds as the check's rules
# (a change made here is seen at once, elsewhere within that time); published notice versions never change.
_purpose_cache: dict[str, tuple[float, Purpose]] = {}
_notice_cache: dict[int, NoticeVersion] = {}


def _purposes(codes: Iterable[str]) -> dict[str, Purpose]:
    now = time.monotonic()
    wanted = set(codes)
    found = {code: cached[1] for code in wanted if (cached := _purpose_cache.get(code)) and cached[0] > now}
    if missing := wanted - set(found):
        for purpose in Purpose.objects.filter(code__in=missing):
            _purpose_cache[purpose.code] = (now + RULE_CACHE_SECONDS, purpose)
            found[purpose.code] = purpose
    return found


def _notice_version(pk: Any) -> NoticeVersion | None:
    notice = _notice_cache.get(pk)
    if notice is None:
        try:
            notice = NoticeVersion.objects.filter(pk=pk).first()
        except (ValueError, TypeError):
            return None
        if notice is not None and len(_notice_cache) < 10_000:
            _notice_cache[pk] = notice
    return notice


def forget_cached_catalogue() -> None:
    _purpose_cache.clear()
    _notice_cache.clear()
    forget_cached_rules()


# ---------------------------------------------------------------- use cases


def consent_record(*, event: EventInput, actor: Actor) -> ConsentEvent:
    """Append one event to the ledger (grant, deny, withdraw, object, expire) and update the state.

    Atomic through ``_appended`` (one transaction per attempt): the hot write path has no savepoint."""
    attempts = itertools.count()

    def prepare() -> list[_Prepared]:
        # First attempt: the subject read locked (one statement fewer); after a merge got in the way, the
        # usual read, then the lock, so that the survivor is locked on its own.
        return [_prepare(event, _purposes([event.purpose_code]), timezone.now(), lock_subject=next(attempts) == 0)]

    (stored,) = _appended(prepare, actor)
    logger.info(
        "Consent %s %s/%s on chain %s by %s",
        stored.action,
        stored.purpose_code,
        stored.channel,
        stored.chain[:12],
        actor,
    )
    return stored


def consent_withdraw(
    *,
    purpose_code: str,
    channel: str,
    method: str,
    actor: Actor,
    subject_id: Any = None,
    contact: tuple[str, str] | None = None,
    source_system: str = "",
) -> ConsentEvent:
    """Withdrawal, as easy as the grant: one call, effective at the next check."""
    return _refusal(
        Action.WITHDRAW,
        purpose_code=purpose_code,
        channel=channel,
        method=method,
        actor=actor,
        subject_id=subject_id,
        contact=contact,
        source_system=source_system,
    )


def consent_object(
    *,
    actor: Actor,
    method: str,
    subject_id: Any = None,
    contact: tuple[str, str] | None = None,
    purpose_code: str = ALL,
    channel: str = ALL,
    source_system: str = "",
) -> ConsentEvent:
    """An objection: to one purpose, or (the default) to all direct marketing, which is absolute."""
    return _refusal(
        Action.OBJECT,
        purpose_code=purpose_code,
        channel=channel,
        method=method,
        actor=actor,
        subject_id=subject_id,
        contact=contact,
        source_system=source_system,
    )


def _refusal(
    action: str,
    *,
    purpose_code: str,
    channel: str,
    method: str,
    actor: Actor,
    subject_id: Any,
    contact: tuple[str, str] | None,
    source_system: str,
) -> ConsentEvent:
    """A withdrawal or an objection by the person (or for them), by subject or by contact point."""
    kind, value = contact or ("", "")
    return consent_record(
        event=EventInput(
            purpose_code=purpose_code,
            channel=channel,
            action=action,
            method=method,
            subject_id=subject_id,
            contact_kind=kind,
            contact_value=value,
            source_system=source_system,
            actor_kind=_actor_kind(actor),
            actor_ref=str(actor),
        ),
        actor=actor,
    )


def _actor_kind(actor: Actor) -> str:
    return {"subject": ActorKind.SUBJECT, "user": ActorKind.STAFF}.get(actor.kind, ActorKind.SYSTEM)


@dataclass
class ImportResult:
    recorded: int
    errors: dict[int, dict[str, Any]]


@transaction.atomic
def consents_import(*, events: Sequence[EventInput], actor: Actor) -> ImportResult:
    """Bring earlier consents in, each with its evidence. Invalid items are reported by position and
    skipped; the valid ones are recorded together."""
    purposes = _purposes(event.purpose_code for event in events)
    errors: dict[int, dict[str, Any]] = {}

    def prepare() -> list[_Prepared]:
        now = timezone.now()
        prepared = []
        errors.clear()
        for position, event in enumerate(events):
            try:
                prepared.append(_prepare(event, purposes, now))
            except (ValidationFailed, Gone) as exc:
                errors[position] = {"code": exc.code, "message": exc.message, "errors": exc.errors}
        prepared.sort(key=lambda item: item.row["occurred_at"])  # chains follow the order things happened
        return prepared

    recorded = _appended(prepare, actor)
    return ImportResult(recorded=len(recorded), errors=errors)


# ---------------------------------------------------------------- double opt-in


def _token_hash(token: str) -> str:
    return hashlib.sha256(f"c360.doi|{token}".encode()).hexdigest()


@transaction.atomic
def consent_doi_start(
    *,
    email: str,
    purpose_code: str,
    notice_version_id: int,
    actor: Actor,
    subject_id: Any = None,
    source_system: str = "",
    language: str = "pt-br",
    confirm_url: str,
) -> DoubleOptIn:
    """Mail a confirmation link; the grant is recorded only when the person confirms."""
    try:
        normalised = normalise(IdentifierKind.EMAIL, email)
    except IdentifierError as exc:
        raise ValidationFailed("The email is invalid.", errors={"email": [exc.message]}) from None
    purpose = Purpose.objects.filter(code=purpose_code, is_active=True).first()
    if purpose is None or Channel.EMAIL not in purpose.channels:
        raise ValidationFailed("No active email purpose has that code.", errors={"purpose": ["Unknown purpose."]})
    if not NoticeVersion.objects.filter(pk=notice_version_id).exists():
        raise ValidationFailed("Unknown notice version.", errors={"notice_version": ["No notice version has that id."]})
    token = secrets.token_urlsafe(32)
    with acting_as(actor):
        request = DoubleOptIn.objects.create(
            token_hash=_token_hash(token),
            subject_id=subject_id,
            contact_index=blind_index(IdentifierKind.EMAIL, normalised),
            purpose=purpose,
            notice_version_id=notice_version_id,
            source_system=source_system,
            expires_at=timezone.now() + DOI_VALIDITY,
        )
    context = {
        "purpose": purpose.name(language),
        "url": confirm_url.replace("{token}", token),
        "days": DOI_VALIDITY.days,
    }
    # The address is used to send the mail and forgotten: only its blind index is stored.
    transaction.on_commit(lambda: _send_doi_mail(normalised, context, language))
    return request


def _send_doi_mail(email: str, context: dict[str, Any], language: str) -> None:
    from django.utils import translation

    with translation.override(language):
        message = EmailMultiAlternatives(
            subject=render_to_string("emails/consent_confirm_subject.txt", context).strip(),
            body=render_to_string("emails/consent_confirm.txt", context),
            to=[email],
        )
        message.attach_alternative(render_to_string("emails/consent_confirm.html", context), "text/html")
        message.send()


@transaction.atomic
def consent_doi_confirm(*, token: str, ip: str = "", user_agent: str = "") -> ConsentEvent:
    """The person clicked the link and confirmed: record the grant with the confirmation as evidence."""
    request = DoubleOptIn.objects.select_for_update().filter(token_hash=_token_hash(token)).first()
    if request is None:
        raise NotFound("This confirmation link is not valid.", code="unknown_token")
    if request.confirmed_at is not None:
        raise Conflict("This confirmation link was already used.", code="token_used")
    if request.expires_at <= timezone.now():
        raise Gone("This confirmation link has expired; ask for a new one.", code="token_expired")
    now = timezone.now()
    request.confirmed_at = now
    request.save(update_fields=["confirmed_at"])

    def prepare() -> list[_Prepared]:
        prepared = _prepare(
            EventInput(
                purpose_code=request.purpose.code,
                channel=Channel.EMAIL,
                action=Action.GRANT,
                method=Method.DOUBLE_OPT_IN,
                subject_id=request.subject_id,
                notice_version_id=request.notice_version_id,
                occurred_at=now,
                source_system=request.source_system,
                ip=ip,
                user_agent=user_agent,
                evidence={
                    "doi_token_sha256": request.token_hash,
                    "requested_at": request.requested_at.isoformat(),
                    "confirmed_at": now.isoformat(),
                },
            ),
            {request.purpose.code: request.purpose},
            now,
        )
        # The confirmation is tied to the address it was sent to (its blind index), not to a typed value.
        prepared.row.update(contact_kind=IdentifierKind.EMAIL, contact_index=bytes(request.contact_index))
        if prepared.row["subject_id"] is None:
            prepared.row["chain"] = f"c:email:{bytes(request.contact_index).hex()}"
        prepared.key = ("c", IdentifierKind.EMAIL, bytes(request.contact_index), request.purpose.code, Channel.EMAIL)
        return [prepared]

    (event,) = _appended(prepare, Actor("subject", str(request.subject_id or "contact")))
    return event


# ---------------------------------------------------------------- signals, expiry, erasure, merges


@transaction.atomic
def consent_gpc_signal(
    *, actor: Actor, subject_id: Any = None, contact: tuple[str, str] | None = None, source_system: str = ""
) -> list[ConsentEvent]:
    """A Global Privacy Control signal (``Sec-GPC: 1``): an objection to every sale or sharing purpose."""
    kind, value = contact or ("", "")
    purposes = {purpose.code: purpose for purpose in Purpose.objects.filter(sale_or_share=True, is_active=True)}

    def prepare() -> list[_Prepared]:
        now = timezone.now()
        return [
            _prepare(
                EventInput(
                    purpose_code=code,
                    channel=ALL,
                    action=Action.OBJECT,
                    method=Method.GPC,
                    subject_id=subject_id,
                    contact_kind=kind,
                    contact_value=value,
                    source_system=source_system,
                    actor_kind=ActorKind.SUBJECT,
                    evidence={"sec_gpc": "1"},
                ),
                purposes,
                now,
            )
            for code in sorted(purposes)
        ]

    return _appended(prepare, actor)


def consents_expire(*, now: dt.datetime | None = None, batch_size: int = 5000) -> int:
    """Write an expiry event for every grant whose validity has run out. Safe to run any time, twice."""
    now = now or timezone.now()
    total = 0
    actor = Actor.system("consent_expiry")
    while True:
        try:
            with transaction.atomic():
                due = list(
                    ConsentState.objects.filter(status="granted", valid_until__lte=now)
                    .select_related()
                    .order_by("pk")[:batch_size]
                )
                if not due:
                    return total
                prepared = []
                for state in due:
                    evidence = {"expired_grant": str(state.last_event_id)}
                    row = _system_row(state, Action.EXPIRE, "expired", now, evidence)
                    prepared.append(_Prepared(row, _state_key(state), live_subject=state.subject_id is not None))
                with acting_as(actor):
                    _append(prepared)
                total += len(prepared)
        except _SubjectChanged:
            continue  # a subject of the batch was merged or erased since it was read: read the batch again


def _state_key(state: ConsentState) -> tuple[Any, ...]:
    if state.contact_index is not None:
        return ("c", state.contact_kind, bytes(state.contact_index), state.purpose_code, state.channel)
    return ("s", state.subject_id, state.purpose_code, state.channel)


def _system_row(
    state: ConsentState, action: str, status: str, now: dt.datetime, evidence: dict[str, Any]
) -> dict[str, Any]:
    """An event c360 itself writes for a state (expiry, merge), with no personal data in it."""
    chain = (
        f"c:{state.contact_kind}:{bytes(state.contact_index).hex()}" if state.contact_index else f"s:{state.subject_id}"
    )
    return {
        "id": uuid.uuid4(),
        "chain": chain,
        "subject_id": state.subject_id,
        "contact_kind": state.contact_kind,
        "contact_index": bytes(state.contact_index) if state.contact_index else None,
        "purpose_id": None,
        "purpose_code": state.purpose_code,
        "purpose_version": None,
        "channel": state.channel,
        "action": action,
        "status": status,
        "legal_basis": state.legal_basis,
        "notice_version_id": None,
        "method": Method.SYSTEM,
        "actor_kind": ActorKind.SYSTEM,
        "actor_ref": "",
        "source_system": "c360",
        "occurred_at": now,
        "recorded_at": now,
        "valid_until": None,
        "ip_enc": None,
        "user_agent_enc": None,
        "evidence": evidence,
    }


def on_subjects_merged(*, merges: list[tuple[Any, Any, Any]], at: dt.datetime, actor: Actor) -> None:
    """A merge never upgrades consent: the survivor takes, per purpose and channel, the most restrictive
    state of the two, written as merge events on its chain; the absorbed subject's states are closed."""
    if not merges:
        return
    absorbed_ids = [absorbed for _, absorbed, _ in merges]
    survivor_of = {absorbed: survivor for survivor, absorbed, _ in merges}
    decision_of = {absorbed: decision for _, absorbed, decision in merges}
    states = list(
        ConsentState.objects.filter(subject__in=[*absorbed_ids, *survivor_of.values()], contact_index__isnull=True)
    )
    current = {(state.subject_id, state.purpose_code, state.channel): state for state in states}
    prepared = []
    for state in states:
        survivor = survivor_of.get(state.subject_id)
        if survivor is None:
            continue
        theirs = current.get((survivor, state.purpose_code, state.channel))
        order = RESTRICTIVENESS_EVERY_PURPOSE if state.purpose_code == ALL else RESTRICTIVENESS
        if state.status == "granted" or (theirs and order.index(theirs.status) <= order.index(state.status)):
            continue  # a grant never travels; a refusal only when stricter than the survivor's own answer
        merged = ConsentState(
            subject_id=survivor, purpose_code=state.purpose_code, channel=state.channel, legal_basis=state.legal_basis
        )
        evidence = {
            "from_subject": str(state.subject_id),
            "from_event": str(state.last_event_id),
            "merge_decision": str(decision_of[state.subject_id]),
        }
        row = _system_row(merged, Action.MERGE, state.status, at, evidence)
        row["valid_until"] = state.valid_until
        prepared.append(_Prepared(row, ("s", survivor, state.purpose_code, state.channel)))
    with acting_as(actor):
        _append(prepared)
    ConsentState.objects.filter(subject__in=absorbed_ids, contact_index__isnull=True).delete()


def on_subject_erased(
    *, subject_ids: list[Any], contact_points: list[tuple[str, bytes]], at: dt.datetime, actor: Actor, reason: str
) -> None:
    """Erasure leaves proof and a promise: an erase-suppress event per subject, and every contact point
    of the person suppressed for good (only its blind index is kept)."""
    prepared = []
    for subject_id in subject_ids:
        placeholder = ConsentState(subject_id=subject_id, purpose_code=ALL, channel=ALL)
        row = _system_row(placeholder, Action.ERASE_SUPPRESS, "suppressed", at, {"reason": reason[:100]})
        row["method"] = Method.DSAR
        prepared.append(_Prepared(row, ("s", subject_id, ALL, ALL)))
    with acting_as(actor):
        events = _append(prepared)
    event = events[0] if events else None
    existing = set(
        Suppression.objects.filter(contact_index__in=[index for _, index in contact_points], channel=ALL).values_list(
            "contact_kind", "contact_index"
        )
    )
    Suppression.objects.bulk_create(
        [
            Suppression(contact_kind=kind, contact_index=index, channel=ALL, reason="erasure", since=at, event=event)
            for kind, index in dict.fromkeys(contact_points)
            if (kind, index) not in {(k, bytes(i)) for k, i in existing}
        ]
    )
    ConsentState.objects.filter(subject__in=subject_ids).exclude(purpose_code=ALL, channel=ALL).delete()


# ---------------------------------------------------------------- checkpoints


@transaction.atomic
def ledger_verification_record(*, actor: Actor) -> LedgerVerification:
    """Walk the whole ledger now and keep the result (the dashboard shows the latest)."""
    started = timezone.now()
    report = ledger_verify()
    verification = LedgerVerification.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        chains=report.chains,
        events=report.events,
        broken=len(report.broken),
        broken_links=[
            {"chain": link.chain, "sequence": link.sequence, "event": str(link.event_id), "problem": link.problem}
            for link in report.broken[:100]
        ],
        checkpoint=report.checkpoint,
        checkpoint_matches=report.checkpoint_matches,
        ok=not report.broken and report.checkpoint_matches is not False,
        run_by=str(actor)[:80],
    )
    log = logger.info if verification.ok else logger.error
    log("Ledger verification %s: %d chains, %d broken link(s)", verification.pk, report.chains, len(report.broken))
    return verification


def ledger_checkpoint(*, now: dt.datetime | None = None) -> LedgerCheckpoint:
    """Record the hash of every chain head: a later truncation or rewrite of any tail shows."""
    now = now or timezone.now()
    heads = heads_as_of(now)
    return LedgerCheckpoint.objects.create(
        taken_at=now,
        chains=len(heads),
        events=sum(sequence for _, sequence, _ in heads),
        heads_sha256=heads_digest(heads),
    )


# ---------------------------------------------------------------- the catalogue


@transaction.atomic
def purpose_save(*, purpose: Purpose, actor: Actor) -> Purpose:
    """Create or change a purpose. Each change is a new version; events keep the version they used.

    A consent purpose may not be swapped to another basis once people withdrew from it (EDPB 05/2020 §6):
    that would keep processing them under a different label.
    """
    purpose.full_clean()
    if purpose.pk is not None:
        before = Purpose.objects.select_for_update().get(pk=purpose.pk)
        swapped = before.needs_consent and not purpose.needs_consent
        if (
            swapped
            and ConsentState.objects.filter(purpose_code=before.code, status__in=["withdrawn", "objected"]).exists()
        ):
            raise ValidationError(
                {"lgpd_basis": ["People withdrew their consent to this purpose: its basis cannot be swapped."]}
            )
        purpose.version = before.version + 1
    purpose.updated_at = timezone.now()
    with acting_as(actor):
        purpose.save()
    transaction.on_commit(forget_cached_catalogue)
    forget_cached_catalogue()
    return purpose


@transaction.atomic
def notice_version_publish(*, version: NoticeVersion, actor: Actor) -> NoticeVersion:
    """Publish a notice text; once published it never changes (its SHA-256 is the proof)."""
    if version.pk is not None:
        raise ValidationError("A published notice version cannot change; publish a new version.")
    version.full_clean(exclude=["text_sha256"])
    with acting_as(actor):
        version.save()
    return version
