"""Dataset maps: how a SQL source holds a person's data, and what erasing it means there.

A map is a YAML document written by the team that owns the source. It names the tables, their primary
key, the columns a person is found by (identities) and the foreign-key paths from those rows to related
rows, the data category of every column, and what erasure does: delete the row, or per column null it,
mask it or keep it (with the legal basis, or under a legal hold that ends on a date computed per row).

A bad map must fail before it touches a database: ``parse_dataset_map`` checks the structure with
JSON Schema, then the meaning (unknown tables and columns, reference cycles, tables nothing leads to,
deletions the database's foreign keys would refuse), and reports every problem with its path.
``validate_against_database`` then compares the map with the real schema of the source.

The traversal follows references from a referenced row to the rows that point at it (customers -> orders
-> invoices), never the other way: a support ticket found by a shared email must not pull in the customer
row of whoever owns that email.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import phonenumbers
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

MapError = tuple[str, str]  # (path such as "tables.orders.fields.total.erase", message)

CATEGORIES = (
    "identity",  # who the person is: names, CPF, birth date, document numbers
    "contact",  # how to reach them: email, phone
    "location",  # addresses, coordinates
    "financial",  # amounts, payment and billing data
    "behavioural",  # what they did: orders, clicks, preferences, free text they wrote
    "demographic",  # age band, gender, language
    "sensitive",  # LGPD art. 5 II / GDPR art. 9: health, religion, biometrics...
    "technical",  # IP addresses, device ids, cookies
    "system",  # not personal data: keys, flags, timestamps of the system itself
)
IDENTITY_KINDS = ("email", "phone", "cpf", "external_id")
ATTRIBUTES = ("email", "phone", "cpf", "given_name", "family_name", "full_name", "birth_date", "address")
FIELD_ACTIONS = ("null", "mask", "keep")
TABLE_ACTIONS = ("delete_row", "update")
# How the column stores the identity, hence how it is compared with the (normalised) identity.
NORMALISATIONS = {
    "email": ("lower", "exact"),  # lower: lower-cased and trimmed in SQL, then checked in Python
    "phone": ("e164", "exact"),  # e164: any spelling, read with the field's region (phonenumbers)
    "cpf": ("digits", "exact"),  # digits: punctuation stripped, lost leading zeros restored
    "external_id": ("exact",),
}

_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
_PERIOD = re.compile(r"^P(?=\d)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?$")

_HOLD_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["basis", "from", "period"],
    "properties": {
        "basis": {"type": "string", "minLength": 3, "maxLength": 300},
        "from": {"type": "string", "pattern": _NAME},
        "period": {"type": "string", "pattern": _PERIOD.pattern},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["tables"],
    "properties": {
        "version": {"const": 1},
        "description": {"type": "string"},
        "schema": {"type": "string", "pattern": _NAME},
        "tables": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {"$ref": "#/$defs/table"},
        },
    },
    "$defs": {
        "table": {
            "type": "object",
            "additionalProperties": False,
            "required": ["primary_key", "fields"],
            "properties": {
                "description": {"type": "string"},
                "primary_key": {"type": "string", "pattern": _NAME},
                "erase": {"enum": list(TABLE_ACTIONS)},
                "hold": {"$ref": "#/$defs/hold"},
                "restrict": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["column", "value"],
                    "properties": {
                        "column": {"type": "string", "pattern": _NAME},
                        "value": {"type": ["boolean", "integer", "string"]},
                    },
                },
                "fields": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"pattern": _NAME},
                    "additionalProperties": {"$ref": "#/$defs/field"},
                },
            },
        },
        "field": {
            "type": "object",
            "additionalProperties": False,
            "required": ["category"],
            "properties": {
                "description": {"type": "string"},
                "category": {"enum": list(CATEGORIES)},
                "identity": {
                    "anyOf": [
                        {"enum": list(IDENTITY_KINDS)},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["kind"],
                            "properties": {
                                "kind": {"enum": list(IDENTITY_KINDS)},
                                "normalise": {"enum": sorted({n for ns in NORMALISATIONS.values() for n in ns})},
                                "region": {"type": "string", "pattern": "^[A-Z]{2}$"},
                                "namespace": {"type": "string", "minLength": 1, "maxLength": 100},
                            },
                        },
                    ]
                },
                "attribute": {"enum": list(ATTRIBUTES)},
                "erase": {"enum": list(FIELD_ACTIONS)},
                "mask_value": {"type": "string", "minLength": 1, "maxLength": 255},
                "basis": {"type": "string", "minLength": 3, "maxLength": 300},
                "hold": {"$ref": "#/$defs/hold"},
                "references": {
                    "type": "string",
                    "pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,62}\.[A-Za-z_][A-Za-z0-9_]{0,62}$",
                },
            },
        },
        "hold": _HOLD_SCHEMA,
    },
}
_VALIDATOR = Draft202012Validator(SCHEMA)


class DatasetMapError(ValueError):
    """A dataset map that cannot be used; ``errors`` lists every problem as (path, message)."""

    def __init__(self, errors: list[MapError]) -> None:
        self.errors = list(errors)
        listed = "; ".join(f"{path}: {message}" if path else message for path, message in self.errors)
        super().__init__(f"Invalid dataset map ({len(self.errors)} problem(s)): {listed}")


# ---------------------------------------------------------------- the parsed map


@dataclass(frozen=True)
class Period:
    years: int = 0
    months: int = 0
    days: int = 0

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.fullmatch(text)
        if match is None:
            raise ValueError("A period is an ISO 8601 duration such as P5Y, P6M, P90D or P1Y6M.")
        parts = {key: int(value or 0) for key, value in match.groupdict().items()}
        return cls(years=parts["years"], months=parts["months"], days=parts["days"] + 7 * parts["weeks"])

    def after(self, start: dt.date) -> dt.date:
        """``start`` plus the period; the 29th of February plus a year is the 28th (the law's reading)."""
        month_index = start.month - 1 + self.months
        year = start.year + self.years + month_index // 12
        month = month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return dt.date(year, month, day) + dt.timedelta(days=self.days)


@dataclass(frozen=True)
class Hold:
    """Keep the row (or field) until ``start_column`` + ``period``; then the normal action applies."""

    basis: str
    start_column: str
    period: Period

    def until(self, start: object) -> dt.date | None:
        """The end of the hold for a row whose start column holds ``start`` (None when it is empty)."""
        if isinstance(start, dt.datetime):
            return self.period.after(start.date())
        if isinstance(start, dt.date):
            return self.period.after(start)
        if isinstance(start, str) and start:
            try:
                return self.period.after(dt.date.fromisoformat(start[:10]))
            except ValueError:
                return None
        return None


@dataclass(frozen=True)
class IdentitySpec:
    kind: str
    normalise: str
    region: str = ""  # phone only; empty means settings.C360_DEFAULT_PHONE_REGION
    namespace: str = ""  # external_id only; empty means the connector's name


@dataclass(frozen=True)
class Reference:
    table: str
    column: str


@dataclass(frozen=True)
class FieldSpec:
    name: str
    category: str
    erase: str  # null, mask or keep
    mask_value: str | None = None  # a fixed replacement; None: keyed hash (hex) of the row's locator
    basis: str = ""  # why a kept field is kept
    identity: IdentitySpec | None = None
    attribute: str | None = None
    references: Reference | None = None
    hold: Hold | None = None

    @property
    def personal(self) -> bool:
        return self.category != "system"


@dataclass(frozen=True)
class Restriction:
    column: str
    value: bool | int | str


@dataclass(frozen=True)
class TableSpec:
    name: str
    primary_key: str
    fields: Mapping[str, FieldSpec]
    erase: str = "update"  # delete_row, or update (the fields' own actions)
    hold: Hold | None = None
    restrict: Restriction | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.fields)

    @property
    def identity_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(spec for spec in self.fields.values() if spec.identity is not None)

    @property
    def deletes_rows(self) -> bool:
        return self.erase == "delete_row"


