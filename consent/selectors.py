"""Reads of consent: the check (one recipient or a hundred thousand, same path), states and history.

A check reads a fixed handful of indexed queries for the whole list, never one per recipient:
who holds each address or number, their status, the projection rows that bear on the purpose and
channel, and the suppression list. ``decide`` then answers each recipient in memory.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from c360.lib.crypto import blind_index
from c360.lib.db import prepared_cursor
from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise
from consent.decisions import ALL, NEGATIVE, Decision, PurposeRule, Reason, Situation, StateView, decide
from consent.ledger import HASHED_FIELDS, BrokenLink, heads_digest, verify_chain
from consent.models import (
    CONSENT_BASES,
    LEGITIMATE_INTEREST_BASES,
    ConsentEvent,
    ConsentState,
    LedgerCheckpoint,
    Notice,
    NoticeVersion,
    Purpose,
    Suppression,
)
from profiles.models import Identifier, Source, SourceRecord, Subject
from profiles.records import external_index

RECIPIENT_KINDS = ("email", "phone", "subject_id", "external_id")
RULE_CACHE_SECONDS = 5.0
_rules: dict[str, tuple[float, PurposeRule | None]] = {}


@dataclass(frozen=True)
class Recipient:
    """Who a message would go to: an email, a phone number, a subject id, or a source's own id."""

    kind: str
    value: str
    source: str = ""


@dataclass(frozen=True)
class CheckResult:
    recipient: Recipient
    decision: Decision
    error: str = ""  # the recipient could not be read (e.g. not an email); the decision is then a no


def purpose_rule(code: str) -> PurposeRule | None:
    """The catalogue entry as ``decide`` needs it, cached for a few seconds (the check is the hot path;
    a catalogue change is seen within that time)."""
    cached = _rules.get(code)
    now = time.monotonic()
    if cached and cached[0] > now:
        return cached[1]
    purpose = Purpose.objects.filter(code=code).first()
    rule = None
    if purpose is not None:
        rule = rule_of(purpose)
    _rules[code] = (now + RULE_CACHE_SECONDS, rule)
    return rule


def forget_cached_rules() -> None:
    _rules.clear()


@dataclass
class _Target:
    """A recipient read: its contact point (blind index) and the subjects it stands for."""

    contact: tuple[str, bytes] | None = None
    subjects: list[uuid.UUID] | None = None
    error: str = ""


def _read(recipient: Recipient) -> _Target:
    try:
        if recipient.kind in {IdentifierKind.EMAIL, IdentifierKind.PHONE}:
            value = normalise(recipient.kind, recipient.value)
            return _Target(contact=(recipient.kind, blind_index(recipient.kind, value)))
        if recipient.kind == "subject_id":
            return _Target(subjects=[uuid.UUID(str(recipient.value))])
        if recipient.kind == "external_id":
            value = normalise(IdentifierKind.EXTERNAL, recipient.value)
            return _Target(contact=("external:" + recipient.source, external_index(recipient.source, value)))
    except IdentifierError as exc:
        return _Target(error=exc.message)
    except ValueError:
        return _Target(error="Not a subject id.")
    return _Target(error=f"Unknown recipient kind; use one of {', '.join(RECIPIENT_KINDS)}.")


def recipient_error(recipient: Recipient) -> str:
    """Why the recipient cannot be checked (not an email, not a subject id...), or "" when it can."""
    return _read(recipient).error


def parse_recipient(value: Any) -> Recipient | str:
    """A recipient from a bulk list, checked without a serializer per item (100,000 items)."""
    if not isinstance(value, dict):
        return "Give each recipient as an object."
    given = [kind for kind in RECIPIENT_KINDS if kind in value]
    unknown = set(value) - {*RECIPIENT_KINDS, "source"}
    if unknown:
        return f"Unknown field(s): {', '.join(sorted(map(str, unknown)))}."
    if len(given) != 1 or ("external_id" in value) != ("source" in value):
        return "Give exactly one of email, phone, subject_id, or external_id together with source."
    kind = given[0]
    if not isinstance(value[kind], str) or ("source" in value and not isinstance(value["source"], str)):
        return "Recipient values are text."
    return Recipient(kind, value[kind], value.get("source", ""))


