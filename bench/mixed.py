"""Consent checks at a fixed rate while erasures run through the DSAR workflow: does the check hold up?

    python bench/mixed.py [--quick] [--rate R] [--duration S] [--connections C] [--erasures N] [--subjects N]
                          [--database NAME] [--reuse]

The database, server and load come from ``bench/consent.py`` (imported from there, not copied): N subjects
with an email, their own data key and three consent states; gunicorn on 127.0.0.1 and one Celery worker
process (concurrency 1) on Redis. Two windows of single checks (``POST /api/v1/consent/check``) at a fixed
rate R (default 2,000/s, the consent issue's target) over C connections, each S seconds:

- unloaded: the checks alone (the worker idle);
- loaded: the same checks while N erasure requests (default 100) run the real workflow: created and verified
  with ``dsar.services.requests`` before the windows (c360's own store is the only source), their source
  tasks waiting on Redis while the worker's queue is paused; the queue is resumed as the window opens and
  the worker runs them one at a time: locate by email, crypto-shred, suppress the addresses, join.

A share of the checks (``--hot-share``, default 5%) asks about the people being erased, so checks and
erasures meet on the same rows. After the drain every erased address is checked once more and must be
refused (ERASED or SUPPRESSED).

The rate: wrk has no rate option, so each wrk thread keeps a schedule in Lua (``delay()``, called before
every request, waits until the thread's next slot; slots 1000 * threads / R ms apart). wrk times a request
from the moment it is sent, so when the server cannot keep up the wait for a slot (the queue) is not in the
latency: the achieved rate is reported next to the target, and ``rate_met`` says whether it was held.

Databases: the full size reuses ``c360_bench_consent`` (1,000,000 subjects, seeded by ``bench/consent.py
--seed-only``) and never drops it; it refuses to run when that database holds another number of subjects.
Each run erases N more of its people (subject rows stay, as tombstones, so ``bench/consent.py --reuse``
still finds it seeded). ``--quick`` uses its own ``c360_bench_mixed`` with 20,000 subjects.

Target (issue #8, item 5): loaded p99 <= 2 x unloaded p99, no check or erasure error, every erasure
completed (every source answered: the request is in review; the DPO's sign-off is not part of it) and
refused afterwards. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import http.client
import importlib.util
import json
import os
import random
import signal
import statistics
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _consent_bench() -> ModuleType:
    """bench/consent.py, loaded by path (bench/ is not a package; the name avoids the ``consent`` app)."""
    spec = importlib.util.spec_from_file_location("c360_bench_consent", Path(__file__).with_name("consent.py"))
    if spec is None or spec.loader is None:
        raise SystemExit("bench/consent.py is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


consent_bench = _consent_bench()

SHARED_DATABASE = consent_bench.BENCH_DATABASE  # seeded by bench/consent.py: never dropped here
QUICK_DATABASE = "c360_bench_mixed"
BROKER = "redis://127.0.0.1:6379/13"  # this bench's own queue: purged before and after a run
TARGET_RATE = 2000  # checks/s (issue "Consent ledger")
TARGET_RATIO = 2.0
WRK_THREADS = 2  # bench/consent.py's _wrk runs min(2, connections) threads
ERASED_REASONS = {"ERASED", "SUPPRESSED"}

# Appended to bench/consent.py's check script: a fixed rate, and a share of the checks on the erased people.
# wrk calls delay() (ms) before each request of a connection; it does not say which connection, so the
# schedule is the thread's (its connections take its slots in turn). Wall time through LuaJIT's FFI.
_RATE_LUA = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} c360_timespec;
int clock_gettime(int clock_id, c360_timespec *tp);
]]
local clock = ffi.new("c360_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
local spacing_ms = {spacing_ms}
local next_slot = nil
function delay()
  local now = now_ms()
  next_slot = next_slot or now
  local wait = next_slot - now
  next_slot = next_slot + spacing_ms
  if wait <= 0 then return 0 end
  return math.floor(wait + 0.5)
end

local hot = {{ {hot} }}
local hot_share = {hot_share}
local uniform_request = request
function request()
  if #hot > 0 and math.random() < hot_share then
    local pair = pairs_[math.random(1, #pairs_)]
    local body = string.format('{{"recipient":{{"email":"{email}"}},"purpose":"%s","channel":"%s"}}',
      hot[math.random(1, #hot)], pair[1], pair[2])
    return wrk.format("POST", "/api/v1/consent/check", headers, body)
  end
  return uniform_request()
end
"""


def _say(message: str) -> None:
    print(f"[mixed bench] {message}", file=sys.stderr, flush=True)


