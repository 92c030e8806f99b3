"""A real Celery worker killed with SIGKILL at each step of an erasure and of an access request, then restarted.

Each worker is its own process (``celery -A c360 worker --pool=solo`` on Redis), armed with failpoints
(``c360.lib.faults``): it kills itself there as the kernel would, with no chance to roll back, acknowledge
or clean up. Redis hands the unacknowledged message out again to the next worker (the visibility timeout
is 1 s here); when the broker lost the messages, the beat's sweeper queues the work again. After the last
restart:

- the request reaches the state it should (in review; an access request with its one signed package) and
  the DPO completes it; no task is left running;
- no source is erased twice: the shop's own triggers saw each of its rows written at most once, the HTTP
  desk got one DELETE, c360's store crypto-shredded the subject once, and the run after the crash says
  what the killed attempt had done;
- the audit trail is complete: one "attempt" event per run of a task, one "done" per source, one
  transition to review, one package.

A chain kills the worker once per step, so one request goes through every kill in turn: cheaper than one
request per step (each worker takes seconds to start), and harder, since the recoveries pile up.
``bench/faults.py`` runs the full matrix (every step in every source, one kill per request).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import psycopg
import pytest
import redis
import time_machine
from django.db import connection
from django.utils import timezone

from c360.lib.history import Actor
from dsar.models import DataRequest, ExportPackage, RequestEvent, RequestTask
from dsar.services.execution import _claim_key, request_task_run, requests_recover_stale
from dsar.services.packages import package_download, package_link_issue
from dsar.services.requests import request_complete, request_create, request_verify
from tests.faults.helpers import Workers, broker_idle, broker_purge, database_url, wait_until

if TYPE_CHECKING:
    from tests.faults.conftest import Sources

pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.django_db(transaction=True)]

DPO = Actor.system("dpo-tests")
MARIA = [{"kind": "email", "value": "maria.silva@example.com"}, {"kind": "cpf", "value": "529.982.247-25"}]
# The steps a task's run goes through: a kill there leaves the task running, and its next run counts.
RUN_STEPS = ("dsar.task.started", "dsar.task.located", "dsar.task.planned", "dsar.task.acted")
# One worker killed per step. "STEP.*": that step in every source in turn, one worker each, armed in the
# sources not yet killed there. "located" leaves what "started" leaves (nothing is recorded in between) and
# "package.committed" what "finished" leaves (a done task's message delivered again): bench/faults.py
# kills at those too, in every source.
CHAINS = {
    "erasure": ["dsar.task.started", "dsar.task.acted.*", "dsar.task.finished"],
    "access": ["dsar.task.planned", "dsar.package.start", "dsar.package.written"],
}
Status = RequestTask.Status


def file_request(kind: str) -> DataRequest:
    """A request verified by staff: its source tasks are queued on the broker when the verification commits."""
    request = request_create(request_type=kind, regimes=["lgpd"], intake_channel="email", identities=MARIA, actor=DPO)
    return request_verify(request_id=request.id, method="staff", verified=True, actor=DPO)


def tasks_of(request: DataRequest) -> dict[str, RequestTask]:
    return {task.source.code: task for task in RequestTask.objects.filter(request=request).select_related("source")}


def kill_at(workers: Workers, request: DataRequest, failpoints: Sequence[str]) -> str | None:
    """Start a worker armed with ``failpoints`` and wait for it to die at one. Returns the source whose run it
    cut (None when it died after the task was recorded: in the join or the package)."""
    before = {code: task.attempts for code, task in tasks_of(request).items()}
    workers.start(*failpoints).wait_killed()
    cut = [
        code
        for code, task in tasks_of(request).items()
        if task.status == Status.RUNNING and task.attempts > before[code]
    ]
    assert len(cut) <= 1, cut  # one process, one task at a time: only the one it was running
    return cut[0] if cut else None


def run_chain(
    workers: Workers, request: DataRequest, chain: Sequence[str], codes: Sequence[str]
) -> tuple[Counter[str], set[str]]:
    """Kill a worker at each step of ``chain``; how many runs of each source's task were cut, and after acting."""
    cut: Counter[str] = Counter()
    cut_after_acting: set[str] = set()
    for step in chain:
        if step.endswith(".*"):
            name = step.removesuffix(".*")
            remaining = list(codes)
            while remaining:
                code = kill_at(workers, request, [f"{name}.{code}" for code in remaining])
                assert code in remaining, (name, code, remaining)
                remaining.remove(code)
                cut[code] += 1
                if name == "dsar.task.acted":
                    cut_after_acting.add(code)
            continue
        code = kill_at(workers, request, [step])
        if step in RUN_STEPS:
            assert code is not None, f"the worker died at {step} without a task running"
            cut[code] += 1
            if step == "dsar.task.acted":
                cut_after_acting.add(code)
        else:
            assert code is None, f"the worker died at {step} with {code} running"
    return cut, cut_after_acting


