"""Real source databases for the DSAR tests and benchmarks: a shop in PostgreSQL, a help desk in MariaDB.

Both hold the same four tables (customers, orders, invoices -> orders, support_tickets -> customers) with
real foreign keys, and the same cast of people, chosen for the traps real data sets:

- ``maria``: one person with two customer rows (the second with a messy spelling of the same email and
  a national-format phone), orders with a recent invoice (under tax hold) and a six-year-old one (hold
  over), a ticket linked to her account and an old guest ticket found only by its contact email;
- ``maria_other``: a different person with the same name, whose phone ends in the same digits;
- ``joao``: a CPF stored without its leading zero; ``ana``: known only by a landline.

``make_source(kind, customers=..., orders=..., tickets=...)`` adds generated rows after the cast (COPY on
PostgreSQL, multi-row INSERT on MariaDB), up to the benchmark's 10,000 / 50,000 / 50,000 in seconds.
The database is created fresh (``c360_src_shop_<suffix>`` or ``c360_src_desk_<suffix>``) and dropped by
``Source.drop()`` or on leaving ``source_database(...)``.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import secrets
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pymysql

from dsar.connectors.base import Identity
from dsar.connectors.sql import SqlConnector
from dsar.datasets import DatasetMap, parse_dataset_map

KINDS = ("postgres", "mariadb")
SOURCE_NAMES = {"postgres": "shop", "mariadb": "desk"}
DEFAULT_MARIADB_URL = "mysql://root@127.0.0.1:3306/test"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FIRST_GENERATED_ID = 1000
TAX_BASIS = "CTN art. 173 / tax records"
CLAIMS_BASIS = "CDC art. 27 / consumer claims"


def mariadb_url() -> str:
    """The MariaDB server's admin URL: C360_TEST_MARIADB_URL, as CI sets it, or the same default."""
    return os.environ.get("C360_TEST_MARIADB_URL") or DEFAULT_MARIADB_URL


def postgres_url() -> str:
    """The PostgreSQL server's admin URL (a database to connect to while creating others)."""
    return os.environ.get("C360_TEST_SOURCE_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def _admin_url(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind is one of {', '.join(KINDS)}")
    return postgres_url() if kind == "postgres" else mariadb_url()


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, "", ""))


def unreachable_reason(kind: str) -> str | None:
    """Why the server for ``kind`` cannot be used, or None when it answers."""
    parts = urlsplit(_admin_url(kind))
    host, port = parts.hostname or "127.0.0.1", parts.port or (5432 if kind == "postgres" else 3306)
    try:
        with socket.create_connection((host, port), timeout=1):
            return None
    except OSError:
        variable = "C360_TEST_MARIADB_URL" if kind == "mariadb" else "C360_TEST_SOURCE_POSTGRES_URL"
        return f"{kind} source tests need a server at {host}:{port} ({variable}); nothing answers there"


def require_server(kind: str) -> None:
    """pytest.skip with the reason when the server is not reachable (CI turns the skip into a failure)."""
    reason = unreachable_reason(kind)
    if reason is not None:
        import pytest

        pytest.skip(reason)


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released): a source that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------- schema and map

_DDL = (
    """CREATE TABLE customers (
        id BIGINT PRIMARY KEY,
        email VARCHAR(254) NULL,
        phone VARCHAR(32) NULL,
        cpf VARCHAR(14) NULL,
        full_name VARCHAR(200) NOT NULL,
        birth_date DATE NULL,
        address VARCHAR(300) NULL,
        marketing_opt_in BOOLEAN NULL,
        blocked BOOLEAN NOT NULL DEFAULT FALSE,
        created_at {ts} NOT NULL
    )""",
    """CREATE TABLE orders (
        id BIGINT PRIMARY KEY,
        customer_id BIGINT NOT NULL REFERENCES customers (id),
        shipping_address VARCHAR(300) NULL,
        total DECIMAL(12, 2) NOT NULL,
        status VARCHAR(20) NOT NULL,
        placed_at {ts} NOT NULL
    )""",
    """CREATE TABLE invoices (
        id BIGINT PRIMARY KEY,
        order_id BIGINT NOT NULL REFERENCES orders (id),
        billing_name VARCHAR(200) NOT NULL,
        billing_cpf VARCHAR(14) NULL,
        amount DECIMAL(12, 2) NOT NULL,
        issued_at DATE NOT NULL
    )""",
    """CREATE TABLE support_tickets (
        id BIGINT PRIMARY KEY,
        customer_id BIGINT NULL REFERENCES customers (id),
        contact_email VARCHAR(254) NULL,
        subject VARCHAR(200) NOT NULL,
        body TEXT NULL,
        opened_at {ts} NOT NULL
    )""",
)
_POSTGRES_INDEXES = (
    "CREATE INDEX ON customers (lower(btrim(email)))",  # the expression locate uses for email identities
    "CREATE INDEX ON orders (customer_id)",
    "CREATE INDEX ON invoices (order_id)",
    "CREATE INDEX ON support_tickets (customer_id)",
    "CREATE INDEX ON support_tickets (lower(btrim(contact_email)))",
)
_MARIADB_ENGINE = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"

