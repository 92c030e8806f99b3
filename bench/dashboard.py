"""The DPO's dashboard on PostgreSQL with a large register: render time and query count.

    python bench/dashboard.py [--quick] [--reuse] [--renders N]

Seeds the database ``c360_bench_dashboard`` with 100,000 data requests (with source tasks for a tenth of
them) and 1,000,000 consent events spread over two years (``--quick``: 10,000 and 100,000). Rows are
generated inside PostgreSQL by ``INSERT ... SELECT generate_series`` (seeding is not what is measured;
the ledger is append-only, so only INSERT is used, and each event gets a unique chain/sequence and a
hash). ``--reuse`` keeps the database when it already holds the rows. Then the dashboard is rendered N
times in-process by the Django test client, signed in as a superuser, and timed.

Target: p95 <= 300 ms. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DATABASE = "c360_bench_dashboard"
# Bench-only keys (the test settings' fixed keys): this database holds generated rows only.
BENCH_ENV = {
    "C360_KEYRING": "1:oHU1wBN0IdKC9Xqb3DuQKDl7dtzUGYRimqv4eroFEAg=",
    "C360_INDEX_KEY": "HrKSpb61cbhELKlG31I3hEcasnVgr7a0-pt7cBrWKX8=",
    "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "C360_RECEIPT_SIGNING_KEY": "KNOxSFB6lhIG37jt6kpyb2hwleLKy-rJCJbGB2AlMzg=",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "LOG_LEVEL": "WARNING",
}
TARGET_P95_MS = 300
SOURCES = ("crm", "shop", "helpdesk", "newsletter-tool")


def _database_url(name: str = BENCH_DATABASE) -> str:
    base = os.environ.get("C360_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    return base.rstrip("/").rsplit("/", 1)[0] + "/" + name if base.count("/") > 3 else base + name


def _say(message: str) -> None:
    print(f"[dashboard bench] {message}", file=sys.stderr, flush=True)


def _database_exists() -> bool:
    import psycopg

    with psycopg.connect(_database_url("postgres"), autocommit=True) as connection:
        return (
            connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DATABASE]).fetchone() is not None
        )


def _fresh_database() -> None:
    import psycopg

    with psycopg.connect(_database_url("postgres"), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")


def _counts() -> tuple[int, int]:
    from consent.models import ConsentEvent
    from dsar.models import DataRequest

    return DataRequest.objects.count(), ConsentEvent.objects.count()


# Open requests spread around today (overdue, due soon, on track) and closed ones; 10 request types.
REQUESTS_SQL = """
INSERT INTO dsar_datarequest (
    id, protocol, request_type, regimes, status, requester, intake_channel, language, received_at, created_at,
    small_agent, verification_method, verification_outcome, verified_at, authority_proven, due_at,
    internal_target, deadline, extension_reason, reminders_sent, rejection_reason, rejection_text, completed_at,
    summary
)
SELECT
    gen_random_uuid(),
    'B-' || lpad(i::text, 8, '0'),
    (ARRAY['access','erasure','confirmation','portability','rectification','consent_revocation',
           'objection','restriction','sharing_info','anonymisation'])[1 + i %% 10],
    (ARRAY['["lgpd"]','["gdpr"]','["gdpr", "lgpd"]'])[1 + i %% 3]::jsonb,
    CASE WHEN i %% 10 < 7 THEN 'completed' WHEN i %% 10 = 7 THEN 'rejected'
         ELSE (ARRAY['awaiting_verification','in_progress','in_review'])[1 + i %% 3] END,
    'subject', 'portal', 'pt-br', received, received,
    false, 'portal_session', 'verified', received, false,
    received + interval '15 days',
    (received + interval '10 days')::date,
    '{}'::jsonb, '', '[]'::jsonb, '', '', CASE WHEN i %% 10 < 8 THEN received + interval '9 days' END,
    '{}'::jsonb
FROM (
    SELECT i, now() - (i::double precision / %(count)s) * interval '730 days' + interval '12 days' AS received
    FROM generate_series(1, %(count)s) AS i
) AS generated
"""

TASKS_SQL = """
INSERT INTO dsar_requesttask (
    request_id, source_id, operation, status, attempts, started_at, finished_at, error, retryable, plan,
    outcome, evidence_note, evidence_sha256
)
SELECT r.id, s.id, 'export',
    CASE WHEN hashtext(r.protocol || s.code) %% 17 = 0 THEN 'failed' ELSE 'done' END,
    1, r.received_at, r.received_at + interval '1 day',
    CASE WHEN hashtext(r.protocol || s.code) %% 17 = 0 THEN s.code || ': locate: HTTP 503' ELSE '' END,
    false, '[]'::jsonb, '{}'::jsonb, '', ''