@dataclass(frozen=True)
class Edge:
    """``child.child_column`` holds values of ``parent.parent_column``: child rows belong to the parent's person."""

    parent: str
    parent_column: str
    child: str
    child_column: str

    def __str__(self) -> str:
        return f"{self.parent}.{self.parent_column} -> {self.child}.{self.child_column}"


@dataclass(frozen=True)
class DatasetMap:
    """A validated map. ``order`` lists tables parents first (Kahn's algorithm over the references)."""

    tables: Mapping[str, TableSpec]
    edges: tuple[Edge, ...]
    order: tuple[str, ...]
    schema: str | None = None
    description: str = ""

    def children(self, table: str) -> tuple[Edge, ...]:
        return self._children.get(table, ())

    def parents(self, table: str) -> tuple[Edge, ...]:
        return self._parents.get(table, ())

    @property
    def erase_order(self) -> tuple[str, ...]:
        """Children before parents, so no delete is refused by a foreign key."""
        return tuple(reversed(self.order))

    @cached_property
    def _children(self) -> dict[str, tuple[Edge, ...]]:
        grouped: dict[str, list[Edge]] = {}
        for edge in self.edges:
            grouped.setdefault(edge.parent, []).append(edge)
        return {table: tuple(edges) for table, edges in grouped.items()}

    @cached_property
    def _parents(self) -> dict[str, tuple[Edge, ...]]:
        grouped: dict[str, list[Edge]] = {}
        for edge in self.edges:
            grouped.setdefault(edge.child, []).append(edge)
        return {table: tuple(edges) for table, edges in grouped.items()}


