"""Set-based row helpers (c360/lib/db.py) on both databases, and the hot tables' vacuum settings."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from c360.lib.db import HOT_TABLE_AUTOVACUUM, upsert_rows
from consent.models import Suppression

pytestmark = pytest.mark.django_db

EARLY = timezone.now() - dt.timedelta(days=2)
LATE = timezone.now() - dt.timedelta(days=1)


def row(index: bytes, reason: str, since: dt.datetime) -> dict[str, object]:
    return {"contact_kind": "email", "contact_index": index, "channel": "email", "reason": reason, "since": since}


def upsert(rows: list[dict[str, object]]) -> None:
    upsert_rows(
        Suppression,
        rows,
        unique=("contact_kind", "contact_index", "channel"),
        update=("reason", "since"),
        update_where="existing.since <= EXCLUDED.since",
    )


def test_an_upsert_inserts_new_rows_and_updates_only_where_its_condition_holds() -> None:
    # given one row already there
    upsert([row(b"a" * 32, "erasure", EARLY)])

    # when a batch brings a later answer for it, an earlier one for a second row first inserted, and a new row
    upsert([row(b"a" * 32, "objection", LATE), row(b"b" * 32, "erasure", LATE)])
    upsert([row(b"b" * 32, "objection", EARLY), row(b"c" * 32, "erasure", EARLY)])

    # then the later answer won, the earlier one did not overwrite, and nothing was duplicated
    found = {bytes(s.contact_index): (s.reason, s.since) for s in Suppression.objects.all()}
    assert found == {b"a" * 32: ("objection", LATE), b"b" * 32: ("erasure", LATE), b"c" * 32: ("erasure", EARLY)}


def test_an_upsert_of_nothing_does_nothing() -> None:
    upsert([])
    assert not Suppression.objects.exists()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "table",
    [
        "consent_consentstate",
        "consent_consentevent",
        "consent_suppression",
        "profiles_identifier",
        "profiles_subject",
        "profiles_subjectkey",
    ],
)
def test_hot_tables_are_vacuumed_after_one_percent_of_changes(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [table])
        (options,) = cursor.fetchone()
    assert set(options) == {f"{name}={value}" for name, value in HOT_TABLE_AUTOVACUUM.items()}
