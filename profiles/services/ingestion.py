"""Ingesting source records: validate, quarantine, resolve identities, merge, survive, encrypt, record.

One batch is one transaction and a fixed handful of set-based statements (COPY on PostgreSQL), never
a query per record; rows travel as plain dicts because a Django model instance per row costs more
than the database does. Batches are serialised by a lock, so two concurrent batches cannot each
create the same person.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from rapidfuzz import fuzz

from c360.lib.crypto import data_key_open
from c360.lib.errors import Conflict, Gone, NotFound, ValidationFailed
from c360.lib.history import Actor, acting_as
from c360.lib.identifiers import IdentifierKind
from profiles.models import (
    Identifier,
    MatchBlock,
    RecordKey,
    Source,
    SourceRecord,
    Subject,
    SubjectAccess,
    SubjectKey,
)
from profiles.records import CleanRecord, Name, RejectedRecord, clean_record
from profiles.resolution import Evidence, IncomingRecord, Key, Plan, names_compatible, resolve
from profiles.services._batch import LIVE, RECORD_COLUMNS, RECORDS, Batch, Item, lock_resolution
from profiles.services.subjects import clean_reason

logger = logging.getLogger(__name__)

MAX_BATCH = 10_000
WEAK_NAME_SIMILARITY = 90
_BLOCKED_EMAIL_LOCAL_PARTS = frozenset(
    {
        "noreply",
        "no-reply",
        "donotreply",
        "do-not-reply",
        "naoresponda",
        "nao-responda",
        "naoresponder",
        "test",
        "teste",
        "testing",
        "example",
        "exemplo",
        "null",
        "none",
        "nobody",
        "unknown",
        "desconhecido",
        "sememail",
        "sem-email",
        "semmail",
        "nomail",
        "noemail",
        "x",
        "xx",
        "xxx",
    }
)

_RULE_LABELS = {"cpf": "CPF", "verified_email": "verified email", "email": "email", "phone": "phone"}


@dataclass
class RecordOutcome:
    """What happened to one record: created, updated, unchanged, quarantined, erased or superseded."""

    position: int
    status: str = ""
    record_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    match: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] | None = None


@dataclass
class IngestResult:
    outcomes: list[RecordOutcome]
    counts: Counter[str]


def is_blocked_value(kind: str, normalised: str) -> bool:
    """Values that identify nobody: role addresses, test numbers, configured placeholders."""
    if normalised in settings.C360_RESOLUTION_BLOCKED_VALUES.get(kind, ()):
        return True
    if kind == IdentifierKind.EMAIL:
        return normalised.partition("@")[0] in _BLOCKED_EMAIL_LOCAL_PARTS
    if kind == IdentifierKind.PHONE:
        subscriber = normalised[-8:]
        return len(set(subscriber)) <= 1 or subscriber == "12345678"
    return False


# ---------------------------------------------------------------- resolution of a batch


def _rule_keys(clean: CleanRecord) -> dict[str, list[Key]]:
    keys: dict[str, list[Key]] = {"cpf": [], "verified_email": [], "email": [], "phone": []}
    for identifier in clean.identifiers:
        if identifier.kind == IdentifierKind.CPF:
            keys["cpf"].append(identifier.key)
        elif identifier.kind == IdentifierKind.EMAIL:
            keys["email"].append(identifier.key)
            if identifier.is_verified:
                keys["verified_email"].append(identifier.key)
        elif identifier.kind == IdentifierKind.PHONE:
            keys["phone"].append(identifier.key)
    return keys


def _record_evidence(clean: CleanRecord) -> Evidence:
    return Evidence(
        cpfs={identifier.index for identifier in clean.identifiers if identifier.kind == IdentifierKind.CPF},
        names=[clean.name] if clean.name else [],
        birth_dates={clean.birth_date} if clean.birth_date else set(),
    )


def _subject_evidence(batch: Batch, subject_ids: set[uuid.UUID]) -> dict[uuid.UUID, Evidence]:
    blocked: dict[uuid.UUID, set[uuid.UUID]] = {}
    pairs = list(
        MatchBlock.objects.filter(Q(subject_a__in=subject_ids) | Q(subject_b__in=subject_ids)).values_list(
            "subject_a", "subject_b"
        )
    )
    pairs += [(block.subject_a_id, block.subject_b_id) for block in batch.blocks]  # decided in this batch
    for first, second in pairs:
        blocked.setdefault(first, set()).add(second)
        blocked.setdefault(second, set()).add(first)
    return {
        subject_id: Evidence(
            cpfs={key[2] for key in state.identifiers if key[0] == IdentifierKind.CPF},
            names=list(state.names),
            birth_dates=set(state.birth_dates),
            subjects={subject_id},
            blocked=blocked.get(subject_id, set()),
        )
        for subject_id in subject_ids
        if (state := batch.subjects.get(subject_id)) is not None
    }


def _holders(keys: set[Key]) -> tuple[dict[Key, set[uuid.UUID]], dict[Key, set[uuid.UUID]]]:
    """The live subjects holding each identifier key, and those whose claim is verified: one query."""
    holders: dict[Key, set[uuid.UUID]] = {}
    verified: dict[Key, set[uuid.UUID]] = {}
    if not keys:
        return holders, verified
    rows = Identifier.objects.filter(blind_index__any=list({key[2] for key in keys}), subject__status__in=LIVE)
    for kind, namespace, index, subject_id, is_verified in rows.values_list(
        "kind", "namespace", "blind_index", "subject_id", "is_verified"
    ):
        key = (kind, namespace, bytes(index))
        if key in keys:
            holders.setdefault(key, set()).add(subject_id)
            if is_verified:
                verified.setdefault(key, set()).add(subject_id)
    return holders, verified


def _live_subjects(batch: Batch, subject_ids: set[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Where each subject lives now: itself, or the survivor it was merged into."""
    merged_into = dict(Subject.objects.filter(pk__any=list(subject_ids)).values_list("id", "merged_into"))
    live = {}
    for subject_id in subject_ids:
        current = subject_id
        while merged_into.get(current):
            current = merged_into[current]
            if current not in merged_into:
                merged_into.update(Subject.objects.filter(pk=current).values_list("id", "merged_into"))
        live[subject_id] = current
    return live