def check_script(*, key: str, population: int, rate: float, connections: int, hot: list[int], hot_share: float) -> str:
    """bench/consent.py's single-check script, held to ``rate`` checks/s, ``hot_share`` of them on ``hot``."""
    threads = min(WRK_THREADS, connections)
    pairs = ", ".join(f'{{"{code}", "{channel}"}}' for code, channel in consent_bench.PAIRS)
    rate_lua = _RATE_LUA.format(
        spacing_ms=f"{1000 * threads / rate:.6f}",
        hot=", ".join(str(number) for number in hot),
        hot_share=hot_share,
        email=consent_bench.EMAIL.replace("{}", "%d"),
    )
    return consent_bench._CHECK_LUA.format(
        population=population, pairs=pairs, key=key, done=rate_lua + consent_bench._DONE_LUA
    )


# ---------------------------------------------------------------- database and people


def _subject_count(database: str) -> int | None:
    """Subjects in ``database``; None when it does not exist or holds no c360 schema."""
    import psycopg

    url = consent_bench._database_url(database)
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            return None
    with psycopg.connect(url) as connection:
        try:
            row = connection.execute("SELECT count(*) FROM profiles_subject").fetchone()
        except psycopg.Error:
            return None
    return int(row[0]) if row else None


def database_prepare(database: str, subjects: int, reuse: bool) -> bool:
    """bench/consent.py's database logic; True when seeding is needed. The shared one is only ever reused."""
    if database == SHARED_DATABASE:
        found = _subject_count(database)
        if found != subjects:
            held = f"{found:,} subjects" if found is not None else "no c360 data"
            raise SystemExit(
                f"{database} holds {held}, not {subjects:,}; this bench never drops or reseeds it: pass "
                "--subjects with its size, or --database another name (seeded here at --subjects)"
            )
        reuse = True
    return consent_bench._fresh_database(subjects, reuse, database)


def erasure_people(count: int, population: int, rng: random.Random) -> list[int]:
    """``count`` active subjects of the seeded population (the numbers in their emails), drawn at random;
    people erased by an earlier run hold no identifier any more and are passed over."""
    from profiles.models import Subject
    from profiles.selectors import subjects_by_identifier

    chosen: list[int] = []
    for _ in range(count * 50):
        if len(chosen) == count:
            break
        number = rng.randrange(population)
        if number in chosen:
            continue
        subject = subjects_by_identifier(kind="email", value=consent_bench.EMAIL.format(number)).first()
        if subject is not None and subject.status == Subject.Status.ACTIVE:
            chosen.append(number)
    if len(chosen) < count:
        raise SystemExit(f"found {len(chosen)} active subjects to erase, {count} needed: seed a larger database")
    return chosen


def source_register() -> None:
    """c360's own store as the one active source (as bench/dsar.py registers it)."""
    from c360.lib.history import Actor
    from dsar.models import DataSource
    from dsar.services.sources import source_save

    others = DataSource.objects.filter(is_active=True).exclude(code="c360").values_list("code", flat=True)
    if others:
        raise SystemExit(f"other active sources in this database ({', '.join(others)}): erasures would reach them")
    if not DataSource.objects.filter(code="c360", kind="c360", is_active=True).exists():
        source = DataSource(
            code="c360", name="c360 profiles", kind="c360", purposes=["Atendimento"], retention="5 anos"
        )
        source_save(source=source, actor=Actor.system("bench"))


def erasures_create(numbers: list[int]) -> list[uuid.UUID]:
    """Erasure requests waiting for verification, one per person, each naming them by email only."""
    from c360.lib.history import Actor
    from dsar.services.requests import request_create

    actor = Actor.system("bench-portal")
    return [
        request_create(
            request_type="erasure",
            regimes=["lgpd"],
            intake_channel="portal",
            identities=[{"kind": "email", "value": consent_bench.EMAIL.format(number)}],
            actor=actor,
        ).id
        for number in numbers
    ]


def erasures_start(ids: list[uuid.UUID]) -> float:
    """Verify every request: each queues its source task on Redis (the worker's queue is paused). Seconds."""
    from c360.lib.history import Actor
    from dsar.services.requests import request_verify

    staff, began = Actor.system("bench-dpo"), time.perf_counter()
    for request_id in ids:
        request_verify(request_id=request_id, method="staff", verified=True, actor=staff)
    return time.perf_counter() - began


