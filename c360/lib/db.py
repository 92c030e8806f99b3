"""Database guarantees that hold even against code that forgets the rules."""

from __future__ import annotations

from typing import Any

from django.db import migrations

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


def append_only(table: str) -> migrations.RunPython:
    """A migration operation making ``table`` refuse UPDATE and DELETE at the database.

    TRUNCATE stays possible on PostgreSQL (test flushes use it); the table owner can always disable
    triggers, which is why tamper-evident tables also carry hash chains.
    """

    def forwards(apps: Any, schema_editor: Any) -> None:
        for statement in _append_only_sql(schema_editor.connection.vendor, table):
            schema_editor.execute(statement, params=None)

    def backwards(apps: Any, schema_editor: Any) -> None:
        for statement in _drop_sql(schema_editor.connection.vendor, table):
            schema_editor.execute(statement, params=None)

    return migrations.RunPython(forwards, backwards, elidable=False)
