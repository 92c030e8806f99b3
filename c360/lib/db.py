"""Database guarantees that hold even against code that forgets the rules."""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Sequence
from typing import Any

from django.db import connection, migrations
from django.db.models import Field, ForeignObject, Lookup, Model

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION c360_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'c360: % on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def _append_only_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [
            _PG_FUNCTION,
            f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}"',
            (
                f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
                "FOR EACH ROW EXECUTE FUNCTION c360_refuse_change()"
            ),
        ]
    if vendor == "sqlite":
        return [
            (
                f'CREATE TRIGGER IF NOT EXISTS "{table}_no_{operation.lower()}" BEFORE {operation} ON "{table}" '
                f"BEGIN SELECT RAISE(ABORT, 'c360: {operation} on {table} is refused: the table is append-only'); END"
            )
            for operation in ("UPDATE", "DELETE")
        ]
    return []


def _drop_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}"']
    if vendor == "sqlite":
        return [f'DROP TRIGGER IF EXISTS "{table}_no_update"', f'DROP TRIGGER IF EXISTS "{table}_no_delete"']
    return []


# Every append-only table, registered by the migration operation below as migrations load, and by the apps
# that own them (so the set is complete without loading migrations).
APPEND_ONLY_TABLES: set[str] = set()


def register_append_only(*tables: str) -> None:
    APPEND_ONLY_TABLES.update(tables)


def guard_append_only_tables(using: Any = None, **kwargs: Any) -> None:
    """(Re)install the SQLite triggers after migrating: SQLite rebuilds a table to alter it, and the rebuild
    drops its triggers. A ``post_migrate`` receiver; PostgreSQL keeps its triggers across ALTER TABLE."""
    from django.db import connections

    target = connections[using or "default"]
    if target.vendor != "sqlite":
        return
    with target.cursor() as cursor:
        for table in sorted(APPEND_ONLY_TABLES):
            if table in target.introspection.table_names(cursor):
                for statement in _append_only_sql("sqlite", table):
                    cursor.execute(statement)


def unguard_append_only_tables(using: Any = None) -> None:
    """Lift the SQLite triggers so a test run can empty the tables (Django flushes SQLite with DELETE, while
    PostgreSQL's TRUNCATE does not fire row triggers). For test teardown only."""
    from django.db import connections

    target = connections[using or "default"]
    if target.vendor != "sqlite":
        return
    with target.cursor() as cursor:
        for table in sorted(APPEND_ONLY_TABLES):
            for statement in _drop_sql("sqlite", table):
                cursor.execute(statement)


def append_only(table: str) -> migrations.RunPython:
    """A migration operation making ``table`` refuse UPDATE and DELETE at the database.

    TRUNCATE stays possible on PostgreSQL (test flushes use it); the table owner can always disable
    triggers, which is why tamper-evident tables also carry hash chains.
    """

    register_append_only(table)

    def forwards(apps: Any, schema_editor: Any) -> None:
        for statement in _append_only_sql(schema_editor.connection.vendor, table):
            schema_editor.execute(statement, params=None)

    def backwards(apps: Any, schema_editor: Any) -> None:
        for statement in _drop_sql(schema_editor.connection.vendor, table):
            schema_editor.execute(statement, params=None)

    return migrations.RunPython(forwards, backwards, elidable=False)


# Hot tables of millions of rows: PostgreSQL's defaults vacuum a table once a fifth of it is dead or newly
# inserted, by then hundreds of thousands of rows. Until vacuum sets a page all-visible, index-only scans go to
# the heap for it, and the consent check got a quarter slower after a day of writes and erasures
# (docs/benchmarks.md, "consent"). One percent keeps them close to freshly vacuumed.
HOT_TABLE_AUTOVACUUM = {
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_insert_scale_factor": "0.01",
    "autovacuum_analyze_scale_factor": "0.02",
}