def erasures_wait(ids: list[uuid.UUID], timeout: float) -> None:
    """Until every request is in review (every source answered), a task failed, or ``timeout`` passed."""
    from dsar.models import DataRequest, RequestTask

    deadline, reported = time.monotonic() + timeout, time.monotonic()
    while time.monotonic() < deadline:
        done = DataRequest.objects.filter(pk__in=ids, status=DataRequest.Status.IN_REVIEW).count()
        if done == len(ids):
            return
        if RequestTask.objects.filter(request_id__in=ids, status=RequestTask.Status.FAILED).exists():
            return
        if time.monotonic() - reported >= 10:
            reported = time.monotonic()
            _say(f"{done} of {len(ids)} erasures in review")
        time.sleep(0.25)


def erasures_outcome(ids: list[uuid.UUID], began: dt.datetime, window_end: dt.datetime) -> dict[str, Any]:
    """What the worker did: completed (in review), when, failures and retries, the c360 task's own time."""
    from dsar.models import DataRequest, RequestEvent, RequestTask

    reviewed = list(
        RequestEvent.objects.filter(request_id__in=ids, to_status=DataRequest.Status.IN_REVIEW).values_list(
            "at", flat=True
        )
    )
    completed = DataRequest.objects.filter(pk__in=ids, status=DataRequest.Status.IN_REVIEW).count()
    tasks = RequestTask.objects.filter(request_id__in=ids)
    spans = list(tasks.filter(status=RequestTask.Status.DONE).values_list("started_at", "finished_at"))
    task_ms = [(finished - started).total_seconds() * 1000 for started, finished in spans]
    # The worker's busy share: its tasks' own time over the span from the first start to the last finish (close
    # to 1 when it has a core to itself; lower when it runs at a low priority on cores the checks keep busy).
    span_s = (max(f for _, f in spans) - min(s for s, _ in spans)).total_seconds() if spans else 0
    failed = tasks.filter(status=RequestTask.Status.FAILED).count()
    return {
        "completed": completed,
        "completed_in_window": sum(1 for at in reviewed if at <= window_end),
        "drain_s": round((max(reviewed) - began).total_seconds(), 2) if completed == len(ids) else None,
        "errors": {
            "not_completed": len(ids) - completed,
            "never_started": tasks.filter(status=RequestTask.Status.PENDING, attempts=0).count(),
            "failed_tasks": failed,
            "retried_tasks": tasks.filter(attempts__gt=1).count(),
        },
        "task_p50_ms": round(statistics.median(task_ms), 1) if task_ms else None,
        "busy_share": round(sum(task_ms) / 1000 / span_s, 3) if span_s else None,
    }


def erased_answers(port: int, key: str, numbers: list[int]) -> dict[str, Any]:
    """Each erased address checked once more (first pair of the mix): refused, for erasure or suppression?"""
    code, channel = consent_bench.PAIRS[0]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    refused, reasons, statuses = 0, Counter[str](), Counter[str]()
    for number in numbers:
        body = {"recipient": {"email": consent_bench.EMAIL.format(number)}, "purpose": code, "channel": channel}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("POST", "/api/v1/consent/check", body=json.dumps(body), headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read() or b"{}")
        except OSError as exc:  # counted: a check that got no answer is an error of the run
            statuses[type(exc).__name__] += 1
            continue
        finally:
            connection.close()
        statuses[str(response.status)] += 1
        if response.status == 200:
            reasons.update(answer["reasons"])
            refused += not answer["allowed"] and bool(ERASED_REASONS & set(answer["reasons"]))
    return {"checked": len(numbers), "refused": refused, "reasons": dict(reasons), "statuses": dict(statuses)}


# ---------------------------------------------------------------- load


def _worker_ready(timeout: float) -> None:
    """serving() waits for the web server only: wait for its Celery worker too, so neither window includes
    its start, and make sure it is the only one on this broker (another would take the erasure tasks)."""
    from c360.celery import app

    deadline = time.monotonic() + timeout
    while True:
        # A connection of its own, closed after: a pooled one would keep waiting for late replies. The
        # ping collects every reply for a second, so a second worker on the broker answers too.
        with app.connection_for_write() as connection:
            replies = app.control.ping(timeout=1.0, connection=connection)
        if replies:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"the Celery worker on {app.conf.broker_url} did not answer within {timeout:.0f} s")
    if len(replies) != 1:
        workers = ", ".join(sorted(name for reply in replies for name in reply))
        raise SystemExit(
            f"{len(replies)} Celery workers consume {app.conf.broker_url} ({workers}): "
            "pass --broker with a Redis database of this run's own"
        )


