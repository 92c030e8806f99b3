"""The connector for SQL sources described by a dataset map: PostgreSQL (psycopg 3) and MySQL/MariaDB (PyMySQL).

Every statement is built from the validated map only: table and column names are checked against the
map's name pattern and quoted by the dialect, values are always bound parameters. Work is set-based:
one query per table and condition (in chunks), never one per row, so a person with thousands of orders
costs a handful of round trips.

Nothing here logs or raises a value read from the source or given as an identity: errors name the
source, the step, the table and the database's error code, nothing more (a PostgreSQL unique-violation
message, for one, quotes the offending value, so driver messages are never passed on).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import ssl
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import phonenumbers
import psycopg
import pymysql
from django.utils import timezone
from psycopg import sql as pgsql

from c360.lib.crypto import blind_index
from c360.lib.identifiers import (
    IdentifierError,
    normalise_cpf,
    normalise_email,
    normalise_external,
    normalise_phone,
)
from dsar.connectors.base import ConnectorError, ExportedRecord, FieldAction, Identity, Match, Outcome
from dsar.datasets import (
    ATTRIBUTES,
    ColumnInfo,
    DatabaseSchema,
    DatasetMap,
    Edge,
    FieldSpec,
    Hold,
    MapError,
    TableSpec,
    compare_with_schema,
)

logger = logging.getLogger(__name__)

CHUNK = 1000  # values per IN (...) list
UPDATE_CHUNK = 500  # rows per UPDATE (two parameters per row and masked column)
PHONE_SUFFIX_DIGITS = 8  # phones are pre-selected in SQL by their last digits, then parsed in Python
MASK_KIND = "mask"
MAX_TEXT_CORRECTION = 300
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SPACES = re.compile(r"\s+")

Key = int | str
Row = dict[str, Any]


# ---------------------------------------------------------------- dialects


class _Dialect:
    """What differs between PostgreSQL and MySQL: connecting, quoting, a few functions, error codes."""

    kind = ""
    errors: tuple[type[Exception], ...] = ()

    def connect(self) -> Any:
        raise NotImplementedError

    def quote(self, name: str) -> str:
        raise NotImplementedError

    def digits(self, expression: str) -> str:
        raise NotImplementedError

    def classify(self, exc: Exception) -> tuple[bool, str, str]:
        """(retryable, code, explanation) for a driver error; the explanation holds no value."""
        raise NotImplementedError

    def introspect(self, cursor: Any, schema: str | None) -> DatabaseSchema:
        raise NotImplementedError


_PG_STATES = {
    "42703": "a column of the map does not exist in the database (run validate_against_database)",
    "42P01": "a table of the map does not exist in the database (run validate_against_database)",
    "42501": "the database user lacks a privilege on the table",
    "23503": "a foreign key refused the change (a reference the map does not declare?)",
    "23505": "a unique constraint refused the change",
    "23502": "a NOT NULL column cannot be nulled (mask it instead)",
    "23514": "a check constraint refused the change",
    "22001": "a value is too long for its column",
    "22P02": "a value does not fit the column's type",
    "40001": "the transaction conflicted with another one",
    "40P01": "a deadlock with another transaction",
    "55P03": "a row lock was not granted in time",
    "57014": "the statement took too long and was cancelled",
}
_PG_RETRYABLE_CLASSES = ("08", "40", "53", "57", "58")
_PG_REFUSED_AT_CONNECT = ("does not exist", "authentication failed", "no pg_hba.conf entry", "permission denied")


class _Postgres(_Dialect):
    kind = "postgres"
    errors = (psycopg.Error,)

    def __init__(self, url: str, *, connect_timeout: int, statement_timeout: int) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self.url,
            connect_timeout=self.connect_timeout,
            options=f"-c statement_timeout={self.statement_timeout * 1000} -c lock_timeout=10000",
            autocommit=False,
        )

    def quote(self, name: str) -> str:
        return pgsql.Identifier(name).as_string()

    def digits(self, expression: str) -> str:
        return f"regexp_replace({expression}, '[^0-9]', '', 'g')"

    def classify(self, exc: Exception) -> tuple[bool, str, str]:
        state = getattr(exc, "sqlstate", None)
        if state is None:
            if isinstance(exc, psycopg.OperationalError):
                text = str(exc)  # read, never repeated: it may quote the URL's user or database
                if "FATAL:" in text and any(reason in text for reason in _PG_REFUSED_AT_CONNECT):
                    return False, "connect", "the server refused the connection (user, password or database)"
                return True, "connect", "the database cannot be reached"
            if isinstance(exc, psycopg.InterfaceError):
                return True, "interface", "the connection was lost"
            return False, "driver", "the driver refused the statement"
        explanation = _PG_STATES.get(state) or "the database refused the statement"
        return state[:2] in _PG_RETRYABLE_CLASSES or state == "55P03", state, explanation

    def introspect(self, cursor: Any, schema: str | None) -> DatabaseSchema:
        found = DatabaseSchema()
        cursor.execute(
            "SELECT table_name, column_name, data_type, udt_name, is_nullable, character_maximum_length "
            "FROM information_schema.columns WHERE table_schema = COALESCE(%s, current_schema()) "
            "ORDER BY table_name, ordinal_position",
            (schema,),
        )
        for table, column, data_type, udt_name, nullable, length in cursor.fetchall():
            text = data_type in {"text", "character varying", "character"} or udt_name == "citext"
            found.columns.setdefault(table, {})[column] = ColumnInfo(data_type, nullable == "YES", length, text)
        cursor.execute(
            "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
            "AND kcu.constraint_schema = tc.constraint_schema AND kcu.table_name = tc.table_name "
            "WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = COALESCE(%s, current_schema()) "
            "ORDER BY tc.table_name, kcu.ordinal_position",
            (schema,),
        )
        keys: dict[str, list[str]] = {}
        for table, column in cursor.fetchall():
            keys.setdefault(table, []).append(column)
        found.primary_keys = {table: tuple(columns) for table, columns in keys.items()}
        cursor.execute(
            "SELECT child.relname, child_column.attname, parent.relname, parent_column.attname "
            "FROM pg_constraint c "
            "JOIN pg_class child ON child.oid = c.conrelid "
            "JOIN pg_namespace ns ON ns.oid = child.relnamespace "
            "JOIN pg_class parent ON parent.oid = c.confrelid "
            "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(child_number, parent_number) "
            "JOIN pg_attribute child_column ON child_column.attrelid = c.conrelid "
            "AND child_column.attnum = k.child_number "
            "JOIN pg_attribute parent_column ON parent_column.attrelid = c.confrelid "
            "AND parent_column.attnum = k.parent_number "
            "WHERE c.contype = 'f' AND ns.nspname = COALESCE(%s, current_schema())",
            (schema,),
        )
        found.foreign_keys = [tuple(row) for row in cursor.fetchall()]
        return found


_MYSQL_CODES = {
    1054: "a column of the map does not exist in the database (run validate_against_database)",
    1146: "a table of the map does not exist in the database (run validate_against_database)",
    1142: "the database user lacks a privilege on the table",
    1451: "a foreign key refused the change (a reference the map does not declare?)",
    1452: "a foreign key refused the change",
    1062: "a unique constraint refused the change",
    1048: "a NOT NULL column cannot be nulled (mask it instead)",
    1406: "a value is too long for its column",
    1366: "a value does not fit the column's type",
    4025: "a check constraint refused the change",
    1205: "a row lock was not granted in time",
    1213: "a deadlock with another transaction",
    1969: "the statement took too long and was cancelled",
    1045: "the server refused the user or password",
    1698: "the server refused the user or password",
    1049: "the database does not exist",
    1040: "the server has too many connections",
}
_MYSQL_RETRYABLE = {1040, 1053, 1205, 1213, 1317, 1927, 1969, 3024, 4031}


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _MySQL(_Dialect):
    kind = "mysql"
    errors = (pymysql.err.MySQLError,)

    def __init__(self, url: str, *, connect_timeout: int, statement_timeout: int) -> None:
        parts = urlsplit(url)
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise ValueError("The MySQL URL names no database (mysql://user:password@host:3306/database).")
        try:
            port = parts.port or 3306
        except ValueError:
            raise ValueError("The MySQL URL has an invalid port.") from None
        self.options: dict[str, Any] = {
            "host": parts.hostname or "127.0.0.1",
            "port": port,
            "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or ""),
            "database": database,
        }
        # TLS: verified (system CAs, host name checked) unless the URL says ?tls=off; a loopback server is
        # reached without it by default. PyMySQL's own default ("preferred", unverified) is neither safe nor
        # cheap: it builds a new SSL context, loading the CA store, on every connection (~60 ms).
        tls = dict(parse_qsl(parts.query)).get("tls", "off" if self.options["host"] in _LOOPBACK else "verify")
        if tls not in {"off", "verify"}:
            raise ValueError("The MySQL URL's tls option is off or verify.")
        self.tls = tls
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout

    def connect(self) -> pymysql.connections.Connection[Any]:
        security: dict[str, Any] = {"ssl": _tls_context()} if self.tls == "verify" else {"ssl_disabled": True}
        return pymysql.connect(
            **self.options,
            **security,
            charset="utf8mb4",
            autocommit=False,
            connect_timeout=self.connect_timeout,
            read_timeout=self.statement_timeout + 30,
            write_timeout=self.statement_timeout + 30,
            # Strict: a NULL into NOT NULL or a value too long is an error, not a silent '' or a cut.
            init_command=(
                "SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES'), "
                f"max_statement_time = {int(self.statement_timeout)}, innodb_lock_wait_timeout = 10"
            ),
        )

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def digits(self, expression: str) -> str:
        return f"REGEXP_REPLACE({expression}, '[^0-9]', '')"

    def classify(self, exc: Exception) -> tuple[bool, str, str]:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        if 2000 <= code < 3000:
            return True, str(code), "the database cannot be reached or the connection was lost"
        explanation = _MYSQL_CODES.get(code) or "the database refused the statement"
        return code in _MYSQL_RETRYABLE, str(code or "driver"), explanation

    def introspect(self, cursor: Any, schema: str | None) -> DatabaseSchema:
        found = DatabaseSchema()
        cursor.execute(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (schema,),
        )
        text_types = {"char", "varchar", "text", "tinytext", "mediumtext", "longtext"}
        for table, column, data_type, nullable, length in cursor.fetchall():
            info = ColumnInfo(data_type, nullable == "YES", length, data_type.lower() in text_types)
            found.columns.setdefault(table, {})[column] = info
        cursor.execute(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND CONSTRAINT_NAME = 'PRIMARY' "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (schema,),
        )
        keys: dict[str, list[str]] = {}
        for table, column in cursor.fetchall():
            keys.setdefault(table, []).append(column)
        found.primary_keys = {table: tuple(columns) for table, columns in keys.items()}
        cursor.execute(
            "SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME "
            "FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND REFERENCED_TABLE_NAME IS NOT NULL",
            (schema,),
        )
        found.foreign_keys = [tuple(row) for row in cursor.fetchall()]
        return found


def _dialect_for(url: str, *, connect_timeout: int, statement_timeout: int) -> _Dialect:
    if not isinstance(url, str):
        raise TypeError("Give the source's URL as text (postgres://... or mysql://...).")
    scheme = url.partition("://")[0].lower()
    if scheme in {"postgres", "postgresql"}:
        return _Postgres(url, connect_timeout=connect_timeout, statement_timeout=statement_timeout)
    if scheme in {"mysql", "mariadb", "mysql+pymysql"}:
        return _MySQL(url, connect_timeout=connect_timeout, statement_timeout=statement_timeout)
    raise ValueError("Unsupported source URL: use postgres://... or mysql://... (mariadb:// also works).")


def introspect(connection: object, *, schema: str | None = None) -> DatabaseSchema:
    """Tables, columns, primary and foreign keys of a database, from an open connection or a URL."""
    if isinstance(connection, str):
        dialect = _dialect_for(connection, connect_timeout=5, statement_timeout=60)
        try:
            opened = dialect.connect()
        except dialect.errors as exc:
            retryable, code, explanation = dialect.classify(exc)
            raise ConnectorError(f"database: introspect: {explanation} [{code}]", retryable=retryable) from None
        try:
            with opened.cursor() as cursor:
                return dialect.introspect(cursor, schema)
        finally:
            opened.close()
    if isinstance(connection, psycopg.Connection):
        dialect = _Postgres("", connect_timeout=5, statement_timeout=60)
    elif isinstance(connection, pymysql.connections.Connection):
        dialect = _MySQL("mysql://localhost/unused", connect_timeout=5, statement_timeout=60)
    else:
        raise TypeError("Give a psycopg or PyMySQL connection, or a postgres:// or mysql:// URL.")
    with connection.cursor() as cursor:
        return dialect.introspect(cursor, schema)


# ---------------------------------------------------------------- a unit of work on the source


class _Session:
    """One connection and one transaction for one step; driver errors become ConnectorError."""

    def __init__(self, connector: SqlConnector, step: str) -> None:
        self.connector = connector
        self.dialect = connector._dialect
        self.step = step
        self.connection: Any = None
        self.cursor: Any = None

    def __enter__(self) -> _Session:
        try:
            self.connection = self.dialect.connect()
            self.cursor = self.connection.cursor()
        except self.dialect.errors as exc:
            raise self._error(None, exc) from None
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        try:
            if exc_type is not None and self.connection is not None:
                self.connection.rollback()
        except self.dialect.errors:
            logger.warning("Rollback failed after an error", extra={"source": self.connector.name, "step": self.step})
        finally:
            if self.connection is not None:
                try:
                    self.connection.close()
                except self.dialect.errors:
                    logger.warning("Closing the connection failed", extra={"source": self.connector.name})

    def _error(self, table: str | None, exc: Exception) -> ConnectorError:
        retryable, code, explanation = self.dialect.classify(exc)
        where = f"{self.connector.name}: {self.step}: " + (f"{table}: " if table else "")
        logger.warning(
            "SQL source error",
            extra={"source": self.connector.name, "step": self.step, "table": table or "", "code": code},
        )
        return ConnectorError(f"{where}{explanation} [{code}]", retryable=retryable)

    def fetch(self, table: str, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            self.cursor.execute(statement, params)
            return list(self.cursor.fetchall())
        except self.dialect.errors as exc:
            raise self._error(table, exc) from None

    def execute(self, table: str, statement: str, params: Sequence[Any] = ()) -> None:
        try:
            self.cursor.execute(statement, params)
        except self.dialect.errors as exc:
            raise self._error(table, exc) from None

    def commit(self) -> None:
        try:
            self.connection.commit()
        except self.dialect.errors as exc:
            raise self._error(None, exc) from None


# ---------------------------------------------------------------- helpers


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _key(value: Any) -> Key:
    """A primary key as it travels in a locator: JSON-safe, and the same on every run."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | str):
        return value
    return str(value)