MAP_YAML = """\
version: 1
description: {description}
tables:
  customers:
    primary_key: id
    erase: delete_row
    restrict: {{column: blocked, value: true}}
    fields:
      id: {{category: system}}
      email: {{category: contact, identity: email, attribute: email, erase: mask}}
      phone: {{category: contact, identity: {{kind: phone, region: BR}}, attribute: phone, erase: "null"}}
      cpf: {{category: identity, identity: cpf, attribute: cpf, erase: "null"}}
      full_name: {{category: identity, attribute: full_name, erase: mask, mask_value: "***"}}
      birth_date: {{category: demographic, attribute: birth_date, erase: "null"}}
      address: {{category: location, attribute: address, erase: "null"}}
      marketing_opt_in: {{category: behavioural, erase: "null"}}
      blocked: {{category: system}}
      created_at: {{category: system}}
  orders:
    primary_key: id
    erase: delete_row
    fields:
      id: {{category: system}}
      customer_id: {{category: system, references: customers.id}}
      shipping_address: {{category: location, erase: "null"}}
      total: {{category: financial}}
      status: {{category: system}}
      placed_at: {{category: behavioural}}
  invoices:
    primary_key: id
    erase: delete_row
    hold: {{basis: "{tax_basis}", from: issued_at, period: P5Y}}
    fields:
      id: {{category: system}}
      order_id: {{category: system, references: orders.id}}
      billing_name: {{category: identity, attribute: full_name}}
      billing_cpf: {{category: identity}}
      amount: {{category: financial}}
      issued_at: {{category: system}}
  support_tickets:
    primary_key: id
    fields:
      id: {{category: system}}
      customer_id: {{category: system, references: customers.id, erase: "null"}}
      contact_email: {{category: contact, identity: email, attribute: email, erase: mask}}
      subject: {{category: behavioural, erase: mask, mask_value: "[erased]"}}
      body:
        category: behavioural
        erase: "null"
        hold: {{basis: "{claims_basis}", from: opened_at, period: P5Y}}
      opened_at: {{category: system}}
"""


def map_yaml(kind: str) -> str:
    """The dataset map of the source of ``kind`` (the same tables in both engines)."""
    description = "Online shop (PostgreSQL)" if kind == "postgres" else "Help desk and billing (MariaDB)"
    return MAP_YAML.format(description=description, tax_basis=TAX_BASIS, claims_basis=CLAIMS_BASIS)


# ---------------------------------------------------------------- the people


def cpf_with_check_digits(base: str) -> str:
    """The 11 digits of a valid CPF from its first nine."""
    digits = [int(char) for char in base]
    for length in (9, 10):
        total = sum(digit * weight for digit, weight in zip(digits, range(length + 1, 1, -1), strict=True))
        digits.append(0 if total % 11 < 2 else 11 - total % 11)
    return "".join(map(str, digits))


def _formatted_cpf(cpf: str) -> str:
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


@dataclass(frozen=True)
class Person:
    """A seeded person: the identities a request would carry and the ids of every row that is theirs."""

    key: str
    identities: tuple[Identity, ...]
    rows: dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class Cast:
    people: dict[str, Person]
    rows: dict[str, list[tuple[Any, ...]]]


