"""The consent hot path on PostgreSQL, served by gunicorn, loaded from other processes.

    python bench/consent.py [--quick] [--subjects N] [--duration S] [--connections C] [--reuse]

Seeds a fresh database with N subjects (email identifier, encrypted under their own key) and three
consent states each, every state backed by a hash-chained ledger event (seeded with COPY: seeding is not
what is measured), then starts gunicorn on 127.0.0.1 and a Celery worker on Redis and measures:

- single checks: ``wrk`` (Debian package ``wrk``) with C connections for S seconds, random recipients
  (about 9% unknown), three purpose/channel pairs: checks/s and latency percentiles;
- consent writes: ``wrk`` with one connection posting grants and withdrawals (mean latency), and the
  service call in-process;
- bulk check: 1,000,000 recipients (emails) as ten requests of 100,000, two at a time, streamed answers
  read to the end; wall time and the peak RSS of every server process;
- audience check: a CSV of 1,000,000 rows uploaded, checked by the Celery worker, receipt signed; wall
  time from the upload to the receipt.

Targets (issue "Consent ledger", 2 cores): single >= 2,000 checks/s with p99 <= 20 ms; write mean <= 5 ms;
bulk 1,000,000 <= 5 s with server RSS <= 300 MB; audience 1,000,000 <= 30 s. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DATABASE = "c360_bench_consent"
# Bench-only keys (the test settings' fixed keys): this database holds generated people only.
BENCH_ENV = {
    "C360_KEYRING": "1:oHU1wBN0IdKC9Xqb3DuQKDl7dtzUGYRimqv4eroFEAg=",
    "C360_INDEX_KEY": "HrKSpb61cbhELKlG31I3hEcasnVgr7a0-pt7cBrWKX8=",
    "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "C360_RECEIPT_SIGNING_KEY": "KNOxSFB6lhIG37jt6kpyb2hwleLKy-rJCJbGB2AlMzg=",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
    "C360_API_KEY_RATE": "100000000/sec",
}
BENCH_PLANNER = {"random_page_cost": "1.1", "effective_cache_size": "12GB"}
PAIRS = (("marketing.newsletter", "email"), ("marketing.offers", "sms"), ("marketing.newsletter", "whatsapp"))
BULK_REQUEST = 100_000
EMAIL = "b{}@bench.c360.example"


def _database_url(database: str = BENCH_DATABASE) -> str:
    base = os.environ.get("C360_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    return base.rstrip("/").rsplit("/", 1)[0] + "/" + database if base.count("/") > 3 else base + database


def _say(message: str) -> None:
    print(f"[consent bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- seeding


def _fresh_database(subjects: int, reuse: bool, database: str = BENCH_DATABASE) -> bool:
    """A new empty database, unless --reuse finds one seeded at this size. True when seeding is needed."""
    import psycopg

    admin = _database_url(database).rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
    seeded = False
    if reuse and exists:
        with psycopg.connect(_database_url(database)) as connection, contextlib.suppress(psycopg.Error):
            row = connection.execute("SELECT count(*) FROM profiles_subject").fetchone()
            seeded = bool(row and row[0] == subjects)
    with psycopg.connect(admin, autocommit=True) as connection:
        if not seeded:
            connection.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE {database}")
        # Planner costs for a database on SSD whose tables fit in RAM (docs/benchmarks.md): the packaged
        # defaults assume spinning disks and 4 GB of cache, and plan lists of 5,000 ids as sequential scans.
        for setting, value in BENCH_PLANNER.items():
            connection.execute(f"ALTER DATABASE {database} SET {setting} = '{value}'")
    return not seeded


def settle(database: str = BENCH_DATABASE) -> None:
    """Bring the database to the state its autovacuum keeps it in, and its files into the page cache.

    Earlier runs leave dead rows and pages not yet marked all-visible (index-only scans then read the heap):
    VACUUM (ANALYZE) first, as autovacuum would have by then (the hot tables are vacuumed at 1% of changes,
    c360.lib.db.HOT_TABLE_AUTOVACUUM), then a CHECKPOINT, so that none falls inside the measurement. This VM's
    memory manager also evicts idle page cache, so a database read an hour ago is on disk again: pg_prewarm
    (contrib) reads every table and index back ('read' mode, into the OS cache), skipped with a note where the
    extension cannot be created.
    """
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(_database_url(database), autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
        # Vacuum writes gigabytes of WAL; without a checkpoint now, the one it triggers runs during the
        # measurement and its flushes stall commits (writes' p99 went from 8 ms to 80-95 ms).
        with contextlib.suppress(psycopg.Error):  # CHECKPOINT needs a superuser or pg_checkpoint
            connection.execute("CHECKPOINT")
        try:
            connection.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        except psycopg.Error as exc:
            _say(f"no pg_prewarm ({type(exc).__name__}): the page cache is left as it is")
            return
        (blocks,) = connection.execute(
            "SELECT coalesce(sum(pg_prewarm(c.oid, 'read')), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('r', 'i', 't', 'm')"
        ).fetchone()
    seconds = time.perf_counter() - began
    _say(f"vacuumed, analysed and read {blocks * 8 / 1024:,.0f} MB into the page cache ({seconds:.0f} s)")


def _catalogue() -> Any:
    from c360.lib.history import Actor
    from consent.models import Notice, NoticeVersion, Purpose
    from consent.services.events import notice_version_publish, purpose_save

    actor = Actor.system("bench")
    purposes = {}
    for code, channels, validity in (
        ("marketing.newsletter", ["email", "sms", "whatsapp"], 730),
        ("marketing.offers", ["email", "sms", "push"], None),
    ):
        purposes[code] = purpose_save(
            purpose=Purpose(
                code=code,
                names={"pt-br": code, "en": code, "es": code},
                descriptions={"pt-br": "Comunicações de marketing.", "en": "Marketing messages."},
                lgpd_basis="art7_i",
                gdpr_basis="6_1_a",
                channels=channels,
                direct_marketing=True,
                validity_days=validity,
                is_active=True,
            ),
            actor=actor,
        )
    notice = Notice.objects.create(code="privacy", title="Aviso de privacidade")
    notice.purposes.add(*purposes.values())
    version = notice_version_publish(
        version=NoticeVersion(notice=notice, version=1, language="pt-br", text="Usamos seu e-mail e celular para..."),
        actor=actor,
    )
    return purposes, version


def _subject_rows(start: int, stop: int, now: dt.datetime, rng: random.Random) -> Iterator[tuple[dict, dict, dict]]:
    from c360.lib.crypto import blind_index, data_key_create
    from profiles.encryption import seal
    from profiles.models import Identifier, Subject, SubjectKey, index_kind

    def attnames(instance: Any) -> dict[str, Any]:
        return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}

    for number in range(start, stop):
        email = EMAIL.format(number)
        status = "restricted" if rng.random() < 0.01 else "active"
        subject = Subject(
            id=uuid.uuid4(),
            status=status,
            regimes=["lgpd", "gdpr"] if rng.random() < 0.1 else ["lgpd"],
            regimes_reason="declared",
            created_at=now,
            updated_at=now,
            restricted_at=now if status == "restricted" else None,
        )
        key = SubjectKey(subject=subject)
        data_key = data_key_create(key)
        identifier = Identifier(
            id=uuid.uuid4(),
            subject=subject,
            kind="email",
            namespace="",
            blind_index=blind_index(index_kind("email", ""), email),
            source="bench",
            created_at=now,
        )
        seal(data_key, identifier, "value", email)
        yield attnames(subject), attnames(key), attnames(identifier)


def _consent_rows(
    subject_id: uuid.UUID, purposes: dict, notice_id: int, now: dt.datetime, rng: random.Random
) -> tuple[list[dict], list[dict]]:
    from consent.ledger import event_hash

    draws = (
        ("marketing.newsletter", "email", rng.choices(["granted", "withdrawn", "denied"], [70, 20, 10])[0]),
        ("marketing.offers", "sms", rng.choices(["granted", "denied"], [50, 50])[0]),
        ("marketing.newsletter", "whatsapp", rng.choices(["granted", "withdrawn"], [40, 60])[0]),
    )
    action_of = {"granted": "grant", "withdrawn": "withdraw", "denied": "deny"}
    chain, previous, events, states = f"s:{subject_id}", "", [], []
    for sequence, (code, channel, status) in enumerate(draws, start=1):
        occurred = now - dt.timedelta(days=rng.randint(1, 600), seconds=rng.randint(0, 86_400))
        purpose = purposes[code]
        valid_until = (
            occurred + dt.timedelta(days=purpose.validity_days)
            if status == "granted" and purpose.validity_days
            else None
        )
        row = {
            "id": uuid.uuid4(),
            "chain": chain,
            "sequence": sequence,
            "subject_id": subject_id,
            "contact_kind": "",
            "contact_index": None,
            "purpose_id": purpose.id,
            "purpose_code": code,
            "purpose_version": purpose.version,
            "channel": channel,
            "action": action_of[status],
            "status": status,
            "legal_basis": "art7_i",
            "notice_version_id": notice_id if status == "granted" else None,
            "method": "form_checkbox" if status != "withdrawn" else "portal",
            "actor_kind": "subject",
            "actor_ref": "",
            "source_system": "bench",
            "occurred_at": occurred,
            "recorded_at": now,
            "valid_until": valid_until,
            "ip_enc": None,
            "user_agent_enc": None,
            "evidence": {},
            "previous_hash": previous,
        }
        row["hash"] = previous = event_hash(row)
        events.append(row)
        states.append(
            {
                "subject_id": subject_id,
                "contact_kind": "",
                "contact_index": None,
                "purpose_code": code,
                "channel": channel,
                "status": status,
                "legal_basis": "art7_i",
                "method": row["method"],
                "actor_kind": "subject",
                "given_by_minor": False,
                "occurred_at": occurred,
                "valid_until": valid_until,
                "last_event_id": row["id"],
                "updated_at": now,
            }
        )
    return events, states


def seed(subjects: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from c360.lib.db import insert_rows
    from consent.models import ConsentEvent, ConsentState
    from profiles.models import Identifier, Subject, SubjectKey

    purposes, notice = _catalogue()
    rng, now, began, batch = random.Random(360), timezone.now(), time.perf_counter(), 10_000
    for start in range(0, subjects, batch):
        rows = list(_subject_rows(start, min(start + batch, subjects), now, rng))
        events, states = [], []
        for subject, _key, _identifier in rows:
            more_events, more_states = _consent_rows(subject["id"], purposes, notice.pk, now, rng)
            events += more_events
            states += more_states
        with transaction.atomic():
            insert_rows(Subject, [row[0] for row in rows])
            insert_rows(SubjectKey, [row[1] for row in rows])
            insert_rows(Identifier, [row[2] for row in rows])
            insert_rows(ConsentEvent, events)
            insert_rows(ConsentState, states)
        done = start + len(rows)
        if done % 100_000 == 0 or done == subjects:
            _say(f"seeded {done:,} subjects, {done * 3:,} states ({done / (time.perf_counter() - began):,.0f}/s)")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# ---------------------------------------------------------------- serving


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_env(broker: str, database: str = BENCH_DATABASE) -> dict[str, str]:
    env = {
        **os.environ,
        **BENCH_ENV,
        "DATABASE_URL": _database_url(database),
        "DJANGO_SETTINGS_MODULE": "c360.settings.base",
    }
    env["C360_FILES_DIR"] = str(Path(tempfile.gettempdir()) / "c360-bench-files")
    env.pop("CELERY_BROKER_URL", None)
    if broker:
        env["CELERY_BROKER_URL"] = broker
    return env


def _redis_broker() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return "redis://127.0.0.1:6379/15"
    except OSError:
        return ""


def _server_command(server: str, port: int, workers: int, threads: int) -> list[str]:
    bin_dir = Path(sys.executable).parent
    if server == "granian":
        return [
            str(bin_dir / "granian"),
            "--interface=wsgi",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--workers={workers}",
            f"--blocking-threads={threads}",
            "--log-level=warning",
            "--no-ws",
            "c360.wsgi:application",
        ]
    return [
        str(bin_dir / "gunicorn"),
        "c360.wsgi",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=gthread",
        f"--threads={threads}",
        "--keep-alive=30",
        "--timeout=300",
        "--log-level=warning",
    ]


@contextlib.contextmanager
def serving(
    workers: int, threads: int, broker: str, server_kind: str = "gunicorn", database: str = BENCH_DATABASE
) -> Iterator[tuple[int, subprocess.Popen]]:
    port = _free_port()
    env = _server_env(broker, database)
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(
        _server_command(server_kind, port, workers, threads), cwd=ROOT, env=env, start_new_session=True
    )
    worker = None
    if broker:
        worker = subprocess.Popen(
            [str(bin_dir / "celery"), "-A", "c360", "worker", "--concurrency=1", "--loglevel=WARNING", "-Q", "celery"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/healthz")
                connection.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.3)
        yield port, server
    finally:
        for process in (server, worker):
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set since it started, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------- load


_CHECK_LUA = """
local n = {population}
local pairs_ = {{ {pairs} }}
local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {key}"}}
local counter = 0
function setup(thread) counter = counter + 1; thread:set("seed", counter) end
function init(args) math.randomseed(seed * 7919 + os.time()) end
function request()
  local pair = pairs_[math.random(1, #pairs_)]
  local body = string.format('{{"recipient":{{"email":"b%d@bench.c360.example"}},"purpose":"%s","channel":"%s"}}',
    math.random(0, math.floor(n * 1.1)), pair[1], pair[2])
  return wrk.format("POST", "/api/v1/consent/check", headers, body)
end
{done}
"""

_WRITE_LUA = """
local ids = {{}}
for line in io.lines("{ids}") do ids[#ids + 1] = line end
local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {key}"}}
local actions = {{"grant", "withdraw"}}
function request()
  local action = actions[math.random(1, 2)]
  local body = string.format('{{"subject_id":"%s","purpose":"marketing.offers","channel":"email","action":"%s",'
    .. '"method":"form_checkbox","notice_version":{notice},"evidence":{{"ip":"203.0.113.9","user_agent":"bench"}}}}',
    ids[math.random(1, #ids)], action)
  return wrk.format("POST", "/api/v1/consent/events", headers, body)
end
{done}
"""

_DONE_LUA = """
function done(summary, latency, requests)
  io.stderr:write(string.format('WRK {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


def _wrk(script: str, port: int, connections: int, duration: int) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is needed for the load (Debian: apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        completed = subprocess.run(
            [
                wrk,
                f"--threads={min(2, connections)}",
                f"--connections={connections}",
                f"--duration={duration}s",
                "--timeout=5s",
                f"--script={handle.name}",
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(handle.name)
    line = next(line for line in completed.stderr.splitlines() if line.startswith("WRK "))
    figures = json.loads(line[4:])
    figures["per_s"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def _post_streamed(port: int, path: str, body: bytes, key: str) -> int:
    """POST and read the streamed answer to its end; the number of answer lines."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request(
        "POST", path, body=body, headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    )
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit(f"bulk check answered {response.status}: {response.read()[:300]!r}")
    lines = 0
    while chunk := response.read(1 << 16):
        lines += chunk.count(b"\n")
    connection.close()
    return lines


def bulk(port: int, key: str, population: int, total: int) -> dict[str, Any]:
    rng = random.Random(7)
    bodies = []
    for start in range(0, total, BULK_REQUEST):
        size = min(BULK_REQUEST, total - start)
        recipients = [{"email": EMAIL.format(rng.randrange(int(population * 1.1)))} for _ in range(size)]
        bodies.append(
            json.dumps({"purpose": "marketing.newsletter", "channel": "email", "recipients": recipients}).encode()
        )
    answered = []
    lock = threading.Lock()
    queue = list(bodies)

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            lines = _post_streamed(port, "/api/v1/consent/check/bulk", body, key)
            with lock:
                answered.append(lines - 1)  # the last line is the summary

    began = time.perf_counter()
    clients = [threading.Thread(target=client) for _ in range(2)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    seconds = time.perf_counter() - began
    if sum(answered) != total:
        raise SystemExit(f"bulk check answered {sum(answered)} of {total} recipients")
    return {"recipients": total, "seconds": round(seconds, 2), "per_s": round(total / seconds)}


def audience(port: int, key: str, population: int, rows: int) -> dict[str, Any]:
    rng = random.Random(11)
    boundary = uuid.uuid4().hex
    csv = "email\n" + "\n".join(EMAIL.format(rng.randrange(int(population * 1.1))) for _ in range(rows)) + "\n"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nmarketing.newsletter\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="channel"\r\n\r\nemail\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="campaign.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    body = head + csv.encode() + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Authorization": f"Bearer {key}"}
    began = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request(
        "POST",
        "/api/v1/audience-checks",
        body=body,
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    response = connection.getresponse()
    created = json.loads(response.read())
    if response.status != 202:
        raise SystemExit(f"audience check answered {response.status}: {created}")
    uploaded = time.perf_counter() - began
    while True:
        connection.request("GET", f"/api/v1/audience-checks/{created['id']}", headers=headers)
        detail = json.loads(connection.getresponse().read())
        if detail["status"] in {"done", "failed"}:
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - began
    if detail["status"] != "done":
        raise SystemExit(f"audience check failed: {detail.get('error')}")
    if detail["processed"] != rows:
        raise SystemExit(f"audience check processed {detail['processed']} of {rows} rows")
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "upload_seconds": round(uploaded, 2),
        "per_s": round(rows / seconds),
        "allowed": detail["allowed"],
        "signed": bool(detail["signature"]),
    }


def writes_in_process(subject_ids: list[str], notice_id: int, count: int) -> float:
    """Mean milliseconds of ``consent_record`` itself (no HTTP)."""
    from c360.lib.history import Actor
    from consent.services.events import EventInput, consent_record

    actor, rng, timings = Actor.system("bench"), random.Random(5), []
    for _ in range(count):
        event = EventInput(
            purpose_code="marketing.offers",
            channel="push",
            action=rng.choice(["grant", "withdraw"]),
            method="form_checkbox",
            subject_id=rng.choice(subject_ids),
            notice_version_id=notice_id,
            ip="203.0.113.9",
            user_agent="bench",
        )
        began = time.perf_counter()
        consent_record(event=event, actor=actor)
        timings.append(time.perf_counter() - began)
    return round(1000 * sum(timings) / len(timings), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 subjects, 5 s of load, 100,000-row lists")
    parser.add_argument("--subjects", type=int, default=None)
    parser.add_argument("--duration", type=int, default=None, help="seconds of single-check load")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--reuse", action="store_true", help="keep a database already seeded at this size")
    parser.add_argument("--server", choices=("gunicorn", "granian"), default="gunicorn", help="the WSGI server")
    parser.add_argument(
        "--only", default="single,write,bulk,audience", help="comma-separated parts to measure (default: all)"
    )
    parser.add_argument("--seed-only", action="store_true", help="seed (or keep, with --reuse) and stop")
    args = parser.parse_args()
    subjects = args.subjects or (20_000 if args.quick else 1_000_000)
    duration = args.duration or (5 if args.quick else 30)
    list_size = 100_000 if args.quick else 1_000_000

    for name, value in BENCH_ENV.items():
        os.environ.setdefault(name, value)
    os.environ["DATABASE_URL"] = _database_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.settings.base")
    needs_seed = _fresh_database(subjects, args.reuse)
    import django

    django.setup()
    from django.core.management import call_command

    from c360.access.services import api_key_issue
    from c360.lib.history import Actor
    from consent.models import NoticeVersion
    from profiles.models import Subject

    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    if needs_seed:
        seed(subjects)
    seed_seconds = time.perf_counter() - began
    if args.seed_only:
        print(json.dumps({"bench": "consent", "seeded": subjects, "seed_seconds": round(seed_seconds, 1)}))
        return
    settle()
    key = api_key_issue(name="bench", scopes=["consent:check", "consent:write"], actor=Actor.system("bench")).plaintext
    notice_id = NoticeVersion.objects.get().pk
    writers = [str(pk) for pk in Subject.objects.filter(status="active").values_list("id", flat=True)[:10_000]]

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM consent_consentstate")
        states = cursor.fetchone()[0]
    broker = _redis_broker()
    results: dict[str, Any] = {"bench": "consent", "quick": args.quick, "subjects": subjects, "states": states}
    parts = set(args.only.split(","))
    single = write = bulk_figures = audience_figures = None
    server_rss: dict[int, float] = {}
    with serving(args.workers, args.threads, broker, args.server) as (port, server):
        pairs = ", ".join(f'{{"{code}", "{channel}"}}' for code, channel in PAIRS)
        check_script = _CHECK_LUA.format(population=subjects, pairs=pairs, key=key, done=_DONE_LUA)
        if "single" in parts:
            _wrk(check_script, port, 4, 3)  # warm up
            _say(f"single checks: {args.connections} connections, {duration} s")
            single = _wrk(check_script, port, args.connections, duration)
        if "write" in parts:
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as ids:
                ids.write("\n".join(writers))
            _say("writes: 1 connection, 10 s")
            write = _wrk(_WRITE_LUA.format(ids=ids.name, key=key, notice=notice_id, done=_DONE_LUA), port, 1, 10)
            os.unlink(ids.name)
        if "bulk" in parts:
            _say(f"bulk check of {list_size:,} recipients")
            bulk_figures = bulk(port, key, subjects, list_size)
            server_rss = {pid: _peak_rss_mb(pid) for pid in [server.pid, *_children(server.pid)]}
        if "audience" in parts:
            _say(f"audience check of {list_size:,} rows ({'Celery worker on Redis' if broker else 'eager'})")
            audience_figures = audience(port, key, subjects, list_size)
    results.update(
        {"seed_seconds": round(seed_seconds, 1), "server": f"{args.server} {args.workers}x{args.threads} threads"}
    )
    if single:
        results.update(
            {
                "checks_per_s": round(single["per_s"]),
                "check_p50_ms": round(single["p50_us"] / 1000, 2),
                "check_p99_ms": round(single["p99_us"] / 1000, 2),
                "check_errors": single["non_2xx"] + single["socket_errors"],
            }
        )
    if write:
        results.update(
            {
                "write_mean_ms": round(write["mean_us"] / 1000, 2),
                "write_p99_ms": round(write["p99_us"] / 1000, 2),
                "write_service_mean_ms": writes_in_process(writers, notice_id, 300 if args.quick else 2000),
            }
        )
    if bulk_figures:
        results.update(
            {
                "bulk_recipients": bulk_figures["recipients"],
                "bulk_seconds": bulk_figures["seconds"],
                "bulk_per_s": bulk_figures["per_s"],
                "server_peak_rss_mb_max_process": round(max(server_rss.values())),
            }
        )
    if audience_figures:
        results.update(
            {
                "audience_rows": audience_figures["rows"],
                "audience_seconds": audience_figures["seconds"],
                "audience_upload_seconds": audience_figures["upload_seconds"],
                "audience_broker": "redis" if broker else "eager",
                "audience_receipt_signed": audience_figures["signed"],
            }
        )
    targets = {
        "single": lambda: results["checks_per_s"] >= 2000 and results["check_p99_ms"] <= 20,
        "write": lambda: results["write_mean_ms"] <= 5,
        "bulk": lambda: results["bulk_seconds"] <= 5 and results["server_peak_rss_mb_max_process"] <= 300,
        "audience": lambda: results["audience_seconds"] <= 30,
    }
    results["meets_targets"] = {part: met() for part, met in targets.items() if part in parts}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