def consent_check_many(
    recipients: Sequence[Recipient], *, purpose_code: str, channel: str, now: dt.datetime | None = None
) -> list[CheckResult]:
    """Decide for every recipient with set-based reads (one statement on PostgreSQL)."""
    now = now or timezone.now()
    rule = purpose_rule(purpose_code)
    targets = [_read(recipient) for recipient in recipients]
    contacts = {
        target.contact for target in targets if target.contact and not target.contact[0].startswith("external:")
    }
    external = {target.contact for target in targets if target.contact and target.contact[0].startswith("external:")}
    owners_of_records = _record_owners(external)
    asked = {subject_id for target in targets for subject_id in target.subjects or ()}
    asked |= {subject_id for owners in owners_of_records.values() for subject_id in owners}
    found = _lookup(contacts, asked, purpose_code, channel)
    holders = found.holders | owners_of_records
    for target in targets:
        if target.contact is not None:
            target.subjects = sorted(holders.get(target.contact, ()))

    results = []
    for recipient, target in zip(recipients, targets, strict=True):
        if target.error:
            decision = Decision(False, "invalid_recipient", "", (Reason.UNKNOWN_RECIPIENT,))
            results.append(CheckResult(recipient, decision, target.error))
            continue
        live = [found.live[subject_id] for subject_id in target.subjects or () if subject_id in found.live]
        owners = [f"s:{subject['id']}" for subject in live]
        contact_owner = f"c:{target.contact[0]}:{target.contact[1].hex()}" if target.contact else None
        views = [state for owner in owners for state in found.states.get(owner, ())]
        if contact_owner:
            views += found.states.get(contact_owner, [])
        is_suppressed = target.contact in found.suppressed
        situation = Situation(
            known=bool(live or views or is_suppressed),
            subject_status=_strictest_status(live),
            regimes=tuple(sorted({regime for subject in live for regime in subject["regimes"]})) or ("lgpd",),
            suppressed=is_suppressed,
            states=tuple(views),
        )
        results.append(CheckResult(recipient, decide(rule, channel, situation, now)))
    return results


def consent_check(recipient: Recipient, *, purpose_code: str, channel: str) -> CheckResult:
    """One recipient: the same path as a list of one."""
    return consent_check_many([recipient], purpose_code=purpose_code, channel=channel)[0]


def _strictest_status(subjects: list[dict[str, Any]]) -> str | None:
    statuses = {subject["status"] for subject in subjects}
    for status in ("erased", "restricted", "active"):
        if status in statuses:
            return status
    return None


_SUBJECT_COLUMNS = ("id", "status", "regimes", "merged_into_id")
_STATE_COLUMNS = (
    "subject_id",
    "contact_kind",
    "contact_index",
    "purpose_code",
    "channel",
    "status",
    "occurred_at",
    "last_event_id",
    "valid_until",
    "method",
    "actor_kind",
    "given_by_minor",
)
_MERGE_DEPTH = 8  # merges re-point earlier merges to the survivor, so chains are short; this only bounds a loop


@dataclass
class _Found:
    """What the store says about a set of contact points and subjects, for one purpose and channel."""

    holders: dict[tuple[str, bytes], set[uuid.UUID]] = field(default_factory=dict)  # contact -> subjects holding it
    live: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # asked subject -> its live (unmerged) row
    suppressed: set[tuple[str, bytes]] = field(default_factory=set)
    states: dict[str, list[StateView]] = field(default_factory=dict)  # owner ("s:..." or "c:...") -> states

    def add_state(self, row: dict[str, Any]) -> None:
        view = _state_view(row)
        self.states.setdefault(view.owner, []).append(view)


def _lookup(contacts: set[tuple[str, bytes]], asked: set[uuid.UUID], purpose_code: str, channel: str) -> _Found:
    if not contacts and not asked:
        return _Found()
    if connection.vendor == "postgresql":
        return _pg_lookup(contacts, asked, purpose_code, channel)
    return _orm_lookup(contacts, asked, purpose_code, channel)