def _cast(today: dt.date) -> Cast:
    """The hand-written people, relative to ``today`` so holds are active or over whatever the date."""
    now = dt.datetime.combine(today, dt.time(12, 0))
    year_ago, six_years_ago = today - dt.timedelta(days=365), today - dt.timedelta(days=6 * 365 + 2)
    maria_cpf = "52998224725"
    joao_cpf = cpf_with_check_digits("012345678")
    customers = [
        # id, email, phone, cpf, full_name, birth_date, address, marketing_opt_in, blocked, created_at
        (1, "maria.silva@example.com", "+5511987654321", _formatted_cpf(maria_cpf), "Maria Silva",
         dt.date(1985, 4, 12), "Rua das Flores 10, São Paulo", True, False, now - dt.timedelta(days=3000)),
        (2, " Maria.Silva@Example.COM ", "(11) 98765-4321", None, "Maria S. Silva",
         None, "Av. Paulista 1000, São Paulo", None, False, now - dt.timedelta(days=400)),
        (3, "maria.silva@other.example", "+55 21 98765-4321", None, "Maria Silva",
         dt.date(1990, 9, 1), "Rua do Catete 5, Rio de Janeiro", False, False, now - dt.timedelta(days=800)),
        (4, "joao.souza@example.com", None, joao_cpf.lstrip("0"), "João Souza",
         dt.date(1979, 1, 30), None, True, False, now - dt.timedelta(days=100)),
        (5, None, "(11) 3456-7890", None, "Ana Lima", None, None, None, False, now - dt.timedelta(days=50)),
    ]  # fmt: skip
    orders = [
        # id, customer_id, shipping_address, total, status, placed_at
        (10, 1, "Rua das Flores 10, São Paulo", Decimal("120.50"), "delivered", now - dt.timedelta(days=365)),
        (11, 1, "Rua das Flores 10, São Paulo", Decimal("89.90"), "delivered", now - dt.timedelta(days=6 * 365 + 2)),
        (12, 2, "Av. Paulista 1000, São Paulo", Decimal("15.00"), "cancelled", now - dt.timedelta(days=30)),
        (13, 3, "Rua do Catete 5, Rio de Janeiro", Decimal("42.00"), "delivered", now - dt.timedelta(days=200)),
        (14, 4, None, Decimal("300.00"), "delivered", now - dt.timedelta(days=90)),
    ]
    invoices = [
        # id, order_id, billing_name, billing_cpf, amount, issued_at
        (100, 10, "Maria Silva", maria_cpf, Decimal("120.50"), year_ago),
        (101, 11, "Maria Silva", maria_cpf, Decimal("89.90"), six_years_ago),
        (102, 13, "Maria Silva", None, Decimal("42.00"), today - dt.timedelta(days=200)),
        (103, 14, "João Souza", joao_cpf, Decimal("300.00"), today - dt.timedelta(days=90)),
    ]
    tickets = [
        # id, customer_id, contact_email, subject, body, opened_at
        (20, 1, "maria.silva@example.com", "Late delivery", "Order 10 has not arrived.", now - dt.timedelta(days=365)),
        (21, None, "MARIA.SILVA@example.com", "Question", "Do you ship to Campinas?", now - dt.timedelta(days=2200)),
        (22, 3, "maria.silva@other.example", "Refund", "Please refund order 13.", now - dt.timedelta(days=150)),
        (23, 5, None, "Call me back", "About my account.", now - dt.timedelta(days=10)),
    ]
    people = {
        "maria": Person(
            "maria",
            (Identity("email", "maria.silva@example.com"),),
            {"customers": (1, 2), "orders": (10, 11, 12), "invoices": (100, 101), "support_tickets": (20, 21)},
        ),
        "maria_other": Person(
            "maria_other",
            (Identity("email", "maria.silva@other.example"),),
            {"customers": (3,), "orders": (13,), "invoices": (102,), "support_tickets": (22,)},
        ),
        "joao": Person(
            "joao",
            (Identity("cpf", joao_cpf),),
            {"customers": (4,), "orders": (14,), "invoices": (103,), "support_tickets": ()},
        ),
        "ana": Person(
            "ana",
            (Identity("phone", "+551134567890"),),
            {"customers": (5,), "orders": (), "invoices": (), "support_tickets": (23,)},
        ),
    }
    rows = {"customers": customers, "orders": orders, "invoices": invoices, "support_tickets": tickets}
    return Cast(people=people, rows=rows)


