"""Who made a change: the actor recorded on every history row, for staff, API keys and the system alike.

django-simple-history records ``history_user`` only for staff users of a web request. Services run
for API keys, Celery tasks and commands too, so each service declares its actor with
``acting_as(actor)`` and every history row written inside carries it in ``history_actor``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.dispatch import receiver
from django.utils import timezone
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record

from c360.lib.db import insert_rows


@dataclass(frozen=True)
class Actor:
    """``kind`` is user, api_key, system or subject; ``ref`` identifies it without personal data."""

    kind: str
    ref: str
    user_id: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.ref}"

    @classmethod
    def parse(cls, text: str) -> Actor:
        """The inverse of ``str(actor)``, for actors carried in task messages."""
        kind, separator, ref = text.partition(":")
        if not separator or kind not in {"user", "api_key", "system", "subject"} or not ref:
            raise ValueError("an actor is written KIND:REF, KIND one of user, api_key, system, subject")
        return cls(kind, ref, user_id=int(ref) if kind == "user" and ref.isdigit() else None)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls("system", name)

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        return cls("user", str(user.pk), user_id=user.pk)

    @classmethod
    def for_api_key(cls, api_key: Any) -> Actor:
        return cls("api_key", api_key.prefix)

    @classmethod
    def for_subject(cls, subject_id: object) -> Actor:
        return cls("subject", str(subject_id))


_current_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("c360_actor", default=None)


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _current_actor.set(actor)
    try:
        yield actor
    finally:
        _current_actor.reset(token)


def current_actor() -> Actor | None:
    return _current_actor.get()


class HistoricalActor(models.Model):
    """Base of every historical model: adds who acted (never a name or an address)."""

    history_actor = models.CharField(max_length=80, blank=True, default="")

    class Meta:
        abstract = True


def history_user(instance: Any = None, request: Any = None, **kwargs: Any) -> AbstractBaseUser | None:
    """Staff user for ``history_user``; API clients are not users and are recorded as ``history_actor``."""
    user = getattr(instance, "_history_user", None) or getattr(request, "user", None)
    return user if isinstance(user, AbstractBaseUser) and user.is_authenticated else None


def audited_history(**kwargs: Any) -> HistoricalRecords:
    """``HistoricalRecords`` as every c360 model uses it: with the acting party on each row."""
    return HistoricalRecords(bases=[HistoricalActor], get_user=history_user, **kwargs)


def history_rows(
    model: type[models.Model], rows: Sequence[dict[str, Any]], *, history_type: str, reason: str = ""
) -> None:
    """History for rows written in bulk (signals do not run there): "+", "~" or "-", with the actor.

    ``rows`` are dicts keyed by attname holding at least every tracked field of ``model``.
    """
    if not rows:
        return
    historical = model.history.model  # type: ignore[attr-defined]
    actor = current_actor()
    meta = {
        "history_date": timezone.now(),
        "history_type": history_type,
        "history_change_reason": reason or None,
        "history_actor": str(actor) if actor else "",
        "history_user_id": actor.user_id if actor else None,
    }
    tracked = [field.attname for field in historical.tracked_fields]
    insert_rows(historical, [{**meta, **{name: row[name] for name in tracked}} for row in rows])


@receiver(pre_create_historical_record)
def _record_actor(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    actor = current_actor()
    if actor is None or not hasattr(history_instance, "history_actor"):
        return
    history_instance.history_actor = str(actor)
    if actor.user_id is not None and history_instance.history_user_id is None:
        history_instance.history_user_id = actor.user_id