# The check is the product's hot path. On PostgreSQL it is one statement, prepared once per connection
# (server-side binding), whose rows are tagged: h = who holds an address or number, l = the live subject
# each asked or holding subject stands for (merges followed), x = a suppression, s = a projection row.
_NO_STATE = "NULL::varchar, NULL::varchar, NULL::timestamptz, NULL::uuid, NULL::timestamptz, NULL, NULL, NULL::boolean"
_STATE_TAIL = "purpose_code, channel, occurred_at, last_event_id, valid_until, method, actor_kind, given_by_minor"
_SUBJECTS = Subject._meta.db_table
_STATES = ConsentState._meta.db_table
_PG_CHECK = f"""
WITH RECURSIVE holder AS (
    SELECT kind, blind_index, subject_id
      FROM {Identifier._meta.db_table}
     WHERE namespace = '' AND blind_index = ANY(%(indexes)s::bytea[])
), asked AS (
    SELECT subject_id AS id FROM holder
     UNION SELECT unnest(%(subjects)s::uuid[])
), chain AS (
    SELECT s.id AS asked_id, s.id, s.status, s.regimes, s.merged_into_id, 0 AS depth
      FROM {_SUBJECTS} s WHERE s.id IN (SELECT id FROM asked)
     UNION ALL
    SELECT c.asked_id, s.id, s.status, s.regimes, s.merged_into_id, c.depth + 1
      FROM chain c JOIN {_SUBJECTS} s ON s.id = c.merged_into_id
     WHERE c.status = '{Subject.Status.MERGED}' AND c.depth < {_MERGE_DEPTH}
), live AS (
    SELECT asked_id, id, status, regimes FROM chain WHERE status <> '{Subject.Status.MERGED}'
)
SELECT 'h', kind, blind_index, subject_id, NULL::uuid, NULL::varchar, NULL::text, {_NO_STATE} FROM holder
UNION ALL
SELECT 'l', NULL, NULL, asked_id, id, status, regimes::text, {_NO_STATE} FROM live
UNION ALL
SELECT 'x', contact_kind, contact_index, NULL, NULL, NULL, NULL, {_NO_STATE}
  FROM {Suppression._meta.db_table}
 WHERE (contact_kind, contact_index) IN (SELECT * FROM unnest(%(kinds)s::varchar[], %(indexes)s::bytea[]))
   AND channel IN (%(channel)s, '{ALL}')
UNION ALL
SELECT 's', contact_kind, contact_index, subject_id, NULL, status, NULL, {_STATE_TAIL}
  FROM {_STATES}
 WHERE contact_index IS NULL AND subject_id IN (SELECT id FROM live)
   AND purpose_code IN (%(purpose)s, '{ALL}') AND channel IN (%(channel)s, '{ALL}')
UNION ALL
SELECT 's', contact_kind, contact_index, subject_id, NULL, status, NULL, {_STATE_TAIL}
  FROM {_STATES}
 WHERE (contact_kind, contact_index) IN (SELECT * FROM unnest(%(kinds)s::varchar[], %(indexes)s::bytea[]))
   AND purpose_code IN (%(purpose)s, '{ALL}') AND channel IN (%(channel)s, '{ALL}')
"""  # noqa: S608 - table and column names from model metadata, every value a parameter


def _pg_lookup(contacts: set[tuple[str, bytes]], asked: set[uuid.UUID], purpose_code: str, channel: str) -> _Found:
    found = _Found()
    ordered = sorted(contacts)
    params = {
        "kinds": [kind for kind, _ in ordered],
        "indexes": [index for _, index in ordered],
        "subjects": sorted(asked),
        "purpose": purpose_code,
        "channel": channel,
    }
    # One recipient (the single check, before every message): prepared once per connection, one generic plan.
    # A list: planned for its size (a generic plan for 5,000 ids costs more than planning). Binary either way.
    with prepared_cursor(prepare=len(contacts) + len(asked) <= 1) as cursor:
        cursor.execute(_PG_CHECK, params)
        rows = cursor.fetchall()
    for tag, kind, index, subject_id, other_id, status, regimes, *state in rows:
        key = (kind, bytes(index)) if index is not None else None
        if tag == "h":
            if key in contacts:
                found.holders.setdefault(key, set()).add(subject_id)
        elif tag == "l":
            found.live[subject_id] = {"id": other_id, "status": status, "regimes": json.loads(regimes)}
        elif tag == "x":
            if key in contacts:
                found.suppressed.add(key)
        elif key is None or key in contacts:
            purpose, state_channel, occurred_at, event_id, valid_until, method, actor_kind, minor = state
            found.add_state(
                {
                    "subject_id": subject_id,
                    "contact_kind": kind,
                    "contact_index": index,
                    "purpose_code": purpose,
                    "channel": state_channel,
                    "status": status,
                    "occurred_at": occurred_at,
                    "last_event_id": event_id,
                    "valid_until": valid_until,
                    "method": method,
                    "actor_kind": actor_kind,
                    "given_by_minor": minor,
                }
            )
    return found