FROM (SELECT * FROM dsar_datarequest ORDER BY protocol LIMIT %(count)s) AS r CROSS JOIN dsar_datasource AS s
"""

# Ten events per chain, over the last two years; purposes and channels of a small catalogue.
EVENTS_SQL = """
INSERT INTO consent_consentevent (
    id, chain, sequence, contact_kind, purpose_code, channel, action, status, legal_basis, method, actor_kind,
    actor_ref, source_system, occurred_at, recorded_at, evidence, previous_hash, hash
)
SELECT
    gen_random_uuid(),
    's:bench-' || (i / 10),
    i %% 10 + 1,
    '',
    (ARRAY['marketing.newsletter','marketing.offers','partners.share','analytics.profiling'])[1 + i %% 4],
    (ARRAY['email','sms','whatsapp','push','paid_media'])[1 + (i / 4) %% 5],
    CASE WHEN i %% 7 = 0 THEN 'withdraw' WHEN i %% 13 = 0 THEN 'deny' ELSE 'grant' END,
    CASE WHEN i %% 7 = 0 THEN 'withdrawn' WHEN i %% 13 = 0 THEN 'denied' ELSE 'granted' END,
    'art7_i', 'form_checkbox', 'subject', '', 'bench',
    at, at,
    '{}'::jsonb,
    CASE WHEN i %% 10 = 0 THEN '' ELSE md5((i - 1)::text) || md5((i - 1)::text || 'x') END,
    md5(i::text) || md5(i::text || 'x')
FROM (
    SELECT i, now() - (i::double precision / %(count)s) * interval '730 days' AS at
    FROM generate_series(0, %(count)s - 1) AS i
) AS generated
"""


def seed(requests: int, events: int) -> None:
    """Generate the rows inside PostgreSQL, then ANALYZE so the planner knows the sizes."""
    from django.db import connection

    from consent.models import AudienceCheck, LedgerCheckpoint, Purpose
    from dsar.models import DataSource

    began = time.perf_counter()
    for code in SOURCES:
        DataSource.objects.create(code=code, name=code.replace("-", " ").title(), kind="manual")
    purpose = Purpose.objects.create(
        code="marketing.newsletter", lgpd_basis="art7_i", gdpr_basis="6_1_a", channels=["email"], is_active=True
    )
    with connection.cursor() as cursor:
        cursor.execute(REQUESTS_SQL, {"count": requests})
        _say(f"{requests} requests in {time.perf_counter() - began:.1f} s")
        cursor.execute(TASKS_SQL, {"count": requests // 10})
        _say(f"tasks for {requests // 10} requests in {time.perf_counter() - began:.1f} s")
        cursor.execute(EVENTS_SQL, {"count": events})
        _say(f"{events} consent events in {time.perf_counter() - began:.1f} s")
        for table in ("dsar_datarequest", "dsar_requesttask", "consent_consentevent"):
            cursor.execute(f"ANALYZE {table}")
    for number in range(20):
        AudienceCheck.objects.create(
            purpose=purpose,
            channel="email",
            status="done",
            requested_by="bench",
            input_format="csv",
            total=1000 + number,
            allowed=900,
            denied=90,
            invalid=10 + number,
        )
    LedgerCheckpoint.objects.create(chains=events // 10, events=events, heads_sha256="0" * 64)
    _say(f"seeded in {time.perf_counter() - began:.1f} s")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def render(count: int) -> dict[str, Any]:
    """Render the dashboard ``count`` times (after one warm-up) as a superuser; times and query count."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench-dpo").first() or user_model.objects.create_superuser(
        username="bench-dpo", password=None, email=""
    )
    client = Client()
    client.force_login(user)
    # The console asks for a second factor, as the admin does: mark the session verified by a static device.
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_static.models import StaticDevice

    device, _ = StaticDevice.objects.get_or_create(user=user, name="bench")
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    url = reverse("console:dashboard")
    captured: list[float] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # Counted by a wrapper: the test client's request_started signal empties connection.queries.
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            captured.append((time.perf_counter() - began) * 1000)

    with connection.execute_wrapper(timed):
        response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"the dashboard answered {response.status_code}")
    timings = []
    for _ in range(count):
        began = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"the dashboard answered {response.status_code}")
    return {
        "render_p50_ms": round(statistics.median(timings), 1),
        "render_p95_ms": round(_percentile(timings, 0.95), 1),
        "queries": len(captured),
        "slowest_queries_ms": [round(value, 1) for value in sorted(captured, reverse=True)[:3]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 requests and 100,000 events")
    parser.add_argument("--reuse", action="store_true", help="keep the database when it holds the rows already")
    parser.add_argument("--renders", type=int, default=30, help="timed renders of the dashboard")
    args = parser.parse_args()
    requests, events = (10_000, 100_000) if args.quick else (100_000, 1_000_000)

    for name, value in BENCH_ENV.items():
        os.environ.setdefault(name, value)
    os.environ["DATABASE_URL"] = _database_url()
    os.environ["DJANGO_SETTINGS_MODULE"] = "c360.settings.base"
    os.environ.setdefault("C360_FILES_DIR", tempfile.mkdtemp(prefix="c360-bench-dashboard-"))
    reuse = args.reuse and _database_exists()
    if not reuse:
        _fresh_database()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    if reuse and _counts() == (requests, events):
        _say(f"reusing {BENCH_DATABASE}: {requests} requests, {events} events")
    else:
        if reuse:
            _say("the database holds other counts: seeding it again")
            from django.db import connections

            connections.close_all()
            _fresh_database()
            call_command("migrate", verbosity=0)
        seed(requests, events)
    result = render(args.renders)
    print(
        json.dumps(
            {
                "bench": "dashboard",
                "requests": requests,
                "consent_events": events,
                "render_p50_ms": result["render_p50_ms"],
                "render_p95_ms": result["render_p95_ms"],
                "queries": result["queries"],
                "slowest_queries_ms": result["slowest_queries_ms"],
                "meets_target": result["render_p95_ms"] <= TARGET_P95_MS,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