def resolve_items(batch: Batch, items: dict[int, Item], outcomes: dict[int, RecordOutcome]) -> None:
    """Resolve clean records against each other and the store, then apply the plan to ``batch``."""
    max_shared = settings.C360_RESOLUTION_MAX_SHARED
    keys = {key for item in items.values() for rule_keys in _rule_keys(item.clean).values() for key in rule_keys}
    holders, verified_holders = _holders(keys)
    widely_held = {key for key, held in holders.items() if len(held) > max_shared}
    for key in widely_held:
        del holders[key]  # held by more people than may ever link: resolution only needs to know that
        verified_holders.pop(key, None)
    linked_to = {p: item.row["subject_id"] for p, item in items.items() if item.row and item.row["subject_id"]}
    live = _live_subjects(batch, set(linked_to.values()))
    batch.load_subjects({s for held in holders.values() for s in held} | set(live.values()))
    existing = {p: live[s] for p, s in linked_to.items() if live[s] in batch.subjects}
    evidence = _subject_evidence(batch, {s for held in holders.values() for s in held} | set(existing.values()))
    values = {identifier.key: identifier.value for item in items.values() for identifier in item.clean.identifiers}
    plan = resolve(
        [
            IncomingRecord(position, _rule_keys(item.clean), _record_evidence(item.clean), existing.get(position))
            for position, item in items.items()
        ],
        holders=holders,
        subjects=evidence,
        subject_order=lambda s: (
            (batch.subjects[s].row["created_at"], str(s)) if s in batch.subjects else (batch.now, str(s))
        ),
        is_blocked=lambda key: key in values and is_blocked_value(key[0], values[key]),
        max_shared=max_shared,
        widely_held=widely_held,
        verified_holders=verified_holders,
    )
    _apply(batch, plan, items, outcomes)
    _suggest(batch, plan, items, outcomes)