def settled(request: DataRequest, broker_url: str) -> bool:
    """Every source answered, the request is in review (with its package for an access request) and the
    broker has nothing left to deliver."""
    request.refresh_from_db()
    if request.status != DataRequest.Status.IN_REVIEW:
        return False
    if any(task.status != Status.DONE for task in tasks_of(request).values()):
        return False
    if request.operation == "export" and not ExportPackage.objects.filter(request=request).exists():
        return False
    return broker_idle(broker_url)


def assert_trail_complete(request: DataRequest, cut: Counter[str]) -> None:
    events = list(RequestEvent.objects.filter(request=request).values_list("kind", "note", "to_status"))
    for code, task in tasks_of(request).items():
        assert task.status == Status.DONE, code
        assert task.attempts == 1 + cut[code], (code, task.attempts, cut)
        runs = [note for kind, note, _ in events if kind == "task" and note.startswith(f"{code}: ")]
        assert runs == [f"{code}: {task.operation} attempt {number}" for number in range(1, task.attempts + 1)]
        done = [note for kind, note, _ in events if kind == "task_done" and note.startswith(f"{code}: ")]
        assert done == [f"{code}: {task.operation}"], (code, done)
    transitions = [to for kind, _, to in events if kind == "transition"]
    assert transitions == ["awaiting_verification", "in_progress", "in_review"]
    assert not [note for kind, note, _ in events if kind == "task_failed"]


def assert_erased_once(sources: Sources, request: DataRequest, cut_after_acting: set[str]) -> None:
    # c360's store: the subject crypto-shredded once (one history row records the erasure).
    assert sources.subject.history.filter(status="erased").count() == 1
    # The HTTP desk: Maria's account deleted by one call; João's is still there.
    assert [(method, path) for method, path, _ in sources.desk.deletes()] == [("DELETE", "/api/customers/7")]
    assert 7 not in sources.desk.customers
    assert 8 in sources.desk.customers
    # The shop: each row written (deleted, nulled, masked) at most once, and only Maria's.
    writes = sources.shop_writes()
    per_row = Counter((table, pk) for table, pk, _ in writes)
    assert writes
    assert max(per_row.values()) == 1, per_row
    maria = sources.shop.people["maria"].rows
    assert all(pk in maria[table] for table, pk in per_row), per_row
    email = "maria.silva@example.com"
    assert sources.shop.query("SELECT count(*) FROM customers WHERE lower(trim(email)) = %s", [email]) == [(0,)]
    # A run after a crash that followed the erasure says so, and changed nothing itself.
    for code, task in tasks_of(request).items():
        actions = task.outcome.get("actions", {})
        changed = {action: count for action, count in actions.items() if action not in {"kept", "unchanged"}}
        if code in cut_after_acting:
            assert task.outcome.get("done_by_earlier_attempt", 0) > 0, (code, task.outcome)
            assert changed == {}, (code, task.outcome)
        else:
            assert changed, (code, task.outcome)


def assert_one_package(sources: Sources, request: DataRequest) -> None:
    assert ExportPackage.objects.filter(request=request).count() == 1
    assert RequestEvent.objects.filter(request=request, kind="package").count() == 1
    _, content = package_download(token=package_link_issue(request_id=request.id, actor=DPO), actor=DPO)
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert {"sources/c360.json", "sources/shop.json", "sources/desk-api.json"} <= set(archive.namelist())
    found: dict[str, set[str]] = {}
    for record in json.loads(archive.read("sources/shop.json")):
        found.setdefault(record["collection"], set()).add(record["provenance"].rsplit("#", 1)[1])
    expected = {table: {str(pk) for pk in ids} for table, ids in sources.shop.people["maria"].rows.items() if ids}
    assert found == expected  # her rows, once each, although the export ran more than once
    # An access request changes nothing anywhere.
    assert sources.desk.deletes() == []
    assert sources.shop_writes() == []


