"""Fixtures of the crash tests: a Redis broker of their own, worker processes, and real sources that count
every destructive call they receive."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from c360.lib.history import Actor
from dsar.models import DataSource
from profiles.models import Subject
from profiles.services.subjects import IdentifierInput, subject_create
from tests.dsar.desk import SECRET, SupportDesk, desk_config
from tests.dsar.sources import Source, source_database
from tests.faults.helpers import RedisServer, Workers, answers, broker_purge, database_url

# Every UPDATE and DELETE the shop receives, row by row, written by the database itself.
SHOP_AUDIT = """
CREATE TABLE erasure_audit (
    id BIGSERIAL PRIMARY KEY, tbl TEXT NOT NULL, pk BIGINT NOT NULL, op TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION erasure_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO erasure_audit (tbl, pk, op) VALUES (TG_TABLE_NAME, OLD.id, TG_OP);
    RETURN NULL;
END $$;
"""
AUDITED_TABLES = ("customers", "orders", "invoices", "support_tickets")


class CountingDesk(SupportDesk):
    """The support-desk API of tests/dsar/desk.py, keeping every call it answers (method, path, status)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, int]] = []

    def handle(self, incoming: Request) -> Response:
        response = super().handle(incoming)
        self.calls.append((incoming.method, incoming.path, response.status_code))
        return response

    def deletes(self) -> list[tuple[str, str, int]]:
        return [call for call in self.calls if call[0] == "DELETE"]


@dataclass
class Sources:
    """c360's own store (Maria's subject), a PostgreSQL shop with an audit of writes, an HTTP support desk."""

    subject: Subject
    shop: Source
    desk: CountingDesk
    codes: tuple[str, ...] = field(default=("c360", "desk-api", "shop"))

    def shop_writes(self) -> list[tuple[str, int, str]]:
        return [(table, pk, op) for table, pk, op in self.shop.query("SELECT tbl, pk, op FROM erasure_audit")]


@pytest.fixture(scope="session")
def broker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of the crash tests' own (see tests/faults/helpers.py), or C360_TEST_FAULTS_BROKER_URL."""
    given = os.environ.get("C360_TEST_FAULTS_BROKER_URL")
    if given:
        if not answers(given, 6379):
            pytest.skip(f"nothing answers at C360_TEST_FAULTS_BROKER_URL={given}")
        yield given
        return
    try:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
    except RuntimeError as exc:
        pytest.skip(f"the crash tests need a Redis broker: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def broker(broker_server: str) -> Iterator[str]:
    """Tasks published to the tests' Redis (not run eagerly); emptied before and after."""
    from c360.celery import app

    def forget_connections() -> None:
        # Publishers cache their connection pools: drop them so sending follows the broker set now.
        app._pool = None
        app.amqp._producer_pool = None

    previous = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    broker_purge(broker_server)
    app.conf.update(broker_url=broker_server, task_always_eager=False)
    forget_connections()
    try:
        yield broker_server
    finally:
        app.conf.update(previous)
        forget_connections()
        broker_purge(broker_server)


@pytest.fixture
def workers(transactional_db: None, broker: str, tmp_path: Path) -> Iterator[Workers]:
    """Worker processes on the test database; every one still running is stopped before the database is
    flushed."""
    from django.db import connection

    started = Workers(database_url(connection.settings_dict), broker, tmp_path)
    try:
        yield started
    finally:
        started.kill_all()


@pytest.fixture
def sources(transactional_db: None, httpserver: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sources]:
    with source_database("postgres") as shop:
        with shop.connect() as audit:
            audit.execute(SHOP_AUDIT)
            for table in AUDITED_TABLES:
                audit.execute(
                    f"CREATE TRIGGER {table}_erasure_audit AFTER UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION erasure_audit_row()"
                )
        desk = CountingDesk()
        httpserver.expect_request(re.compile(r"^/api/.*")).respond_with_handler(desk.handle)
        monkeypatch.setenv("C360_TEST_SRC_SHOP", shop.url)
        monkeypatch.setenv("C360_TEST_SRC_API", SECRET)
        subject = subject_create(
            actor=Actor.system("tests"),
            source="crm",
            attributes={"given_name": "Maria", "family_name": "Silva"},
            identifiers=[IdentifierInput("email", "maria.silva@example.com"), IdentifierInput("cpf", "52998224725")],
        )
        DataSource.objects.create(code="c360", name="c360", kind="c360")
        DataSource.objects.create(
            code="shop", name="Loja", kind="postgres", dataset_map=shop.map_text, secret_env="C360_TEST_SRC_SHOP"
        )
        DataSource.objects.create(
            code="desk-api",
            name="Central de ajuda",
            kind="http",
            config=desk_config(httpserver.url_for("/api")),
            secret_env="C360_TEST_SRC_API",
        )
        yield Sources(subject=subject, shop=shop, desk=desk)