def _apply(batch: Batch, plan: Plan, items: dict[int, Item], outcomes: dict[int, RecordOutcome]) -> None:
    batch.prefetch_absorbed(
        subject_id for cluster in plan.clusters for subject_id in cluster.subjects[1:] if subject_id in batch.subjects
    )
    for cluster in plan.clusters:
        live = [batch.subjects[subject_id] for subject_id in cluster.subjects if subject_id in batch.subjects]
        survivor = live[0] if live else batch.new_subject()
        absorbed = live[1:]
        rows: dict[int, dict[str, Any]] = {}
        for position in cluster.records:
            reason = plan.reasons.get(position)
            rule = reason.rule if reason else "new_subject"
            explanation = {
                "rule": rule,
                "identifier_kind": reason.kind if reason else "",
                "vetoes": list(reason.vetoes) if reason else [],
                "merged_subjects": [str(other.id) for other in absorbed],
            }
            rows[position] = batch.link(items[position], survivor, rule, explanation)
            outcome = outcomes[position]
            outcome.status = "created" if items[position].row is None else "updated"
            outcome.record_id, outcome.subject_id = rows[position]["id"], survivor.id
            outcome.match = {
                **explanation,
                "subject_is_new": survivor.is_new,
                "explanation": _explain(rule, survivor.is_new, len(absorbed), explanation["vetoes"]),
            }
            batch.counts["linked"] += 1
        for other in absorbed:
            edge = next((edge for edge in plan.edges if other.id in edge.left | edge.right), None)
            batch.merge(
                survivor,
                other,
                rule=edge.rule if edge else "external_id",
                kind=edge.kind if edge else "",
                records=[str(rows[position]["id"]) for position in (edge.records if edge else ()) if position in rows],
            )


def _explain(rule: str, subject_is_new: bool, merged: int, vetoes: Sequence[str]) -> str:
    if rule == "new_subject":
        text = "New subject: no existing subject shares a usable identifier with this record."
    elif rule == "external_id":
        text = "Same record of the same source: it stays with its subject."
    else:
        target = "another record of this batch" if subject_is_new else "an existing subject"
        text = f"Linked by {_RULE_LABELS[rule]} to {target}."
    if merged:
        text += f" {merged} other subject(s) were merged into it."
    if vetoes:
        text += f" Links refused: {', '.join(sorted(set(vetoes)))}."
    return text


def _subject_of(batch: Batch, node: tuple[str, object], outcomes: dict[int, RecordOutcome]) -> uuid.UUID | None:
    if node[0] == "r":
        return outcomes[node[1]].subject_id  # type: ignore[index]
    subject_id: Any = node[1]
    while subject_id in batch.subjects and batch.subjects[subject_id].row["merged_into_id"]:
        subject_id = batch.subjects[subject_id].row["merged_into_id"]
    return subject_id


def _suggest(batch: Batch, plan: Plan, items: dict[int, Item], outcomes: dict[int, RecordOutcome]) -> None:
    """Weak evidence for a person to review: never a merge."""
    for vetoed in plan.vetoed:
        # A contact point shared by compatible names but different birth dates may be a typing slip.
        if vetoed.reason == "different_birth_date":
            first, second = outcomes[vetoed.record].subject_id, _subject_of(batch, vetoed.other, outcomes)
            if first and second:
                batch.suggest(first, second, "vetoed_link", 0.7, {"rule": vetoed.rule, "veto": vetoed.reason})
    _suggest_by_block(batch, items, outcomes)


def _suggest_by_block(batch: Batch, items: dict[int, Item], outcomes: dict[int, RecordOutcome]) -> None:
    """Same birth date and postal code, same or close name, no shared identifier: a person should look."""
    by_block: dict[bytes, list[int]] = {}
    for position, item in items.items():
        if item.clean.block_key and item.clean.name and outcomes[position].subject_id:
            by_block.setdefault(item.clean.block_key, []).append(position)
    if not by_block:
        return
    in_batch = [outcomes[position].record_id for positions in by_block.values() for position in positions]
    stored = SourceRecord.objects.filter(block_key__any=list(by_block), status=SourceRecord.Status.LINKED)
    pools: dict[bytes, list[tuple[uuid.UUID, bytes | None]]] = {}
    for block_key, subject_id, name_key in stored.exclude(pk__any=in_batch).values_list(
        "block_key", "subject_id", "name_key"
    ):
        pools.setdefault(bytes(block_key), []).append((subject_id, bytes(name_key) if name_key else None))
    batch.load_subjects({subject_id for pool in pools.values() for subject_id, _ in pool})
    detail = {"block": "birth_date+postal_code"}
    for block_key, positions in by_block.items():
        pool = pools.get(block_key, []) + [(outcomes[p].subject_id, items[p].clean.name_key) for p in positions]
        for position in positions:
            clean, subject_id = items[position].clean, outcomes[position].subject_id
            for other_id, other_name_key in pool:
                if other_id is None or other_id == subject_id or other_id not in batch.subjects:
                    continue
                if other_name_key is not None and other_name_key == clean.name_key:
                    batch.suggest(subject_id, other_id, "same_name_birth_postal", 0.95, detail)  # type: ignore[arg-type]
                    continue
                score = _name_similarity(clean.name, batch.subjects[other_id].names)  # type: ignore[arg-type]
                if score >= WEAK_NAME_SIMILARITY:
                    batch.suggest(subject_id, other_id, "close_name_birth_postal", score / 100, detail)  # type: ignore[arg-type]


