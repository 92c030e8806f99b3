"""Row locks on subjects, and the one order every writer takes its locks in (no deadlocks).

1. The resolution lock (``profiles.services._batch.lock_resolution``, an advisory lock): ingestion, merges,
   splits and erasures, the writers that change which subjects make up a person.
2. Subject rows, all of them in one statement, in ascending id order (``subjects_lock``, or
   ``subjects_lock_for_consent``); never another subject row after that, except rows merged into one
   already locked (a merge re-points them).
3. SubjectKey rows, then Identifier rows.
4. Consent chain heads of contact points (advisory locks, ``consent.services.events``), in ascending key order;
   a subject's own chain is guarded by the subject's row lock (step 2), which every writer of it holds.

A consent write locks its subject's row before its chain: its foreign keys re-check the subject row when it
commits, so a chain lock taken first would wait for an erasure holding the row while the erasure waits for
the chain. docs/security.md ("Concurrency and lock order") explains why each step is where it is.
"""

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from .models import Subject, SubjectKey


def subject_qs_select_for_update() -> QuerySet[Subject]:
    return Subject.objects.order_by("pk").select_for_update(of=("self",))


def subject_key_qs_select_for_update() -> QuerySet[SubjectKey]:
    return SubjectKey.objects.order_by("pk").select_for_update()


def subjects_lock(subject_ids: Iterable[Any]) -> list[Subject]:
    """Lock these subjects (FOR UPDATE) in ascending id order, and return their rows as they are now."""
    return list(subject_qs_select_for_update().filter(pk__in=sorted({str(pk) for pk in subject_ids})))


def subjects_lock_for_consent(subject_ids: Iterable[Any]) -> dict[Any, str]:
    """Lock these subjects for a consent write (FOR NO KEY UPDATE: one writer per subject at a time, and
    none while a merge or an erasure holds the subject) in ascending id order; their status, by id."""
    rows = (
        Subject.objects.order_by("pk")
        .select_for_update(of=("self",), no_key=True)
        .filter(pk__in=sorted({str(pk) for pk in subject_ids}))
    )
    return dict(rows.values_list("pk", "status"))
