"""Reading source files (CSV, JSON Lines) as records, one at a time: a file of millions of rows never
sits in memory.

A column mapping renames source columns to record fields (``E-mail=email``, ``Cidade=address.city``,
``Segmento=extra.segment``); a column can also be ignored. Unknown columns stop the import before it
starts, with the list of them: guessing would file data under the wrong field.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from profiles.models import ADDRESS_KEYS
from profiles.records import RECORD_FIELDS, UnreadableRecord

FORMATS = ("csv", "jsonl")


class ImportFileError(ValueError):
    """The file cannot be imported as given (format, header, mapping); nothing was imported."""


@dataclass
class ColumnMapping:
    renames: dict[str, str] = field(default_factory=dict)
    ignored: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, pairs: Iterable[str], ignored: Iterable[str] = ()) -> ColumnMapping:
        renames = {}
        for pair in pairs:
            column, separator, target = pair.partition("=")
            if not separator or not column.strip() or not target.strip():
                raise ImportFileError(f"A mapping is written COLUMN=FIELD; {pair!r} is not.")
            renames[column.strip()] = target.strip()
        mapping = cls(renames, {name.strip() for name in ignored})
        for target in mapping.renames.values():
            mapping.check_target(target)
        return mapping

    @staticmethod
    def check_target(target: str) -> None:
        head, _, tail = target.partition(".")
        if head == "address" and tail in ADDRESS_KEYS:
            return
        if head == "extra" and tail:
            return
        if head not in RECORD_FIELDS or tail:
            raise ImportFileError(
                f"{target!r} is not a record field; use one of {', '.join(sorted(RECORD_FIELDS))}, "
                f"address.<{'|'.join(ADDRESS_KEYS)}> or extra.<name>."
            )

    def target(self, column: str) -> str | None:
        if column in self.ignored:
            return None
        return self.renames.get(column, column)

    def check_columns(self, columns: Iterable[str]) -> None:
        unknown = []
        for column in columns:
            target = self.target(column)
            if target is None:
                continue
            try:
                self.check_target(target)
            except ImportFileError:
                unknown.append(column)
        if unknown:
            raise ImportFileError(
                f"Unknown column(s) {', '.join(map(repr, unknown))}: map them with --map COLUMN=field "
                "(or =extra.<name> to keep them aside), or leave them out with --ignore COLUMN."
            )

    def apply(self, row: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for column, value in row.items():
            target = self.target(column)
            if target is None or value is None or value == "":
                continue  # an empty cell is an absent value
            head, _, tail = target.partition(".")
            if tail:
                record.setdefault(head, {})[tail] = value
            else:
                record[head] = value
        return record


def detect_format(path: Path, given: str | None) -> str:
    if given:
        if given not in FORMATS:
            raise ImportFileError(f"Unknown format {given!r}; use csv or jsonl.")
        return given
    suffix = path.suffix.lower().lstrip(".")
    if suffix in {"csv", "tsv"}:
        return "csv"
    if suffix in {"jsonl", "ndjson", "json"}:
        return "jsonl"
    raise ImportFileError("Cannot tell the format from the file name; give --format csv or --format jsonl.")


def read_csv(handle: IO[str], mapping: ColumnMapping, *, delimiter: str = ",") -> Iterator[Any]:
    reader = csv.DictReader(handle, delimiter=delimiter)
    if reader.fieldnames is None:
        return
    duplicated = {name for name in reader.fieldnames if reader.fieldnames.count(name) > 1}
    if duplicated:
        raise ImportFileError(f"The header repeats column(s) {', '.join(sorted(map(repr, duplicated)))}.")
    mapping.check_columns(reader.fieldnames)
    for row in reader:
        if None in row:  # more cells than header columns: keep the row, quarantined, rather than guess
            yield UnreadableRecord(f"Line {reader.line_num} has more cells than the header has columns.", row)
            continue
        yield mapping.apply(row)


def read_jsonl(handle: IO[str], mapping: ColumnMapping) -> Iterator[Any]:
    for line_number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            # Kept as a quarantined record (encrypted like any other), so the line is fixed, not lost.
            yield UnreadableRecord(f"Line {line_number} is not valid JSON.", line.rstrip("\n"))
            continue
        # Unknown keys are the record's problem (quarantined with the reason), not the file's.
        yield mapping.apply(value) if isinstance(value, dict) else value
