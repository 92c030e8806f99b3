"""People deciding identity: merge two subjects, accept or reject a suggestion, split a subject.

Automatic merges happen during ingestion; these are the decisions a DPO or data steward takes in the
admin, written through the same unit of work so encryption, history and survivorship stay consistent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from c360.lib.errors import Conflict, NotFound, ValidationFailed
from c360.lib.history import Actor, acting_as
from profiles.lock_objects import subjects_lock
from profiles.models import MatchBlock, MatchSuggestion, MergeDecision, Source, SourceRecord, Subject
from profiles.records import CleanRecord, clean_record
from profiles.services._batch import LIVE, RECORD_COLUMNS, RECORDS, Batch, Item, SubjectState, lock_resolution
from profiles.services.ingestion import RecordOutcome, resolve_items

logger = logging.getLogger(__name__)


def _live_state(batch: Batch, subject_id: uuid.UUID | str) -> SubjectState:
    subject_id = uuid.UUID(str(subject_id))
    batch.load_subjects([subject_id])
    state = batch.subjects.get(subject_id)
    if state is None:
        status = Subject.objects.filter(pk=subject_id).values_list("status", flat=True).first()
        if status is None:
            raise NotFound("No subject has that id.")
        raise Conflict(f"The subject is {status}; only active or restricted subjects take part.", code="not_live")
    return state


@transaction.atomic
def subjects_merge(
    *, survivor_id: uuid.UUID | str, absorbed_id: uuid.UUID | str, actor: Actor, rule: str = "manual"
) -> MergeDecision:
    """Fold one subject into another by a person's decision; a block between them is lifted."""
    if str(survivor_id) == str(absorbed_id):
        raise ValidationFailed("A subject cannot be merged into itself.", code="same_subject")
    lock_resolution()
    # Both rows locked (ascending id) before they are read: a consent write or an erasure of either subject
    # waits for the merge, or the merge for it; the batch then reads them as they are.
    subjects_lock([survivor_id, absorbed_id])
    batch = Batch(actor)
    survivor, absorbed = _live_state(batch, survivor_id), _live_state(batch, absorbed_id)
    pair = [survivor.id, absorbed.id]
    MatchBlock.objects.filter(subject_a__in=pair, subject_b__in=pair).delete()
    batch.merge(survivor, absorbed, rule=rule, kind="", records=[])
    batch.survive()
    batch.flush()
    with acting_as(actor):
        for suggestion in MatchSuggestion.objects.filter(
            status=MatchSuggestion.Status.OPEN, subject_a__in=pair, subject_b__in=pair
        ):
            suggestion.status, suggestion.decided_at, suggestion.decided_by = (
                MatchSuggestion.Status.ACCEPTED,
                batch.now,
                str(actor),
            )
            suggestion.save(update_fields=["status", "decided_at", "decided_by"])
    logger.info("Subject %s merged into %s by %s", absorbed.id, survivor.id, actor)
    return MergeDecision.objects.get(survivor_id=survivor.id, absorbed_id=absorbed.id, undone_at=None)


def _open_suggestion(suggestion_id: int) -> MatchSuggestion:
    suggestion = MatchSuggestion.objects.select_for_update().filter(pk=suggestion_id).first()
    if suggestion is None:
        raise NotFound("No suggestion has that id.")
    if suggestion.status != MatchSuggestion.Status.OPEN:
        raise Conflict(f"The suggestion is already {suggestion.status}.", code="suggestion_decided")
    return suggestion


@transaction.atomic
def suggestion_accept(*, suggestion_id: int, actor: Actor) -> MergeDecision:
    """The reviewer agrees these are one person: the newer subject is merged into the older."""
    suggestion = _open_suggestion(suggestion_id)
    subjects = Subject.objects.filter(pk__in=[suggestion.subject_a_id, suggestion.subject_b_id], status__in=LIVE)
    ordered = sorted(subjects, key=lambda subject: (subject.created_at, str(subject.id)))
    if len(ordered) != 2:
        with acting_as(actor):
            suggestion.status = MatchSuggestion.Status.OBSOLETE
            suggestion.save(update_fields=["status"])
        raise Conflict("One of the subjects was merged or erased since; the suggestion is obsolete.", code="obsolete")
    return subjects_merge(survivor_id=ordered[0].id, absorbed_id=ordered[1].id, actor=actor, rule="suggestion")


