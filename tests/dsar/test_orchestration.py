"""Requests across real sources: c360's store, a PostgreSQL shop, a MariaDB help desk and an HTTP API.

The source databases are created by the tests (customers, orders, invoices, support tickets with foreign
keys) and dropped after; the HTTP source is a real server on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from c360.lib.history import Actor
from dsar.models import DataRequest, DataSource, RequestEvent, RequestTask
from dsar.services import execution
from dsar.services.execution import request_task_retry, request_task_run
from dsar.services.packages import package_download, package_link_issue
from dsar.services.requests import request_create, request_verify
from profiles.models import Subject
from profiles.services.subjects import IdentifierInput, subject_create
from tests.dsar.desk import SECRET, SupportDesk, desk_config
from tests.dsar.sources import TAX_BASIS, closed_port, source_database

pytestmark = pytest.mark.django_db(transaction=True)

DPO = Actor.system("dpo-tests")
MARIA = [{"kind": "email", "value": "maria.silva@example.com"}, {"kind": "cpf", "value": "529.982.247-25"}]


@pytest.fixture
def shop():
    with source_database("postgres") as source:
        yield source


@pytest.fixture
def helpdesk():
    with source_database("mariadb") as source:
        yield source


@pytest.fixture
def desk_api(httpserver):
    desk = SupportDesk()
    httpserver.expect_request(re.compile(r"^/api/.*")).respond_with_handler(desk.handle)
    return desk


@pytest.fixture
def sources(shop, helpdesk, desk_api, httpserver, monkeypatch):
    system_actor = Actor.system("tests")
    monkeypatch.setenv("C360_TEST_SRC_SHOP", shop.url)
    monkeypatch.setenv("C360_TEST_SRC_DESK", helpdesk.url)
    monkeypatch.setenv("C360_TEST_SRC_API", SECRET)
    subject_create(
        actor=system_actor,
        source="crm",
        attributes={"given_name": "Maria", "family_name": "Silva"},
        identifiers=[IdentifierInput("email", "maria.silva@example.com"), IdentifierInput("cpf", "52998224725")],
    )
    DataSource.objects.create(code="c360", name="c360", kind="c360")
    DataSource.objects.create(
        code="shop", name="Loja", kind="postgres", dataset_map=shop.map_text, secret_env="C360_TEST_SRC_SHOP"
    )
    DataSource.objects.create(
        code="desk", name="Atendimento", kind="mysql", dataset_map=helpdesk.map_text, secret_env="C360_TEST_SRC_DESK"
    )
    DataSource.objects.create(
        code="desk-api",
        name="Central de ajuda",
        kind="http",
        config=desk_config(httpserver.url_for("/api")),
        secret_env="C360_TEST_SRC_API",
    )
    return {"shop": shop, "desk": helpdesk, "api": desk_api}


def run(kind: str) -> DataRequest:
    request = request_create(request_type=kind, regimes=["lgpd"], intake_channel="portal", identities=MARIA, actor=DPO)
    request_verify(request_id=request.id, method="portal_session", verified=True, actor=DPO)
    request.refresh_from_db()
    return request


def test_access_finds_the_person_in_every_source_through_the_foreign_keys(sources):
    request = run("access")

    assert request.status == DataRequest.Status.IN_REVIEW
    outcomes = request.summary["sources"]
    assert set(outcomes) == {"c360", "shop", "desk", "desk-api"}
    _, content = package_download(token=package_link_issue(request_id=request.id, actor=DPO), actor=DPO)
    archive = zipfile.ZipFile(io.BytesIO(content))
    for code in ("shop", "desk"):
        records = json.loads(archive.read(f"sources/{code}.json"))
        found = {}
        for record in records:
            found.setdefault(record["collection"], set()).add(record["provenance"].rsplit("#", 1)[1])
        expected = {table: {str(pk) for pk in ids} for table, ids in sources[code].people["maria"].rows.items() if ids}
        assert found == expected  # her rows through the FK graph, and no one else's
        assert all(record["categories"] for record in records)
    api_records = json.loads(archive.read("sources/desk-api.json"))
    assert {record["collection"] for record in api_records} == {"customers", "tickets"}
    assert "Maria" in archive.read("data.csv").decode()


def test_erasure_applies_each_map_keeps_what_the_law_holds_and_a_second_run_changes_nothing(sources):
    first = run("erasure")

    assert first.status == DataRequest.Status.IN_REVIEW
    outcomes = first.summary["sources"]
    assert outcomes["c360"]["actions"] == {"deleted": 1}
    for code in ("shop", "desk"):
        actions = outcomes[code]["actions"]
        assert actions.get("deleted", 0) > 0
        assert actions.get("masked", 0) + actions.get("nulled", 0) > 0
    kept = [item for code in ("shop", "desk") for item in outcomes[code]["kept"]]
    assert any(item["reason"] == TAX_BASIS and item["until"] for item in kept)  # the recent invoice stays
    assert 7 not in sources["api"].customers
    assert Subject.objects.filter(status="erased").count() == 1
    shop = sources["shop"]
    assert shop.query("SELECT count(*) FROM customers WHERE lower(trim(email)) = %s", ["maria.silva@example.com"]) == [
        (0,)
    ]

    second = run("erasure")

    for code, outcome in second.summary["sources"].items():
        changed = {
            action: count for action, count in outcome.get("actions", {}).items() if action not in {"kept", "unchanged"}
        }
        assert changed == {}, code


def test_a_worker_that_dies_after_erasing_is_rerun_without_erasing_twice(sources, monkeypatch):
    DataSource.objects.exclude(code__in=["c360", "shop"]).update(is_active=False)
    real_finish = execution._finish

    def dies_in_the_shop(task, *arguments):
        if task.source.code == "shop":
            raise RuntimeError("worker killed after the erase, before recording it")
        return real_finish(task, *arguments)

    monkeypatch.setattr(execution, "_finish", dies_in_the_shop)
    request = request_create(
        request_type="erasure", regimes=["lgpd"], intake_channel="email", identities=MARIA, actor=DPO
    )
    with pytest.raises(RuntimeError, match="worker killed"):
        request_verify(request_id=request.id, method="staff", verified=True, actor=DPO)
    task = RequestTask.objects.get(request=request, source__code="shop")
    assert task.status == "running"
    assert task.plan  # the plan was committed before the source was touched
    after_crash = sources["shop"].query("SELECT count(*) FROM orders")

    monkeypatch.setattr(execution, "_finish", real_finish)
    request_task_run(task_id=task.pk)  # the broker redelivers the unacknowledged message

    task.refresh_from_db()
    assert task.status == "done"
    assert task.attempts == 2
    assert task.outcome["done_by_earlier_attempt"] > 0
    assert task.outcome["actions"].get("deleted", 0) == 0  # nothing erased twice
    assert sources["shop"].query("SELECT count(*) FROM orders") == after_crash
    notes = list(RequestEvent.objects.filter(request=request, kind="task").values_list("note", flat=True))
    assert "shop: erase attempt 1" in notes
    assert "shop: erase attempt 2" in notes
    assert DataRequest.objects.get(pk=request.id).status == DataRequest.Status.IN_REVIEW


def test_a_source_that_is_down_is_retried_then_reported_while_the_others_complete(sources, monkeypatch, settings):
    settings.C360_DSAR_MAX_ATTEMPTS = 3
    monkeypatch.setenv("C360_TEST_SRC_SHOP", f"postgres://postgres@127.0.0.1:{closed_port()}/nowhere")

    request = run("access")

    tasks = {task.source.code: task for task in RequestTask.objects.filter(request=request).select_related("source")}
    assert tasks["shop"].status == "failed"
    assert tasks["shop"].attempts == 3
    assert tasks["shop"].retryable is True
    assert "shop" in tasks["shop"].error
    assert {code: task.status for code, task in tasks.items() if code != "shop"} == {
        "c360": "done",
        "desk": "done",
        "desk-api": "done",
    }
    assert request.status == DataRequest.Status.IN_PROGRESS  # cannot close with a source unanswered

    monkeypatch.setenv("C360_TEST_SRC_SHOP", sources["shop"].url)  # the source is back
    request_task_retry(task_id=tasks["shop"].pk, actor=DPO)

    tasks["shop"].refresh_from_db()
    assert tasks["shop"].status == "done"
    assert DataRequest.objects.get(pk=request.id).status == DataRequest.Status.IN_REVIEW


def test_rectification_and_restriction_reach_every_source_that_supports_them(sources):
    request = request_create(
        request_type="rectification",
        regimes=["lgpd"],
        intake_channel="portal",
        identities=MARIA,
        details={"corrections": {"email": "maria.nova@example.com", "family_name": "Silva Costa"}},
        actor=DPO,
    )
    request_verify(request_id=request.id, method="portal_session", verified=True, actor=DPO)
    request.refresh_from_db()

    assert request.status == DataRequest.Status.IN_REVIEW
    assert request.summary["sources"]["shop"]["actions"].get("rectified", 0) > 0
    shop = sources["shop"]
    assert shop.query("SELECT count(*) FROM customers WHERE email = %s", ["maria.nova@example.com"])[0][0] > 0
    assert sources["api"].customers[7]["email"] == "maria.nova@example.com"

    restriction = request_create(
        request_type="restriction",
        regimes=["lgpd"],
        intake_channel="portal",
        identities=[{"kind": "cpf", "value": "52998224725"}],
        actor=DPO,
    )
    request_verify(request_id=restriction.id, method="portal_session", verified=True, actor=DPO)
    restriction.refresh_from_db()

    assert restriction.summary["sources"]["c360"]["actions"] == {"restricted": 1}
    assert shop.query("SELECT count(*) FROM customers WHERE blocked")[0][0] > 0
    assert Subject.objects.filter(status="restricted").count() == 1