def _name_similarity(name: Name, others: Iterable[Name]) -> float:
    """Best token-set similarity with the names whose given names are compatible with this one."""
    mine = " ".join([name.given, *name.family])
    return max(
        (
            fuzz.token_set_ratio(mine, " ".join([other.given, *other.family]))
            for other in others
            if names_compatible(name, other)
        ),
        default=0.0,
    )


# ---------------------------------------------------------------- the use cases


def source_get(code: str) -> Source:
    source = Source.objects.filter(code=code).first()
    if source is None:
        raise NotFound("No source has that code.", code="unknown_source")
    return source


def records_ingest(*, source: Source, records: Sequence[Any], actor: Actor) -> IngestResult:
    """Ingest a batch from one source. Every record gets an outcome; none is ever dropped.

    Invalid records are stored quarantined with their reasons; valid ones are resolved to subjects
    (created, linked or merged) and the touched profiles recomputed.
    """
    if len(records) > MAX_BATCH:
        raise ValidationFailed(f"A batch holds at most {MAX_BATCH} records.", code="batch_too_large")
    cleaned = [
        clean_record(raw, position=position, source_code=source.code, emails_verified=source.emails_verified)
        for position, raw in enumerate(records)
    ]
    return records_ingest_clean(source=source, cleaned=cleaned, actor=actor)


def records_ingest_clean(
    *, source: Source, cleaned: Sequence[CleanRecord | RejectedRecord], actor: Actor
) -> IngestResult:
    """The second half of ``records_ingest``, for callers that cleaned records themselves (in parallel)."""
    with transaction.atomic():
        lock_resolution()
        result = _ingest(source, cleaned, actor)
    logger.info("Ingested %d record(s) from %s: %s", len(cleaned), source.code, dict(sorted(result.counts.items())))
    return result


def _settled(
    batch: Batch, source: Source, item: CleanRecord | RejectedRecord, row: dict[str, Any] | None, outcome: RecordOutcome
) -> str | None:
    """Records needing no resolution: refused (erased), quarantined or unchanged. None for the rest."""
    if row is not None and row["status"] == SourceRecord.Status.ERASED:
        outcome.status, outcome.record_id = "erased", row["id"]
        outcome.match = {"explanation": "This person's data was erased; the record is not kept again."}
        batch.counts["erased"] += 1
    elif isinstance(item, RejectedRecord):
        quarantined = batch.quarantine(item, source, row)
        outcome.status, outcome.record_id, outcome.errors = "quarantined", quarantined["id"], item.errors
    elif (
        row is not None
        and row["status"] == SourceRecord.Status.LINKED
        and bytes(row["payload_digest"] or b"") == item.digest
    ):
        outcome.status, outcome.record_id, outcome.subject_id = "unchanged", row["id"], row["subject_id"]
        outcome.match = {"rule": row["link_rule"], "explanation": "Unchanged since it was last received."}
        batch.counts["unchanged"] += 1
    else:
        return None
    return outcome.status


