"""The hash chain of the consent ledger: canonical serialisation, hashing, and verification.

Each event's hash is SHA-256 over a canonical JSON form of every recorded field (ciphertexts as hex, so
a crypto-shredded event still verifies) plus the previous event's hash in the same chain. Changing,
removing or reordering any event breaks the chain from that point; the daily checkpoint of all chain
heads also catches a truncated tail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

HASHED_FIELDS = (
    "id",
    "chain",
    "sequence",
    "subject_id",
    "contact_kind",
    "contact_index",
    "purpose_code",
    "purpose_version",
    "channel",
    "action",
    "status",
    "legal_basis",
    "notice_version_id",
    "method",
    "actor_kind",
    "actor_ref",
    "source_system",
    "occurred_at",
    "recorded_at",
    "valid_until",
    "ip_enc",
    "user_agent_enc",
    "evidence",
    "previous_hash",
)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if value is None or isinstance(value, str | int | bool | dict | list):
        return value
    return str(value)  # UUIDs


def canonical(row: dict[str, Any]) -> bytes:
    """The bytes an event's hash covers: its recorded fields in a fixed, unambiguous form."""
    return json.dumps(
        {name: _canonical_value(row[name]) for name in HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def event_hash(row: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


@dataclass(frozen=True)
class BrokenLink:
    chain: str
    sequence: int
    event_id: str
    problem: str


def verify_chain(rows: Iterable[dict[str, Any]]) -> Iterator[BrokenLink]:
    """Every problem in one chain, given its events in sequence order."""
    previous_hash, expected_sequence = "", 1
    for row in rows:
        event_id = str(row["id"])
        if row["sequence"] != expected_sequence:
            yield BrokenLink(
                row["chain"], row["sequence"], event_id, f"sequence {row['sequence']}, expected {expected_sequence}"
            )
        if row["previous_hash"] != previous_hash:
            yield BrokenLink(row["chain"], row["sequence"], event_id, "does not point at the previous event's hash")
        if event_hash(row) != row["hash"]:
            yield BrokenLink(row["chain"], row["sequence"], event_id, "content does not match its hash")
        previous_hash, expected_sequence = row["hash"], row["sequence"] + 1


def heads_digest(heads: Iterable[tuple[str, int, str]]) -> str:
    """One hash over every chain's (name, last sequence, last hash), sorted by chain."""
    digest = hashlib.sha256()
    for chain, sequence, head in sorted(heads):
        digest.update(f"{chain}|{sequence}|{head}\n".encode())
    return digest.hexdigest()
