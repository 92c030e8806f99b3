"""Data subject requests across four real sources: latency of access and erasure, and a queue drained by workers.

    python bench/dsar.py [--quick] [--customers N] [--orders N] [--tickets N] [--requests N] [--drain N]

Sources, each with the same people: c360's own store (a subject per requester), a PostgreSQL shop and a
MariaDB help desk (``tests/dsar/sources.py``: customers, orders, invoices, support tickets with foreign
keys; 10,000 / 50,000 / 50,000 generated rows by default), and a support-desk HTTP API served by a separate
process on 127.0.0.1 (this file, run with ``--serve-desk``), a few thousand customers with tickets in memory.
Every request names the person by email only, so each source has to locate them itself.

- latency: N access requests, then N erasure requests (each on a different person: erasure destroys), run
  in-process with Celery eager; the time from ``request_verify`` to the request reaching "in review" (every
  source's task done), and the whole call, which also builds the signed access package;
- drain: M access requests verified (4 source tasks each queued on Redis, ``redis://127.0.0.1:6379/14``)
  while two Celery worker processes started here wait with their queue paused; then they consume it: the
  time from that moment until every request is in review (and, apart, from the first verification).

Targets (issue "Data subject requests", 2 cores): access over 4 sources p50 <= 150 ms, erasure p50 <= 400 ms
(Ethyca Fides, same shape with 3 collections: 467 ms and 1,345 ms), 1,000 queued requests drained by two
workers in <= 5 minutes. Every source database and process started here is dropped or stopped at the end;
the c360 database (``c360_bench_dsar``) is kept for inspection. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DATABASE = "c360_bench_dsar"
BROKER = "redis://127.0.0.1:6379/14"
# Bench-only keys (the test settings' fixed keys): these databases hold generated people only.
BENCH_ENV = {
    "C360_KEYRING": "1:oHU1wBN0IdKC9Xqb3DuQKDl7dtzUGYRimqv4eroFEAg=",
    "C360_INDEX_KEY": "HrKSpb61cbhELKlG31I3hEcasnVgr7a0-pt7cBrWKX8=",
    "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "C360_RECEIPT_SIGNING_KEY": "KNOxSFB6lhIG37jt6kpyb2hwleLKy-rJCJbGB2AlMzg=",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
}
DESK_TOKEN = "bench-desk-token-7c1d"  # noqa: S105 (the local desk's bearer token, not a credential)
SECRET_ENVS = {"shop": "C360_BENCH_SRC_SHOP", "helpdesk": "C360_BENCH_SRC_HELPDESK", "support": "C360_BENCH_SRC_API"}
TARGETS = {"access_p50_ms": 150, "erasure_p50_ms": 400, "drain_1000_seconds": 300}
WARM_UP = 2


def _database_url() -> str:
    base = os.environ.get("C360_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    return base.rstrip("/").rsplit("/", 1)[0] + "/" + BENCH_DATABASE if base.count("/") > 3 else base + BENCH_DATABASE


def _say(message: str) -> None:
    print(f"[dsar bench] {message}", file=sys.stderr, flush=True)


def _fresh_database() -> None:
    import psycopg

    admin = _database_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")


def _require_redis() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return
    except OSError:
        raise SystemExit(
            "the drain needs Redis at 127.0.0.1:6379 (the Celery broker, database 14); nothing answers there"
        ) from None


def _percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# ---------------------------------------------------------------- the support-desk API (its own process)


class _DeskHandler(BaseHTTPRequestHandler):
    """Customers with tickets behind a bearer token: search by email (in the body), export, delete."""

    server: _DeskServer
    _ROUTE = re.compile(r"^/api/customers/(\d+)(/tickets)?$")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, data: Any = None) -> None:
        body = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        if data is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.server.token}":
            return True
        self._answer(401, {"error": "unauthorized"})
        return False

    def do_POST(self) -> None:
        if not self._authorised():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path != "/api/customers/search":
            self._answer(404, {"error": "no such route"})
            return
        customer_id = self.server.by_email.get(str(body.get("email", "")).strip().lower())
        customer = self.server.customers.get(customer_id) if customer_id is not None else None
        found = [{"id": customer["id"], "name": customer["name"]}] if customer else []
        self._answer(200, {"customers": found, "total": len(found)})

    def do_GET(self) -> None:
        if not self._authorised():
            return
        route = self._ROUTE.match(self.path)
        customer = self.server.customers.get(int(route.group(1))) if route else None
        if customer is None:
            self._answer(404, {"error": "not found"})
        elif route and route.group(2):
            self._answer(200, {"tickets": self.server.tickets.get(customer["id"], [])})
        else:
            self._answer(200, customer)

    def do_DELETE(self) -> None:
        if not self._authorised():
            return
        route = self._ROUTE.match(self.path)
        customer = self.server.customers.pop(int(route.group(1)), None) if route and not route.group(2) else None
        if customer is None:
            self._answer(404, {"error": "not found"})
            return
        self.server.by_email.pop(customer["email"], None)
        self.server.tickets.pop(customer["id"], None)
        self._answer(204)


class _DeskServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _DeskHandler)
        self.token: str = data["token"]
        self.customers: dict[int, dict[str, Any]] = {item["id"]: item for item in data["customers"]}
        self.by_email = {item["email"]: item["id"] for item in data["customers"]}
        self.tickets: dict[int, list[dict[str, Any]]] = {int(key): value for key, value in data["tickets"].items()}


def serve_desk(data_path: str) -> None:
    """Run the desk until killed; its port is the first line on stdout."""
    server = _DeskServer(json.loads(Path(data_path).read_text()))
    print(server.server_address[1], flush=True)
    server.serve_forever()


def _desk_data(people: list[dict[str, Any]]) -> dict[str, Any]:
    customers, tickets, ticket_id = [], {}, 900_000
    for number, person in enumerate(people):
        desk_id = 50_000 + number  # the desk's own ids, unrelated to the shop's
        customers.append(
            {
                "id": desk_id,
                "name": person["name"],
                "email": person["email"],
                "phone": person["phone"],
                "plan": ("free", "pro", "business")[number % 3],
            }
        )
        tickets[desk_id] = []
        for _ in range(number % 4):
            ticket_id += 1
            tickets[desk_id].append(
                {"id": ticket_id, "subject": "Question about my plan", "body": f"Ticket {ticket_id}: please call me."}
            )
    return {"token": DESK_TOKEN, "customers": customers, "tickets": tickets}


def desk_start(people: list[dict[str, Any]], directory: Path) -> tuple[subprocess.Popen, int, dict[str, int]]:
    data = _desk_data(people)
    path = directory / "desk.json"
    path.write_text(json.dumps(data))
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-desk", str(path)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    line = process.stdout.readline() if process.stdout is not None else ""
    if not line.strip().isdigit():
        _stop(process)
        raise SystemExit("the support-desk API did not start")
    sizes = {"customers": len(data["customers"]), "tickets": sum(len(items) for items in data["tickets"].values())}
    return process, int(line), sizes


def desk_config(port: int) -> dict[str, Any]:
    return {
        "base_url": f"http://127.0.0.1:{port}/api",
        "auth": {"header": "Authorization", "scheme": "Bearer"},
        "allow_private": True,  # the desk runs on 127.0.0.1
        "timeout": {"connect": 2, "read": 10, "total": 15},
        "endpoints": {
            "locate": {
                "method": "POST",
                "path": "/customers/search",
                "by": {"email": {"body": {"email": "{email}"}}},
                "results_path": "$.customers[*]",
                "id_path": "$.id",
                "collection": "customers",
            },
            "export": [
                {
                    "path": "/customers/{id}",
                    "categories": {"name": "identification", "email": "contact", "phone": "contact"},
                    "default_category": "account",
                },
                {
                    "path": "/customers/{id}/tickets",
                    "records_path": "$.tickets[*]",
                    "collection": "tickets",
                    "default_category": "support",
                },
            ],
            "erase": {"method": "DELETE", "path": "/customers/{id}"},
        },
    }


# ---------------------------------------------------------------- processes


def _stop(process: subprocess.Popen, timeout: float = 60) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _log_tail(directory: Path, lines: int = 15) -> str:
    return "\n".join(
        f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        for log in sorted(directory.glob("worker*.log"))
    )


def workers_start(count: int, directory: Path) -> tuple[list[subprocess.Popen], list[str]]:
    """``count`` Celery workers of one process each (prefork, concurrency 1) with this process's env, up and
    answering, but not consuming yet (``add_consumer`` starts them)."""
    from c360.celery import app

    names = [f"dsar-bench{number}@{socket.gethostname()}" for number in range(1, count + 1)]
    workers = []
    for name in names:
        log = (directory / f"worker{len(workers) + 1}.log").open("w")
        workers.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "celery"),
                    "-A",
                    "c360",
                    "worker",
                    "--concurrency=1",
                    f"--hostname={name}",
                    "--loglevel=WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-Q",
                    "celery",
                ],
                cwd=ROOT,
                env=os.environ.copy(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()
    deadline = time.monotonic() + 90
    while True:
        answered = {name for reply in app.control.ping(destination=names, timeout=1.0) for name in reply}
        if set(names) <= answered:
            break
        if time.monotonic() > deadline or any(worker.poll() is not None for worker in workers):
            for worker in workers:
                _stop(worker)
            raise SystemExit(f"the Celery workers did not start\n{_log_tail(directory)}")
        time.sleep(0.5)
    replies = app.control.cancel_consumer("celery", destination=names, reply=True, timeout=5.0)
    if len(replies) != count:
        for worker in workers:
            _stop(worker)
        raise SystemExit(f"the Celery workers did not pause their queue: {replies}")
    return workers, names


# ---------------------------------------------------------------- people and sources


def source_people(shop: Any, count: int) -> list[dict[str, Any]]:
    """The first ``count`` generated customers (ASCII emails), as the sources hold them (same seed in both)."""
    people = []
    rows = shop.query("SELECT id, lower(btrim(email)), full_name, phone FROM customers WHERE id >= 1000 ORDER BY id")
    for customer_id, email, name, phone in rows:
        if email and email.isascii():
            people.append({"customer_id": customer_id, "email": email, "name": name, "phone": phone})
            if len(people) == count:
                return people
    raise SystemExit(f"the sources hold {len(people)} usable customers; {count} are needed (raise --customers)")


def sources_register(shop: Any, helpdesk: Any, desk_port: int) -> None:
    from c360.lib.history import Actor
    from dsar.models import DataSource
    from dsar.services.sources import source_save

    os.environ[SECRET_ENVS["shop"]] = shop.url
    os.environ[SECRET_ENVS["helpdesk"]] = helpdesk.url
    os.environ[SECRET_ENVS["support"]] = DESK_TOKEN
    actor = Actor.system("bench")
    for source in (
        DataSource(code="c360", name="c360 profiles", kind="c360", purposes=["Atendimento"], retention="5 anos"),
        DataSource(
            code="shop", name="Loja", kind="postgres", dataset_map=shop.map_text, secret_env=SECRET_ENVS["shop"]
        ),
        DataSource(
            code="helpdesk",
            name="Atendimento e cobrança",
            kind="mysql",
            dataset_map=helpdesk.map_text,
            secret_env=SECRET_ENVS["helpdesk"],
        ),
        DataSource(
            code="support-api",
            name="Central de ajuda",
            kind="http",
            config=desk_config(desk_port),
            secret_env=SECRET_ENVS["support"],
        ),
    ):
        source_save(source=source, actor=actor)


def subjects_create(people: list[dict[str, Any]]) -> None:
    from c360.lib.history import Actor
    from profiles.services.subjects import IdentifierInput, subject_create

    actor, began = Actor.system("bench"), time.perf_counter()
    for number, person in enumerate(people, start=1):
        given, _, family = person["name"].partition(" ")
        subject_create(
            actor=actor,
            source="crm",
            attributes={"given_name": given, "family_name": family},
            identifiers=[IdentifierInput("email", person["email"])],
        )
        if number % 500 == 0 or number == len(people):
            _say(f"{number:,} c360 subjects ({number / (time.perf_counter() - began):,.0f}/s)")


def _request_create(person: dict[str, Any], kind: str) -> uuid.UUID:
    from c360.lib.history import Actor
    from dsar.services.requests import request_create

    request = request_create(
        request_type=kind,
        regimes=["lgpd"],
        intake_channel="portal",
        identities=[{"kind": "email", "value": person["email"]}],
        contact_email=person["email"],
        requester_name=person["name"],
        actor=Actor.system("bench-portal"),
    )
    return request.id


# ---------------------------------------------------------------- measures


def latency(people: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """Each request verified in-process (Celery eager): ms to "in review", and of the whole verify call."""
    from django.utils import timezone

    from c360.lib.history import Actor
    from dsar.models import DataRequest, RequestEvent
    from dsar.services.requests import request_verify

    staff = Actor.system("bench-dpo")
    to_review, whole, per_source = [], [], {}
    for number, person in enumerate(people):
        request_id = _request_create(person, kind)
        started, began = timezone.now(), time.perf_counter()
        request_verify(request_id=request_id, method="staff", verified=True, actor=staff)
        elapsed = time.perf_counter() - began
        request = DataRequest.objects.prefetch_related("tasks__source").get(pk=request_id)
        if request.status != DataRequest.Status.IN_REVIEW:
            raise SystemExit(f"{kind} request {request.protocol} is {request.status}, not in review")
        missed = sorted(task.source.code for task in request.tasks.all() if not task.outcome.get("located"))
        if missed:
            raise SystemExit(f"{kind} request {request.protocol} did not find the person in {', '.join(missed)}")
        reviewed = RequestEvent.objects.get(request_id=request_id, to_status=DataRequest.Status.IN_REVIEW).at
        if number >= WARM_UP:
            to_review.append((reviewed - started).total_seconds() * 1000)
            whole.append(elapsed * 1000)
            for task in request.tasks.all():
                per_source.setdefault(task.source.code, []).append(
                    (task.finished_at - task.started_at).total_seconds() * 1000
                )
    return {
        "requests": len(to_review),
        "p50_ms": round(statistics.median(to_review), 1),
        "p95_ms": round(_percentile(to_review, 0.95), 1),
        "max_ms": round(max(to_review), 1),
        "call_p50_ms": round(statistics.median(whole), 1),
        "call_p95_ms": round(_percentile(whole, 0.95), 1),
        "source_p50_ms": {code: round(statistics.median(values), 1) for code, values in sorted(per_source.items())},
    }


def drain(people: list[dict[str, Any]], directory: Path, worker_count: int) -> dict[str, Any]:
    """Queue access requests on Redis (verified: 4 source tasks each), then time the workers through them."""
    from django.utils import timezone

    from c360.celery import app
    from c360.lib.history import Actor
    from dsar.models import DataRequest, RequestEvent, RequestTask
    from dsar.services.requests import request_verify

    app.conf.task_always_eager = False
    if purged := app.control.purge():
        _say(f"purged {purged} stale message(s) from {BROKER}")
    ids = [_request_create(person, "access") for person in people]
    _say(f"starting {worker_count} Celery workers on {BROKER}, paused")
    workers, names = workers_start(worker_count, directory)
    try:
        staff = Actor.system("bench-dpo")
        enqueued, began = timezone.now(), time.perf_counter()
        for request_id in ids:
            request_verify(request_id=request_id, method="staff", verified=True, actor=staff)
        enqueue_seconds = time.perf_counter() - began
        _say(f"{len(ids):,} requests verified, {len(ids) * 4:,} tasks queued in {enqueue_seconds:.1f} s; draining")
        started, began = timezone.now(), time.perf_counter()
        app.control.add_consumer("celery", destination=names, reply=True, timeout=5.0)
        deadline, reported = time.monotonic() + max(600, 2 * len(ids)), time.monotonic()
        while True:
            reviewed = DataRequest.objects.filter(pk__in=ids, status=DataRequest.Status.IN_REVIEW).count()
            if reviewed == len(ids):
                break
            failed = RequestTask.objects.filter(request_id__in=ids, status=RequestTask.Status.FAILED).count()
            if failed or time.monotonic() > deadline or any(worker.poll() is not None for worker in workers):
                raise SystemExit(
                    f"drain stopped: {reviewed:,} of {len(ids):,} requests in review, {failed} task(s) failed\n"
                    + _log_tail(directory)
                )
            if time.monotonic() - reported >= 10:
                reported = time.monotonic()
                _say(f"{reviewed:,} of {len(ids):,} in review after {time.perf_counter() - began:.0f} s")
            time.sleep(0.25)
        last = max(
            RequestEvent.objects.filter(request_id__in=ids, to_status=DataRequest.Status.IN_REVIEW).values_list(
                "at", flat=True
            )
        )
        retried = RequestTask.objects.filter(request_id__in=ids, attempts__gt=1).count()
    finally:
        for worker in workers:
            _stop(worker)
        with contextlib.suppress(Exception):  # nothing of this run may wait in the queue for the next one
            app.control.purge()
    return {
        "requests": len(ids),
        "seconds": round((last - started).total_seconds(), 2),
        "enqueue_seconds": round(enqueue_seconds, 2),
        "with_enqueue_seconds": round((last - enqueued).total_seconds(), 2),
        "retried_tasks": retried,
    }


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 requests of each kind, 100 drained")
    parser.add_argument("--customers", type=int, default=10_000, help="generated customers in each SQL source")
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=None, help="access and erasure requests timed (each)")
    parser.add_argument("--drain", type=int, default=None, help="access requests queued for the workers")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes for the drain")
    parser.add_argument("--desk-customers", type=int, default=None, help="customers in the HTTP API")
    parser.add_argument("--serve-desk", metavar="DATA", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_desk:
        serve_desk(args.serve_desk)
        return
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    # A plain kill runs the clean-up too: every source database dropped, every process stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    timed = args.requests or (10 if args.quick else 50)
    drained = args.drain or (100 if args.quick else 1000)
    needed = 2 * (timed + WARM_UP) + drained
    desk_customers = max(args.desk_customers or (2_000 if args.quick else 5_000), needed)

    _require_redis()
    for name, value in BENCH_ENV.items():
        os.environ.setdefault(name, value)
    os.environ["DATABASE_URL"] = _database_url()
    os.environ["DJANGO_SETTINGS_MODULE"] = "c360.settings.base"
    os.environ["CELERY_BROKER_URL"] = BROKER
    directory = Path(tempfile.mkdtemp(prefix="c360-bench-dsar-"))
    os.environ["C360_FILES_DIR"] = str(directory / "files")  # export files and packages, removed at the end
    databases: list[Any] = []
    desk = None
    try:
        _fresh_database()
        import django

        django.setup()
        from django.core.management import call_command

        from c360.celery import app
        from tests.dsar.sources import make_source

        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        sizes = {"customers": args.customers, "orders": args.orders, "tickets": args.tickets}
        for kind in ("postgres", "mariadb"):
            try:
                databases.append(make_source(kind, **sizes, suffix=f"bench_{os.getpid()}"))
            except RuntimeError as exc:  # the server is down
                raise SystemExit(str(exc)) from None
            _say(f"{kind} source {databases[-1].database}: {databases[-1].counts}")
        shop, helpdesk = databases
        people = source_people(shop, desk_customers)
        desk, desk_port, desk_sizes = desk_start(people, directory)
        _say(f"support-desk API on 127.0.0.1:{desk_port}: {desk_sizes}")
        sources_register(shop, helpdesk, desk_port)
        subjects_create(people[:needed])
        seed_seconds = time.perf_counter() - began

        access_people = people[: timed + WARM_UP]
        erasure_people = people[timed + WARM_UP : needed - drained]
        app.conf.task_always_eager = True
        _say(f"latency: {timed} access requests, 4 sources, eager")
        access = latency(access_people, "access")
        _say(f"access p50 {access['p50_ms']} ms; latency: {timed} erasure requests")
        erasure = latency(erasure_people, "erasure")
        _say(f"erasure p50 {erasure['p50_ms']} ms; drain: {drained:,} access requests")
        queue = drain(people[needed - drained : needed], directory, args.workers)
    finally:
        if desk is not None:
            _stop(desk)
        for database in databases:
            database.drop()
        shutil.rmtree(directory, ignore_errors=True)

    drain_1000 = queue["seconds"] * 1000 / queue["requests"]
    results: dict[str, Any] = {
        "bench": "dsar",
        "quick": args.quick,
        "sql_source_rows": shop.counts,
        "http_source": desk_sizes,
        "c360_subjects": needed,
        "seed_seconds": round(seed_seconds, 1),
        "sources": 4,
        "access_requests": access["requests"],
        "access_p50_ms": access["p50_ms"],
        "access_p95_ms": access["p95_ms"],
        "access_max_ms": access["max_ms"],
        "access_with_package_p50_ms": access["call_p50_ms"],
        "access_with_package_p95_ms": access["call_p95_ms"],
        "access_source_p50_ms": access["source_p50_ms"],
        "erasure_requests": erasure["requests"],
        "erasure_p50_ms": erasure["p50_ms"],
        "erasure_p95_ms": erasure["p95_ms"],
        "erasure_max_ms": erasure["max_ms"],
        "erasure_source_p50_ms": erasure["source_p50_ms"],
        "drain_requests": queue["requests"],
        "drain_workers": args.workers,
        "drain_seconds": queue["seconds"],
        "drain_enqueue_seconds": queue["enqueue_seconds"],
        "drain_with_enqueue_seconds": queue["with_enqueue_seconds"],
        "drain_retried_tasks": queue["retried_tasks"],
        "drain_1000_seconds": round(drain_1000, 1),
        "drain_1000_projected": queue["requests"] != 1000,
    }
    results["meets_targets"] = {name: results[name] <= limit for name, limit in TARGETS.items()}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
