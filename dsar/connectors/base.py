"""The one interface every source of personal data implements, whatever it is.

The orchestrator knows nothing of tables, endpoints or checklists: it asks a connector to *locate* the
person from their identities, then to *export*, *erase*, *rectify* or *restrict* what was located. Every
value a connector hands back is JSON-serialisable, because it is stored on the request's task (encrypted
where it holds personal data) and may be re-run by another worker after a crash.

Idempotency is the connector's duty as much as the orchestrator's: running ``erase`` twice on the same
matches must change nothing the second time (a deleted row is gone, a masked value masks to itself,
a nulled field stays null) and say so in its outcome.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Identity:
    """One normalised identifier of the data subject (email lower-cased, phone in E.164, CPF digits).

    ``kind`` is one of email, phone, cpf, external_id; ``namespace`` names the source system for an
    external id.
    """

    kind: str
    value: str
    namespace: str = ""


@dataclass(frozen=True)
class Match:
    """One located item: a row, an API resource, a checklist entry. ``locator`` says how to find it again
    (table and primary key, resource path): it holds keys, not personal data."""

    collection: str
    locator: dict[str, Any]
    via: str = ""  # how it was reached: "identity:email" or "customers.id -> orders.customer_id"


@dataclass
class ExportedRecord:
    """What a source holds about the person, for access and portability packages."""

    collection: str
    fields: dict[str, Any]
    categories: dict[str, str] = field(default_factory=dict)  # field -> data category (contact, financial...)
    provenance: str = ""  # where it came from: "postgres:shop/customers#42"


@dataclass(frozen=True)
class FieldAction:
    """What was done to one field or row during an erasure, rectification or restriction."""

    collection: str
    locator: dict[str, Any]
    action: str  # deleted, nulled, masked, kept, rectified, restricted, unchanged
    field: str = ""
    reason: str = ""  # for kept: the legal basis; for unchanged: "already erased"...
    kept_until: dt.date | None = None


@dataclass
class Outcome:
    """The report of an erase, rectify or restrict run: one entry per row or field touched or kept."""

    actions: list[FieldAction] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for item in self.actions if item.action == action)

    @property
    def changed(self) -> int:
        return sum(1 for item in self.actions if item.action not in {"kept", "unchanged"})


class ConnectorError(Exception):
    """A source could not do what was asked. ``retryable`` says whether trying again later may help
    (a timeout, a connection refused, HTTP 503) or not (a bad map, HTTP 404 on a configured endpoint).

    The message must name the source and the step, never personal data.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class Connector(Protocol):
    """One source of personal data, configured (connection, map, endpoints) at construction."""

    def locate(self, identities: list[Identity]) -> list[Match]: ...

    def export(self, matches: list[Match]) -> list[ExportedRecord]: ...

    def erase(self, matches: list[Match]) -> Outcome: ...

    def rectify(self, matches: list[Match], corrections: dict[str, Any]) -> Outcome:
        """``corrections`` maps a data category or identity kind (email, phone, name...) to its new value."""
        ...

    def restrict(self, matches: list[Match]) -> Outcome: ...
