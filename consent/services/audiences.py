"""Audience checks: a whole campaign list checked before sending, with a signed receipt as evidence.

The uploaded list is personal data: it is encrypted on arrival under a key of its own and deleted
(with its key) once checked. The result file names lines, not people, and the receipt holds counts
and the list's SHA-256, so neither keeps anything personal.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from c360.lib.crypto import WrappedKey, data_key_create, data_key_open, decrypt_stream, encrypt_stream
from c360.lib.errors import Conflict, NotFound, ValidationFailed
from c360.lib.history import Actor, acting_as
from c360.lib.signing import sign
from consent.models import AudienceCheck, Purpose
from consent.selectors import RECIPIENT_KINDS, Recipient, consent_check_many, parse_recipient
from consent.tasks import audience_check_run_task

logger = logging.getLogger(__name__)

FORMATS = ("csv", "jsonl")
BATCH = 5000
POLICY_VERSION = "c360-decide/1"


def _directory() -> Path:
    directory = Path(settings.C360_FILES_DIR) / "audience"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def input_path(check: AudienceCheck) -> Path:
    return _directory() / f"{check.id}.input.enc"


def result_path(check: AudienceCheck) -> Path:
    return _directory() / f"{check.id}.result.jsonl"


def _holder(check: AudienceCheck) -> WrappedKey:
    wrapped = bytes(check.input_wrapped_key) if check.input_wrapped_key is not None else None
    return WrappedKey(wrapped, check.input_kek_version, check.key_context())


@transaction.atomic
def audience_check_create(
    *, purpose_code: str, channel: str, chunks: Iterable[bytes], input_format: str, name: str, actor: Actor
) -> AudienceCheck:
    """Store the list encrypted and queue the check; the answer comes back by ``audience_check_run``."""
    errors: dict[str, list[str]] = {}
    purpose = Purpose.objects.filter(code=purpose_code).first()
    if purpose is None or not purpose.is_active:
        errors["purpose"] = ["No active purpose has that code."]
    elif channel not in purpose.channels:
        errors["channel"] = ["The purpose does not use this channel."]
    if input_format not in FORMATS:
        errors["format"] = ["Give csv or jsonl."]
    if errors:
        raise ValidationFailed("The audience check is invalid.", errors=errors)

    check = AudienceCheck(
        id=uuid.uuid4(),
        purpose=purpose,
        channel=channel,
        requested_by=str(actor),
        input_name=name[:200],
        input_format=input_format,
    )
    holder = _holder(check)
    key = data_key_create(holder)
    digest, size, lines = hashlib.sha256(), 0, 0
    last = b"\n"

    # The list must be UTF-8 text to be accepted: otherwise the check would fail later, in the worker, on every
    # retry (and, with no broker, the eager task would turn the upload into a 500).
    decoder = codecs.getincrementaldecoder("utf-8-sig")()

    def counted() -> Iterator[bytes]:
        nonlocal size, lines, last
        for chunk in chunks:
            _decoded(decoder, chunk)
            digest.update(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
            if chunk:
                last = chunk[-1:]
            yield chunk
        _decoded(decoder, b"", final=True)

    target = input_path(check)
    partial = target.with_suffix(".partial")
    try:
        with partial.open("wb") as handle:
            for piece in encrypt_stream(counted(), key, context=check.key_context()):
                handle.write(piece)
    except ValidationFailed:
        partial.unlink(missing_ok=True)
        raise
    if size == 0:
        partial.unlink()
        raise ValidationFailed("The file is empty.", errors={"file": ["Upload a non-empty list."]})
    os.replace(partial, target)
    lines += last != b"\n"
    check.total = lines - (1 if input_format == "csv" else 0)
    check.input_sha256 = digest.hexdigest()
    check.input_wrapped_key, check.input_kek_version = holder.wrapped_dek, holder.kek_version
    with acting_as(actor):
        check.save(force_insert=True)
    transaction.on_commit(lambda: audience_check_run_task.delay(str(check.id)))
    return check


def _decoded(decoder: codecs.IncrementalDecoder, chunk: bytes, *, final: bool = False) -> str:
    try:
        return decoder.decode(chunk, final)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "The file is not UTF-8 text.", errors={"file": [f"Not UTF-8 (at byte {exc.start} of a chunk)."]}
        ) from exc


def audience_check_retry(*, check_id: uuid.UUID | str, actor: Actor) -> AudienceCheck:
    """Queue a failed check again (its list is kept until it succeeds)."""
    check = AudienceCheck.objects.filter(pk=check_id).first()
    if check is None:
        raise NotFound("No audience check has that id.")
    if check.status != AudienceCheck.Status.FAILED:
        raise Conflict(f"The check is {check.status}; only a failed check is retried.", code="not_failed")
    transaction.on_commit(lambda: audience_check_run_task.delay(str(check.id)))
    return check


def audience_check_run(*, check_id: uuid.UUID | str) -> AudienceCheck:
    """Check every line of the list. Claimed with a conditional update, so a task delivered twice runs once."""
    claimed = AudienceCheck.objects.filter(
        pk=check_id, status__in=[AudienceCheck.Status.QUEUED, AudienceCheck.Status.FAILED]
    ).update(status=AudienceCheck.Status.RUNNING, started_at=timezone.now(), error="", processed=0)
    check = AudienceCheck.objects.select_related("purpose").get(pk=check_id)
    if not claimed:
        return check
    try:
        _run(check)
    except Exception as exc:
        # The list stays (encrypted) for a retry; the message names the problem, never a value.
        check.status, check.error = AudienceCheck.Status.FAILED, f"{type(exc).__name__}: {str(exc)[:200]}"
        with acting_as(Actor.system("audience_check")):
            check.save(update_fields=["status", "error"])
        logger.exception("Audience check %s failed", check.id)
        raise
    return check


def _lines(check: AudienceCheck) -> Iterator[str]:
    key = data_key_open(_holder(check))
    with input_path(check).open("rb") as handle:
        pending = b""
        for chunk in decrypt_stream(handle.read, key, context=check.key_context()):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.decode("utf-8-sig").rstrip("\r")
        if pending:
            yield pending.decode("utf-8-sig").rstrip("\r")


def _recipients(check: AudienceCheck) -> Iterator[tuple[int, Recipient | str]]:
    """(line number, recipient or why it cannot be read) for every line of the list."""
    lines = _lines(check)
    if check.input_format == "jsonl":
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield number, parse_recipient(json.loads(line))
            except json.JSONDecodeError:
                yield number, "The line is not valid JSON."
        return
    header = next(lines, "")
    columns = next(csv.reader([header]), [])
    known = [column for column in columns if column in RECIPIENT_KINDS]
    if len(known) != 1:
        raise ValueError(f"the CSV header needs exactly one of {', '.join(RECIPIENT_KINDS)}")
    kind, position = known[0], columns.index(known[0])
    source_position = columns.index("source") if "source" in columns else None
    for number, row in enumerate(csv.reader(lines), start=2):
        if not row:
            continue
        value = row[position].strip() if position < len(row) else ""
        source = row[source_position].strip() if source_position is not None and source_position < len(row) else ""
        if not value:
            yield number, f"The {kind} cell is empty."
        elif kind == "external_id" and not source:
            yield number, "An external_id needs its source column."
        else:
            yield number, Recipient(kind, value, source)


def _run(check: AudienceCheck) -> None:
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    target = result_path(check)
    partial = target.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as output:
        batch: list[tuple[int, Recipient | str]] = []
        for item in _recipients(check):
            batch.append(item)
            if len(batch) >= BATCH:
                _check_batch(check, batch, output, counts, reasons)
                batch = []
        if batch:
            _check_batch(check, batch, output, counts, reasons)
    os.replace(partial, target)
    receipt = {
        "audience_check": str(check.id),
        "purpose": check.purpose.code,
        "purpose_version": check.purpose.version,
        "channel": check.channel,
        "input_sha256": check.input_sha256,
        "counts": {
            "lines": counts["lines"],
            "allowed": counts["allowed"],
            "denied": counts["denied"],
            "invalid": counts["invalid"],
        },
        "denied_by_reason": dict(sorted(reasons.items())),
        "catalogue_version": _catalogue_version(),
        "policy_version": POLICY_VERSION,
        "requested_by": check.requested_by,
        "checked_at": timezone.now().isoformat(),
    }
    check.status = AudienceCheck.Status.DONE
    check.processed, check.allowed, check.denied, check.invalid = (
        counts["lines"],
        counts["allowed"],
        counts["denied"],
        counts["invalid"],
    )
    check.denied_by_reason, check.receipt, check.signature = dict(reasons), receipt, sign(receipt)
    check.finished_at = timezone.now()
    # Checked: the list itself is no longer needed. Its file and key go; the receipt keeps its hash.
    input_path(check).unlink(missing_ok=True)
    check.input_wrapped_key, check.input_kek_version = None, None
    with acting_as(Actor.system("audience_check")):
        check.save()
    logger.info("Audience check %s done: %s", check.id, dict(counts))


def _check_batch(
    check: AudienceCheck,
    batch: list[tuple[int, Recipient | str]],
    output: io.TextIOBase,
    counts: Counter[str],
    reasons: Counter[str],
) -> None:
    readable = [(line, item) for line, item in batch if isinstance(item, Recipient)]
    results = consent_check_many([item for _, item in readable], purpose_code=check.purpose.code, channel=check.channel)
    answers = {line: result for (line, _), result in zip(readable, results, strict=True)}
    rows = []
    for line, item in batch:
        counts["lines"] += 1
        result = answers.get(line)
        error = item if isinstance(item, str) else (result.error if result else "")
        if error:
            counts["invalid"] += 1
            rows.append({"line": line, "allowed": False, "error": error})
            continue
        decision = result.decision  # type: ignore[union-attr]
        counts["allowed" if decision.allowed else "denied"] += 1
        if not decision.allowed:
            reasons[decision.reasons[0]] += 1
        rows.append(
            {
                "line": line,
                "allowed": decision.allowed,
                "reasons": list(decision.reasons),
                "evidence_event_id": decision.evidence_event_id,
            }
        )
    output.write("".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows))
    AudienceCheck.objects.filter(pk=check.pk).update(processed=counts["lines"])


def _catalogue_version() -> str:
    """A hash of every purpose's code, version and activity: which catalogue the decisions used."""
    rows = Purpose.objects.order_by("code").values_list("code", "version", "is_active", "updated_at")
    return hashlib.sha256(json.dumps([list(map(str, row)) for row in rows]).encode()).hexdigest()


def receipt_payload(check: AudienceCheck) -> dict[str, Any]:
    return dict(check.receipt)