def _orm_lookup(contacts: set[tuple[str, bytes]], asked: set[uuid.UUID], purpose_code: str, channel: str) -> _Found:
    """The same reads through the ORM, for the other databases (SQLite in the demo and tests)."""
    found = _Found()
    indexes = [index for _, index in contacts]
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    if indexes:
        holders = Identifier.objects.filter(blind_index__any=indexes, namespace="").values_list(
            "kind", "blind_index", *(f"subject__{column}" for column in _SUBJECT_COLUMNS)
        )
        for kind, index, *subject in holders:
            key = (kind, bytes(index))
            if key in contacts:
                found.holders.setdefault(key, set()).add(subject[0])
                rows[subject[0]] = dict(zip(_SUBJECT_COLUMNS, subject, strict=True))
        suppressions = Suppression.objects.filter(contact_index__any=indexes, channel__in=[channel, ALL])
        for kind, index in suppressions.values_list("contact_kind", "contact_index"):
            if (kind, bytes(index)) in contacts:
                found.suppressed.add((kind, bytes(index)))
    asked = asked | {subject_id for holders in found.holders.values() for subject_id in holders}
    found.live = _live_subjects(asked, rows)
    scope = Q(purpose_code__in=[purpose_code, ALL], channel__in=[channel, ALL])
    live_ids = [row["id"] for row in found.live.values()]
    queries = []
    if live_ids:
        queries.append(ConsentState.objects.filter(scope, subject_id__any=live_ids, contact_index__isnull=True))
    if indexes:
        queries.append(ConsentState.objects.filter(scope, contact_index__any=indexes))
    for query in queries:
        for row in query.values(*_STATE_COLUMNS):
            if row["contact_index"] is None or (row["contact_kind"], bytes(row["contact_index"])) in contacts:
                found.add_state(row)
    return found


def _record_owners(external: set[tuple[str, bytes]]) -> dict[tuple[str, bytes], set[uuid.UUID]]:
    if not external:
        return {}
    codes = {source_id: code for code, source_id in Source.objects.values_list("code", "id")}
    rows = SourceRecord.objects.filter(
        external_id_index__any=[index for _, index in external], status=SourceRecord.Status.LINKED
    ).values_list("source_id", "external_id_index", "subject_id")
    found: dict[tuple[str, bytes], set[uuid.UUID]] = {}
    for source_id, index, subject_id in rows:
        key = ("external:" + codes[source_id], bytes(index))
        if key in external:
            found.setdefault(key, set()).add(subject_id)
    return found


