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
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from django.db import connection
from django.db.models import CharField, JSONField, OuterRef, Q, QuerySet, Subquery, UUIDField, Value
from django.utils import timezone

from c360.lib.crypto import blind_index
from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise
from consent.decisions import ALL, Decision, PurposeRule, Reason, Situation, StateView, decide
from consent.ledger import HASHED_FIELDS, BrokenLink, heads_digest, verify_chain
from consent.models import (
    CONSENT_BASES,
    LEGITIMATE_INTEREST_BASES,
    ConsentEvent,
    ConsentState,
    LedgerCheckpoint,
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
        rule = PurposeRule(
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
    """Decide for every recipient with a handful of set-based queries."""
    now = now or timezone.now()
    rule = purpose_rule(purpose_code)
    targets = [_read(recipient) for recipient in recipients]
    contacts = {
        target.contact for target in targets if target.contact and not target.contact[0].startswith("external:")
    }
    external = {target.contact for target in targets if target.contact and target.contact[0].startswith("external:")}

    holders, rows, suppressed = _holders(contacts, channel)
    holders |= _record_owners(external)
    for target in targets:
        if target.contact is not None:
            target.subjects = sorted(holders.get(target.contact, ()))
    subject_ids = {subject_id for target in targets for subject_id in target.subjects or ()}
    subjects = _subjects(subject_ids, rows)
    states = _states({row["id"] for row in subjects.values()}, contacts, purpose_code, channel)

    results = []
    for recipient, target in zip(recipients, targets, strict=True):
        if target.error:
            decision = Decision(False, "invalid_recipient", "", (Reason.UNKNOWN_RECIPIENT,))
            results.append(CheckResult(recipient, decision, target.error))
            continue
        live = [subjects[subject_id] for subject_id in target.subjects or () if subject_id in subjects]
        owners = [f"s:{subject['id']}" for subject in live]
        contact_owner = f"c:{target.contact[0]}:{target.contact[1].hex()}" if target.contact else None
        views = [state for owner in owners for state in states.get(owner, ())]
        if contact_owner:
            views += states.get(contact_owner, [])
        is_suppressed = target.contact in suppressed
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
_SUPPRESSED = "suppressed"


def _holders(
    contacts: set[tuple[str, bytes]], channel: str
) -> tuple[dict[tuple[str, bytes], set[uuid.UUID]], dict[uuid.UUID, dict[str, Any]], set[tuple[str, bytes]]]:
    """In one query: who holds each address or number (with their subject row), and which are suppressed."""
    found: dict[tuple[str, bytes], set[uuid.UUID]] = {}
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    suppressed: set[tuple[str, bytes]] = set()
    if not contacts:
        return found, rows, suppressed
    for kind, index, *subject in _holder_rows([index for _, index in contacts], channel):
        key = (kind, bytes(index))
        if key not in contacts:
            continue
        if subject[1] == _SUPPRESSED and subject[0] is None:
            suppressed.add(key)
            continue
        if isinstance(subject[2], str):
            subject[2] = json.loads(subject[2])
        found.setdefault(key, set()).add(subject[0])
        rows[subject[0]] = dict(zip(_SUBJECT_COLUMNS, subject, strict=True))
    return found, rows, suppressed


# The check is the product's hot path: on PostgreSQL its two queries are written out, because compiling the
# equivalent ORM unions costs more than running them. The ORM versions below serve the other databases.
_HEX_ARRAY = "ANY(ARRAY(SELECT decode(item, 'hex') FROM unnest(%s::text[]) AS item))"
_PG_HOLDERS = f"""
SELECT i.kind, i.blind_index, s.id, s.status, s.regimes::text, s.merged_into_id
  FROM {Identifier._meta.db_table} i JOIN {Subject._meta.db_table} s ON s.id = i.subject_id
 WHERE i.namespace = '' AND i.blind_index = {_HEX_ARRAY}
UNION ALL
SELECT contact_kind, contact_index, NULL, '{_SUPPRESSED}', NULL, NULL
  FROM {Suppression._meta.db_table}
 WHERE contact_index = {_HEX_ARRAY} AND channel IN (%s, '{ALL}')
"""  # noqa: S608 - table names from model metadata, every value a parameter


def _holder_rows(indexes: list[bytes], channel: str) -> Iterable[Sequence[Any]]:
    if connection.vendor == "postgresql":
        hexes = [index.hex() for index in indexes]
        with connection.cursor() as cursor:
            cursor.execute(_PG_HOLDERS, [hexes, hexes, channel])
            return [list(row) for row in cursor.fetchall()]
    holders = Identifier.objects.filter(blind_index__any=indexes, namespace="").values_list(
        "kind", "blind_index", *(f"subject__{column}" for column in _SUBJECT_COLUMNS)
    )
    suppressions = (
        Suppression.objects.filter(contact_index__any=indexes, channel__in=[channel, ALL])
        .annotate(
            no_id=Value(None, output_field=UUIDField()),
            mark=Value(_SUPPRESSED, output_field=CharField()),
            no_regimes=Value(None, output_field=JSONField()),
            no_merge=Value(None, output_field=UUIDField()),
        )
        .values_list("contact_kind", "contact_index", "no_id", "mark", "no_regimes", "no_merge")
    )
    return [list(row) for row in holders.union(suppressions, all=True)]


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


def _subjects(subject_ids: set[uuid.UUID], known: dict[uuid.UUID, dict[str, Any]]) -> dict[uuid.UUID, dict[str, Any]]:
    """The subjects, merged ones replaced by the subject they were merged into (rows already read are reused)."""
    rows = dict(known)
    if missing := subject_ids - set(rows):
        rows.update({row["id"]: row for row in Subject.objects.filter(pk__any=list(missing)).values(*_SUBJECT_COLUMNS)})
    survivors = {row["merged_into_id"] for row in rows.values() if row["status"] == Subject.Status.MERGED}
    if survivors - set(rows):
        extra = Subject.objects.filter(pk__any=list(survivors - set(rows))).values(*_SUBJECT_COLUMNS)
        rows.update({row["id"]: row for row in extra})
    live: dict[uuid.UUID, dict[str, Any]] = {}
    for subject_id in subject_ids:
        row = rows.get(subject_id)
        while row is not None and row["status"] == Subject.Status.MERGED:
            row = rows.get(row["merged_into_id"])
        if row is not None:
            live[subject_id] = row
    return live


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
_STATE_SELECT = ", ".join(_STATE_COLUMNS)
_PG_STATES = f"""
SELECT {_STATE_SELECT} FROM {ConsentState._meta.db_table}
 WHERE contact_index IS NULL AND subject_id = ANY(%s::uuid[])
   AND purpose_code IN (%s, '{ALL}') AND channel IN (%s, '{ALL}')
UNION ALL
SELECT {_STATE_SELECT} FROM {ConsentState._meta.db_table}
 WHERE contact_index = {_HEX_ARRAY} AND purpose_code IN (%s, '{ALL}') AND channel IN (%s, '{ALL}')
"""  # noqa: S608 - column and table names from model metadata, every value a parameter


def _state_rows(
    subject_ids: list[uuid.UUID], indexes: list[bytes], purpose_code: str, channel: str
) -> Iterable[dict[str, Any]]:
    if not subject_ids and not indexes:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _PG_STATES,
                [subject_ids, purpose_code, channel, [index.hex() for index in indexes], purpose_code, channel],
            )
            return [dict(zip(_STATE_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    scope = Q(purpose_code__in=[purpose_code, ALL], channel__in=[channel, ALL])
    queries = []
    if subject_ids:
        queries.append(ConsentState.objects.filter(scope, subject_id__any=subject_ids, contact_index__isnull=True))
    if indexes:
        queries.append(ConsentState.objects.filter(scope, contact_index__any=indexes))
    selected = [query.values(*_STATE_COLUMNS) for query in queries]
    return selected[0].union(*selected[1:], all=True) if len(selected) > 1 else selected[0]


def _states(
    subject_rows: set[uuid.UUID], contacts: set[tuple[str, bytes]], purpose_code: str, channel: str
) -> dict[str, list[StateView]]:
    found: dict[str, list[StateView]] = {}
    for state in _state_rows(list(subject_rows), [index for _, index in contacts], purpose_code, channel):
        owner = (
            f"c:{state['contact_kind']}:{bytes(state['contact_index']).hex()}"
            if state["contact_index"] is not None
            else f"s:{state['subject_id']}"
        )
        found.setdefault(owner, []).append(
            StateView(
                owner=owner,
                purpose_code=state["purpose_code"],
                channel=state["channel"],
                status=state["status"],
                occurred_at=state["occurred_at"],
                event_id=str(state["last_event_id"]),
                valid_until=state["valid_until"],
                method=state["method"],
                actor_kind=state["actor_kind"],
                given_by_minor=state["given_by_minor"],
            )
        )
    return found


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