def _ingest(source: Source, cleaned: Sequence[CleanRecord | RejectedRecord], actor: Actor) -> IngestResult:
    batch = Batch(actor)
    batch.sources[source.id] = source
    outcomes = {item.position: RecordOutcome(item.position) for item in cleaned}
    # The same record twice in one batch: the last copy is the record, earlier ones are superseded.
    last = {item.external_index: item.position for item in cleaned if item.external_index is not None}
    stored = {
        bytes(row["external_id_index"]): row
        for row in SourceRecord.objects.filter(source=source, external_id_index__any=list(last)).values(*RECORD_COLUMNS)
    }
    batch.load_subjects({row["subject_id"] for row in stored.values() if row["subject_id"]})
    items: dict[int, Item] = {}
    for item in cleaned:
        if item.external_index is not None and last[item.external_index] != item.position:
            outcomes[item.position].status = "superseded"
            outcomes[item.position].match = {
                "explanation": "A later copy of the same record in this batch replaced this one."
            }
            continue
        row = stored.get(item.external_index) if item.external_index is not None else None
        if _settled(batch, source, item, row, outcomes[item.position]) is None:
            items[item.position] = Item(item, source, row)  # type: ignore[arg-type]
    if items:
        resolve_items(batch, items, outcomes)
    batch.survive()
    batch.flush()
    for outcome in outcomes.values():
        if outcome.status == "superseded":
            final = outcomes[last[cleaned[outcome.position].external_index]]  # type: ignore[index]
            outcome.record_id, outcome.subject_id = final.record_id, final.subject_id
    return IngestResult([outcomes[item.position] for item in cleaned], batch.counts)


def record_reprocess(*, record_id: uuid.UUID | str, actor: Actor, fields: Any = None) -> RecordOutcome:
    """Run a quarantined record through ingestion again, as corrected (``fields``) or as it was stored.

    If the correction gives the record another external id (or the missing one), the corrected record
    is stored under that id and the quarantined copy is deleted: replaced, never lost.
    """
    with transaction.atomic():
        lock_resolution()
        row = SourceRecord.objects.select_for_update().filter(pk=record_id).values(*RECORD_COLUMNS).first()
        if row is None:
            raise NotFound("No source record has that id.")
        if row["status"] != SourceRecord.Status.QUARANTINED:
            raise Conflict(f"The record is {row['status']}, not quarantined.", code="not_quarantined")
        source = Source.objects.get(pk=row["source_id"])
        if fields is None:
            fields = _stored_payload(row)
        cleaned = clean_record(fields, position=0, source_code=source.code, emails_verified=source.emails_verified)
        (outcome,) = _ingest(source, [cleaned], actor).outcomes
        if outcome.record_id != row["id"]:
            with acting_as(actor):
                for replaced in SourceRecord.objects.filter(pk=row["id"]):
                    replaced._change_reason = f"reprocessed as {outcome.record_id}"  # type: ignore[attr-defined]
                    replaced.delete()
    logger.info("Quarantined record %s reprocessed by %s: %s", row["id"], actor, outcome.status)
    return outcome


def _stored_payload(row: dict[str, Any]) -> Any:
    if row["subject_id"] is not None:
        holder = SubjectKey.objects.get(subject_id=row["subject_id"])
    else:
        holder = RecordKey.objects.get(record_id=row["id"])
    return RECORDS.open(data_key_open(holder), row["id"], "payload", row["payload_enc"])


@dataclass(frozen=True)
class RevealedRecord:
    record_id: uuid.UUID
    source: str
    status: str
    fields: Any
    errors: dict[str, list[str]]


def record_reveal(*, record_id: uuid.UUID | str, actor: Actor, reason: str) -> RevealedRecord:
    """Decrypt one source record (e.g. a quarantined one, to fix it), logged like any reveal."""
    reason = clean_reason(reason)
    with transaction.atomic():
        row = SourceRecord.objects.filter(pk=record_id).values(*RECORD_COLUMNS).first()
        if row is None:
            raise NotFound("No source record has that id.")
        if row["status"] == SourceRecord.Status.ERASED:
            raise Gone("The record's person was erased; nothing is left to show.", code="record_erased")
        holder = (
            SubjectKey.objects.get(subject_id=row["subject_id"])
            if row["subject_id"]
            else RecordKey.objects.get(record_id=row["id"])
        )
        data_key = data_key_open(holder)
        SubjectAccess.objects.create(
            subject_id=row["subject_id"],
            record_id=row["id"],
            actor=str(actor),
            user_id=actor.user_id,
            reason=reason,
            fields=["source_record"],
        )
    return RevealedRecord(
        record_id=row["id"],
        source=Source.objects.get(pk=row["source_id"]).code,
        status=row["status"],
        fields=RECORDS.open(data_key, row["id"], "payload", row["payload_enc"]),
        errors=RECORDS.open(data_key, row["id"], "errors", row["errors_enc"]) or {},
    )


@transaction.atomic
def source_save(*, source: Source, actor: Actor) -> Source:
    """Create or change a source's settings (trust rank, verified emails...); history keeps each version."""
    source.full_clean()
    with acting_as(actor):
        source.save()
    return source
