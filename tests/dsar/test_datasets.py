"""Dataset maps: a good map parses into the graph the connector walks; a bad one is refused with the path
of every problem, before anything touches a database."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
import yaml

from dsar.datasets import DatasetMapError, Period, parse_dataset_map
from tests.dsar.sources import CLAIMS_BASIS, TAX_BASIS, map_yaml


def base_document() -> dict[str, Any]:
    return yaml.safe_load(map_yaml("postgres"))


def parse_document(document: dict[str, Any]):
    return parse_dataset_map(yaml.safe_dump(document, sort_keys=False))


def errors_of(document: dict[str, Any] | str) -> list[tuple[str, str]]:
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    with pytest.raises(DatasetMapError) as caught:
        parse_dataset_map(text)
    return caught.value.errors


def assert_error(errors: list[tuple[str, str]], path: str, fragment: str) -> None:
    assert any(where == path and fragment in message for where, message in errors), errors


def changed(**edits: Any) -> dict[str, Any]:
    """The shop map with values replaced at dotted paths (a value of None removes the key)."""
    document = copy.deepcopy(base_document())
    for dotted, value in edits.items():
        *parents, last = dotted.split("__")
        target = document
        for part in parents:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return document


# ---------------------------------------------------------------- a valid map


def test_the_shop_map_parses_into_tables_references_and_an_erase_order():
    dataset_map = parse_dataset_map(map_yaml("postgres"))

    assert list(dataset_map.tables) == ["customers", "orders", "invoices", "support_tickets"]
    assert dataset_map.order == ("customers", "orders", "invoices", "support_tickets")
    assert dataset_map.erase_order == ("support_tickets", "invoices", "orders", "customers")
    assert [str(edge) for edge in dataset_map.edges] == [
        "customers.id -> orders.customer_id",
        "orders.id -> invoices.order_id",
        "customers.id -> support_tickets.customer_id",
    ]
    customers = dataset_map.tables["customers"]
    assert customers.deletes_rows
    assert customers.restrict is not None
    assert (customers.restrict.column, customers.restrict.value) == ("blocked", True)
    assert [spec.name for spec in customers.identity_fields] == ["email", "phone", "cpf"]
    assert customers.fields["email"].identity.normalise == "lower"
    assert (customers.fields["phone"].identity.normalise, customers.fields["phone"].identity.region) == ("e164", "BR")
    assert customers.fields["cpf"].identity.normalise == "digits"
    assert customers.fields["phone"].erase == "null"
    assert customers.fields["full_name"].mask_value == "***"
    invoices = dataset_map.tables["invoices"]
    assert invoices.hold.basis == TAX_BASIS
    assert invoices.hold.start_column == "issued_at"
    assert invoices.hold.until(dt.date(2024, 3, 1)) == dt.date(2029, 3, 1)
    assert dataset_map.tables["support_tickets"].fields["body"].hold.basis == CLAIMS_BASIS
    assert not dataset_map.tables["support_tickets"].deletes_rows


def test_a_bare_yaml_null_as_erase_action_means_set_to_null():
    text = map_yaml("postgres").replace('attribute: phone, erase: "null"', "attribute: phone, erase: null")
    assert "attribute: phone, erase: null}" in text

    dataset_map = parse_dataset_map(text)

    assert dataset_map.tables["customers"].fields["phone"].erase == "null"


def test_a_hold_without_a_start_date_has_no_end_date():
    hold = parse_dataset_map(map_yaml("postgres")).tables["invoices"].hold

    assert hold.until(None) is None
    assert hold.until("not a date") is None
    assert hold.until(dt.datetime(2020, 5, 17, 23, 59, tzinfo=dt.UTC)) == dt.date(2025, 5, 17)


def test_periods_are_iso_durations_and_the_29th_of_february_ends_on_the_28th():
    assert Period.parse("P5Y").after(dt.date(2024, 2, 29)) == dt.date(2029, 2, 28)
    assert Period.parse("P1Y6M").after(dt.date(2024, 8, 31)) == dt.date(2026, 2, 28)
    assert Period.parse("P2W3D").after(dt.date(2024, 1, 1)) == dt.date(2024, 1, 18)
    with pytest.raises(ValueError, match="ISO 8601"):
        Period.parse("5 years")


# ---------------------------------------------------------------- refused, with the path of each problem


def test_bad_yaml_is_refused_with_its_line_and_column():
    errors = errors_of("tables:\n  customers: [unclosed\n")

    assert len(errors) == 1
    assert errors[0][0].startswith("line ")
    assert "Not valid YAML" in errors[0][1]


def test_a_table_declared_twice_is_refused_not_silently_replaced():
    text = map_yaml("postgres") + "  orders:\n    primary_key: id\n    fields: {id: {category: system}}\n"

    errors = errors_of(text)

    assert "found the key 'orders' twice" in errors[0][1]


def test_an_empty_document_is_refused():
    assert errors_of("") == [("(document)", "The dataset map is empty.")]


def test_a_bad_erase_action_is_refused_with_its_path_and_the_allowed_actions():
    errors = errors_of(changed(tables__orders__fields__total={"category": "financial", "erase": "shred"}))

    assert errors == [("tables.orders.fields.total.erase", "'shred' is not one of ['null', 'mask', 'keep']")]


def test_an_unknown_identity_kind_names_the_kinds():
    document = changed(tables__customers__fields__email={"category": "contact", "identity": "emial", "erase": "mask"})

    errors = errors_of(document)

    assert errors == [
        ("tables.customers.fields.email.identity", "'emial' is not one of ['email', 'phone', 'cpf', 'external_id']")
    ]


def test_a_missing_primary_key_is_refused():
    errors = errors_of(changed(tables__orders__primary_key=None))

    assert errors == [("tables.orders", "'primary_key' is a required property")]


def test_a_primary_key_that_is_not_a_declared_field_is_refused():
    errors = errors_of(changed(tables__orders__primary_key="order_number"))

    assert_error(errors, "tables.orders.primary_key", "'order_number' is not a declared field of orders")


def test_unsafe_names_never_reach_sql():
    document = base_document()
    document["tables"]["orders; DROP TABLE customers"] = document["tables"].pop("orders")

    errors = errors_of(document)

    assert errors[0][0] == "tables"
    assert "does not match" in errors[0][1]


def test_a_reference_to_an_unknown_table_is_refused():
    document = changed(tables__orders__fields__customer_id={"category": "system", "references": "customerz.id"})

    errors = errors_of(document)

    assert errors == [
        ("tables.orders.fields.customer_id.references", "Unknown table 'customerz'; it is not in the map.")
    ]


def test_a_reference_to_an_undeclared_column_is_refused():
    document = changed(tables__orders__fields__customer_id={"category": "system", "references": "customers.uuid"})

    errors = errors_of(document)

    assert_error(
        errors,
        "tables.orders.fields.customer_id.references",
        "Unknown column 'uuid'; it is not a declared field of customers",
    )


def test_a_reference_cycle_is_refused_with_the_cycle_path():
    document = base_document()
    document["tables"]["customers"]["fields"]["last_order_id"] = {"category": "system", "references": "orders.id"}

    errors = errors_of(document)

    cycles = [(path, message) for path, message in errors if "Reference cycle" in message]
    assert len(cycles) == 1
    assert cycles[0] == (
        "tables.customers.fields.last_order_id.references",
        (
            "Reference cycle customers -> orders -> customers "
            "(customers.last_order_id -> orders.id, orders.customer_id -> customers.id): "
            "erasure order would be undefined."
        ),
    )


def test_a_self_reference_is_a_cycle():
    document = base_document()
    document["tables"]["customers"]["fields"]["referred_by"] = {"category": "system", "references": "customers.id"}

    errors = errors_of(document)

    assert_error(errors, "tables.customers.fields.referred_by.references", "Reference cycle customers -> customers")


def test_a_map_without_any_identity_column_is_refused():
    document = base_document()
    for table in document["tables"].values():
        for spec in table["fields"].values():
            spec.pop("identity", None)

    errors = errors_of(document)

    assert errors == [("tables", "No field is marked as an identity: the map cannot find anyone.")]


def test_a_table_with_no_identity_column_and_no_reference_is_refused():
    document = base_document()
    document["tables"]["newsletter_log"] = {
        "primary_key": "id",
        "erase": "delete_row",
        "fields": {"id": {"category": "system"}, "address": {"category": "contact"}},
    }

    errors = errors_of(document)

    assert_error(errors, "tables.newsletter_log", "No identity column and no reference to another table")


def test_a_table_not_reachable_from_any_identity_table_is_refused():
    document = base_document()
    document["tables"]["products"] = {"primary_key": "id", "fields": {"id": {"category": "system"}}}
    document["tables"]["reviews"] = {
        "primary_key": "id",
        "erase": "delete_row",
        "fields": {
            "id": {"category": "system"},
            "product_id": {"category": "system", "references": "products.id"},
            "text": {"category": "behavioural"},
        },
    }

    errors = errors_of(document)

    assert_error(errors, "tables.reviews", "Not reachable from any identity table")
    assert_error(errors, "tables.products", "No identity column and no reference")


def test_deleting_a_parent_whose_children_are_neither_deleted_nor_detached_is_refused():
    document = changed(
        tables__support_tickets__fields__customer_id={"category": "system", "references": "customers.id"}
    )

    errors = errors_of(document)

    assert errors == [
        (
            "tables.customers.erase",
            (
                "delete_row, but support_tickets.customer_id references customers.id and support_tickets rows are "
                "neither deleted nor is customer_id nulled: the foreign key would refuse the delete. Delete "
                "support_tickets rows too, or set tables.support_tickets.fields.customer_id.erase to null."
            ),
        )
    ]


def test_personal_data_in_a_kept_row_needs_an_explicit_action():
    document = changed(tables__support_tickets__fields__contact_email={"category": "contact", "identity": "email"})

    errors = errors_of(document)

    assert_error(errors, "tables.support_tickets.fields.contact_email.erase", "Required for personal data (contact)")


def test_keeping_personal_data_needs_a_basis():
    document = changed(tables__support_tickets__fields__subject={"category": "behavioural", "erase": "keep"})

    errors = errors_of(document)

    assert errors == [
        (
            "tables.support_tickets.fields.subject.basis",
            "Keeping personal data needs a basis: the legal reason to keep it.",
        )
    ]


def test_a_referenced_column_cannot_be_masked():
    document = changed(tables__orders__fields__id={"category": "system", "erase": "mask"})

    errors = errors_of(document)

    assert_error(errors, "tables.orders.fields.id.erase", "must be keep")
    assert_error(errors, "tables.orders.fields.id.erase", "referenced by invoices.order_id")


def test_hold_problems_are_refused_with_their_paths():
    document = base_document()
    document["tables"]["invoices"]["hold"]["from"] = "paid_at"
    document["tables"]["invoices"]["hold"]["period"] = "5 years"

    errors = errors_of(document)

    assert len(errors) == 1
    assert_error(errors, "tables.invoices.hold.period", "'5 years' does not match")
    document["tables"]["invoices"]["hold"]["period"] = "P5Y"
    assert errors_of(document) == [("tables.invoices.hold.from", "'paid_at' is not a declared field of invoices.")]


def test_every_problem_is_reported_at_once():
    document = base_document()
    document["tables"]["orders"]["fields"]["total"]["erase"] = "shred"
    document["tables"]["invoices"]["fields"]["amount"]["category"] = "money"

    errors = errors_of(document)

    assert [path for path, _ in errors] == [
        "tables.invoices.fields.amount.category",
        "tables.orders.fields.total.erase",
    ]
    assert "2 problem(s)" in str(DatasetMapError(errors))