@pytest.mark.parametrize("kind", ["erasure", "access"])
def test_a_request_whose_worker_is_killed_at_every_step_completes_once(kind, sources, workers):
    request = file_request(kind)

    cut, cut_after_acting = run_chain(workers, request, CHAINS[kind], sources.codes)
    workers.start()
    wait_until(
        lambda: settled(request, workers.broker_url),
        timeout=60,
        what=f"the {kind} request to settle after the last restart",
    )

    assert_trail_complete(request, cut)
    if kind == "erasure":
        assert_erased_once(sources, request, cut_after_acting)
    else:
        assert_one_package(sources, request)
    completed = request_complete(request_id=request.id, actor=DPO, note="answered")
    assert completed.status == DataRequest.Status.COMPLETED


def test_work_whose_messages_the_broker_lost_is_queued_again_by_the_sweeper(sources, workers):
    request = file_request("erasure")
    killed = kill_at(workers, request, ["dsar.task.acted"])  # the first source's erasure, then the kill
    assert killed is not None
    broker_purge(workers.broker_url)  # and the broker loses everything: the unacknowledged message, the queue

    workers.start(beat=True, C360_DSAR_STALE_SECONDS="1", C360_DSAR_SWEEP_SECONDS="1")
    wait_until(lambda: settled(request, workers.broker_url), timeout=60, what="the sweeper to recover the request")

    recoveries = list(RequestEvent.objects.filter(request=request, kind="recovery").values_list("note", "data"))
    assert recoveries
    queued = {task for _, data in recoveries for task in data["tasks"]}
    assert queued == {task.pk for task in tasks_of(request).values()}  # the running one and the lost ones
    assert_trail_complete(request, Counter({killed: 1}))
    assert_erased_once(sources, request, {killed})


def test_a_task_that_a_live_worker_holds_is_not_run_by_a_second_delivery(sources, broker):
    request = file_request("erasure")  # queued, and no worker consumes it
    task = tasks_of(request)["desk-api"]

    with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as other_worker:
        other_worker.execute("SELECT pg_advisory_lock(%s)", [_claim_key(task.pk)])
        second = request_task_run(task_id=task.pk)  # a duplicate message while the holder runs the task

        assert (second.status, second.attempts) == (Status.PENDING, 0)
        assert sources.desk.calls == []
        assert not RequestEvent.objects.filter(request=request, kind="task").exists()

    rerun = request_task_run(task_id=task.pk)  # the holder is gone (its connection closed): free to run

    assert (rerun.status, rerun.attempts) == (Status.DONE, 1)
    assert len(sources.desk.deletes()) == 1


def test_the_sweeper_queues_only_what_is_stuck_and_joins_what_was_left_unjoined(sources, broker, settings):
    settings.C360_DSAR_STALE_SECONDS = 600
    settings.C360_DSAR_RETRY_BASE_SECONDS = 30
    request = file_request("erasure")  # three messages queued, no worker
    tasks = tasks_of(request)
    verified_at = timezone.now()
    queue = redis.Redis.from_url(broker)

    assert requests_recover_stale() == {"requests": 0, "tasks": 0}  # just verified: nothing is stuck

    # desk-api is running in a live worker; the shop failed five times and waits for its backoff (8 minutes).
    RequestTask.objects.filter(pk=tasks["desk-api"].pk).update(status=Status.RUNNING, attempts=1)
    RequestTask.objects.filter(pk=tasks["shop"].pk).update(attempts=5, finished_at=verified_at)
    with (
        psycopg.connect(database_url(connection.settings_dict), autocommit=True) as live_worker,
        time_machine.travel(verified_at + dt.timedelta(minutes=11), tick=False),
    ):
        live_worker.execute("SELECT pg_advisory_lock(%s)", [_claim_key(tasks["desk-api"].pk)])

        assert requests_recover_stale() == {"requests": 1, "tasks": 1}
        assert requests_recover_stale() == {"requests": 0, "tasks": 0}  # its "recovery" event restarts the clock

    recovery = RequestEvent.objects.get(request=request, kind="recovery")
    assert recovery.data == {"tasks": [tasks["c360"].pk]}
    assert queue.llen("celery") == 4  # the three of the verification, and c360's again

    # Every source answered, but the worker died before the join: the sweeper joins it.
    RequestTask.objects.filter(request=request).update(status=Status.DONE)
    with time_machine.travel(verified_at + dt.timedelta(minutes=30), tick=False):
        assert requests_recover_stale() == {"requests": 1, "tasks": 0}

    request.refresh_from_db()
    assert request.status == DataRequest.Status.IN_REVIEW
    assert queue.llen("celery") == 4