_FIRST = ("Ana", "Bruno", "Carla", "Diego", "Eduarda", "Felipe", "Gabriela", "Heitor", "Isabela", "João", "Larissa")
_LAST = ("Almeida", "Barbosa", "Costa", "Dias", "Ferreira", "Gomes", "Lima", "Moura", "Oliveira", "Pereira", "Rocha")
_STREETS = ("Rua Augusta", "Av. Brasil", "Rua XV de Novembro", "Av. Atlântica", "Rua da Bahia")
_COLUMNS = {
    "customers": (
        "id",
        "email",
        "phone",
        "cpf",
        "full_name",
        "birth_date",
        "address",
        "marketing_opt_in",
        "blocked",
        "created_at",
    ),
    "orders": ("id", "customer_id", "shipping_address", "total", "status", "placed_at"),
    "invoices": ("id", "order_id", "billing_name", "billing_cpf", "amount", "issued_at"),
    "support_tickets": ("id", "customer_id", "contact_email", "subject", "body", "opened_at"),
}


def _generated(
    today: dt.date, *, customers: int, orders: int, tickets: int, seed: int
) -> dict[str, list[tuple[Any, ...]]]:
    """Filler rows after the cast: deterministic for a seed, about half the orders invoiced over 8 years."""
    rng = random.Random(seed)
    now = dt.datetime.combine(today, dt.time(9, 0))
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _COLUMNS}
    people: list[tuple[int, str, str, str]] = []
    for index in range(customers):
        customer_id = FIRST_GENERATED_ID + index
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        email = f"{name.split(maxsplit=1)[0].lower()}.{customer_id}@example.net"
        spelled = email if index % 7 else f" {email.upper()} "  # some messy spellings, as in life
        phone = f"+55{rng.randint(11, 99)}9{rng.randint(60000000, 99999999)}"
        address = f"{rng.choice(_STREETS)} {rng.randint(1, 3000)}"
        cpf = cpf_with_check_digits(f"{rng.randint(0, 999_999_999):09d}")
        rows["customers"].append((
            customer_id, spelled, phone, _formatted_cpf(cpf) if index % 2 else cpf, name,
            dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 20000)), address, rng.random() < 0.4, False,
            now - dt.timedelta(days=rng.randint(0, 3000)),
        ))  # fmt: skip
        people.append((customer_id, name, address, cpf))
    for index in range(orders if people else 0):
        order_id = FIRST_GENERATED_ID + index
        customer_id, name, address, cpf = rng.choice(people)
        placed_at = now - dt.timedelta(days=rng.randint(0, 8 * 365), minutes=rng.randint(0, 1440))
        total = Decimal(rng.randint(500, 200000)) / 100
        rows["orders"].append((order_id, customer_id, address, total, "delivered", placed_at))
        if index % 2 == 0:
            rows["invoices"].append((order_id, order_id, name, cpf, total, placed_at.date()))
    for index in range(tickets if people else 0):
        ticket_id = FIRST_GENERATED_ID + index
        customer_id, name, _address, _cpf = rng.choice(people)
        email = f"{name.split()[0].lower()}.{customer_id}@example.net"
        linked = index % 5 != 0  # one in five is a guest ticket, found only by its contact email
        rows["support_tickets"].append((
            ticket_id, customer_id if linked else None, email, "Question", f"Ticket text {ticket_id}.",
            now - dt.timedelta(days=rng.randint(0, 8 * 365)),
        ))  # fmt: skip
    return rows


# ---------------------------------------------------------------- databases


@dataclass
class Source:
    """A live source database with its map and its cast; ``drop()`` removes it."""

    kind: str
    database: str
    url: str
    map_text: str
    dataset_map: DatasetMap
    people: dict[str, Person]
    today: dt.date
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return SOURCE_NAMES[self.kind]

    def connector(self, dataset_map: DatasetMap | None = None) -> SqlConnector:
        return SqlConnector(self.name, self.url, dataset_map or self.dataset_map)

    def connect(self) -> Any:
        """A raw connection to the source (autocommit), for the test's own checks and changes."""
        if self.kind == "postgres":
            return psycopg.connect(self.url, autocommit=True)
        return _mariadb_connect(self.url, autocommit=True)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()

    def row(self, table: str, pk: int) -> dict[str, Any] | None:
        """One row as a dict (None when it does not exist); booleans read as bool in both engines."""
        columns = _COLUMNS[table]
        found = self.query(f"SELECT {', '.join(columns)} FROM {table} WHERE id = %s", (pk,))
        if not found:
            return None
        row = dict(zip(columns, found[0], strict=True))
        for column in ("marketing_opt_in", "blocked"):
            if column in row and row[column] is not None:
                row[column] = bool(row[column])
        return row

    def drop(self) -> None:
        _drop_database(self.kind, self.database)


