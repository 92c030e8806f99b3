"""What a source record may hold, how it is checked, and what identity resolution reads from it.

Pure functions, no database: a raw record (a JSON object from the API or a row of an import file)
becomes a ``CleanRecord`` (normalised identifiers, blind indexes, name tokens, survivorship
attributes) or a dict of field errors whose messages never quote the values.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from c360.lib.crypto import blind_index
from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise

from .models import ADDRESS_KEYS, index_kind

MAX_TEXT = 200
MAX_EXTRA_BYTES = 16_384
MAX_LISTED = 10
TEXT_FIELDS = ("given_name", "family_name", "full_name", "social_name", "locale")
RECORD_FIELDS = frozenset(
    {
        "external_id",
        "updated_at",
        "email",
        "emails",
        "email_verified",
        "phone",
        "phones",
        "cpf",
        "cnpj",
        "birth_date",
        "address",
        "extra",
        *TEXT_FIELDS,
    }
)
# Name particles carry no identity: "Maria da Silva" and "Maria Silva" are the same name.
_PARTICLES = frozenset({"d", "da", "das", "de", "do", "dos", "e", "del", "la", "van", "von"})
_NON_LETTERS = re.compile(r"[^a-z0-9 ]+")


@dataclass(frozen=True)
class Name:
    """A folded name: accents, case and particles removed, split into the given name and the rest."""

    given: str
    family: tuple[str, ...]

    @property
    def tokens(self) -> frozenset[str]:
        return frozenset((self.given, *self.family))

    def as_json(self) -> list[Any]:
        return [self.given, list(self.family)]

    @classmethod
    def from_json(cls, value: list[Any]) -> Name:
        return cls(value[0], tuple(value[1]))


def fold(text: str) -> list[str]:
    """Name tokens as compared: no accents, lower case, no punctuation or particles."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(char for char in decomposed if not unicodedata.combining(char)).lower()
    return [token for token in _NON_LETTERS.sub(" ", ascii_text).split() if token not in _PARTICLES]


def name_of(given: str | None, family: str | None, full: str | None) -> Name | None:
    if given:
        given_tokens = fold(given)
        family_tokens = fold(family or "")
        if given_tokens:
            return Name(given_tokens[0], tuple(given_tokens[1:] + family_tokens))
    tokens = fold(full or "") or fold(family or "")
    return Name(tokens[0], tuple(tokens[1:])) if tokens else None


@dataclass(frozen=True)
class RecordIdentifier:
    kind: str
    namespace: str
    value: str  # normalised
    index: bytes
    is_verified: bool

    @property
    def key(self) -> tuple[str, str, bytes]:
        return (self.kind, self.namespace, self.index)


@dataclass
class CleanRecord:
    position: int
    external_id: str
    external_index: bytes
    fields: dict[str, Any]
    digest: bytes
    identifiers: list[RecordIdentifier] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    name: Name | None = None
    birth_date: dt.date | None = None
    block_key: bytes | None = None
    name_key: bytes | None = None
    source_updated_at: dt.datetime | None = None
    email_verified: bool = False

    def identifier_indexes(self) -> list[list[str]]:
        return [[item.kind, item.namespace, item.index.hex()] for item in self.identifiers]


@dataclass(frozen=True)
class UnreadableRecord:
    """A line or row a reader could not turn into a record: kept quarantined with the reason."""

    reason: str
    raw: Any


@dataclass
class RejectedRecord:
    position: int
    fields: Any
    errors: dict[str, list[str]]
    external_id: str | None = None
    external_index: bytes | None = None


def external_index(source_code: str, external_id: str) -> bytes:
    return blind_index(index_kind(IdentifierKind.EXTERNAL, source_code), external_id)


def record_digest(fields: Mapping[str, Any]) -> bytes:
    """Keyed digest of a record's content: unchanged re-sends are recognised without decrypting."""
    return blind_index("record-content", json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str))