def _live_subjects(
    subject_ids: set[uuid.UUID], known: dict[uuid.UUID, dict[str, Any]]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Each subject's live row: merged ones replaced by the subject they were merged into."""
    rows = dict(known)
    for _ in range(_MERGE_DEPTH + 1):
        wanted = (subject_ids - set(rows)) | {
            row["merged_into_id"] for row in rows.values() if row["status"] == Subject.Status.MERGED
        }
        wanted -= set(rows)
        if not wanted:
            break
        rows.update({row["id"]: row for row in Subject.objects.filter(pk__any=list(wanted)).values(*_SUBJECT_COLUMNS)})
    live: dict[uuid.UUID, dict[str, Any]] = {}
    for subject_id in subject_ids:
        row = rows.get(subject_id)
        for _ in range(_MERGE_DEPTH + 1):
            if row is None or row["status"] != Subject.Status.MERGED:
                break
            row = rows.get(row["merged_into_id"])
        if row is not None and row["status"] != Subject.Status.MERGED:
            live[subject_id] = row
    return live


def _state_view(row: dict[str, Any]) -> StateView:
    """A projection row (``_STATE_COLUMNS``) as decide() reads it; its owner is the chain it belongs to."""
    owner = (
        f"c:{row['contact_kind']}:{bytes(row['contact_index']).hex()}"
        if row["contact_index"] is not None
        else f"s:{row['subject_id']}"
    )
    return StateView(
        owner=owner,
        purpose_code=row["purpose_code"],
        channel=row["channel"],
        status=row["status"],
        occurred_at=row["occurred_at"],
        event_id=str(row["last_event_id"]),
        valid_until=row["valid_until"],
        method=row["method"],
        actor_kind=row["actor_kind"],
        given_by_minor=row["given_by_minor"],
    )


# ---------------------------------------------------------------- states and history for people


def subject_consent_states(subject_id: uuid.UUID | str) -> QuerySet[ConsentState]:
    return ConsentState.objects.filter(subject_id=subject_id).order_by("purpose_code", "channel")


def subject_consent_history(subject_id: uuid.UUID | str) -> QuerySet[ConsentEvent]:
    return ConsentEvent.objects.filter(chain=f"s:{subject_id}").select_related("notice_version").order_by("sequence")


def chains(batch: int = 2000) -> Iterable[str]:
    """Every chain name, streamed."""
    return ConsentEvent.objects.values_list("chain", flat=True).distinct().order_by("chain").iterator(chunk_size=batch)


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class LedgerReport:
    chains: int
    events: int
    broken: list[BrokenLink]
    checkpoint: LedgerCheckpoint | None
    checkpoint_matches: bool | None


def ledger_verify(*, chunk: int = 5000) -> LedgerReport:
    """Walk every chain in order and report each broken link; then re-check the last daily checkpoint."""
    rows = (
        ConsentEvent.objects.order_by("chain", "sequence")
        .values(*{*HASHED_FIELDS, "hash"} - {"subject_id", "notice_version_id"}, "subject_id", "notice_version_id")
        .iterator(chunk_size=chunk)
    )
    broken: list[BrokenLink] = []
    chains = events = 0
    for _, chain_rows in groupby(rows, key=lambda row: row["chain"]):
        chain_list = list(chain_rows)
        chains += 1
        events += len(chain_list)
        broken.extend(verify_chain(chain_list))
    checkpoint = LedgerCheckpoint.objects.first()
    matches = None
    if checkpoint is not None:
        matches = heads_digest(heads_as_of(checkpoint.taken_at)) == checkpoint.heads_sha256
    return LedgerReport(chains, events, broken, checkpoint, matches)


def heads_as_of(moment: dt.datetime) -> list[tuple[str, int, str]]:
    latest = (
        ConsentEvent.objects.filter(chain=OuterRef("chain"), recorded_at__lte=moment)
        .order_by("-sequence")
        .values("sequence")[:1]
    )
    rows = ConsentEvent.objects.filter(recorded_at__lte=moment, sequence=Subquery(latest))
    return list(rows.values_list("chain", "sequence", "hash"))


# ---------------------------------------------------------------- the portal: what one person sees

# How each channel reaches people, as the writers check it: a consent tied to a contact point must match.
CONTACT_KIND_OF_CHANNEL = {"email": "email", "sms": "phone", "whatsapp": "phone", "phone": "phone"}
PORTAL_NOTICE_FALLBACK = "pt-br"
_STATUS_REASON = {
    "denied": Reason.DENIED,
    "withdrawn": Reason.WITHDRAWN,
    "expired": Reason.EXPIRED,
    "objected": Reason.OBJECTED,
}


@dataclass(frozen=True)
class ConsentOwner:
    """The person of a portal session: the contact point they proved, and their subject when c360 holds one."""

    contact_kind: str
    contact_index: bytes
    subject_id: uuid.UUID | None = None

    @property
    def contact_chain(self) -> str:
        return f"c:{self.contact_kind}:{self.contact_index.hex()}"

    @property
    def chains(self) -> list[str]:
        """The ledger chains of the person: their subject's, and their contact point's."""
        return [f"s:{self.subject_id}", self.contact_chain] if self.subject_id else [self.contact_chain]

    def reaches(self, channel: str) -> bool:
        """Whether consent for ``channel`` can be recorded for this person (by contact point, only its kind)."""
        return self.subject_id is not None or CONTACT_KIND_OF_CHANNEL.get(channel, self.contact_kind) == (
            self.contact_kind
        )


@dataclass(frozen=True)
class ChannelConsent:
    """One row of the consents page: the person's answer for a purpose on a channel, and what it does."""

    channel: str
    status: str  # granted, denied, withdrawn, objected, expired; "" when never asked
    since: dt.datetime | None
    valid_until: dt.datetime | None
    in_effect: bool  # whether the check would allow contact now
    blocked_by: tuple[Reason, ...]  # what stops a grant from taking effect (an objection, an opt-out...)
    manageable: bool  # the signed-in contact point can record consent for this channel
    lift_contact_refusal: bool  # a refusal stands on the signed-in contact point: a grant must lift it too

    @property
    def granted(self) -> bool:
        return self.status == "granted"


@dataclass(frozen=True)
class PurposeConsents:
    purpose: Purpose
    notice: NoticeVersion | None
    channels: tuple[ChannelConsent, ...]


@dataclass(frozen=True)
class PurposeObjection:
    purpose: Purpose
    objected: StateView | None


@dataclass(frozen=True)
class PortalConsents:
    consents: list[PurposeConsents]
    objections: list[PurposeObjection]
    marketing_objection: StateView | None


def purposes_active() -> list[Purpose]:
    """The catalogue people are told about: every active purpose, by code."""
    return list(Purpose.objects.filter(is_active=True).order_by("code"))


def purpose_active(*, code: str) -> Purpose | None:
    return Purpose.objects.filter(code=code, is_active=True).first() if code else None


def notice_versions_shown(
    *, purposes: Sequence[Purpose], language: str, now: dt.datetime | None = None
) -> dict[int, NoticeVersion]:
    """Per purpose id: the newest published text of a notice linked to it, in ``language``, else in pt-br.

    Two queries whatever the number of purposes."""
    now = now or timezone.now()
    links = Notice.purposes.through.objects.filter(purpose_id__in=[purpose.pk for purpose in purposes])
    notices_of: dict[int, set[int]] = {}
    for purpose_id, notice_id in links.values_list("purpose_id", "notice_id"):
        notices_of.setdefault(purpose_id, set()).add(notice_id)
    if not notices_of:
        return {}
    languages = list(dict.fromkeys([language, PORTAL_NOTICE_FALLBACK]))
    newest: dict[tuple[int, str], NoticeVersion] = {}
    versions = NoticeVersion.objects.filter(
        notice_id__in={notice for notices in notices_of.values() for notice in notices},
        language__in=languages,
        published_at__lte=now,
    ).order_by("published_at", "version", "pk")
    for version in versions:
        newest[version.notice_id, version.language] = version  # ascending: the last one wins
    shown: dict[int, NoticeVersion] = {}
    for purpose_id, notices in notices_of.items():
        for wanted in languages:
            candidates = [newest[notice, wanted] for notice in notices if (notice, wanted) in newest]
            if candidates:
                shown[purpose_id] = max(candidates, key=lambda version: (version.published_at, version.version))
                break
    return shown


def notice_version_of_purpose(
    *, purpose: Purpose, notice_version_id: Any, now: dt.datetime | None = None
) -> NoticeVersion | None:
    """The notice version if it is a published text of a notice linked to the purpose; None otherwise."""
    try:
        pk = int(notice_version_id)
    except (TypeError, ValueError):
        return None
    return NoticeVersion.objects.filter(
        pk=pk, notice__purposes=purpose, published_at__lte=now or timezone.now()
    ).first()


def owner_consent_states(*, owner: ConsentOwner) -> list[StateView]:
    """Every projection row of the person (their subject, and their contact point), in one query."""
    scope = Q(contact_kind=owner.contact_kind, contact_index=owner.contact_index)
    if owner.subject_id is not None:
        scope |= Q(subject_id=owner.subject_id, contact_index__isnull=True)
    return [_state_view(row) for row in ConsentState.objects.filter(scope).values(*_STATE_COLUMNS)]


def rule_of(purpose: Purpose) -> PurposeRule:
    """What decide() needs to know of a catalogue entry."""
    return PurposeRule(
        code=purpose.code,
        is_active=purpose.is_active,
        channels=frozenset(purpose.channels),
        lgpd_basis=purpose.lgpd_basis,
        gdpr_basis=purpose.gdpr_basis,
        consent_bases=frozenset(CONSENT_BASES),
        legitimate_interest_bases=frozenset(LEGITIMATE_INTEREST_BASES),
        direct_marketing=purpose.direct_marketing,
        sale_or_share=purpose.sale_or_share,
        minors_need_guardian=purpose.minors_need_guardian,
    )


def _effective_status(state: StateView | None, now: dt.datetime) -> str:
    if state is None:
        return ""
    if state.status == "granted" and state.valid_until is not None and state.valid_until <= now:
        return "expired"
    return state.status


def _latest_per_owner(states: Iterable[StateView]) -> dict[str, StateView]:
    latest: dict[str, StateView] = {}
    for state in states:
        if state.owner not in latest or state.occurred_at > latest[state.owner].occurred_at:
            latest[state.owner] = state
    return latest


def _answer(states: list[StateView], now: dt.datetime) -> StateView | None:
    """As the check reads it: per owner the latest, across owners any refusal stands (the strictest)."""
    candidates = list(_latest_per_owner(states).values())
    for status in NEGATIVE:
        for state in candidates:
            if _effective_status(state, now) == status:
                return state
    return max(candidates, key=lambda state: state.occurred_at, default=None)


def _channel_consent(
    purpose: Purpose, channel: str, owner: ConsentOwner, states: list[StateView], now: dt.datetime
) -> ChannelConsent:
    relevant = [state for state in states if state.purpose_code == purpose.code and state.channel in {channel, ALL}]
    answer = _answer(relevant, now)
    status = _effective_status(answer, now)
    decision = decide(
        rule_of(purpose),
        channel,
        # Both regimes: a purpose that needs consent under either law is offered as consent.
        Situation(known=True, regimes=("gdpr", "lgpd"), states=tuple(states)),
        now,
    )
    # What the status itself explains is not repeated; the rest is what stops the answer taking effect.
    explained = {Reason.NO_RECORD, Reason.GRANTED, Reason.LEGITIMATE_INTEREST, Reason.OTHER_LEGAL_BASIS}
    explained |= {_STATUS_REASON.get(status, Reason.NO_RECORD)}
    if status == "objected":
        explained.add(Reason.GPC_OPT_OUT)
    blocked_by = tuple(reason for reason in decision.reasons if reason not in explained)
    contact_state = _latest_per_owner(state for state in relevant if state.owner == owner.contact_chain).get(
        owner.contact_chain
    )
    contact_refused = _effective_status(contact_state, now) in NEGATIVE
    return ChannelConsent(
        channel=channel,
        status=status,
        since=answer.occurred_at if answer else None,
        valid_until=answer.valid_until if answer and status == "granted" else None,
        in_effect=decision.allowed,
        blocked_by=blocked_by,
        manageable=owner.reaches(channel),
        lift_contact_refusal=(
            owner.subject_id is not None
            and contact_refused
            and CONTACT_KIND_OF_CHANNEL.get(channel, owner.contact_kind) == owner.contact_kind
        ),
    )


def channel_consent(
    *, owner: ConsentOwner, purpose: Purpose, channel: str, now: dt.datetime | None = None
) -> ChannelConsent:
    """The person's answer for one purpose on one channel, as the consents page shows it."""
    return _channel_consent(purpose, channel, owner, owner_consent_states(owner=owner), now or timezone.now())


def portal_consents(*, owner: ConsentOwner, language: str, now: dt.datetime | None = None) -> PortalConsents:
    """The consents page of one person: per consent purpose and channel, their answer and what it does;
    the purposes they may object to; and whether they objected to all direct marketing.

    A fixed handful of queries (purposes, notice links, notice texts, states), however long the catalogue."""
    now = now or timezone.now()
    purposes = purposes_active()
    consent_purposes = [purpose for purpose in purposes if purpose.needs_consent]
    notices = notice_versions_shown(purposes=consent_purposes, language=language, now=now)
    states = owner_consent_states(owner=owner)
    marketing = [
        state
        for state in states
        if state.purpose_code == ALL and state.channel == ALL and state.status == "objected" and state.method != "gpc"
    ]
    return PortalConsents(
        consents=[
            PurposeConsents(
                purpose=purpose,
                notice=notices.get(purpose.pk),
                channels=tuple(
                    _channel_consent(purpose, channel, owner, states, now)
                    for channel in purpose.channels
                    if channel != ALL
                ),
            )
            for purpose in consent_purposes
        ],
        objections=[
            PurposeObjection(
                purpose=purpose,
                objected=max(
                    (state for state in states if state.purpose_code == purpose.code and state.status == "objected"),
                    key=lambda state: state.occurred_at,
                    default=None,
                ),
            )
            for purpose in purposes
            if purpose.lgpd_basis in LEGITIMATE_INTEREST_BASES or purpose.gdpr_basis in LEGITIMATE_INTEREST_BASES
        ],
        marketing_objection=min(marketing, key=lambda state: state.occurred_at, default=None),
    )


def owner_consent_history(*, owner: ConsentOwner) -> QuerySet[ConsentEvent]:
    """Every ledger event of the person, newest first, with the notice text each grant was given on."""
    return (
        ConsentEvent.objects.filter(chain__in=owner.chains)
        .select_related("notice_version")
        .order_by("-occurred_at", "-recorded_at", "-sequence")
    )
