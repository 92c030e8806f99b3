"""Row locks, always taken in this order: Subject, then SubjectKey, then Identifier (no deadlocks)."""

from django.db.models import QuerySet

from .models import Subject, SubjectKey


def subject_qs_select_for_update() -> QuerySet[Subject]:
    return Subject.objects.order_by("pk").select_for_update(of=("self",))


def subject_key_qs_select_for_update() -> QuerySet[SubjectKey]:
    return SubjectKey.objects.order_by("pk").select_for_update()