def vacuumed_often(*tables: str) -> migrations.RunPython:
    """A migration operation giving these tables ``HOT_TABLE_AUTOVACUUM`` (PostgreSQL; nothing elsewhere)."""

    def apply(schema_editor: Any, clause: str) -> None:
        if schema_editor.connection.vendor == "postgresql":
            for table in tables:
                schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} {clause}", params=None)

    def forwards(apps: Any, schema_editor: Any) -> None:
        apply(
            schema_editor,
            "SET (" + ", ".join(f"{name} = {value}" for name, value in HOT_TABLE_AUTOVACUUM.items()) + ")",
        )

    def backwards(apps: Any, schema_editor: Any) -> None:
        apply(schema_editor, "RESET (" + ", ".join(HOT_TABLE_AUTOVACUUM) + ")")

    return migrations.RunPython(forwards, backwards, elidable=False)


# ---------------------------------------------------------------- bulk rows
#
# Batch paths (ingestion, audiences) write tens of thousands of rows a second: building a Django model
# instance per row costs more than the database does. These take rows as dicts keyed by field attname.


def _columns(model: type[Model]) -> list[Field]:
    """Every concrete column but an auto-incremented primary key, which the database assigns."""
    return [
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and field.get_internal_type() in {"AutoField", "BigAutoField"})
    ]


def _static_defaults(fields: Sequence[Field], given: dict[str, Any]) -> dict[str, Any]:
    defaults = {}
    for field in fields:
        if field.attname in given:
            continue
        if field.has_default() and callable(field.default):
            # One uuid4() or now() for every row would be a silent bug: the caller must give these.
            raise ValueError(f"{field.model.__name__}.{field.attname} needs a value per row")
        defaults[field.attname] = field.get_default()
    return defaults


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def insert_rows(model: type[Model], rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (dicts keyed by attname; keys the first row lacks take the field default).

    COPY on PostgreSQL, bulk_create elsewhere.
    """
    if not rows:
        return
    fields = _columns(model)
    defaults = _static_defaults(fields, rows[0])
    if connection.vendor != "postgresql":
        model._base_manager.bulk_create([model(**{**defaults, **row}) for row in rows], batch_size=500)
        return
    names = [field.attname for field in fields]
    getter = operator.itemgetter(*names)
    json_positions = [position for position, field in enumerate(fields) if field.get_internal_type() == "JSONField"]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            values = list(getter({**defaults, **row} if defaults else row))
            for position in json_positions:
                values[position] = _json(values[position])
            copy.write_row(values)


def update_rows(
    model: type[Model], rows: Sequence[dict[str, Any]], names: Sequence[str], batch_size: int = 5000
) -> None:
    """Set ``names`` on many rows (each dict holds the pk and those fields) in a few statements.

    PostgreSQL gets one ``UPDATE ... FROM unnest(...)`` per batch with one array parameter per column:
    Django's ``bulk_update`` builds a ``CASE WHEN`` per field and row, quadratically slow on large batches.
    """
    if not rows:
        return
    pk = model._meta.pk
    fields = [field for field in (model._meta.get_field(name) for name in names) if field.concrete]
    if connection.vendor != "postgresql":
        objs = []
        for row in rows:
            obj = model(**{pk.attname: row[pk.attname]})
            for field in fields:
                setattr(obj, field.attname, row[field.attname])
            objs.append(obj)
        model._base_manager.bulk_update(objs, [field.name for field in fields], batch_size=500)
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [pk, *fields]
    arrays = ", ".join(f"%s::{_array_type(field)}" for field in columns)
    names_sql = ", ".join(quote(field.column) for field in columns)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in fields)
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v ({names_sql}) "  # noqa: S608
        f"WHERE {table}.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    converters = [_json if field.get_internal_type() == "JSONField" else None for field in columns]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            params = [
                [convert(row[field.attname]) if convert else row[field.attname] for row in chunk]
                for field, convert in zip(columns, converters, strict=True)
            ]
            cursor.execute(sql, params)


def upsert_rows(
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    *,
    unique: Sequence[str],
    unique_where: str = "",
    update: Sequence[str],
    update_where: str = "",
    batch_size: int = 1000,
) -> None:
    """Insert rows (dicts keyed by attname, all with the same keys), or update ``update`` on the row already
    holding their ``unique`` values, in one statement per batch (PostgreSQL and SQLite alike).

    ``unique_where`` is the predicate of a partial unique index (it picks the index); ``update_where``, SQL
    over ``existing`` and ``EXCLUDED``, makes the update conditional, so a read-compare-write needs no read
    and no lock. No two rows of one call may share their unique values.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    fields = [field for field in _columns(model) if field.attname in rows[0]]
    columns = ", ".join(quote(field.column) for field in fields)
    targets = ", ".join(quote(model._meta.get_field(name).column) for name in unique)
    changed = [quote(model._meta.get_field(name).column) for name in update]
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} AS existing ({columns}) VALUES {{values}} "  # noqa: S608
        f"ON CONFLICT ({targets}){f' WHERE {unique_where}' if unique_where else ''} "
        f"DO UPDATE SET {', '.join(f'{column} = EXCLUDED.{column}' for column in changed)}"
        f"{f' WHERE {update_where}' if update_where else ''}"
    )
    row_placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            params = [field.get_db_prep_save(row[field.attname], connection) for row in chunk for field in fields]
            cursor.execute(sql.format(values=", ".join([row_placeholders] * len(chunk))), params)


