"""The SQL connector against real source databases, PostgreSQL and MariaDB, through the shop/desk map.

Maria has two customer rows, orders, a recent invoice (under tax hold) and an old one, a linked ticket and
an old guest ticket; another Maria Silva, with a phone ending in the same digits, must never be touched.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
import yaml

from dsar.connectors.base import Connector, ConnectorError, Identity, Match
from dsar.connectors.sql import SqlConnector
from dsar.datasets import Period, parse_dataset_map, validate_against_database
from tests.dsar.sources import (
    CLAIMS_BASIS,
    KINDS,
    TAX_BASIS,
    Source,
    closed_port,
    require_server,
    source_database,
)

HEX_MASK = re.compile(r"^[0-9a-f]{32}$")
CAST_TABLES = ("customers", "orders", "invoices", "support_tickets")
FIVE_YEARS = Period.parse("P5Y")


@pytest.fixture(scope="module", params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    require_server(request.param)
    return request.param


@pytest.fixture(scope="module")
def shared(kind: str) -> Iterator[Source]:
    """A source the read-only tests share."""
    with source_database(kind) as source:
        yield source


@pytest.fixture
def fresh(kind: str) -> Iterator[Source]:
    """A source of its own for a test that changes data."""
    with source_database(kind) as source:
        yield source


def locate(source: Source, person: str) -> list[Match]:
    return source.connector().locate(list(source.people[person].identities))


def by_table(matches: list[Match]) -> dict[str, set[int]]:
    grouped: dict[str, set[int]] = {table: set() for table in CAST_TABLES}
    for match in matches:
        grouped[match.collection].add(match.locator["pk"])
    return grouped


def expected_rows(source: Source, person: str) -> dict[str, set[int]]:
    return {table: set(ids) for table, ids in source.people[person].rows.items()}


def snapshot(source: Source) -> dict[str, list[tuple]]:
    return {table: source.query(f"SELECT * FROM {table} ORDER BY id") for table in CAST_TABLES}


def actions_of(outcome, table: str, pk: int) -> dict[str, tuple[str, str, object]]:
    """field ("" for the row) -> (action, reason, kept_until) for one row."""
    return {
        item.field: (item.action, item.reason, item.kept_until)
        for item in outcome.actions
        if item.collection == table and item.locator["pk"] == pk
    }


# ---------------------------------------------------------------- locate


def test_the_connector_implements_the_interface(shared: Source):
    connector = shared.connector()

    assert isinstance(connector, Connector)
    assert repr(connector).startswith(f"SqlConnector('{shared.name}'")
    assert shared.database not in repr(connector)  # nor the rest of the URL


def test_locate_finds_the_persons_rows_through_the_foreign_keys_and_not_her_namesakes(shared: Source):
    matches = locate(shared, "maria")

    assert by_table(matches) == expected_rows(shared, "maria")
    via = {(match.collection, match.locator["pk"]): match.via for match in matches}
    assert via[("customers", 2)] == "identity:email"  # " Maria.Silva@Example.COM " in the source
    assert via[("orders", 12)] == "customers.id -> orders.customer_id"
    assert via[("invoices", 101)] == "orders.id -> invoices.order_id"
    assert via[("support_tickets", 21)] == "identity:email"  # a guest ticket: no customer row points at it
    other = expected_rows(shared, "maria_other")
    assert not any(match.locator["pk"] in other[match.collection] for match in matches)
    assert json.loads(json.dumps([match.locator for match in matches]))  # locators are plain JSON


def test_locate_by_phone_reads_any_spelling_but_not_the_same_digits_in_another_area(shared: Source):
    matches = shared.connector().locate([Identity("phone", "+5511987654321")])

    # customers 1 (+5511987654321) and 2 ((11) 98765-4321); customer 3 is +55 21 98765-4321.
    assert by_table(matches)["customers"] == {1, 2}
    assert by_table(matches)["orders"] == {10, 11, 12}


def test_locate_by_cpf_restores_the_leading_zero_a_spreadsheet_dropped(shared: Source):
    assert by_table(locate(shared, "joao")) == expected_rows(shared, "joao")


def test_locate_by_a_landline(shared: Source):
    assert by_table(locate(shared, "ana")) == expected_rows(shared, "ana")


def test_locate_ignores_kinds_the_source_does_not_hold(shared: Source):
    connector = shared.connector()

    assert connector.locate([Identity("external_id", "crm-123", namespace="crm")]) == []
    assert connector.locate([]) == []


def test_an_invalid_identity_is_refused_without_repeating_it(shared: Source):
    with pytest.raises(ConnectorError) as caught:
        shared.connector().locate([Identity("email", "maria.silva@@example")])

    assert not caught.value.retryable
    assert str(caught.value).startswith(f"{shared.name}: locate: an identity of kind email is not valid")
    assert "maria" not in str(caught.value)


# ---------------------------------------------------------------- export


def test_export_gives_every_field_with_its_category_and_provenance(shared: Source):
    records = shared.connector().export(locate(shared, "maria"))

    assert len(records) == 9
    customer = next(record for record in records if record.provenance == f"{shared.name}:customers#1")
    assert customer.collection == "customers"
    assert customer.fields["email"] == "maria.silva@example.com"
    assert customer.fields["birth_date"] == "1985-04-12"
    assert customer.categories["email"] == "contact"
    assert customer.categories["cpf"] == "identity"
    assert customer.categories["address"] == "location"
    assert customer.categories["id"] == "system"
    invoice = next(record for record in records if record.provenance == f"{shared.name}:invoices#100")
    assert invoice.fields["amount"] == "120.50"
    assert invoice.categories["amount"] == "financial"
    assert [record.collection for record in records] == [
        "customers", "customers", "orders", "orders", "orders", "invoices", "invoices",
        "support_tickets", "support_tickets",
    ]  # fmt: skip
    json.dumps([record.fields for record in records])  # what goes into the package is plain JSON


def test_export_skips_rows_that_no_longer_exist(shared: Source):
    gone = Match("orders", {"table": "orders", "pk": 999_999})

    assert shared.connector().export([gone]) == []


# ---------------------------------------------------------------- erase


def test_erase_applies_the_map_deleting_nulling_masking_and_keeping_under_hold(fresh: Source):
    before_other = {
        table: [fresh.row(table, pk) for pk in ids] for table, ids in fresh.people["maria_other"].rows.items()
    }
    matches = locate(fresh, "maria")
    issued_recent = fresh.row("invoices", 100)["issued_at"]
    ticket_opened = fresh.row("support_tickets", 20)["opened_at"].date()

    outcome = fresh.connector().erase(matches)

    # The recent invoice is kept for tax; the order and the customer row it points at stay, reduced.
    kept_until = FIVE_YEARS.after(issued_recent)
    assert actions_of(outcome, "invoices", 100) == {"": ("kept", TAX_BASIS, kept_until)}
    assert actions_of(outcome, "invoices", 101) == {"": ("deleted", "", None)}
    held_reason = f"referenced by rows kept under legal hold: {TAX_BASIS}"
    assert actions_of(outcome, "orders", 10) == {
        "": ("kept", held_reason, kept_until),
        "shipping_address": ("nulled", "", None),
    }
    assert actions_of(outcome, "orders", 11) == {"": ("deleted", "", None)}
    assert actions_of(outcome, "orders", 12) == {"": ("deleted", "", None)}
    assert actions_of(outcome, "customers", 1) == {
        "": ("kept", held_reason, kept_until),
        "email": ("masked", "", None),
        "phone": ("nulled", "", None),
        "cpf": ("nulled", "", None),
        "full_name": ("masked", "", None),
        "birth_date": ("nulled", "", None),
        "address": ("nulled", "", None),
        "marketing_opt_in": ("nulled", "", None),
    }
    assert actions_of(outcome, "customers", 2) == {"": ("deleted", "", None)}
    assert actions_of(outcome, "support_tickets", 20) == {
        "customer_id": ("nulled", "", None),
        "contact_email": ("masked", "", None),
        "subject": ("masked", "", None),
        "body": ("kept", CLAIMS_BASIS, FIVE_YEARS.after(ticket_opened)),
    }
    assert actions_of(outcome, "support_tickets", 21) == {
        "customer_id": ("unchanged", "already erased", None),
        "contact_email": ("masked", "", None),
        "subject": ("masked", "", None),
        "body": ("nulled", "", None),  # opened six years ago: the claims period is over
    }
    # ...and the database says the same.
    assert fresh.row("invoices", 101) is None
    assert fresh.row("orders", 11) is None
    assert fresh.row("orders", 12) is None
    assert fresh.row("customers", 2) is None
    assert fresh.row("invoices", 100)["billing_name"] == "Maria Silva"
    assert fresh.row("orders", 10)["shipping_address"] is None
    customer = fresh.row("customers", 1)
    assert HEX_MASK.fullmatch(customer["email"])
    assert customer["full_name"] == "***"
    assert (customer["phone"], customer["cpf"], customer["birth_date"], customer["address"]) == (None,) * 4
    assert customer["marketing_opt_in"] is None
    ticket, guest = fresh.row("support_tickets", 20), fresh.row("support_tickets", 21)
    assert ticket["customer_id"] is None
    assert HEX_MASK.fullmatch(ticket["contact_email"])
    assert ticket["contact_email"] != guest["contact_email"]  # masks are per row: no link survives
    assert (ticket["subject"], guest["subject"]) == ("[erased]", "[erased]")
    assert ticket["body"] == "Order 10 has not arrived."
    assert guest["body"] is None
    after_other = {
        table: [fresh.row(table, pk) for pk in ids] for table, ids in fresh.people["maria_other"].rows.items()
    }
    assert after_other == before_other


def test_a_second_erase_changes_nothing_and_says_so(fresh: Source):
    matches = locate(fresh, "maria")
    connector = fresh.connector()
    first = connector.erase(matches)
    after_first = snapshot(fresh)

    second = connector.erase(matches)

    assert first.changed > 0
    assert second.changed == 0
    assert {item.action for item in second.actions} == {"kept", "unchanged"}
    assert actions_of(second, "customers", 2) == {"": ("unchanged", "already erased: not found", None)}
    assert actions_of(second, "customers", 1)["email"] == ("unchanged", "already erased", None)  # masks to itself
    assert actions_of(second, "customers", 1)["full_name"] == ("unchanged", "already erased", None)
    assert actions_of(second, "customers", 1)["phone"] == ("unchanged", "already erased", None)
    assert actions_of(second, "invoices", 100)[""][0] == "kept"
    assert snapshot(fresh) == after_first


def test_erase_without_a_hold_deletes_the_person_after_detaching_what_stays(fresh: Source):
    outcome = fresh.connector().erase(locate(fresh, "ana"))

    assert actions_of(outcome, "customers", 5) == {"": ("deleted", "", None)}
    assert actions_of(outcome, "support_tickets", 23)["customer_id"] == ("nulled", "", None)
    assert fresh.row("customers", 5) is None
    assert fresh.row("support_tickets", 23)["customer_id"] is None


def test_erase_also_handles_rows_added_after_locate_that_would_block_a_delete(fresh: Source):
    matches = locate(fresh, "maria")
    fresh.query(
        "INSERT INTO orders (id, customer_id, shipping_address, total, status, placed_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (15, 2, "Av. Paulista 1000", "9.90", "new", fresh.row("orders", 12)["placed_at"]),
    )

    outcome = fresh.connector().erase(matches)

    assert actions_of(outcome, "orders", 15) == {"": ("deleted", "", None)}
    assert fresh.row("customers", 2) is None


def test_a_hold_that_is_over_lets_the_normal_action_apply(fresh: Source):
    fresh.query("UPDATE invoices SET issued_at = %s WHERE id = %s", (fresh.row("invoices", 101)["issued_at"], 100))

    outcome = fresh.connector().erase(locate(fresh, "maria"))

    assert outcome.count("kept") == 1  # only the body of the recent ticket
    assert fresh.row("customers", 1) is None
    assert fresh.row("orders", 10) is None
    assert fresh.row("invoices", 100) is None


def test_masks_are_per_row_even_when_rows_are_erased_in_one_statement(fresh: Source):
    opened = fresh.row("support_tickets", 21)["opened_at"]
    for ticket_id in (24, 25):
        fresh.query(
            "INSERT INTO support_tickets (id, customer_id, contact_email, subject, body, opened_at) "
            "VALUES (%s, NULL, %s, %s, %s, %s)",
            (ticket_id, "maria.silva@example.com", "Hello", "Old question.", opened),
        )
    matches = locate(fresh, "maria")

    fresh.connector().erase(matches)

    emails = {fresh.row("support_tickets", pk)["contact_email"] for pk in (21, 24, 25)}
    assert len(emails) == 3
    assert all(HEX_MASK.fullmatch(email) for email in emails)
    assert fresh.connector().erase(matches).changed == 0


def test_locate_on_generated_data_finds_exactly_what_sql_says_is_theirs(kind: str):
    with source_database(kind, customers=300, orders=1500, tickets=1500) as source:
        assert source.counts["customers"] == 305
        connector = source.connector()
        for customer_id in (1000, 1007, 1150):  # 1007 is stored as " FIRST.1007@EXAMPLE.NET "
            email = source.query("SELECT LOWER(TRIM(email)) FROM customers WHERE id = %s", (customer_id,))[0][0]
            orders = {row[0] for row in source.query("SELECT id FROM orders WHERE customer_id = %s", (customer_id,))}
            expected = {
                "customers": {customer_id},
                "orders": orders,
                "invoices": {
                    row[0]
                    for row in source.query(
                        "SELECT i.id FROM invoices i JOIN orders o ON o.id = i.order_id WHERE o.customer_id = %s",
                        (customer_id,),
                    )
                },
                "support_tickets": {
                    row[0]
                    for row in source.query(
                        "SELECT id FROM support_tickets WHERE customer_id = %s OR contact_email = %s",
                        (customer_id, email),
                    )
                },
            }

            matches = connector.locate([Identity("email", email)])

            assert by_table(matches) == expected
            assert expected["orders"]


# ---------------------------------------------------------------- rectify and restrict


def test_rectify_updates_the_columns_of_the_attribute_normalised_and_leaves_held_rows(fresh: Source):
    matches = locate(fresh, "maria")
    connector = fresh.connector()
    corrections = {"email": " Maria.Nova@Example.COM", "phone": "(11) 91234-5678", "full_name": "Maria  Silva Nova"}

    outcome = connector.rectify(matches, corrections)

    for pk in (1, 2):
        customer = fresh.row("customers", pk)
        assert (customer["email"], customer["phone"]) == ("maria.nova@example.com", "+5511912345678")
        assert customer["full_name"] == "Maria Silva Nova"
        assert actions_of(outcome, "customers", pk)["email"] == ("rectified", "", None)
    assert fresh.row("support_tickets", 21)["contact_email"] == "maria.nova@example.com"
    assert actions_of(outcome, "invoices", 100)[""][:2] == ("kept", TAX_BASIS)
    assert fresh.row("invoices", 100)["billing_name"] == "Maria Silva"
    assert fresh.row("invoices", 101)["billing_name"] == "Maria Silva Nova"  # its hold is over
    assert fresh.row("customers", 3)["email"] == "maria.silva@other.example"

    again = connector.rectify(matches, corrections)

    assert again.changed == 0
    assert actions_of(again, "customers", 1)["phone"] == ("unchanged", "already correct", None)


def test_rectify_refuses_a_bad_value_or_attribute_before_writing_anything(fresh: Source):
    matches = locate(fresh, "maria")
    before = snapshot(fresh)
    connector = fresh.connector()

    with pytest.raises(ConnectorError) as bad_email:
        connector.rectify(matches, {"full_name": "Maria Nova", "email": "maria.nova@@example"})
    with pytest.raises(ConnectorError) as unknown:
        connector.rectify(matches, {"shoe_size": "38"})
    with pytest.raises(ConnectorError) as bad_date:
        connector.rectify(matches, {"birth_date": "12/04/1985"})

    assert not bad_email.value.retryable
    assert str(bad_email.value).startswith(f"{fresh.name}: rectify: email: Not a valid email address")
    assert "maria" not in str(bad_email.value)
    assert "unknown attribute shoe_size" in str(unknown.value)
    assert "birth_date: give a past date as YYYY-MM-DD" in str(bad_date.value)
    assert snapshot(fresh) == before


def test_restrict_sets_the_flag_once(fresh: Source):
    matches = locate(fresh, "maria")
    connector = fresh.connector()

    outcome = connector.restrict(matches)
    again = connector.restrict(matches)

    assert [(item.locator["pk"], item.action, item.field) for item in outcome.actions] == [
        (1, "restricted", "blocked"),
        (2, "restricted", "blocked"),
    ]
    assert fresh.row("customers", 1)["blocked"] is True
    assert fresh.row("customers", 2)["blocked"] is True
    assert fresh.row("customers", 3)["blocked"] is False
    assert again.changed == 0
    assert {item.reason for item in again.actions} == {"already restricted"}


# ---------------------------------------------------------------- failures


def test_a_source_that_is_down_is_a_retryable_error_naming_source_and_step(shared: Source):
    scheme = "postgresql" if shared.kind == "postgres" else "mysql"
    url = f"{scheme}://root:s3cret-pw@127.0.0.1:{closed_port()}/{shared.database}"
    connector = SqlConnector(shared.name, url, shared.dataset_map, connect_timeout=2)

    with pytest.raises(ConnectorError) as caught:
        connector.locate(list(shared.people["maria"].identities))

    assert caught.value.retryable
    message = str(caught.value)
    assert message.startswith(f"{shared.name}: locate: ")
    assert "s3cret" not in message
    assert "maria" not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_source_that_refuses_the_login_is_not_retried(shared: Source):
    wrong = shared.url.rsplit("/", 1)[0] + "/c360_src_no_such_database"
    connector = SqlConnector(shared.name, wrong, shared.dataset_map)

    with pytest.raises(ConnectorError) as caught:
        connector.export([Match("customers", {"table": "customers", "pk": 1})])

    assert not caught.value.retryable
    assert str(caught.value).startswith(f"{shared.name}: export: ")
    assert "no_such_database" not in str(caught.value)


def test_validate_against_database_catches_a_column_missing_in_the_real_database(fresh: Source):
    assert validate_against_database(fresh.dataset_map, fresh.url) == []
    fresh.query("ALTER TABLE customers DROP COLUMN birth_date")

    problems = validate_against_database(fresh.dataset_map, fresh.url)
    connection = fresh.connect()
    try:
        from_connection = validate_against_database(fresh.dataset_map, connection)
    finally:
        connection.close()

    expected = [
        ("tables.customers.fields.birth_date", "The column customers.birth_date does not exist in the database.")
    ]
    assert problems == expected
    assert from_connection == expected
    assert fresh.connector().validate() == expected


def test_a_map_that_does_not_fit_the_database_fails_without_retry(fresh: Source):
    fresh.query("ALTER TABLE customers DROP COLUMN birth_date")

    with pytest.raises(ConnectorError) as caught:
        fresh.connector().export(locate_without_birth_date(fresh))

    assert not caught.value.retryable
    assert str(caught.value).startswith(f"{fresh.name}: export: customers: a column of the map does not exist")


def locate_without_birth_date(source: Source) -> list[Match]:
    document = yaml.safe_load(source.map_text)
    del document["tables"]["customers"]["fields"]["birth_date"]
    return SqlConnector(source.name, source.url, parse_dataset_map(yaml.safe_dump(document))).locate(
        list(source.people["maria"].identities)
    )


def test_validate_reports_unmapped_tables_not_null_columns_and_non_text_masks(fresh: Source):
    fresh.query("CREATE TABLE reviews (id BIGINT PRIMARY KEY, customer_id BIGINT REFERENCES customers (id), body TEXT)")
    document = yaml.safe_load(fresh.map_text)
    document["tables"]["customers"]["fields"]["birth_date"]["erase"] = "mask"
    document["tables"]["orders"]["fields"]["status"] = {"category": "behavioural", "erase": "null"}
    dataset_map = parse_dataset_map(yaml.safe_dump(document))

    problems = dict(validate_against_database(dataset_map, fresh.url))

    assert problems["tables.customers.fields.birth_date.erase"].startswith("Masking needs a text column")
    assert problems["tables.orders.fields.status.erase"].startswith("The column is NOT NULL")
    assert problems["tables"].startswith("reviews.customer_id references customers.id in the database")


def test_no_personal_data_reaches_the_logs(fresh: Source, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    connector = fresh.connector()
    matches = connector.locate(list(fresh.people["maria"].identities))
    connector.export(matches)
    connector.rectify(matches, {"phone": "+55 11 91234-5678"})
    connector.restrict(matches)
    connector.erase(matches)

    logged = "\n".join(str(vars(record)) for record in caplog.records).lower()
    assert "sql source erased rows" in logged
    for value in ("maria", "silva", "52998224725", "529.982.247-25", "98765", "91234", "flores", "paulista"):
        assert value not in logged


def test_mysql_tls_is_verified_unless_the_server_is_local_or_the_url_turns_it_off():
    from dsar.connectors.sql import _MySQL

    def tls(url: str) -> str:
        return _MySQL(url, connect_timeout=1, statement_timeout=1).tls

    assert tls("mysql://root@127.0.0.1:3306/shop") == "off"
    assert tls("mysql://app@db.internal.example:3306/shop") == "verify"
    assert tls("mysql://app@db.internal.example:3306/shop?tls=off") == "off"
    with pytest.raises(ValueError, match="tls"):
        tls("mysql://app@db.internal.example:3306/shop?tls=preferred")
