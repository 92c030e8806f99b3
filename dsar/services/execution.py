"""Running one request's work in one source, idempotently, and retrying it.

The order matters for crash safety: (1) lock the task and count the attempt; (2) locate the person and
record the plan (the locators) in its own committed transaction; (3) act in the source; (4) record the
outcome and mark the task done. A worker that dies between (3) and (4) leaves a task that is re-run:
the source's own idempotency makes the second pass a no-op, and the plan from the first pass lets the
outcome say what the earlier attempt did, so the audit stays complete.

Only one worker runs a task at a time (``_claimed``), and a request that a crash or a lost message left
waiting is picked up again by ``requests_recover_stale`` (a beat task): see docs/security.md, "Crash recovery".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from c360.lib.crypto import WrappedKey, data_key_create, data_key_open, decrypt_stream, encrypt_stream
from c360.lib.errors import Conflict, NotFound, ValidationFailed
from c360.lib.faults import failpoint
from c360.lib.history import Actor, acting_as
from dsar.connectors import ManualStep, connector_for
from dsar.connectors.base import ConnectorError, ExportedRecord, Identity, Match, Outcome
from dsar.models import OPERATIONS, DataRequest, RequestEvent, RequestTask
from dsar.services.requests import _event, request_details, request_identities, request_join

logger = logging.getLogger(__name__)
Status = RequestTask.Status


class RetryLater(Exception):
    """A retryable source failure: the Celery wrapper schedules the next attempt with backoff."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"retry (attempt {attempts})")
        self.attempts = attempts


def _export_path(task: RequestTask) -> Path:
    directory = Path(settings.C360_FILES_DIR) / "dsar" / str(task.request_id)
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{task.source.code}.json.enc"


def export_key_holder(task: RequestTask) -> WrappedKey:
    return WrappedKey(None, None, task.export_key_context())


def _start(task_id: int) -> RequestTask | None:
    with transaction.atomic():
        task = (
            RequestTask.objects.select_for_update(of=("self",))
            .select_related("request__key", "source")
            .filter(pk=task_id)
            .first()
        )
        if task is None:
            raise NotFound("No such task.")
        request = task.request
        if task.status in {Status.DONE, Status.WAITING}:
            return None  # a redelivered message: the work is done or waits for a person
        if request.status != DataRequest.Status.IN_PROGRESS or request.verification_outcome != "verified":
            # Never touch a source for an unverified, cancelled or closed request.
            logger.warning("DSAR task %s not run: request %s is %s", task.pk, request.protocol, request.status)
            return None
        task.status = Status.RUNNING
        task.attempts += 1
        task.started_at = timezone.now()
        task.error = ""
        system = Actor.system("dsar-orchestrator")
        with acting_as(system):
            _event(request, system, "task", note=f"{task.source.code}: {task.operation} attempt {task.attempts}")
        task.save(update_fields=["status", "attempts", "started_at", "error"])
        return task


def _identities(request: DataRequest) -> list[Identity]:
    identities = [
        Identity(item["kind"], item["value"], item.get("namespace", "")) for item in request_identities(request)
    ]
    if request.subject_id and all(identity.kind != "subject_id" for identity in identities):
        identities.append(Identity("subject_id", str(request.subject_id)))
    return identities