def _array_type(field: Field) -> str:
    db_type = field.db_type(connection)
    if field.get_internal_type() == "JSONField":
        return "jsonb[]"
    return db_type.split("(")[0] + "[]" if db_type.startswith(("varchar", "char")) else f"{db_type}[]"


class AnyOf(Lookup):
    """``field__any=[...]``: one array parameter on PostgreSQL (``= ANY(%s)``), ``IN (...)`` elsewhere.

    Ten thousand blind indexes as ten thousand placeholders cost more to build and parse than the
    query costs to run.
    """

    lookup_name = "any"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        if connection.vendor == "postgresql" and field.get_internal_type() == "BinaryField":
            # Thousands of blind indexes: sent as hex text, which the driver quotes in C, and decoded by the
            # server once (an InitPlan), instead of escaping each bytea value in Python.
            hexes = [bytes(value).hex() for value in self.rhs]
            sql = f"{lhs} = ANY(ARRAY(SELECT decode(item, 'hex') FROM unnest(%s::text[]) AS item))"  # noqa: S608 - lhs is the compiled column
            return sql, [*lhs_params, hexes]
        values = [field.get_db_prep_value(value, connection, prepared=False) for value in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::{_array_type(field)})", [*lhs_params, values]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)


# ---------------------------------------------------------------- prepared statements for the hot path


@functools.cache
def _server_bound_cursor_class(prepare: bool) -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class ServerBoundCursor(ServerBindingCursor):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            return super().execute(query, params, prepare=prepare, binary=True)

    return ServerBoundCursor


def prepared_cursor(*, prepare: bool = True) -> Any:
    """A cursor (PostgreSQL) whose statements are prepared in each connection on first use, with the values
    bound server-side and the rows read in binary: a hot, fixed statement is parsed once per connection
    instead of once per call, and no timestamp or uuid is parsed from text.

    Django's own queries stay client-side bound and unprepared (``prepare_threshold`` is off), so this is
    opt-in per statement. ``prepare=False`` keeps the binary values and rows but plans each call for its
    values: for statements whose best plan depends on them (a list of 5,000 ids is not a list of one). It
    goes through Django's cursor wrapper: query logging and execute wrappers see it. Behind PgBouncer in
    transaction mode, prepared statements need PgBouncer >= 1.21 with ``max_prepared_statements`` set.
    """
    connection.ensure_connection()
    return connection._prepare_cursor(_server_bound_cursor_class(prepare)(connection.connection))


def plan_prepared_statements_once(sender: Any, connection: Any, **kwargs: Any) -> None:
    """On ``connection_created``: prepared statements keep one generic plan instead of being planned again
    for their values on every call (PostgreSQL's default for the first executions, and for good when it
    estimates a custom plan cheaper). Only statements prepared on purpose (``prepared_cursor``) are affected."""
    if connection.vendor == "postgresql":
        # Django turns psycopg's prepared statements off (threshold None), which also refuses prepare=True;
        # a threshold no statement reaches lets only the explicitly prepared ones be prepared.
        connection.connection.prepare_threshold = 2**31 - 1
        with connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_generic_plan")