# ---------------------------------------------------------------- parsing


class _NullWord:
    """YAML's ``null`` spelled out, told apart from an empty value so ``erase: null`` can mean the action."""


_NULL_WORD = _NullWord()


class _MapLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys (a second ``orders:`` would silently replace the first)."""


def _construct_mapping(loader: _MapLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"found the key {key!r} twice", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node)
    return mapping


def _construct_null(loader: _MapLoader, node: yaml.ScalarNode) -> object:
    return _NULL_WORD if node.value.lower() == "null" else None


_MapLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_MapLoader.add_constructor("tag:yaml.org,2002:null", _construct_null)


def _undo_null_words(value: Any, path: tuple[str, ...] = ()) -> Any:
    if isinstance(value, dict):
        return {key: _undo_null_words(item, (*path, str(key))) for key, item in value.items()}
    if isinstance(value, list):
        return [_undo_null_words(item, path) for item in value]
    if value is _NULL_WORD:
        # tables.<t>.fields.<f>.erase: null is the action "set to NULL"; anywhere else it is nothing.
        return "null" if len(path) == 5 and path[0] == "tables" and path[2] == "fields" and path[4] == "erase" else None
    return value


def _load_yaml(text: str) -> Any:
    if not isinstance(text, str):
        raise DatasetMapError([("", "Give the dataset map as YAML text.")])
    try:
        document = yaml.load(text, Loader=_MapLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "yaml"
        raise DatasetMapError([(where, f"Not valid YAML: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError:
        raise DatasetMapError([("yaml", "Not valid YAML.")]) from None
    return _undo_null_words(document)


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(part) for part in path)


def _schema_errors(document: Any) -> list[MapError]:
    errors: list[MapError] = []
    for error in sorted(_VALIDATOR.iter_errors(document), key=lambda item: [str(p) for p in item.absolute_path]):
        chosen: ValidationError = error
        if error.context:  # anyOf: explain the branch that came closest, not "is not valid under any"
            chosen = best_match(error.context) or error
        errors.append((_dotted(chosen.absolute_path) or "(document)", chosen.message))
    return errors


def parse_dataset_map(text: str) -> DatasetMap:
    """Parse and validate a dataset map; raises DatasetMapError listing every problem with its path."""
    document = _load_yaml(text)
    if document is None:
        raise DatasetMapError([("(document)", "The dataset map is empty.")])
    errors = _schema_errors(document)
    if errors:
        raise DatasetMapError(errors)
    dataset_map, errors = _build(document)
    if errors:
        raise DatasetMapError(errors)
    return dataset_map


def _hold(raw: Mapping[str, Any] | None) -> Hold | None:
    if raw is None:
        return None
    return Hold(basis=raw["basis"].strip(), start_column=raw["from"], period=Period.parse(raw["period"]))


def _identity(raw: str | Mapping[str, Any] | None) -> IdentitySpec | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return IdentitySpec(kind=raw, normalise=NORMALISATIONS[raw][0])
    kind = raw["kind"]
    return IdentitySpec(
        kind=kind,
        normalise=raw.get("normalise", NORMALISATIONS[kind][0]),
        region=raw.get("region", ""),
        namespace=raw.get("namespace", ""),
    )


def _field(name: str, raw: Mapping[str, Any]) -> FieldSpec:
    references = None
    if "references" in raw:
        table, _, column = raw["references"].partition(".")
        references = Reference(table=table, column=column)
    return FieldSpec(
        name=name,
        category=raw["category"],
        erase=raw.get("erase", "keep"),
        mask_value=raw.get("mask_value"),
        basis=raw.get("basis", "").strip(),
        identity=_identity(raw.get("identity")),
        attribute=raw.get("attribute"),
        references=references,
        hold=_hold(raw.get("hold")),
    )


def _build(document: Mapping[str, Any]) -> tuple[DatasetMap, list[MapError]]:
    tables: dict[str, TableSpec] = {}
    for table_name, raw_table in document["tables"].items():
        fields = {name: _field(name, raw) for name, raw in raw_table["fields"].items()}
        restrict = raw_table.get("restrict")
        tables[table_name] = TableSpec(
            name=table_name,
            primary_key=raw_table["primary_key"],
            fields=MappingProxyType(fields),
            erase=raw_table.get("erase", "update"),
            hold=_hold(raw_table.get("hold")),
            restrict=Restriction(column=restrict["column"], value=restrict["value"]) if restrict else None,
        )
    errors = _check_tables(tables, document["tables"])
    before = len(errors)
    edges = _edges(tables, errors)  # only the references that resolve; the others are reported
    errors.extend(_check_graph(tables, edges, reachability=len(errors) == before))  # no cascade of errors
    errors.extend(_check_deletions(tables, edges))
    order = _topological_order(tables, edges) if not errors else ()
    dataset_map = DatasetMap(
        tables=MappingProxyType(tables),
        edges=tuple(edges),
        order=order,
        schema=document.get("schema"),
        description=document.get("description", ""),
    )
    return dataset_map, errors


def _check_tables(tables: Mapping[str, TableSpec], raw_tables: Mapping[str, Any]) -> list[MapError]:
    errors: list[MapError] = []
    for table in tables.values():
        at = f"tables.{table.name}"
        if table.primary_key not in table.fields:
            errors.append(
                (f"{at}.primary_key", f"'{table.primary_key}' is not a declared field of {table.name}; declare it.")
            )
        elif table.fields[table.primary_key].erase != "keep":
            errors.append(
                (
                    f"{at}.fields.{table.primary_key}.erase",
                    "The primary key finds rows again and keeps foreign keys valid: its action must be keep.",
                )
            )
        if table.hold is not None and table.hold.start_column not in table.fields:
            errors.append((f"{at}.hold.from", f"'{table.hold.start_column}' is not a declared field of {table.name}."))
        if table.restrict is not None:
            column = table.restrict.column
            if column not in table.fields:
                errors.append((f"{at}.restrict.column", f"'{column}' is not a declared field of {table.name}."))
            elif table.fields[column].erase != "keep":
                errors.append(
                    (f"{at}.fields.{column}.erase", "The restriction flag must be kept, not nulled or masked.")
                )
        for spec in table.fields.values():
            errors.extend(_check_field(table, spec, raw_tables[table.name]["fields"][spec.name]))
    return errors


def _check_identity(spec: FieldSpec, at: str) -> list[MapError]:
    identity = spec.identity
    errors: list[MapError] = []
    if identity is not None:
        if not spec.personal:
            errors.append((f"{at}.identity", "An identity is personal data: give it a category other than system."))
        if identity.normalise not in NORMALISATIONS[identity.kind]:
            allowed = ", ".join(NORMALISATIONS[identity.kind])
            errors.append((f"{at}.identity.normalise", f"A {identity.kind} identity is normalised by: {allowed}."))
        if identity.region and identity.kind != "phone":
            errors.append((f"{at}.identity.region", "Only a phone identity has a region."))
        elif identity.region and identity.region not in phonenumbers.SUPPORTED_REGIONS:
            errors.append((f"{at}.identity.region", f"'{identity.region}' is not a region phonenumbers knows."))
        if identity.namespace and identity.kind != "external_id":
            errors.append((f"{at}.identity.namespace", "Only an external_id identity has a namespace."))
        if spec.attribute in IDENTITY_KINDS and spec.attribute != identity.kind:
            errors.append(
                (f"{at}.attribute", f"The column is a {identity.kind} identity; its attribute cannot differ.")
            )
    return errors


def _check_field(table: TableSpec, spec: FieldSpec, raw: Mapping[str, Any]) -> list[MapError]:
    at = f"tables.{table.name}.fields.{spec.name}"
    errors = _check_identity(spec, at)
    if spec.attribute is not None and not spec.personal:
        errors.append((f"{at}.attribute", "A rectifiable attribute is personal data: its category cannot be system."))
    if spec.mask_value is not None and spec.erase != "mask":
        errors.append((f"{at}.mask_value", "A mask value is used only with erase: mask."))
    if spec.hold is not None:
        if spec.hold.start_column not in table.fields:
            errors.append((f"{at}.hold.from", f"'{spec.hold.start_column}' is not a declared field of {table.name}."))
        if spec.erase == "keep":
            errors.append(
                (f"{at}.hold", "A hold ends; say what happens then with erase: null or mask (keep needs no hold).")
            )
        if table.deletes_rows:
            errors.append(
                (f"{at}.hold", "The row is deleted, so a hold on one field keeps nothing: put the hold on the table.")
            )
    if spec.personal and not table.deletes_rows and spec.name != table.primary_key:
        if "erase" not in raw:
            errors.append(
                (
                    f"{at}.erase",
                    (
                        f"Required for personal data ({spec.category}) in a table whose rows are not deleted: "
                        "null, mask, or keep with a basis."
                    ),
                )
            )
        elif spec.erase == "keep" and not spec.basis:
            errors.append((f"{at}.basis", "Keeping personal data needs a basis: the legal reason to keep it."))
    return errors


def _edges(tables: Mapping[str, TableSpec], errors: list[MapError]) -> list[Edge]:
    edges: list[Edge] = []
    for table in tables.values():
        for spec in table.fields.values():
            reference = spec.references
            if reference is None:
                continue
            at = f"tables.{table.name}.fields.{spec.name}.references"
            target = tables.get(reference.table)
            if target is None:
                errors.append((at, f"Unknown table '{reference.table}'; it is not in the map."))
            elif reference.column not in target.fields:
                errors.append(
                    (at, f"Unknown column '{reference.column}'; it is not a declared field of {target.name}.")
                )
            else:
                edges.append(Edge(reference.table, reference.column, table.name, spec.name))
                if target.fields[reference.column].erase != "keep":
                    errors.append(
                        (
                            f"tables.{target.name}.fields.{reference.column}.erase",
                            (
                                f"{target.name}.{reference.column} is referenced by {table.name}.{spec.name}; "
                                "nulling or masking it would break the link: keep it."
                            ),
                        )
                    )
    return edges


def _check_graph(tables: Mapping[str, TableSpec], edges: list[Edge], *, reachability: bool) -> list[MapError]:
    errors = _cycles(tables, edges)
    if not reachability:
        return errors
    seeds = [table.name for table in tables.values() if table.identity_fields]
    if not seeds:
        return [*errors, ("tables", "No field is marked as an identity: the map cannot find anyone.")]
    reached = set(seeds)
    frontier = list(seeds)
    while frontier:
        parent = frontier.pop()
        for edge in edges:
            if edge.parent == parent and edge.child not in reached:
                reached.add(edge.child)
                frontier.append(edge.child)
    for table in tables.values():
        if table.name in reached:
            continue
        if not any(edge.child == table.name for edge in edges):
            errors.append(
                (
                    f"tables.{table.name}",
                    (
                        "No identity column and no reference to another table: nothing leads to the person's rows "
                        "here. Mark an identity column or add a reference."
                    ),
                )
            )
        else:
            errors.append(
                (
                    f"tables.{table.name}",
                    "Not reachable from any identity table: its references lead to no table with an identity column.",
                )
            )
    return errors


def _cycles(tables: Mapping[str, TableSpec], edges: list[Edge]) -> list[MapError]:
    """Each reference cycle once, as the chain of references (child.column -> parent.column, ...)."""
    outgoing: dict[str, list[Edge]] = {name: [] for name in tables}
    for edge in edges:
        outgoing[edge.child].append(edge)
    errors: list[MapError] = []
    seen_cycles: set[frozenset[Edge]] = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[Edge] = []

    def visit(table: str) -> None:
        state[table] = 1
        for edge in outgoing[table]:
            if state.get(edge.parent) == 1:
                start = next((i for i, item in enumerate(path) if item.child == edge.parent), len(path))
                cycle = [*path[start:], edge]
                if frozenset(cycle) not in seen_cycles:
                    seen_cycles.add(frozenset(cycle))
                    chain = ", ".join(f"{e.child}.{e.child_column} -> {e.parent}.{e.parent_column}" for e in cycle)
                    tables_path = " -> ".join([*(e.child for e in cycle), cycle[0].child])
                    errors.append(
                        (
                            f"tables.{cycle[0].child}.fields.{cycle[0].child_column}.references",
                            f"Reference cycle {tables_path} ({chain}): erasure order would be undefined.",
                        )
                    )
            elif edge.parent not in state:
                path.append(edge)
                visit(edge.parent)
                path.pop()
        state[table] = 2

    for name in tables:
        if name not in state:
            visit(name)
    return errors


def _topological_order(tables: Mapping[str, TableSpec], edges: list[Edge]) -> tuple[str, ...]:
    """Kahn's algorithm, parents first; ties keep the map's own order so runs are reproducible."""
    indegree = dict.fromkeys(tables, 0)
    for edge in {(edge.parent, edge.child) for edge in edges}:
        indegree[edge[1]] += 1
    position = {name: index for index, name in enumerate(tables)}
    ready = sorted((name for name, degree in indegree.items() if degree == 0), key=position.__getitem__)
    order: list[str] = []
    pairs = {(edge.parent, edge.child) for edge in edges}
    while ready:
        table = ready.pop(0)
        order.append(table)
        for parent, child in sorted(pairs, key=lambda pair: position[pair[1]]):
            if parent == table:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
                    ready.sort(key=position.__getitem__)
    return tuple(order)


def _check_deletions(tables: Mapping[str, TableSpec], edges: list[Edge]) -> list[MapError]:
    errors: list[MapError] = []
    for edge in edges:
        parent, child = tables[edge.parent], tables[edge.child]
        if parent.deletes_rows and not child.deletes_rows and child.fields[edge.child_column].erase != "null":
            errors.append(
                (
                    f"tables.{parent.name}.erase",
                    (
                        f"delete_row, but {child.name}.{edge.child_column} references "
                        f"{parent.name}.{edge.parent_column} and {child.name} rows are neither deleted nor is "
                        f"{edge.child_column} nulled: the foreign key would refuse the delete. Delete "
                        f"{child.name} rows too, or set tables.{child.name}.fields.{edge.child_column}.erase to null."
                    ),
                )
            )
    return errors


# ---------------------------------------------------------------- the map against the real database


@dataclass(frozen=True)
class ColumnInfo:
    data_type: str
    nullable: bool
    max_length: int | None
    text: bool


@dataclass
class DatabaseSchema:
    """What introspection found: columns per table, primary keys, and foreign keys (child, col, parent, col)."""

    columns: dict[str, dict[str, ColumnInfo]] = field(default_factory=dict)
    primary_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    foreign_keys: list[tuple[str, str, str, str]] = field(default_factory=list)


MIN_HASH_MASK_LENGTH = 8


def compare_with_schema(dataset_map: DatasetMap, database: DatabaseSchema) -> list[MapError]:
    """Every way the map and the real schema disagree, with the map path of each problem."""
    errors: list[MapError] = []
    for table in dataset_map.tables.values():
        at = f"tables.{table.name}"
        columns = database.columns.get(table.name)
        if columns is None:
            errors.append((at, f"The table {table.name} does not exist in the database."))
            continue
        for spec in table.fields.values():
            errors.extend(_compare_field(table, spec, columns.get(spec.name), f"{at}.fields.{spec.name}"))
        real_key = database.primary_keys.get(table.name, ())
        if table.primary_key in columns and real_key and real_key != (table.primary_key,):
            errors.append(
                (f"{at}.primary_key", f"The database's primary key of {table.name} is ({', '.join(real_key)}).")
            )
    errors.extend(_compare_foreign_keys(dataset_map, database))
    return errors


def _compare_field(table: TableSpec, spec: FieldSpec, column: ColumnInfo | None, at: str) -> list[MapError]:
    if column is None:
        return [(at, f"The column {table.name}.{spec.name} does not exist in the database.")]
    errors: list[MapError] = []
    actions = {spec.erase} if not table.deletes_rows else set()
    if table.deletes_rows and spec.erase != "keep":
        actions.add(spec.erase)  # applied when the row must stay (a row under legal hold references it)
    if "null" in actions and not column.nullable:
        errors.append((f"{at}.erase", "The column is NOT NULL in the database: it cannot be nulled; mask it."))
    if "mask" in actions:
        if not column.text:
            errors.append((f"{at}.erase", f"Masking needs a text column; the column is {column.data_type}."))
        elif spec.mask_value is not None and column.max_length is not None and len(spec.mask_value) > column.max_length:
            errors.append((f"{at}.mask_value", f"Longer than the column ({column.max_length} characters)."))
        elif spec.mask_value is None and column.max_length is not None and column.max_length < MIN_HASH_MASK_LENGTH:
            errors.append((f"{at}.erase", "The column is too short for a hashed mask; give a mask_value."))
    if spec.identity is not None and spec.identity.normalise != "exact" and not column.text:
        errors.append((f"{at}.identity", f"Normalising needs a text column; the column is {column.data_type}."))
    return errors


def _compare_foreign_keys(dataset_map: DatasetMap, database: DatabaseSchema) -> list[MapError]:
    errors: list[MapError] = []
    declared = {(edge.child, edge.child_column, edge.parent, edge.parent_column) for edge in dataset_map.edges}
    for child, child_column, parent, parent_column in database.foreign_keys:
        if (child, child_column, parent, parent_column) in declared or parent not in dataset_map.tables:
            continue
        if child not in dataset_map.tables:
            errors.append(
                (
                    "tables",
                    (
                        f"{child}.{child_column} references {parent}.{parent_column} in the database, but {child} is "
                        "not in the map: the person's rows there would be missed. Map it."
                    ),
                )
            )
        elif dataset_map.tables[parent].deletes_rows:
            errors.append(
                (
                    f"tables.{child}.fields.{child_column}",
                    (
                        f"References {parent}.{parent_column} in the database; declare it (references: "
                        f"{parent}.{parent_column}) or deleting {parent} rows will be refused."
                    ),
                )
            )
    return errors


def validate_against_database(dataset_map: DatasetMap, connection: object) -> list[MapError]:
    """Compare the map with the real database: missing tables or columns, NOT NULL columns the map nulls,
    non-text columns it masks, foreign keys it does not declare. An empty list means they agree.

    ``connection`` is an open psycopg or PyMySQL connection, or a postgres:// or mysql:// URL.
    """
    from dsar.connectors.sql import introspect  # the dialects live with the connector

    return compare_with_schema(dataset_map, introspect(connection, schema=dataset_map.schema))
