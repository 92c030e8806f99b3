"""The unit of work of the batch paths (ingestion, merges, splits): subject and record states as plain
rows, and one ``flush`` that writes them with bulk statements and their history.

Rows are dicts keyed by attname because a Django model instance per row costs more than the database
does at ingestion rates. Every row is encrypted under the key of the subject it belongs to (or, for a
quarantined record, its own key); moving a row to another subject re-encrypts it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from c360.lib.crypto import DataKey, WrappedKey, data_key_create, data_key_open
from c360.lib.db import insert_rows, update_rows
from c360.lib.events import subjects_merged
from c360.lib.history import Actor, acting_as, history_rows
from c360.lib.identifiers import IdentifierKind
from profiles.encryption import cipher_for
from profiles.models import (
    SUBJECT_ATTRIBUTES,
    Identifier,
    MatchBlock,
    MatchSuggestion,
    MergeDecision,
    RecordKey,
    Source,
    SourceRecord,
    Subject,
    SubjectKey,
    record_key_context,
    subject_key_context,
)
from profiles.records import CleanRecord, Name, RejectedRecord, attributes_of
from profiles.resolution import Key
from profiles.survivorship import Candidate, survive

MAX_PROFILE_NAMES = 12
_RESOLUTION_LOCK = 0x0C3600001
LIVE = (Subject.Status.ACTIVE, Subject.Status.RESTRICTED)
SUBJECTS, RECORDS, IDENTIFIERS = cipher_for(Subject), cipher_for(SourceRecord), cipher_for(Identifier)
SUBJECT_COLUMNS = [field.attname for field in Subject._meta.concrete_fields]
RECORD_COLUMNS = [field.attname for field in SourceRecord._meta.concrete_fields]
IDENTIFIER_COLUMNS = [field.attname for field in Identifier._meta.concrete_fields]
_SUBJECT_UPDATE = [f"{name}_enc" for name in SUBJECT_ATTRIBUTES] + [
    "match_profile_enc",
    "provenance",
    "status",
    "merged_into_id",
    "updated_at",
]
_RECORD_UPDATE = [
    "subject_id",
    "status",
    "external_id_enc",
    "payload_enc",
    "errors_enc",
    "payload_digest",
    "identifier_indexes",
    "block_key",
    "name_key",
    "source_updated_at",
    "link_rule",
    "link_explanation",
    "updated_at",
]
_IDENTIFIER_UPDATE = [
    "subject_id",
    "value_enc",
    "is_verified",
    "verification_method",
    "verified_at",
    "source_record_id",
]


# ---------------------------------------------------------------- the unit of work


@dataclass
class Item:
    """A clean record on its way through the batch, with the stored row it updates, if any."""

    clean: CleanRecord
    source: Source
    row: dict[str, Any] | None = None


@dataclass
class SubjectState:
    """A subject as the batch sees it: its row, its key, its identifiers and resolution evidence."""

    row: dict[str, Any]
    key: DataKey
    is_new: bool
    identifiers: dict[Key, dict[str, Any]] = field(default_factory=dict)
    names: list[Name] = field(default_factory=list)
    birth_dates: set[dt.date] = field(default_factory=set)
    candidates: list[Candidate] = field(default_factory=list)  # this batch's records, for survivorship
    recompute_fully: bool = False
    tracked_dirty: bool = False
    profile_dirty: bool = False

    @property
    def id(self) -> uuid.UUID:
        return self.row["id"]

    def add_names(self, names: Iterable[Name], birth_dates: Iterable[dt.date]) -> None:
        for name in names:
            if name not in self.names and len(self.names) < MAX_PROFILE_NAMES:
                self.names.append(name)
                self.profile_dirty = True
        for birth_date in birth_dates:
            if birth_date not in self.birth_dates:
                self.birth_dates.add(birth_date)
                self.profile_dirty = True

    def seal_profile(self) -> None:
        profile = {
            "names": [name.as_json() for name in self.names],
            "birth_dates": sorted(date.isoformat() for date in self.birth_dates),
        }
        self.row["match_profile_enc"] = SUBJECTS.seal(self.key, self.id, "match_profile", profile)


class Batch:
    """What one resolution pass reads and writes; ``flush`` applies it with bulk statements."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.now = timezone.now()
        self.sources: dict[int, Source] = {}
        self.subjects: dict[uuid.UUID, SubjectState] = {}
        self.new_records: dict[uuid.UUID, dict[str, Any]] = {}
        self.changed_records: dict[uuid.UUID, dict[str, Any]] = {}
        self.record_keys: dict[uuid.UUID, DataKey] = {}
        self.new_subject_keys: list[dict[str, Any]] = []
        self.new_record_keys: list[dict[str, Any]] = []
        self.dropped_record_keys: set[uuid.UUID] = set()
        self.new_identifiers: dict[uuid.UUID, dict[str, Any]] = {}
        self.changed_identifiers: dict[uuid.UUID, dict[str, Any]] = {}
        self.deleted_identifiers: set[uuid.UUID] = set()
        self.decisions: list[MergeDecision] = []
        self.blocks: list[MatchBlock] = []
        self.suggestions: dict[tuple[uuid.UUID, uuid.UUID], MatchSuggestion] = {}
        self.counts: Counter[str] = Counter()
        self._absorbed_records: dict[uuid.UUID, list[dict[str, Any]]] = {}
        self._absorbed_blocks: dict[uuid.UUID, list[uuid.UUID]] = {}

    # -- subjects

    def source(self, source_id: int) -> Source:
        if source_id not in self.sources:
            self.sources.update({source.id: source for source in Source.objects.all()})
        return self.sources[source_id]

    def load_subjects(self, subject_ids: Iterable[uuid.UUID]) -> None:
        wanted = {subject_id for subject_id in subject_ids if subject_id and subject_id not in self.subjects}
        if not wanted:
            return
        rows = {
            row["id"]: row
            for row in Subject.objects.filter(pk__any=list(wanted), status__in=LIVE).values(*SUBJECT_COLUMNS)
        }
        wrapped = dict(SubjectKey.objects.filter(subject_id__any=list(rows)).values_list("subject_id", "wrapped_dek"))
        for subject_id, row in rows.items():
            key = data_key_open(WrappedKey(bytes(wrapped[subject_id]), None, subject_key_context(subject_id)))
            profile = SUBJECTS.open(key, subject_id, "match_profile", row["match_profile_enc"]) or {}
            self.subjects[subject_id] = SubjectState(
                row=row,
                key=key,
                is_new=False,
                names=[Name.from_json(item) for item in profile.get("names", [])],
                birth_dates={dt.date.fromisoformat(item) for item in profile.get("birth_dates", [])},
            )
        for identifier in Identifier.objects.filter(subject_id__any=list(rows)).values(*IDENTIFIER_COLUMNS):
            identifier["blind_index"] = bytes(identifier["blind_index"])
            self.subjects[identifier["subject_id"]].identifiers[_key(identifier)] = identifier

    def new_subject(self) -> SubjectState:
        subject_id = uuid.uuid4()
        wrapped = WrappedKey(None, None, subject_key_context(subject_id))
        key = data_key_create(wrapped)
        row = dict.fromkeys(SUBJECT_COLUMNS)
        row.update(
            id=subject_id,
            status=Subject.Status.ACTIVE,
            regimes=list(settings.C360_DEFAULT_REGIMES),
            regimes_reason="",
            created_at=self.now,
            updated_at=self.now,
            provenance={},
        )
        self.new_subject_keys.append(
            {
                "subject_id": subject_id,
                "kek_version": wrapped.kek_version,
                "wrapped_dek": wrapped.wrapped_dek,
                "created_at": self.now,
                "rewrapped_at": None,
                "shredded_at": None,
            }
        )
        state = SubjectState(row=row, key=key, is_new=True, tracked_dirty=True)
        self.subjects[subject_id] = state
        self.counts["new_subjects"] += 1
        return state

    # -- records

    def link(self, item: Item, state: SubjectState, rule: str, explanation: dict[str, Any]) -> dict[str, Any]:
        clean, row = item.clean, item.row
        if row is None:
            row = {"id": uuid.uuid4(), "source_id": item.source.id, "received_at": self.now}
            self.new_records[row["id"]] = row
        else:
            if row["subject_id"] is None:
                self.dropped_record_keys.add(row["id"])  # leaving quarantine: its own key is shredded
            elif row["subject_id"] in self.subjects:
                previous = self.subjects[row["subject_id"]]
                if any(winner["record"] == str(row["id"]) for winner in previous.row["provenance"].values()):
                    previous.recompute_fully = True  # a winning value may have changed
            self.changed_records[row["id"]] = row
        record_id = row["id"]
        row.update(
            external_id_index=clean.external_index,
            external_id_enc=RECORDS.seal(state.key, record_id, "external_id", clean.external_id),
            payload_enc=RECORDS.seal(state.key, record_id, "payload", clean.fields),
            errors_enc=None,
            payload_digest=clean.digest,
            status=SourceRecord.Status.LINKED,
            subject_id=state.id,
            link_rule=rule,
            link_explanation=explanation,
            identifier_indexes=clean.identifier_indexes(),
            block_key=clean.block_key,
            name_key=clean.name_key,
            source_updated_at=clean.source_updated_at,
            updated_at=self.now,
        )
        for identifier in clean.identifiers:
            if identifier.kind != IdentifierKind.EXTERNAL:  # a record's own id is found through its row
                self.add_identifier(
                    state,
                    kind=identifier.kind,
                    namespace=identifier.namespace,
                    value=identifier.value,
                    index=identifier.index,
                    is_verified=identifier.is_verified,
                    source_code=item.source.code,
                    record_id=record_id,
                )
        state.candidates.append(
            Candidate(
                str(record_id),
                item.source.code,
                clean.attributes,
                item.source.trust_rank,
                clean.email_verified,
                clean.source_updated_at or self.now,
            )
        )
        state.add_names([clean.name] if clean.name else [], [clean.birth_date] if clean.birth_date else [])
        return row

    def quarantine(self, rejected: RejectedRecord, source: Source, row: dict[str, Any] | None) -> dict[str, Any]:
        if row is None:
            row = {
                "id": uuid.uuid4(),
                "source_id": source.id,
                "received_at": self.now,
                "subject_id": None,
                "external_id_index": rejected.external_index,
            }
            self.new_records[row["id"]] = row
        else:
            self.changed_records[row["id"]] = row
        record_id = row["id"]
        if row["subject_id"] is not None and row["subject_id"] in self.subjects:
            key = self.subjects[row["subject_id"]].key
            self.subjects[row["subject_id"]].recompute_fully = True  # its values no longer count
        else:
            row["subject_id"] = None
            key = self.record_key(record_id, create=record_id in self.new_records)
        row.update(
            external_id_enc=RECORDS.seal(key, record_id, "external_id", rejected.external_id),
            payload_enc=RECORDS.seal(key, record_id, "payload", rejected.fields),
            errors_enc=RECORDS.seal(key, record_id, "errors", rejected.errors),
            payload_digest=None,
            status=SourceRecord.Status.QUARANTINED,
            link_rule="",
            link_explanation={},
            identifier_indexes=[],
            block_key=None,
            name_key=None,
            source_updated_at=None,
            updated_at=self.now,
        )
        self.counts["quarantined"] += 1
        return row

    def record_key(self, record_id: uuid.UUID, *, create: bool) -> DataKey:
        """The own key of a quarantined record (it has no subject yet)."""
        if record_id not in self.record_keys:
            stored = None if create else RecordKey.objects.filter(record_id=record_id).first()
            if stored is None:
                wrapped = WrappedKey(None, None, record_key_context(record_id))
                self.record_keys[record_id] = data_key_create(wrapped)
                self.new_record_keys.append(
                    {
                        "record_id": record_id,
                        "kek_version": wrapped.kek_version,
                        "wrapped_dek": wrapped.wrapped_dek,
                        "created_at": self.now,
                        "rewrapped_at": None,
                        "shredded_at": None,
                    }
                )
            else:
                self.record_keys[record_id] = data_key_open(stored)
        return self.record_keys[record_id]

    def move_record(self, row: dict[str, Any], source_key: DataKey, target: SubjectState) -> None:
        """Re-encrypt a record under the key of the subject it now belongs to."""
        for attribute in ("external_id", "payload", "errors"):
            value = RECORDS.open(source_key, row["id"], attribute, row[f"{attribute}_enc"])
            row[f"{attribute}_enc"] = RECORDS.seal(target.key, row["id"], attribute, value)
        row["subject_id"], row["updated_at"] = target.id, self.now
        if row["id"] not in self.new_records:
            self.changed_records[row["id"]] = row

    # -- identifiers

    def add_identifier(
        self,
        state: SubjectState,
        *,
        kind: str,
        namespace: str,
        value: str,
        index: bytes,
        is_verified: bool,
        source_code: str,
        record_id: uuid.UUID | None,
    ) -> None:
        key = (kind, namespace, index)
        existing = state.identifiers.get(key)
        if existing is not None:
            if is_verified and not existing["is_verified"]:
                existing.update(
                    is_verified=True,
                    verification_method="source_asserted",
                    verified_at=self.now,
                    source_record_id=record_id,
                )
                if existing["id"] not in self.new_identifiers:
                    self.changed_identifiers[existing["id"]] = existing
            return
        identifier_id = uuid.uuid4()
        row = {
            "id": identifier_id,
            "subject_id": state.id,
            "kind": kind,
            "namespace": namespace,
            "blind_index": index,
            "value_enc": IDENTIFIERS.seal(state.key, identifier_id, "value", value),
            "is_verified": is_verified,
            "verification_method": "source_asserted" if is_verified else "",
            "verified_at": self.now if is_verified else None,
            "source": source_code,
            "source_record_id": record_id,
            "created_at": self.now,
        }
        state.identifiers[key] = row
        self.new_identifiers[identifier_id] = row

    # -- merges

    def prefetch_absorbed(self, subject_ids: Iterable[uuid.UUID]) -> None:
        """Load, in two queries, the records and blocks of every subject this batch will merge away."""
        wanted = [subject_id for subject_id in subject_ids if subject_id not in self._absorbed_records]
        if not wanted:
            return
        for subject_id in wanted:
            self._absorbed_records[subject_id] = []
            self._absorbed_blocks[subject_id] = []
        for row in SourceRecord.objects.filter(subject_id__any=wanted).values(*RECORD_COLUMNS):
            self._absorbed_records[row["subject_id"]].append(row)
        blocks = MatchBlock.objects.filter(Q(subject_a__any=wanted) | Q(subject_b__any=wanted))
        for first, second in blocks.values_list("subject_a", "subject_b"):
            for subject_id, other in ((first, second), (second, first)):
                if subject_id in self._absorbed_blocks:
                    self._absorbed_blocks[subject_id].append(other)

    def merge(
        self, survivor: SubjectState, absorbed: SubjectState, *, rule: str, kind: str, records: list[str]
    ) -> None:
        """Fold ``absorbed`` into ``survivor``: records and identifiers move, re-encrypted; values compete."""
        self.prefetch_absorbed([absorbed.id])
        in_batch = {**self.new_records, **self.changed_records}
        stored = [row for row in self._absorbed_records.pop(absorbed.id) if row["id"] not in in_batch]
        for row in stored + [row for row in in_batch.values() if row["subject_id"] == absorbed.id]:
            self.move_record(row, absorbed.key, survivor)
        for key, identifier in absorbed.identifiers.items():
            if key in survivor.identifiers:
                if identifier["id"] in self.new_identifiers:
                    del self.new_identifiers[identifier["id"]]
                else:
                    self.deleted_identifiers.add(identifier["id"])
                continue
            value = IDENTIFIERS.open(absorbed.key, identifier["id"], "value", identifier["value_enc"])
            identifier.update(
                subject_id=survivor.id, value_enc=IDENTIFIERS.seal(survivor.key, identifier["id"], "value", value)
            )
            survivor.identifiers[key] = identifier
            if identifier["id"] not in self.new_identifiers:
                self.changed_identifiers[identifier["id"]] = identifier
        absorbed.identifiers = {}
        # The absorbed subject's winning values compete with the survivor's.
        for attribute, winner in absorbed.row["provenance"].items():
            value = SUBJECTS.open(absorbed.key, absorbed.id, attribute, absorbed.row[f"{attribute}_enc"])
            survivor.candidates.append(
                Candidate(
                    winner["record"],
                    winner["source"],
                    {attribute: value},
                    winner["trust"],
                    winner["verified"],
                    dt.datetime.fromisoformat(winner["at"]),
                )
            )
        survivor.candidates.extend(absorbed.candidates)
        survivor.add_names(absorbed.names, absorbed.birth_dates)
        for other in self._absorbed_blocks.pop(absorbed.id):
            self.blocks.append(
                MatchBlock(subject_a_id=survivor.id, subject_b_id=other, reason="inherited", created_by=str(self.actor))
            )
        absorbed.row.update(status=Subject.Status.MERGED, merged_into_id=survivor.id, updated_at=self.now)
        absorbed.tracked_dirty, absorbed.candidates = True, []
        self.decisions.append(
            MergeDecision(
                survivor_id=survivor.id,
                absorbed_id=absorbed.id,
                rule=rule,
                identifier_kind=kind,
                records=records,
                decided_at=self.now,
                decided_by=f"rule:{rule}" if self.actor.kind == "system" else str(self.actor),
            )
        )
        self.counts["merged"] += 1

    def suggest(self, first: uuid.UUID, second: uuid.UUID, evidence: str, score: float, detail: dict[str, Any]) -> None:
        if first == second:
            return
        pair = (first, second) if str(first) < str(second) else (second, first)
        self.suggestions.setdefault(
            pair,
            MatchSuggestion(
                subject_a_id=pair[0],
                subject_b_id=pair[1],
                evidence=evidence,
                score=score,
                detail=detail,
                created_at=self.now,
            ),
        )

    # -- survivorship

    def survive(self) -> None:
        """Each touched subject's attributes: new records compete with the current winners."""
        full = [state for state in self.subjects.values() if state.recompute_fully and not state.is_new]
        stored_candidates = self._stored_candidates(full)
        for state in self.subjects.values():
            if state.row["status"] not in LIVE:
                continue
            if state.recompute_fully and not state.is_new:
                candidates = stored_candidates.get(state.id, []) + state.candidates
                changed = survive(candidates)
                # A value whose record left (or is quarantined) goes with it; manual values stay.
                for attribute in [a for a in state.row["provenance"] if a not in changed]:
                    state.row[f"{attribute}_enc"] = None
                    del state.row["provenance"][attribute]
                    state.tracked_dirty = True
            elif state.candidates:
                changed = survive(state.candidates, state.row["provenance"])
            else:
                changed = {}
            for attribute, (value, provenance) in changed.items():
                if state.row["provenance"].get(attribute, {}).get("record") == provenance["record"] and not (
                    state.recompute_fully
                ):
                    continue
                state.row[f"{attribute}_enc"] = SUBJECTS.seal(state.key, state.id, attribute, value)
                state.row["provenance"][attribute] = provenance
                state.tracked_dirty = True
            if state.profile_dirty or state.is_new:
                state.seal_profile()
            if state.tracked_dirty or state.profile_dirty:
                state.row["updated_at"] = self.now

    def _stored_candidates(self, states: list[SubjectState]) -> dict[uuid.UUID, list[Candidate]]:
        if not states:
            return {}
        by_id = {state.id: state for state in states}
        in_batch = set(self.new_records) | set(self.changed_records)
        found: dict[uuid.UUID, list[Candidate]] = {}
        rows = SourceRecord.objects.filter(subject_id__any=list(by_id), status=SourceRecord.Status.LINKED).exclude(
            pk__any=list(in_batch)
        )
        for row in rows.values("id", "subject_id", "source_id", "payload_enc", "source_updated_at", "received_at"):
            state = by_id[row["subject_id"]]
            fields = RECORDS.open(state.key, row["id"], "payload", row["payload_enc"]) or {}
            attributes, name, birth_date = attributes_of(fields)
            source = self.source(row["source_id"])
            verified = source.emails_verified or fields.get("email_verified") is True
            found.setdefault(state.id, []).append(
                Candidate(
                    str(row["id"]),
                    source.code,
                    attributes,
                    source.trust_rank,
                    verified,
                    row["source_updated_at"] or row["received_at"],
                )
            )
            state.add_names([name] if name else [], [birth_date] if birth_date else [])
        return found

    # -- writing

    def flush(self) -> None:
        with acting_as(self.actor):
            new_subjects = [state.row for state in self.subjects.values() if state.is_new]
            insert_rows(Subject, new_subjects)
            insert_rows(SubjectKey, self.new_subject_keys)
            history_rows(Subject, new_subjects, history_type="+", reason="ingestion")
            tracked = [s.row for s in self.subjects.values() if not s.is_new and s.tracked_dirty]
            update_rows(Subject, tracked, _SUBJECT_UPDATE)
            history_rows(Subject, tracked, history_type="~", reason="ingestion")
            profile_only = [
                s.row for s in self.subjects.values() if not s.is_new and s.profile_dirty and not s.tracked_dirty
            ]
            update_rows(Subject, profile_only, ["match_profile_enc", "updated_at"])

            new_records = list(self.new_records.values())
            insert_rows(SourceRecord, new_records)
            history_rows(SourceRecord, new_records, history_type="+")
            changed_records = list(self.changed_records.values())
            update_rows(SourceRecord, changed_records, _RECORD_UPDATE)
            history_rows(SourceRecord, changed_records, history_type="~")
            insert_rows(RecordKey, self.new_record_keys)
            if self.dropped_record_keys:
                RecordKey.objects.filter(record_id__in=self.dropped_record_keys).delete()

            for identifier in Identifier.objects.filter(pk__in=self.deleted_identifiers):
                identifier._change_reason = "merged"  # type: ignore[attr-defined]
                identifier.delete()
            new_identifiers = list(self.new_identifiers.values())
            insert_rows(Identifier, new_identifiers)
            history_rows(Identifier, new_identifiers, history_type="+")
            changed_identifiers = list(self.changed_identifiers.values())
            update_rows(Identifier, changed_identifiers, _IDENTIFIER_UPDATE)
            history_rows(Identifier, changed_identifiers, history_type="~")

            MergeDecision.objects.bulk_create(self.decisions)
            history_rows(MergeDecision, [_model_row(decision) for decision in self.decisions], history_type="+")
            self._follow_merges()
            MatchBlock.objects.bulk_create(self.blocks, ignore_conflicts=True)
            self._flush_suggestions()

    def _follow_merges(self) -> None:
        """Subjects merged earlier into one absorbed now point at the survivor, and the apps above hear of it."""
        if not self.decisions:
            return
        for decision in self.decisions:
            for earlier in Subject.objects.filter(merged_into_id=decision.absorbed_id):
                earlier.merged_into_id = decision.survivor_id
                earlier._change_reason = f"merged on into {decision.survivor_id}"  # type: ignore[attr-defined]
                earlier.save(update_fields=["merged_into"])
        subjects_merged.send(
            merges=[(decision.survivor_id, decision.absorbed_id, decision.pk) for decision in self.decisions],
            at=self.now,
            actor=self.actor,
        )

    def _flush_suggestions(self) -> None:
        if not self.suggestions:
            return
        firsts = {pair[0] for pair in self.suggestions}
        open_pairs = set(
            MatchSuggestion.objects.filter(status=MatchSuggestion.Status.OPEN, subject_a__in=firsts).values_list(
                "subject_a", "subject_b"
            )
        )
        blocked = set(MatchBlock.objects.filter(subject_a__in=firsts).values_list("subject_a", "subject_b"))
        blocked |= {(block.subject_a_id, block.subject_b_id) for block in self.blocks}
        gone = {s.id for s in self.subjects.values() if s.row["status"] not in LIVE}
        fresh = [
            suggestion
            for pair, suggestion in self.suggestions.items()
            if pair not in open_pairs and pair not in blocked and pair[::-1] not in blocked and not gone & set(pair)
        ]
        MatchSuggestion.objects.bulk_create(fresh)
        history_rows(MatchSuggestion, [_model_row(suggestion) for suggestion in fresh], history_type="+")
        self.counts["suggestions"] += len(fresh)


def lock_resolution() -> None:
    """One writer of identities at a time (PostgreSQL advisory lock, held to the end of the transaction).

    Two concurrent batches that each see no holder of an email would otherwise each create a person.
    SQLite serialises writers by itself.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RESOLUTION_LOCK])


def _key(identifier: dict[str, Any]) -> Key:
    return (identifier["kind"], identifier["namespace"], identifier["blind_index"])


def _model_row(instance: Any) -> dict[str, Any]:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}