def _sort_key(value: Key) -> tuple[int, int, str]:
    return (0, value, "") if isinstance(value, int) else (1, 0, str(value))


def _plain(value: Any) -> Any:
    """A value read from the source, made JSON-serialisable without losing precision."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


@dataclass
class _Found:
    """The rows located in one table: values of the columns read, and how each row was reached."""

    rows: dict[Key, Row] = field(default_factory=dict)
    via: dict[Key, str] = field(default_factory=dict)

    def add(self, pk: Key, row: Row, via: str) -> None:
        if pk not in self.rows:
            self.rows[pk] = row
            self.via[pk] = via


@dataclass
class _Pin:
    """Why a row must stay: rows under legal hold reference it (directly or down a chain of references)."""

    bases: list[str] = field(default_factory=list)
    until: dt.date | None = None
    open_ended: bool = False

    def absorb(self, bases: Iterable[str], until: dt.date | None, *, open_ended: bool = False) -> None:
        for basis in bases:
            if basis not in self.bases:
                self.bases.append(basis)
        if until is None or open_ended:
            self.open_ended = True
        elif self.until is None or until > self.until:
            self.until = until

    @property
    def kept_until(self) -> dt.date | None:
        return None if self.open_ended else self.until

    @property
    def reason(self) -> str:
        return f"referenced by rows kept under legal hold: {'; '.join(self.bases)}"


def _hold_state(hold: Hold | None, row: Row, today: dt.date) -> tuple[bool, dt.date | None, str]:
    """(active, until, reason) of a hold for one row; a hold whose start is empty stays active."""
    if hold is None:
        return False, None, ""
    until = hold.until(row.get(hold.start_column))
    if until is None:
        return True, None, f"{hold.basis} (start date {hold.start_column} is empty: review)"
    return today < until, until, hold.basis


def _phone_suffix(value: str) -> str:
    national = str(phonenumbers.parse(value, None).national_number)
    return national[-PHONE_SUFFIX_DIGITS:]


def _cpf_variants(value: str) -> list[str]:
    """The CPF as stored digits may read: spreadsheets drop up to two leading zeros."""
    variants = [value]
    while len(variants) < 3 and variants[-1].startswith("0"):
        variants.append(variants[-1][1:])
    return variants


# ---------------------------------------------------------------- the connector


class SqlConnector:
    """A SQL database described by a dataset map; implements dsar.connectors.base.Connector."""

    def __init__(
        self,
        name: str,
        url: str,
        dataset_map: DatasetMap,
        *,
        connect_timeout: int = 5,
        statement_timeout: int = 60,
    ) -> None:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,100}", name):
            raise ValueError("A source name is 1 to 100 letters, digits, '_', '.' or '-'.")
        if not isinstance(dataset_map, DatasetMap):
            raise TypeError("Give a DatasetMap from dsar.datasets.parse_dataset_map.")
        self.name = name
        self.dataset_map = dataset_map
        self._dialect = _dialect_for(url, connect_timeout=connect_timeout, statement_timeout=statement_timeout)
        self._columns: dict[str, dict[str, ColumnInfo]] | None = None

    def __repr__(self) -> str:
        return f"SqlConnector({self.name!r}, {self._dialect.kind})"  # never the URL: it may hold a password

    # ------------------------------------------------------------ SQL building blocks

    def _table(self, table: str) -> str:
        quoted = self._dialect.quote(table)
        schema = self.dataset_map.schema
        return f"{self._dialect.quote(schema)}.{quoted}" if schema else quoted

    def _select(self, table: str, columns: Iterable[str], where: str, *, lock: bool = False) -> str:
        listed = ", ".join(self._dialect.quote(column) for column in columns)
        statement = f"SELECT {listed} FROM {self._table(table)} WHERE {where}"  # noqa: S608 - quoted names from the map
        return statement + (" FOR UPDATE" if lock else "")

    def _update(self, table: str, assignments: Iterable[str], where: str) -> str:
        listed = ", ".join(assignments)
        return f"UPDATE {self._table(table)} SET {listed} WHERE {where}"  # noqa: S608 - quoted names from the map

    def _delete(self, table: str, where: str) -> str:
        return f"DELETE FROM {self._table(table)} WHERE {where}"  # noqa: S608 - quoted names from the map

    def _in(self, expression: str, values: Sequence[Any]) -> str:
        return f"{expression} IN ({', '.join(['%s'] * len(values))})"

    def _session(self, step: str) -> _Session:
        return _Session(self, step)

    # ------------------------------------------------------------ locate

    def locate(self, identities: list[Identity]) -> list[Match]:
        """Rows found by the identities, and every row that references them down the map's references."""
        wanted = self._wanted(identities)
        if not wanted:
            return []
        with self._session("locate") as session:
            found = self._walk(session, wanted=wanted, seeds={}, follow=lambda _edge: True, columns=self._walk_columns)
            session.commit()
        matches = [
            Match(collection=table, locator={"table": table, "pk": pk}, via=found[table].via[pk])
            for table in self.dataset_map.order
            if table in found
            for pk in sorted(found[table].rows, key=_sort_key)
        ]
        logger.info("SQL source located rows", extra={"source": self.name, "rows": len(matches)})
        return matches

    def _wanted(self, identities: Iterable[Identity]) -> dict[tuple[str, str], set[str]]:
        """Normalised identity values by (kind, namespace); kinds this source has no column for are ignored."""
        wanted: dict[tuple[str, str], set[str]] = {}
        normalisers: dict[str, Callable[[object], str]] = {
            "email": normalise_email,
            "phone": normalise_phone,
            "cpf": normalise_cpf,
            "external_id": normalise_external,
        }
        for identity in identities:
            if not isinstance(identity, Identity):
                raise TypeError("locate takes Identity objects.")
            normaliser = normalisers.get(identity.kind)
            if normaliser is None:
                continue
            try:
                value = normaliser(identity.value)
            except IdentifierError as exc:
                raise ConnectorError(
                    f"{self.name}: locate: an identity of kind {identity.kind} is not valid: {exc.message}",
                    retryable=False,
                ) from None
            namespace = identity.namespace if identity.kind == "external_id" else ""
            wanted.setdefault((identity.kind, namespace), set()).add(value)
        return wanted

    def _targets(self, spec: FieldSpec, wanted: Mapping[tuple[str, str], set[str]]) -> set[str]:
        identity = spec.identity
        if identity is None:
            return set()
        namespace = (identity.namespace or self.name) if identity.kind == "external_id" else ""
        return wanted.get((identity.kind, namespace), set())

    def _walk_columns(self, table: TableSpec) -> list[str]:
        """What locate reads: keys, identity columns to verify, and the columns references use."""
        needed = [table.primary_key]
        needed += [spec.name for spec in table.identity_fields]
        needed += [edge.child_column for edge in self.dataset_map.parents(table.name)]
        needed += [edge.parent_column for edge in self.dataset_map.children(table.name)]
        return list(dict.fromkeys(needed))

    def _all_columns(self, table: TableSpec) -> list[str]:
        return list(table.columns)

    def _walk(
        self,
        session: _Session,
        *,
        wanted: Mapping[tuple[str, str], set[str]],
        seeds: Mapping[str, Sequence[Key]],
        follow: Callable[[Edge], bool],
        columns: Callable[[TableSpec], list[str]],
        lock: bool = False,
    ) -> dict[str, _Found]:
        """Parents first: each table's rows from identities, from seeds, and from references to rows found."""
        found: dict[str, _Found] = {}
        for name in self.dataset_map.order:
            table = self.dataset_map.tables[name]
            read = columns(table)
            result = _Found()
            if wanted:
                self._by_identity(session, table, read, wanted, result, lock=lock)
            if seeds.get(name):
                pk = self._dialect.quote(table.primary_key)
                for chunk in _chunks(list(seeds[name])):
                    for values in session.fetch(name, self._select(name, read, self._in(pk, chunk), lock=lock), chunk):
                        row = dict(zip(read, values, strict=True))
                        result.add(_key(row[table.primary_key]), row, "match")
            for edge in self.dataset_map.parents(name):
                parent = found.get(edge.parent)
                if parent is None or not parent.rows or not follow(edge):
                    continue
                keys = list(dict.fromkeys(row[edge.parent_column] for row in parent.rows.values()))
                keys = [key for key in keys if key is not None]
                column = self._dialect.quote(edge.child_column)
                for chunk in _chunks(keys):
                    for values in session.fetch(
                        name, self._select(name, read, self._in(column, chunk), lock=lock), chunk
                    ):
                        row = dict(zip(read, values, strict=True))
                        result.add(_key(row[table.primary_key]), row, str(edge))
            if result.rows:
                found[name] = result
        return found

    def _by_identity(
        self,
        session: _Session,
        table: TableSpec,
        read: list[str],
        wanted: Mapping[tuple[str, str], set[str]],
        result: _Found,
        *,
        lock: bool,
    ) -> None:
        """Pre-select in SQL (index-friendly where the column is stored normalised), confirm in Python."""
        for spec in table.identity_fields:
            targets = self._targets(spec, wanted)
            if not targets or spec.identity is None:
                continue
            column = self._dialect.quote(spec.name)
            conditions: list[tuple[str, list[Any]]] = []
            mode = spec.identity.normalise
            if mode == "exact":
                conditions.append((column, sorted(targets)))
            elif mode == "lower":
                conditions.append((f"LOWER(TRIM({column}))", sorted(targets)))
            elif mode == "digits":
                conditions.append(
                    (self._dialect.digits(column), sorted({v for t in targets for v in _cpf_variants(t)}))
                )
            else:  # e164
                by_length: dict[int, set[str]] = {}
                for target in targets:
                    suffix = _phone_suffix(target)
                    by_length.setdefault(len(suffix), set()).add(suffix)
                for length, suffixes in sorted(by_length.items()):
                    conditions.append((f"RIGHT({self._dialect.digits(column)}, {int(length)})", sorted(suffixes)))
            for expression, values in conditions:
                for chunk in _chunks(values):
                    statement = self._select(table.name, read, self._in(expression, chunk), lock=lock)
                    for fetched in session.fetch(table.name, statement, chunk):
                        row = dict(zip(read, fetched, strict=True))
                        if self._is_identity(spec, row[spec.name], targets):
                            result.add(_key(row[table.primary_key]), row, f"identity:{spec.identity.kind}")

    def _is_identity(self, spec: FieldSpec, stored: Any, targets: set[str]) -> bool:
        if stored is None or spec.identity is None:
            return False
        text = stored if isinstance(stored, str) else str(stored)
        try:
            match spec.identity.normalise:
                case "exact":
                    return text in targets
                case "lower":
                    return normalise_email(text) in targets
                case "digits":
                    return normalise_cpf(text) in targets
                case _:
                    return normalise_phone(text, spec.identity.region or None) in targets
        except IdentifierError:
            return False  # a malformed value in the source is nobody's identity

    # ------------------------------------------------------------ export

    def export(self, matches: list[Match]) -> list[ExportedRecord]:
        """Every declared column of every matched row, with its data category and where it came from."""
        targets = self._group(matches, "export")
        records: list[ExportedRecord] = []
        if not targets:
            return records
        with self._session("export") as session:
            for name in self.dataset_map.order:
                if name not in targets:
                    continue
                table = self.dataset_map.tables[name]
                read = list(table.columns)
                rows: dict[Key, Row] = {}
                pk = self._dialect.quote(table.primary_key)
                for chunk in _chunks(targets[name]):
                    for values in session.fetch(name, self._select(name, read, self._in(pk, chunk)), chunk):
                        row = dict(zip(read, values, strict=True))
                        rows[_key(row[table.primary_key])] = row
                records.extend(
                    ExportedRecord(
                        collection=name,
                        fields={column: _plain(value) for column, value in rows[key].items()},
                        categories={column: spec.category for column, spec in table.fields.items()},
                        provenance=f"{self.name}:{name}#{key}",
                    )
                    for key in targets[name]
                    if key in rows
                )
            session.commit()
        logger.info("SQL source exported rows", extra={"source": self.name, "rows": len(records)})
        return records

    def _group(self, matches: Iterable[Match], step: str) -> dict[str, list[Key]]:
        """Matched primary keys per table, in order and without repeats; a match from elsewhere is refused."""
        grouped: dict[str, dict[Key, None]] = {}
        for match in matches:
            locator = match.locator if isinstance(match, Match) else None
            table = locator.get("table") if isinstance(locator, dict) else None
            if not isinstance(table, str) or table not in self.dataset_map.tables:
                shown = table if isinstance(table, str) and _NAME.fullmatch(table) else "?"
                raise ConnectorError(
                    f"{self.name}: {step}: a match names a table the map does not have ({shown})", retryable=False
                )
            pk = locator.get("pk") if locator else None
            if pk is None or isinstance(pk, dict | list | float):
                raise ConnectorError(
                    f"{self.name}: {step}: {table}: a match has no usable primary key", retryable=False
                )
            grouped.setdefault(table, {})[_key(pk)] = None
        return {table: list(keys) for table, keys in grouped.items()}

    # ------------------------------------------------------------ erase

    def erase(self, matches: list[Match]) -> Outcome:
        """Apply the map's erase actions to the matched rows in one transaction, children before parents.

        Rows that reference a row being deleted are handled too (deleted, or their reference nulled), even
        if they appeared after locate: the database's foreign keys would refuse the delete otherwise. Rows
        under legal hold are kept, and so are the rows they reference, reduced by their field actions.
        """
        targets = self._group(matches, "erase")
        outcome = Outcome()
        if not targets:
            return outcome
        today = timezone.localdate()
        with self._session("erase") as session:
            masks = any(
                spec.erase == "mask"
                for spec_table in self.dataset_map.tables.values()
                for spec in spec_table.fields.values()
            )
            columns = self._column_info(session) if masks else {}
            found = self._walk(
                session,
                wanted={},
                seeds=targets,
                follow=lambda edge: self.dataset_map.tables[edge.parent].deletes_rows,
                columns=self._all_columns,
                lock=True,
            )
            pins: dict[tuple[str, str, Any], _Pin] = {}
            for name in self.dataset_map.erase_order:
                table = self.dataset_map.tables[name]
                rows = found[name].rows if name in found else {}
                for key in targets.get(name, []):
                    if key not in rows:
                        outcome.actions.append(self._action(name, key, "unchanged", reason="already erased: not found"))
                deletes: list[Key] = []
                updates: dict[tuple[str, ...], list[list[Any]]] = {}
                for key in sorted(rows, key=_sort_key):
                    self._erase_row(
                        table=table,
                        key=key,
                        row=rows[key],
                        today=today,
                        columns=columns,
                        pins=pins,
                        outcome=outcome,
                        deletes=deletes,
                        updates=updates,
                    )
                self._apply(session, table, deletes, updates)
            session.commit()
        logger.info(
            "SQL source erased rows",
            extra={"source": self.name, "changed": outcome.changed, "kept": outcome.count("kept")},
        )
        return outcome

    def _action(self, table: str, key: Key, action: str, **details: Any) -> FieldAction:
        return FieldAction(collection=table, locator={"table": table, "pk": key}, action=action, **details)

    def _erase_row(
        self,
        *,
        table: TableSpec,
        key: Key,
        row: Row,
        today: dt.date,
        columns: Mapping[str, Mapping[str, ColumnInfo]],
        pins: dict[tuple[str, str, Any], _Pin],
        outcome: Outcome,
        deletes: list[Key],
        updates: dict[tuple[str, ...], list[list[Any]]],
    ) -> None:
        name = table.name
        held, until, reason = _hold_state(table.hold, row, today)
        if held:
            outcome.actions.append(self._action(name, key, "kept", reason=reason, kept_until=until))
            self._pin_parents(table, row, pins, [reason], until)
            return
        # Only a row that would be deleted needs to know whether a retained row still references it.
        pin = self._pin_of(table, row, pins) if table.deletes_rows else None
        if table.deletes_rows and pin is None:
            outcome.actions.append(self._action(name, key, "deleted"))
            deletes.append(key)
            return
        if pin is not None:
            outcome.actions.append(self._action(name, key, "kept", reason=pin.reason, kept_until=pin.kept_until))
        changes: dict[str, Any] = {}
        for spec in table.fields.values():
            field_held, field_until, field_reason = _hold_state(spec.hold, row, today)
            if field_held:
                outcome.actions.append(
                    self._action(name, key, "kept", field=spec.name, reason=field_reason, kept_until=field_until)
                )
                if spec.references is not None:
                    self._pin_parents(table, row, pins, [field_reason], field_until, only=spec.name)
                continue
            if spec.erase == "keep":
                if spec.personal and spec.basis and not table.deletes_rows:
                    outcome.actions.append(self._action(name, key, "kept", field=spec.name, reason=spec.basis))
                continue
            target = None if spec.erase == "null" else self._mask(table, spec, key, columns)
            if row[spec.name] == target:
                outcome.actions.append(self._action(name, key, "unchanged", field=spec.name, reason="already erased"))
            else:
                changes[spec.name] = target
                done = "nulled" if target is None else "masked"
                outcome.actions.append(self._action(name, key, done, field=spec.name))
        if changes:
            ordered = tuple(changes)
            updates.setdefault(ordered, []).append([*changes.values(), row[table.primary_key]])
        if pin is not None:
            final = {**row, **changes}
            self._pin_parents(table, final, pins, pin.bases, pin.until, open_ended=pin.open_ended)

    def _pin_of(self, table: TableSpec, row: Row, pins: Mapping[tuple[str, str, Any], _Pin]) -> _Pin | None:
        merged: _Pin | None = None
        for edge in self.dataset_map.children(table.name):
            pin = pins.get((table.name, edge.parent_column, row[edge.parent_column]))
            if pin is not None:
                merged = merged or _Pin()
                merged.absorb(pin.bases, pin.until, open_ended=pin.open_ended)
        return merged

    def _pin_parents(
        self,
        table: TableSpec,
        row: Row,
        pins: dict[tuple[str, str, Any], _Pin],
        bases: Iterable[str],
        until: dt.date | None,
        *,
        open_ended: bool = False,
        only: str | None = None,
    ) -> None:
        """A retained row keeps the rows it still references (``row`` holds its values after erasure)."""
        for edge in self.dataset_map.parents(table.name):
            if (only is not None and edge.child_column != only) or row[edge.child_column] is None:
                continue
            pin = pins.setdefault((edge.parent, edge.parent_column, row[edge.child_column]), _Pin())
            pin.absorb(bases, until, open_ended=open_ended)

    def _mask(
        self, table: TableSpec, spec: FieldSpec, key: Key, columns: Mapping[str, Mapping[str, ColumnInfo]]
    ) -> str:
        """A fixed value, or a keyed hash of the row's locator: not derived from the value, so it reveals
        nothing of it, yet the same on every run (idempotent) and distinct per row (unique columns)."""
        info = columns.get(table.name, {}).get(spec.name)
        if info is None or not info.text:
            raise ConnectorError(
                f"{self.name}: erase: {table.name}: masking {spec.name} needs a text column", retryable=False
            )
        if spec.mask_value is not None:
            return spec.mask_value
        digest = blind_index(MASK_KIND, f"{self.name}|{table.name}|{spec.name}|{key}").hex()
        return digest[: info.max_length] if info.max_length else digest

    def _column_info(self, session: _Session) -> Mapping[str, Mapping[str, ColumnInfo]]:
        if self._columns is None:
            try:
                schema = self._dialect.introspect(session.cursor, self.dataset_map.schema)
            except self._dialect.errors as exc:
                raise session._error(None, exc) from None
            self._columns = schema.columns
        return self._columns

    def _apply(
        self,
        session: _Session,
        table: TableSpec,
        deletes: list[Key],
        updates: Mapping[tuple[str, ...], list[list[Any]]],
    ) -> None:
        """One UPDATE per group of rows changing the same columns (per-row values through CASE), one DELETE."""
        pk = self._dialect.quote(table.primary_key)
        for columns, rows in updates.items():
            for chunk in _chunks(rows, UPDATE_CHUNK):
                keys = [row[-1] for row in chunk]
                assignments: list[str] = []
                params: list[Any] = []
                for index, column in enumerate(columns):
                    values = [row[index] for row in chunk]
                    quoted = self._dialect.quote(column)
                    if all(value == values[0] and type(value) is type(values[0]) for value in values):
                        assignments.append(f"{quoted} = %s")  # NULL, a fixed mask, a correction
                        params.append(values[0])
                    else:  # keyed-hash masks differ per row (text columns only)
                        assignments.append(f"{quoted} = CASE {pk} {' '.join(['WHEN %s THEN %s'] * len(chunk))} END")
                        params.extend(item for pair in zip(keys, values, strict=True) for item in pair)
                params.extend(keys)
                session.execute(table.name, self._update(table.name, assignments, self._in(pk, keys)), params)
        for chunk in _chunks(deletes):
            session.execute(table.name, self._delete(table.name, self._in(pk, chunk)), chunk)

    # ------------------------------------------------------------ rectify

    def rectify(self, matches: list[Match], corrections: dict[str, Any]) -> Outcome:
        """Set the columns whose ``attribute`` is corrected, normalised like identities; held rows are kept."""
        values = self._corrections(corrections)
        targets = self._group(matches, "rectify")
        outcome = Outcome()
        if not values or not targets:
            return outcome
        today = timezone.localdate()
        with self._session("rectify") as session:
            for name in self.dataset_map.order:
                table = self.dataset_map.tables[name]
                specs = [spec for spec in table.fields.values() if spec.attribute in values]
                if name not in targets or not specs:
                    continue
                rows = self._rows(session, table, targets[name], lock=True)
                updates: dict[tuple[str, ...], list[list[Any]]] = {}
                for key in targets[name]:
                    row = rows.get(key)
                    if row is None:
                        outcome.actions.append(self._action(name, key, "unchanged", reason="not found"))
                        continue
                    held, until, reason = _hold_state(table.hold, row, today)
                    if held:
                        outcome.actions.append(self._action(name, key, "kept", reason=reason, kept_until=until))
                        continue
                    changes = self._rectify_row(
                        table=table, key=key, row=row, specs=specs, values=values, today=today, outcome=outcome
                    )
                    if changes:
                        ordered = tuple(sorted(changes))
                        updates.setdefault(ordered, []).append([changes[c] for c in ordered] + [row[table.primary_key]])
                self._apply(session, table, [], updates)
            session.commit()
        return outcome

    def _rectify_row(
        self,
        *,
        table: TableSpec,
        key: Key,
        row: Row,
        specs: list[FieldSpec],
        values: Mapping[str, Any],
        today: dt.date,
        outcome: Outcome,
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for spec in specs:
            held, until, reason = _hold_state(spec.hold, row, today)
            if held:
                outcome.actions.append(
                    self._action(table.name, key, "kept", field=spec.name, reason=reason, kept_until=until)
                )
                continue
            attribute = spec.attribute or ""
            new = values[attribute]
            region = spec.identity.region if spec.identity is not None else ""
            if attribute == "phone":
                new = self._correction_error(partial(normalise_phone, values["phone"], region or None), "phone")
            if self._same(attribute, row[spec.name], new, region):
                outcome.actions.append(
                    self._action(table.name, key, "unchanged", field=spec.name, reason="already correct")
                )
            else:
                changes[spec.name] = new
                outcome.actions.append(self._action(table.name, key, "rectified", field=spec.name))
        return changes

    def _same(self, attribute: str, current: Any, new: Any, region: str) -> bool:
        if current is None:
            return False
        if attribute == "birth_date":
            if isinstance(current, dt.datetime):
                return current.date() == new
            return current == new or str(current) == new.isoformat()
        normalisers: dict[str, Callable[[str], str]] = {
            "email": normalise_email,
            "cpf": normalise_cpf,
            "phone": lambda text: normalise_phone(text, region or None),
        }
        normaliser = normalisers.get(attribute)
        if normaliser is None:
            return current == new
        try:
            return normaliser(str(current)) == new
        except IdentifierError:
            return False

    def _correction_error(self, make: Callable[[], Any], attribute: str) -> Any:
        try:
            return make()
        except IdentifierError as exc:
            raise ConnectorError(f"{self.name}: rectify: {attribute}: {exc.message}", retryable=False) from None

    def _corrections(self, corrections: Mapping[str, Any]) -> dict[str, Any]:
        """Validated, normalised corrections by attribute; a bad one fails the whole call, before any write."""
        if not isinstance(corrections, Mapping):
            raise ConnectorError(f"{self.name}: rectify: corrections must map attributes to values", retryable=False)
        values: dict[str, Any] = {}
        for raw_key, value in corrections.items():
            attribute = "full_name" if raw_key == "name" else raw_key
            if attribute not in ATTRIBUTES:
                shown = raw_key if isinstance(raw_key, str) and _NAME.fullmatch(raw_key) else "?"
                raise ConnectorError(
                    f"{self.name}: rectify: unknown attribute {shown}; use one of {', '.join(ATTRIBUTES)}",
                    retryable=False,
                )
            values[attribute] = self._correction(attribute, value)
        if "full_name" not in values and "given_name" in values and "family_name" in values:
            values["full_name"] = f"{values['given_name']} {values['family_name']}"
        return values

    def _correction(self, attribute: str, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConnectorError(f"{self.name}: rectify: {attribute}: give a value", retryable=False)
        if attribute == "email":
            return self._correction_error(lambda: normalise_email(value), attribute)
        if attribute == "cpf":
            return self._correction_error(lambda: normalise_cpf(value), attribute)
        if attribute == "phone":
            self._correction_error(lambda: normalise_phone(value), attribute)  # checked now, normalised per column
            return value
        if attribute == "birth_date":
            return self._birth_date(value)
        if not isinstance(value, str):
            raise ConnectorError(f"{self.name}: rectify: {attribute}: give the value as text", retryable=False)
        text = _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()
        if len(text) > MAX_TEXT_CORRECTION or any(unicodedata.category(char) == "Cc" for char in text):
            raise ConnectorError(
                f"{self.name}: rectify: {attribute}: at most {MAX_TEXT_CORRECTION} characters, no control characters",
                retryable=False,
            )
        return text

    def _birth_date(self, value: Any) -> dt.date:
        date: dt.date | None = None
        if isinstance(value, dt.datetime):
            date = value.date()
        elif isinstance(value, dt.date):
            date = value
        elif isinstance(value, str):
            try:
                date = dt.date.fromisoformat(value.strip())
            except ValueError:
                date = None
        if date is None or not dt.date(1900, 1, 1) <= date <= timezone.localdate():
            raise ConnectorError(f"{self.name}: rectify: birth_date: give a past date as YYYY-MM-DD", retryable=False)
        return date

    def _rows(self, session: _Session, table: TableSpec, keys: Sequence[Key], *, lock: bool) -> dict[Key, Row]:
        read = list(table.columns)
        rows: dict[Key, Row] = {}
        pk = self._dialect.quote(table.primary_key)
        for chunk in _chunks(list(keys)):
            for values in session.fetch(
                table.name, self._select(table.name, read, self._in(pk, chunk), lock=lock), chunk
            ):
                row = dict(zip(read, values, strict=True))
                rows[_key(row[table.primary_key])] = row
        return rows

    # ------------------------------------------------------------ restrict

    def restrict(self, matches: list[Match]) -> Outcome:
        """Set each matched row's restriction flag, for the tables whose map declares one."""
        targets = self._group(matches, "restrict")
        outcome = Outcome()
        if not any(self.dataset_map.tables[name].restrict is not None for name in targets):
            return outcome
        with self._session("restrict") as session:
            for name in self.dataset_map.order:
                table = self.dataset_map.tables[name]
                if name not in targets or table.restrict is None:
                    continue
                flag, value = table.restrict.column, table.restrict.value
                rows = self._rows(session, table, targets[name], lock=True)
                changed: list[Key] = []
                for key in targets[name]:
                    row = rows.get(key)
                    if row is None:
                        outcome.actions.append(self._action(name, key, "unchanged", reason="not found"))
                    elif row[flag] == value:
                        outcome.actions.append(
                            self._action(name, key, "unchanged", field=flag, reason="already restricted")
                        )
                    else:
                        changed.append(row[table.primary_key])
                        outcome.actions.append(self._action(name, key, "restricted", field=flag))
                pk = self._dialect.quote(table.primary_key)
                for chunk in _chunks(changed):
                    session.execute(
                        name,
                        self._update(name, [f"{self._dialect.quote(flag)} = %s"], self._in(pk, chunk)),
                        [value, *chunk],
                    )
            session.commit()
        return outcome

    # ------------------------------------------------------------ checks

    def validate(self) -> list[MapError]:
        """The map against this source's real schema (see dsar.datasets.validate_against_database)."""
        with self._session("validate") as session:
            try:
                schema = self._dialect.introspect(session.cursor, self.dataset_map.schema)
            except self._dialect.errors as exc:
                raise session._error(None, exc) from None
        return compare_with_schema(self.dataset_map, schema)