def _worker_nice() -> int | None:
    """The nice value the worker's pool processes run at, read from /proc (None where there is none)."""
    from c360.celery import app

    with app.connection_for_write() as connection:
        stats = app.control.inspect(timeout=2.0, connection=connection).stats() or {}
    pids = [pid for reply in stats.values() for pid in reply.get("pool", {}).get("processes", [])]
    values = []
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            values.append(int(fields[16]))  # field 19 of proc(5), counted after the command name
    return min(values) if values else None


def _consuming(consume: bool) -> None:
    """Pause or resume the worker's queue: the erasure tasks wait on Redis until the loaded window opens."""
    from c360.celery import app

    with app.connection_for_write() as connection:
        command = app.control.add_consumer if consume else app.control.cancel_consumer
        replies = command("celery", reply=True, timeout=5.0, connection=connection)
    if len(replies) != 1:
        raise SystemExit(f"the Celery worker did not {'resume' if consume else 'pause'} its queue: {replies}")


def _purge() -> int:
    from c360.celery import app

    with app.connection_for_write() as connection:
        return app.control.purge(connection=connection)


def _window(figures: dict[str, Any], rate: float) -> dict[str, Any]:
    return {
        "requests": figures["requests"],
        "achieved_per_s": round(figures["per_s"]),
        "rate_share": round(figures["per_s"] / rate, 3),
        "p50_ms": round(figures["p50_us"] / 1000, 2),
        "p90_ms": round(figures["p90_us"] / 1000, 2),
        "p99_ms": round(figures["p99_us"] / 1000, 2),
        "max_ms": round(figures["max_us"] / 1000, 2),
        "non_2xx": figures["non_2xx"],
        "socket_errors": figures["socket_errors"],
    }


def _loaded_window(
    script: str, port: int, connections: int, duration: int
) -> tuple[dict[str, Any], dt.datetime, dt.datetime]:
    """The check load in a thread; the worker's queue (the erasure tasks) resumed as it opens. Returns the
    wrk figures and the window's start and end (this host's clock, as the requests' events)."""
    from django.utils import timezone

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        began = timezone.now()
        load = pool.submit(consent_bench._wrk, script, port, connections, duration)
        _consuming(True)
        figures = load.result()  # wrk's own failure is raised here
        ended = timezone.now()
    return figures, began, ended