def retry_countdown(attempts: int) -> int:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling, at most an hour."""
    return min(settings.C360_DSAR_RETRY_BASE_SECONDS * 2 ** (attempts - 1), 3600)


def _claim_key(task_id: int) -> int:
    digest = hashlib.sha256(f"c360.dsar.task|{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def _claimed(task_id: int) -> Iterator[bool]:
    """Whether this process may run the task now: one at a time, however many copies of its message exist.

    On PostgreSQL, a session advisory lock keyed by the task. The server drops it with the connection,
    so a worker that is killed never leaves it behind, and a live one always keeps it. Elsewhere (SQLite:
    one process) the claim is always granted.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    key = _claim_key(task_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        claimed = bool(cursor.fetchone()[0])
    try:
        yield claimed
    finally:
        if claimed:
            with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def request_task_run(*, task_id: int) -> RequestTask | None:
    """Run one source task. Raises ``RetryLater`` for a retryable failure with attempts left."""
    with _claimed(task_id) as claimed:
        if not claimed:
            # A second copy of the message (the broker's redelivery, the sweeper) while a live worker runs
            # the task: that worker finishes it, or dies and the task is handed out again.
            logger.info("DSAR task %s is running in another worker; this delivery does nothing", task_id)
            return RequestTask.objects.filter(pk=task_id).first()
        return _run(task_id)


def _run(task_id: int) -> RequestTask | None:
    task = _start(task_id)
    if task is None:
        found = RequestTask.objects.filter(pk=task_id).first()
        if found is not None and found.status == Status.DONE:
            # A message delivered again after its worker died: the task is done, but the join (and the
            # package) that followed it may not be. Both are idempotent.
            request_join(request_id=found.request_id)
        return found
    request, source = task.request, task.source
    failpoint(f"dsar.task.started.{source.code}")
    reason = f"dsar {request.protocol}"
    try:
        connector = connector_for(source, actor=Actor.system(f"dsar:{request.protocol}"), reason=reason)
        matches = connector.locate(_identities(request))
        failpoint(f"dsar.task.located.{source.code}")
        _record_plan(task, matches)
        failpoint(f"dsar.task.planned.{source.code}")
        outcome, exported = _act(connector, task, matches, request)
        failpoint(f"dsar.task.acted.{source.code}")
    except ManualStep:
        return _wait_for_person(task)
    except ConnectorError as exc:
        return _failed(task, str(exc), retryable=exc.retryable)
    except Exception as exc:  # a bug or an unexpected source error: recorded, never swallowed silently
        logger.exception("DSAR task %s failed unexpectedly", task.pk)
        return _failed(task, f"{source.code}: unexpected {type(exc).__name__}", retryable=False)
    return _finish(task, matches, outcome, exported)


def _record_plan(task: RequestTask, matches: list[Match]) -> None:
    """Before anything destructive: which items this attempt will act on (keys only, committed)."""
    plan = [{"collection": match.collection, "locator": match.locator} for match in matches]
    known = {json.dumps(item, sort_keys=True) for item in task.plan}
    merged = task.plan + [item for item in plan if json.dumps(item, sort_keys=True) not in known]
    RequestTask.objects.filter(pk=task.pk).update(plan=merged)
    task.plan = merged


def _act(
    connector: Any, task: RequestTask, matches: list[Match], request: DataRequest
) -> tuple[Outcome | None, list[ExportedRecord]]:
    operation = task.operation
    if operation == "export":
        return None, connector.export(matches)
    if operation == "erase":
        return connector.erase(matches), []
    if operation == "rectify":
        return connector.rectify(matches, request_details(request).get("corrections", {})), []
    if operation == "restrict":
        return connector.restrict(matches), []
    if operation in {"object", "revoke"} and hasattr(connector, operation):
        # Only a store that holds consent can record these; elsewhere the person is located for the record.
        purposes = request_details(request).get("purposes") or []
        return getattr(connector, operation)(matches, purposes), []
    return None, []


def _finish(
    task: RequestTask, matches: list[Match], outcome: Outcome | None, exported: list[ExportedRecord]
) -> RequestTask:
    summary: dict[str, Any] = {"located": len(matches)}
    holder = None
    if task.operation == "export":
        summary["exported"] = len(exported)
        holder, summary["export_sha256"] = _store_export(task, exported)
    if outcome is not None:
        counts: dict[str, int] = {}
        for action in outcome.actions:
            counts[action.action] = counts.get(action.action, 0) + 1
        summary["actions"] = counts
        summary["kept"] = [
            {
                "collection": action.collection,
                "field": action.field,
                "reason": action.reason,
                "until": action.kept_until.isoformat() if action.kept_until else None,
            }
            for action in outcome.actions
            if action.action == "kept"
        ]
        located_now = {json.dumps(match.locator, sort_keys=True) for match in matches}
        gone = [item for item in task.plan if json.dumps(item["locator"], sort_keys=True) not in located_now]
        if task.attempts > 1 and (gone or counts.get("unchanged")):
            # Planned by an earlier attempt that died before recording: it did this work. Said, not hidden.
            summary["done_by_earlier_attempt"] = len(gone) + counts.get("unchanged", 0)
    with transaction.atomic():
        locked = RequestTask.objects.select_for_update().get(pk=task.pk)
        if locked.status == Status.DONE:
            return locked
        locked.status = Status.DONE
        locked.finished_at = timezone.now()
        locked.outcome = summary
        locked.retryable = False
        if holder is not None:
            locked.export_wrapped_key, locked.export_kek_version = holder.wrapped_dek, holder.kek_version
        system = Actor.system("dsar-orchestrator")
        with acting_as(system):
            _event(task.request, system, "task_done", note=f"{task.source.code}: {task.operation}", **summary)
        locked.save(
            update_fields=["status", "finished_at", "outcome", "retryable", "export_wrapped_key", "export_kek_version"]
        )
        transaction.on_commit(lambda: _join_after(task))
    logger.info("DSAR task %s done in %s", task.pk, task.source.code)
    return locked


def _join_after(task: RequestTask) -> None:
    failpoint(f"dsar.task.finished.{task.source.code}")
    request_join(request_id=task.request_id)


def _store_export(task: RequestTask, records: list[ExportedRecord]) -> tuple[WrappedKey, str]:
    """The source's records, encrypted at rest until the package is built (and the plaintext's SHA-256)."""
    payload = json.dumps([asdict(record) for record in records], default=str, ensure_ascii=False).encode()
    holder = export_key_holder(task)
    data_key = data_key_create(holder)
    path = _export_path(task)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as handle:
        for chunk in encrypt_stream([payload], data_key, context=holder.key_context()):
            handle.write(chunk)
    partial.replace(path)
    return holder, hashlib.sha256(payload).hexdigest()


def load_export(task: RequestTask) -> list[dict[str, Any]]:
    """A done export task's records, decrypted (for building the package)."""
    holder = export_key_holder(task)
    holder.wrapped_dek, holder.kek_version = bytes(task.export_wrapped_key), task.export_kek_version
    data_key = data_key_open(holder)
    with _export_path(task).open("rb") as handle:
        payload = b"".join(decrypt_stream(handle.read, data_key, context=holder.key_context()))
    return json.loads(payload)


def _failed(task: RequestTask, message: str, *, retryable: bool) -> RequestTask:
    attempts_left = task.attempts < settings.C360_DSAR_MAX_ATTEMPTS
    with transaction.atomic():
        locked = RequestTask.objects.select_for_update().get(pk=task.pk)
        locked.status = Status.PENDING if retryable and attempts_left else Status.FAILED
        locked.error = message[:1000]
        locked.retryable = retryable
        locked.finished_at = timezone.now()
        system = Actor.system("dsar-orchestrator")
        with acting_as(system):
            _event(
                task.request,
                system,
                "task_failed",
                note=f"{message[:300]} ({'will retry' if locked.status == Status.PENDING else 'needs attention'})",
                attempt=locked.attempts,
            )
        locked.save()
    logger.warning("DSAR task %s failed (attempt %d, retryable=%s)", task.pk, locked.attempts, retryable)
    if locked.status == Status.PENDING:
        raise RetryLater(locked.attempts)
    return locked


def _wait_for_person(task: RequestTask) -> RequestTask:
    with transaction.atomic():
        locked = RequestTask.objects.select_for_update().get(pk=task.pk)
        locked.status = Status.WAITING
        system = Actor.system("dsar-orchestrator")
        with acting_as(system):
            _event(task.request, system, "task_manual", note=f"{task.source.code}: waiting for a person")
        locked.save()
    return locked


@transaction.atomic
def request_task_retry(*, task_id: int, actor: Actor) -> RequestTask:
    """The DPO retries one failed source; the others keep their results."""
    from dsar.tasks import request_task_run_task

    task = RequestTask.objects.select_for_update().select_related("request", "source").filter(pk=task_id).first()
    if task is None:
        raise NotFound("No such task.")
    if task.status != Status.FAILED:
        raise Conflict(f"The task is {task.status}; only a failed task can be retried.", code="invalid_transition")
    task.status = Status.PENDING
    task.error = ""
    with acting_as(actor):
        _event(task.request, actor, "task_retry", note=task.source.code)
        task.save()
    transaction.on_commit(lambda: request_task_run_task.delay(task.pk))
    return task


@transaction.atomic
def manual_task_complete(*, task_id: int, actor: Actor, note: str, evidence: bytes | None = None) -> RequestTask:
    """A person did the step in a system without an API: what they did, and the SHA-256 of their evidence."""
    task = RequestTask.objects.select_for_update().select_related("request", "source").filter(pk=task_id).first()
    if task is None:
        raise NotFound("No such task.")
    if task.status != Status.WAITING:
        raise Conflict(f"The task is {task.status}; it is not waiting for a person.", code="invalid_transition")
    if len(note.strip()) < 5:
        raise ValidationFailed("Say what was done.", errors={"note": ["Describe the step and its result."]})
    task.status = Status.DONE
    task.finished_at = timezone.now()
    task.evidence_note = note.strip()
    task.evidence_sha256 = hashlib.sha256(evidence).hexdigest() if evidence else ""
    task.outcome = {"manual": True, "evidence_sha256": task.evidence_sha256}
    with acting_as(actor):
        _event(task.request, actor, "task_done", note=f"{task.source.code}: manual step recorded")
        task.save()
    transaction.on_commit(lambda: request_join(request_id=task.request_id))
    return task


def requests_recover_stale(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Hand out again the work of requests that nothing has moved for ``C360_DSAR_STALE_SECONDS``.

    A worker killed mid-task leaves its task running and its message unacknowledged (Redis delivers it
    again only after the visibility timeout, an hour by default); a broker restarted without persistence
    loses its queue; a web process that dies between committing a verification and queuing its tasks
    never queues them. Each would leave a request waiting forever. Called by a beat task every
    ``C360_DSAR_SWEEP_SECONDS``: a pending task whose message is overdue, or a running one that no live
    worker holds, is queued again; a request whose tasks are all done is joined; an access request in
    review without its package gets it built. A "recovery" event says what was done (and restarts the clock).
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.C360_DSAR_STALE_SECONDS)
    latest = RequestEvent.objects.filter(request=OuterRef("pk")).order_by("-at").values("at")[:1]
    export_types = [kind for kind, operation in OPERATIONS.items() if operation == "export"]
    stale = (
        DataRequest.objects.filter(verification_outcome=DataRequest.Outcome.VERIFIED)
        .filter(
            Q(status=DataRequest.Status.IN_PROGRESS)
            | Q(status=DataRequest.Status.IN_REVIEW, request_type__in=export_types, package__isnull=True)
        )
        .annotate(last_event_at=Subquery(latest))
        .filter(last_event_at__lt=cutoff)
        .values_list("id", flat=True)
    )
    counts = {"requests": 0, "tasks": 0}
    for request_id in list(stale):
        queued = _recover(request_id, cutoff)
        if queued is not None:
            counts["requests"] += 1
            counts["tasks"] += queued
    return counts


def _overdue(task: RequestTask, cutoff: dt.datetime) -> bool:
    """Whether the task's message should have been run by now (and the task is free to run)."""
    if task.status == Status.PENDING:
        # After a retryable failure the next attempt is scheduled with backoff: not due before then.
        return not (task.attempts and task.finished_at) or (
            task.finished_at + dt.timedelta(seconds=retry_countdown(task.attempts)) < cutoff
        )
    if task.status == Status.RUNNING:
        with _claimed(task.pk) as free:
            return free  # held: a live worker is still on it (a long export), leave it alone
    return False


def _recover(request_id: Any, cutoff: dt.datetime) -> int | None:
    from dsar.tasks import request_task_run_task

    system = Actor.system("dsar-recovery")
    with transaction.atomic():
        request = DataRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or RequestEvent.objects.filter(request=request, at__gte=cutoff).exists():
            return None  # it moved since the query
        tasks = list(request.tasks.select_related("source"))
        if request.status == DataRequest.Status.IN_PROGRESS:
            queued = [task for task in tasks if _overdue(task, cutoff)]
            if not queued and any(task.status != Status.DONE for task in tasks):
                return None  # waiting for a person, a failed source, or a retry not yet due
        else:
            queued = []
        stale_for = int((timezone.now() - cutoff).total_seconds())
        with acting_as(system):
            if queued:
                codes = ", ".join(task.source.code for task in queued)
                note = f"nothing moved for {stale_for}s: queued again: {codes}"
            else:
                note = f"nothing moved for {stale_for}s: every source answered; joined again"
            _event(request, system, "recovery", note=note, tasks=[task.pk for task in queued])
        for task in queued:
            transaction.on_commit(lambda task_id=task.pk: request_task_run_task.delay(task_id))
        if not queued:
            request_join(request_id=request.id)
    logger.warning("DSAR %s recovered: %d task(s) queued again", request.protocol, len(queued))
    return len(queued)