def _mariadb_connect(url: str, *, autocommit: bool) -> pymysql.connections.Connection[Any]:
    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=parts.path.lstrip("/") or None,
        charset="utf8mb4",
        autocommit=autocommit,
        connect_timeout=5,
    )


def _drop_database(kind: str, database: str) -> None:
    if kind == "postgres":
        with psycopg.connect(postgres_url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    else:
        admin = _mariadb_connect(mariadb_url(), autocommit=True)
        try:
            admin.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
        finally:
            admin.close()


def _create_postgres(database: str, tables: dict[str, list[tuple[Any, ...]]]) -> str:
    with psycopg.connect(postgres_url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    url = _with_database(postgres_url(), database)
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        for statement in _DDL:
            cursor.execute(statement.format(ts="TIMESTAMP"))
        for statement in _POSTGRES_INDEXES:
            cursor.execute(statement)
        for table, rows in tables.items():
            with cursor.copy(f"COPY {table} ({', '.join(_COLUMNS[table])}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        cursor.execute("ANALYZE")
    return url


def _create_mariadb(database: str, tables: dict[str, list[tuple[Any, ...]]]) -> str:
    admin = _mariadb_connect(mariadb_url(), autocommit=True)
    try:
        admin.cursor().execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        admin.close()
    url = _with_database(mariadb_url(), database)
    connection = _mariadb_connect(url, autocommit=False)
    try:
        cursor = connection.cursor()
        for statement in _DDL:
            cursor.execute(statement.format(ts="DATETIME") + _MARIADB_ENGINE)
        for table, rows in tables.items():
            placeholders = ", ".join(["%s"] * len(_COLUMNS[table]))
            statement = f"INSERT INTO {table} ({', '.join(_COLUMNS[table])}) VALUES ({placeholders})"
            for start in range(0, len(rows), 5000):
                cursor.executemany(statement, rows[start : start + 5000])  # one multi-row INSERT per batch
        connection.commit()
    finally:
        connection.close()
    return url


def make_source(
    kind: str,
    *,
    customers: int = 0,
    orders: int = 0,
    tickets: int = 0,
    seed: int = 360,
    suffix: str | None = None,
) -> Source:
    """Create and fill a fresh source database of ``kind`` (postgres or mariadb): the cast, then
    ``customers``/``orders``/``tickets`` generated rows. Raises RuntimeError when the server is down."""
    reason = unreachable_reason(kind)
    if reason is not None:
        raise RuntimeError(reason)
    today = dt.datetime.now(tz=dt.UTC).date()
    cast = _cast(today)
    generated = _generated(today, customers=customers, orders=orders, tickets=tickets, seed=seed)
    tables = {table: cast.rows[table] + generated[table] for table in _COLUMNS}
    database = f"c360_src_{SOURCE_NAMES[kind]}_{suffix or f'{os.getpid()}_{secrets.token_hex(3)}'}"
    try:
        url = _create_postgres(database, tables) if kind == "postgres" else _create_mariadb(database, tables)
    except Exception:
        _drop_database(kind, database)
        raise
    text = map_yaml(kind)
    return Source(
        kind=kind,
        database=database,
        url=url,
        map_text=text,
        dataset_map=parse_dataset_map(text),
        people=cast.people,
        today=today,
        counts={table: len(rows) for table, rows in tables.items()},
    )


@contextmanager
def source_database(kind: str, **sizes: int) -> Iterator[Source]:
    """A fresh source for the duration of the block; skips the test when the server is not reachable."""
    require_server(kind)
    source = make_source(kind, **sizes)
    try:
        yield source
    finally:
        source.drop()
