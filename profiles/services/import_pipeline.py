"""Streaming many records from files or generators through ingestion, in bounded memory.

Records are grouped into per-source batches in arrival order. Cleaning (normalising identifiers,
computing blind indexes) needs no database and is the costliest pure-Python step, so it can run in
worker processes while the main process resolves and writes the previous batch.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from c360.lib.history import Actor
from profiles.models import Source
from profiles.records import CleanRecord, RejectedRecord, clean_record
from profiles.services.ingestion import IngestResult, records_ingest_clean

Cleaned = CleanRecord | RejectedRecord


def _batches(stream: Iterable[tuple[str, Any]], batch_size: int) -> Iterator[tuple[str, list[Any]]]:
    pending: dict[str, list[Any]] = {}
    for source_code, fields in stream:
        batch = pending.setdefault(source_code, [])
        batch.append(fields)
        if len(batch) >= batch_size:
            yield source_code, pending.pop(source_code)
    yield from pending.items()


def _clean_batch(job: tuple[str, bool, list[Any]]) -> list[Cleaned]:
    source_code, emails_verified, records = job
    return [
        clean_record(raw, position=position, source_code=source_code, emails_verified=emails_verified)
        for position, raw in enumerate(records)
    ]


def _worker_setup() -> None:
    import django

    django.setup()


def ingest_stream(
    stream: Iterable[tuple[str, Any]],
    *,
    sources: dict[str, Source],
    actor: Actor,
    batch_size: int = 5000,
    workers: int = 0,
) -> Iterator[tuple[str, IngestResult]]:
    """Ingest ``(source code, record)`` pairs; yields each batch's result as it is committed."""
    jobs = ((code, sources[code].emails_verified, records) for code, records in _batches(stream, batch_size))
    if workers <= 0:
        for job in jobs:
            yield job[0], records_ingest_clean(source=sources[job[0]], cleaned=_clean_batch(job), actor=actor)
        return
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    # The pool's feeder thread would read the whole stream ahead; the semaphore keeps at most a few
    # batches in flight, so memory stays bounded on a file of any size.
    in_flight = threading.BoundedSemaphore(workers * 2)
    codes: list[str] = []

    def throttled() -> Iterator[tuple[str, bool, list[Any]]]:
        for job in jobs:
            in_flight.acquire()
            codes.append(job[0])
            yield job

    with context.Pool(workers, initializer=_worker_setup) as pool:
        for position, cleaned in enumerate(pool.imap(_clean_batch, throttled(), chunksize=1)):
            in_flight.release()
            code = codes[position]
            yield code, records_ingest_clean(source=sources[code], cleaned=cleaned, actor=actor)