def run(
    *,
    subjects: int,
    database: str,
    rate: float,
    duration: int,
    connections: int,
    erasures: int,
    hot_share: float = 0.05,
    warmup: int = 3,
    workers: int = 2,
    threads: int = 8,
    server: str = "gunicorn",
    reuse: bool = False,
    broker: str = BROKER,
    drain_timeout: float = 600,
    worker_nice: int | None = None,
) -> dict[str, Any]:
    """The whole measurement; its figures (the JSON line). Sets up Django for ``database`` in this process."""
    os.environ.update(consent_bench.BENCH_ENV)  # the keys serving() gives the server and the worker
    os.environ["DATABASE_URL"] = consent_bench._database_url(database)
    os.environ["DJANGO_SETTINGS_MODULE"] = "c360.settings.base"
    os.environ["CELERY_BROKER_URL"] = broker  # this process queues the erasure tasks for serving()'s worker
    if worker_nice is not None:  # the worker's CPU priority (c360/lib/priority.py), through serving()'s environment
        os.environ["C360_WORKER_NICE"] = str(worker_nice)
    needs_seed = database_prepare(database, subjects, reuse)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from c360.access.services import api_key_issue
    from c360.lib.history import Actor

    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    if needs_seed:
        consent_bench.seed(subjects)
    seed_seconds = time.perf_counter() - began
    consent_bench.settle(database)
    source_register()
    key = api_key_issue(name="bench-mixed", scopes=["consent:check"], actor=Actor.system("bench")).plaintext
    numbers = erasure_people(erasures, subjects, random.Random())
    ids = erasures_create(numbers)
    script = check_script(
        key=key, population=subjects, rate=rate, connections=connections, hot=numbers, hot_share=hot_share
    )
    if purged := _purge():
        _say(f"purged {purged} stale message(s) from {broker}")

    try:
        with consent_bench.serving(workers, threads, broker, server, database) as (port, _server):
            _worker_ready(timeout=90)
            observed_nice = _worker_nice()
            _consuming(False)
            enqueue_seconds = erasures_start(ids)
            if warmup:
                consent_bench._wrk(script, port, connections, warmup)
            _say(f"unloaded: {rate:,.0f} checks/s target, {connections} connections, {duration} s")
            unloaded = consent_bench._wrk(script, port, connections, duration)
            _say(f"loaded: the same, with {erasures} erasures queued for 1 Celery worker process as it opens")
            loaded, window_began, window_ended = _loaded_window(script, port, connections, duration)
            erasures_wait(ids, drain_timeout)
            erased = erased_answers(port, key, numbers)
    finally:
        with contextlib.suppress(Exception):  # nothing of this run may wait in the queue for the next one
            _purge()
    outcome = erasures_outcome(ids, window_began, window_ended)

    windows = {"unloaded": _window(unloaded, rate), "loaded": _window(loaded, rate)}
    check_errors = sum(window["non_2xx"] + window["socket_errors"] for window in windows.values())
    erasure_errors = sum(outcome["errors"].values())
    ratio = windows["loaded"]["p99_ms"] / windows["unloaded"]["p99_ms"] if windows["unloaded"]["p99_ms"] else None
    results: dict[str, Any] = {
        "bench": "mixed",
        "subjects": subjects,
        "database": database,
        "seed_seconds": round(seed_seconds, 1),
        "server": f"{server} {workers}x{threads} threads",
        "celery_worker": "1 process (prefork, concurrency 1)",
        "worker_nice": settings.C360_WORKER_NICE,
        "worker_nice_observed": observed_nice,
        "connections": connections,
        "duration_s": duration,
        "hot_share": hot_share,
        "rate_target": rate,
        **windows,
        "rate_met": all(window["rate_share"] >= 0.95 for window in windows.values()),
        "erasures": erasures,
        "erasures_completed": outcome["completed"],
        "erasures_completed_in_window": outcome["completed_in_window"],
        "erasure_enqueue_s": round(enqueue_seconds, 2),
        "erasure_drain_s": outcome["drain_s"],
        "erasure_task_p50_ms": outcome["task_p50_ms"],
        "worker_busy_share": outcome["busy_share"],
        "erasure_errors": outcome["errors"],
        "check_errors": check_errors,
        "erased_checks": erased,
        "p99_ratio": round(ratio, 2) if ratio is not None else None,
    }
    results["meets_target"] = bool(
        ratio is not None
        and ratio <= TARGET_RATIO
        and check_errors == 0
        and erasure_errors == 0
        and outcome["completed"] == erasures
        and erased["refused"] == erasures
    )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 subjects (own database), 10 s windows")
    parser.add_argument("--subjects", type=int, default=None, help="subjects in the database (default 1,000,000)")
    parser.add_argument("--database", default=None, help=f"default {SHARED_DATABASE}, {QUICK_DATABASE} with --quick")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="checks per second held in both windows")
    parser.add_argument("--duration", type=int, default=None, help="seconds of each window (default 30)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--erasures", type=int, default=100)
    parser.add_argument("--hot-share", type=float, default=0.05, help="share of checks on the people erased")
    parser.add_argument("--warmup", type=int, default=None, help="seconds of load before the unloaded window")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--server", choices=("gunicorn", "granian"), default="gunicorn")
    parser.add_argument("--reuse", action="store_true", help="keep a database already seeded at this size")
    parser.add_argument("--broker", default=BROKER, help="Redis for the erasure tasks (purged before and after)")
    parser.add_argument("--drain-timeout", type=float, default=None, help="seconds to wait for the erasures")
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=19,
        help="C360_WORKER_NICE for the worker (default 19: checks first, erasures on what is left; 0 for none)",
    )
    args = parser.parse_args(argv)
    # A plain kill runs the clean-up too: the server and the worker stopped, the queue purged.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.rate <= 0 or args.connections < 1 or args.erasures < 1 or not 0 <= args.hot_share <= 1:
        parser.error("--rate, --connections and --erasures must be positive and --hot-share within 0..1")
    if not 0 <= args.worker_nice <= 19:
        parser.error("--worker-nice is a nice value, 0 to 19")
    results = run(
        subjects=args.subjects or (20_000 if args.quick else 1_000_000),
        database=args.database or (QUICK_DATABASE if args.quick else SHARED_DATABASE),
        rate=args.rate,
        duration=args.duration or (10 if args.quick else 30),
        connections=args.connections,
        erasures=args.erasures,
        hot_share=args.hot_share,
        warmup=args.warmup if args.warmup is not None else (1 if args.quick else 5),
        workers=args.workers,
        threads=args.threads,
        server=args.server,
        reuse=args.reuse,
        broker=args.broker,
        drain_timeout=args.drain_timeout or (120 if args.quick else 600),
        worker_nice=args.worker_nice,
    )
    print(json.dumps({"bench": results.pop("bench"), "quick": args.quick, **results}))


if __name__ == "__main__":
    main()