@transaction.atomic
def suggestion_reject(*, suggestion_id: int, actor: Actor) -> MatchSuggestion:
    """The reviewer says these are two people: they are never merged automatically again."""
    suggestion = _open_suggestion(suggestion_id)
    with acting_as(actor):
        suggestion.status, suggestion.decided_at, suggestion.decided_by = (
            MatchSuggestion.Status.REJECTED,
            timezone.now(),
            str(actor),
        )
        suggestion.save(update_fields=["status", "decided_at", "decided_by"])
        MatchBlock.objects.get_or_create(
            subject_a_id=suggestion.subject_a_id,
            subject_b_id=suggestion.subject_b_id,
            defaults={"reason": "rejected_suggestion", "created_by": str(actor)},
        )
    return suggestion


@dataclass(frozen=True)
class SplitOutcome:
    subject_id: uuid.UUID
    records: dict[uuid.UUID, uuid.UUID]  # each record split off -> the subject it belongs to now


@transaction.atomic
def subject_split(*, subject_id: uuid.UUID | str, record_ids: Iterable[uuid.UUID | str], actor: Actor) -> SplitOutcome:
    """Cut records out of a subject (a wrong merge); they re-resolve without the cut link.

    The records go to a new subject that may never be merged back automatically; from there they
    follow the ordinary rules, so they may join another person they really belong to. The merges that
    brought them in are marked undone.
    """
    lock_resolution()
    batch = Batch(actor)
    state = _live_state(batch, subject_id)
    wanted = {uuid.UUID(str(record_id)) for record_id in record_ids}
    rows = list(
        SourceRecord.objects.filter(subject_id=state.id, pk__in=wanted, status=SourceRecord.Status.LINKED).values(
            *RECORD_COLUMNS
        )
    )
    if not wanted or len(rows) != len(wanted):
        raise ValidationFailed(
            "Give linked records of this subject.", errors={"record_ids": ["Some ids are not linked records of it."]}
        )
    remaining = SourceRecord.objects.filter(subject_id=state.id, status=SourceRecord.Status.LINKED).exclude(
        pk__in=wanted
    )
    carriers = {
        (kind, namespace, bytes.fromhex(index)): record_id
        for record_id, indexes in remaining.values_list("id", "identifier_indexes")
        for kind, namespace, index in indexes
    }
    if not remaining.exists():
        raise ValidationFailed("A split must leave at least one record with the subject.", code="nothing_left")

    new = batch.new_subject()
    batch.blocks.append(MatchBlock(subject_a_id=state.id, subject_b_id=new.id, reason="split", created_by=str(actor)))
    sources = {source.id: source for source in Source.objects.all()}
    items: dict[int, Item] = {}
    for position, row in enumerate(rows):
        source = sources[row["source_id"]]
        fields = RECORDS.open(state.key, row["id"], "payload", row["payload_enc"])
        clean = clean_record(fields, position=position, source_code=source.code, emails_verified=source.emails_verified)
        if not isinstance(clean, CleanRecord):  # stored records were valid when linked; rules may have changed
            raise Conflict("A record no longer passes validation; fix it before splitting.", code="invalid_record")
        row["subject_id"] = new.id
        items[position] = Item(clean, source, row)
    # Identifiers only the departing records carried leave the subject with them; those entered by
    # hand (no source record) stay.
    for key, identifier in list(state.identifiers.items()):
        if identifier["source_record_id"] is None:
            continue
        if key not in carriers:
            batch.deleted_identifiers.add(identifier["id"])
            del state.identifiers[key]
        elif identifier["source_record_id"] in wanted:
            identifier["source_record_id"] = carriers[key]
            batch.changed_identifiers[identifier["id"]] = identifier
    state.recompute_fully = True
    outcomes = {position: RecordOutcome(position) for position in items}
    resolve_items(batch, items, outcomes)
    batch.survive()
    batch.flush()
    # A merge is undone when a split record carried its link, or came from the subject it absorbed.
    moved = {str(record_id) for record_id in wanted}
    former_owners = set(SourceRecord.history.filter(id__in=wanted).values_list("subject_id", flat=True))
    undone = [
        decision
        for decision in MergeDecision.objects.filter(survivor_id=state.id, undone_at=None)
        if moved & set(decision.records) or decision.absorbed_id in former_owners
    ]
    with acting_as(actor):
        for decision in undone:
            decision.undone_at, decision.undone_by = batch.now, str(actor)
            decision.save(update_fields=["undone_at", "undone_by"])
    logger.info("Subject %s split: %d record(s) re-resolved by %s", state.id, len(rows), actor)
    return SplitOutcome(
        subject_id=state.id,
        records={row["id"]: outcomes[position].subject_id for position, row in enumerate(rows)},  # type: ignore[misc]
    )