def _text(value: Any, errors: dict[str, list[str]], name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = ["Give text."]
        return None
    if len(value) > MAX_TEXT:
        errors[name] = [f"At most {MAX_TEXT} characters."]
        return None
    return value.strip() or None


def _birth_date(value: Any, errors: dict[str, list[str]]) -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors["birth_date"] = ["Give the date as text, YYYY-MM-DD."]
        return None
    try:
        date = dt.date.fromisoformat(value.strip())
    except ValueError:
        errors["birth_date"] = ["Not a date in the form YYYY-MM-DD."]
        return None
    if problem := birth_date_problem(date):
        errors["birth_date"] = [problem]
        return None
    return date


def birth_date_problem(value: Any) -> str | None:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        return "Give a date (YYYY-MM-DD)."
    if not dt.date(1900, 1, 1) <= value <= timezone.localdate():
        return "The birth date must be between 1900-01-01 and today."
    return None


def address_problem(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return "Give the address as an object."
    if unknown := sorted(set(value) - set(ADDRESS_KEYS)):
        return f"Unknown address keys {', '.join(map(str, unknown))}; use {', '.join(ADDRESS_KEYS)}."
    if not all(isinstance(part, str) and len(part) <= MAX_TEXT for part in value.values()):
        return f"Address parts are text of at most {MAX_TEXT} characters."
    return None


def _listed(fields: Mapping[str, Any], single: str, plural: str, errors: dict[str, list[str]]) -> list[Any]:
    values: list[Any] = []
    if fields.get(single) is not None:
        values.append(fields[single])
    many = fields.get(plural)
    if many is not None:
        if not isinstance(many, list) or len(many) > MAX_LISTED:
            errors[plural] = [f"Give a list of at most {MAX_LISTED} values."]
        else:
            values.extend(many)
    return values


def _identifiers(
    fields: Mapping[str, Any], *, emails_verified: bool, errors: dict[str, list[str]]
) -> tuple[list[RecordIdentifier], bool]:
    email_verified = fields.get("email_verified", False)
    if not isinstance(email_verified, bool):
        errors["email_verified"] = ["Give true or false."]
        email_verified = False
    verified = emails_verified or email_verified
    found: dict[tuple[str, str, bytes], RecordIdentifier] = {}
    wanted = [
        (IdentifierKind.EMAIL, "email", _listed(fields, "email", "emails", errors), verified),
        (IdentifierKind.PHONE, "phone", _listed(fields, "phone", "phones", errors), False),
        (IdentifierKind.CPF, "cpf", [fields["cpf"]] if fields.get("cpf") is not None else [], False),
        (IdentifierKind.CNPJ, "cnpj", [fields["cnpj"]] if fields.get("cnpj") is not None else [], False),
    ]
    for kind, name, values, is_verified in wanted:
        for value in values:
            if isinstance(value, str) and not value.strip():
                continue  # an empty cell is no identifier, not an invalid one
            try:
                normalised = normalise(kind, value)
            except IdentifierError as exc:
                errors.setdefault(name, []).append(exc.message)
                continue
            identifier = RecordIdentifier(kind, "", normalised, blind_index(kind, normalised), is_verified)
            found.setdefault(identifier.key, identifier)
    return list(found.values()), verified


def clean_record(
    raw: Any, *, position: int, source_code: str, emails_verified: bool = False
) -> CleanRecord | RejectedRecord:
    """Check and normalise one record; invalid input gives a RejectedRecord with every problem found."""
    if isinstance(raw, UnreadableRecord):
        return RejectedRecord(position, {"raw": raw.raw}, {"record": [raw.reason]})
    if not isinstance(raw, Mapping):
        return RejectedRecord(position, raw, {"record": ["Give each record as a JSON object."]})
    errors: dict[str, list[str]] = {}
    fields = dict(raw)
    for name in sorted(set(fields) - RECORD_FIELDS):
        errors[str(name)] = ["Unknown field."]

    external_id_value = fields.get("external_id")
    if isinstance(external_id_value, int) and not isinstance(external_id_value, bool):
        external_id_value = str(external_id_value)  # numeric ids from spreadsheets and shops are common
    try:
        external_id = normalise(IdentifierKind.EXTERNAL, external_id_value)
    except IdentifierError as exc:
        errors["external_id"] = [exc.message]
        external_id = None

    identifiers, verified = _identifiers(fields, emails_verified=emails_verified, errors=errors)
    attributes, name, birth_date = _attributes(fields, errors)
    source_updated_at = None
    if fields.get("updated_at") is not None:
        parsed = parse_datetime(fields["updated_at"]) if isinstance(fields["updated_at"], str) else None
        if parsed is None:
            errors["updated_at"] = ["Give an ISO 8601 date and time, e.g. 2026-01-31T12:00:00Z."]
        else:
            source_updated_at = parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=dt.UTC)
    extra = fields.get("extra")
    if extra is not None and (
        not isinstance(extra, Mapping) or len(json.dumps(extra, default=str).encode()) > MAX_EXTRA_BYTES
    ):
        errors["extra"] = [f"Give an object of at most {MAX_EXTRA_BYTES} bytes."]

    index = external_index(source_code, external_id) if external_id else None
    if errors or external_id is None or index is None:
        return RejectedRecord(position, fields, errors, external_id, index)

    identifiers.append(RecordIdentifier(IdentifierKind.EXTERNAL, source_code, external_id, index, is_verified=False))
    clean = CleanRecord(
        position=position,
        external_id=external_id,
        external_index=index,
        fields=fields,
        digest=record_digest(fields),
        identifiers=identifiers,
        attributes=attributes,
        name=name,
        birth_date=birth_date,
        source_updated_at=source_updated_at,
        email_verified=verified,
    )
    if name is not None:
        clean.name_key = blind_index("name", " ".join([name.given, *name.family]))
    postal_code = re.sub(r"\D", "", (attributes["address"] or {}).get("postal_code", ""))
    if birth_date is not None and postal_code:
        clean.block_key = blind_index("birth-postal", f"{birth_date.isoformat()}|{postal_code}")
    return clean


def _attributes(
    fields: Mapping[str, Any], errors: dict[str, list[str]]
) -> tuple[dict[str, Any], Name | None, dt.date | None]:
    texts = {name: _text(fields.get(name), errors, name) for name in TEXT_FIELDS}
    birth_date = _birth_date(fields.get("birth_date"), errors)
    address = fields.get("address")
    if address is not None and (problem := address_problem(address)):
        errors["address"] = [problem]
        address = None
    given, family = texts["given_name"], texts["family_name"]
    if not given and texts["full_name"]:
        given, _, family = texts["full_name"].partition(" ")
    attributes = {
        "given_name": given or None,
        "family_name": family or None,
        "social_name": texts["social_name"],
        "birth_date": birth_date,
        "address": {key: value.strip() for key, value in address.items() if value.strip()} or None if address else None,
        "locale": texts["locale"],
    }
    return attributes, name_of(texts["given_name"], texts["family_name"], texts["full_name"]), birth_date


def attributes_of(fields: Mapping[str, Any]) -> tuple[dict[str, Any], Name | None, dt.date | None]:
    """A stored (already validated) record's profile attributes, folded name and birth date."""
    return _attributes(fields, {})
