"""Survivorship: which record each profile attribute takes its value from, and why.

Per attribute, candidate records are ordered by a rule made of criteria (Reltio's "crosswalks",
ANCHORS.md 4.3): ``trust`` (the source's trust rank), ``verified`` (a record whose contact data its
source verified), ``recency`` (the record's own last update at the source, else when c360 received it).
The address is taken whole from one record, never stitched from several.

The winner of each attribute is kept with its criteria (the subject's ``provenance``), so a new record
only has to beat the current winner: no need to re-read every record of the profile. A full recompute
is needed only when a winning record changes or leaves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RULES: Mapping[str, tuple[str, ...]] = {
    "given_name": ("trust", "recency"),
    "family_name": ("trust", "recency"),
    "social_name": ("recency", "trust"),  # the name a person asks to be called by: the latest wins
    "birth_date": ("trust", "verified", "recency"),
    "address": ("recency", "trust"),
    "locale": ("recency", "trust"),
}

_EPOCH = "1970-01-01T00:00:00+00:00"


def _empty(value: Any) -> bool:
    return value is None or value in ("", {})


@dataclass(frozen=True)
class Candidate:
    """One source record's view of the person."""

    record_id: str
    source: str
    attributes: Mapping[str, Any]
    trust_rank: int
    verified: bool
    updated_at: dt.datetime | None

    def provenance(self) -> dict[str, Any]:
        return {
            "record": self.record_id,
            "source": self.source,
            "trust": self.trust_rank,
            "verified": self.verified,
            "at": self.updated_at.astimezone(dt.UTC).isoformat() if self.updated_at else _EPOCH,
        }


def _rank(provenance: Mapping[str, Any], criteria: tuple[str, ...]) -> tuple[Any, ...]:
    values = {"trust": provenance["trust"], "verified": provenance["verified"], "recency": provenance["at"]}
    # Highest first on every criterion; the record id last makes ties deterministic.
    return (*(values[criterion] for criterion in criteria), provenance["record"])


def survive(
    candidates: Iterable[Candidate], current: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The attributes whose winner changes: attribute -> (new value, its provenance).

    ``current`` is the subject's provenance (attribute -> the winning record's criteria); pass None
    (or leave out attributes) to choose among ``candidates`` alone.
    """
    current = current or {}
    best: dict[str, tuple[tuple[Any, ...], Any, dict[str, Any]]] = {}
    for candidate in candidates:
        provenance = candidate.provenance()
        for attribute, criteria in RULES.items():
            value = candidate.attributes.get(attribute)
            if _empty(value):
                continue
            rank = _rank(provenance, criteria)
            if attribute not in best or rank > best[attribute][0]:
                best[attribute] = (rank, value, provenance)
    changed = {}
    for attribute, (rank, value, provenance) in best.items():
        holder = current.get(attribute)
        if holder is None or rank > _rank(holder, RULES[attribute]):
            changed[attribute] = (value, provenance)
    return changed


def conflicts(candidates: Iterable[Candidate]) -> dict[str, list[tuple[Any, str]]]:
    """attribute -> every distinct (value, record id) when records disagree: shown to the DPO."""
    seen: dict[str, dict[str, tuple[Any, str]]] = {}
    for candidate in candidates:
        for attribute in RULES:
            value = candidate.attributes.get(attribute)
            if not _empty(value):
                seen.setdefault(attribute, {}).setdefault(repr(value), (value, candidate.record_id))
    return {attribute: list(values.values()) for attribute, values in seen.items() if len(values) > 1}
