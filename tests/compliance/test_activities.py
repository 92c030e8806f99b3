from __future__ import annotations

import csv
import io

import pytest

from c360.compliance.exports import CSV_COLUMNS, activities_csv, activities_pdf
from c360.compliance.models import InternationalTransfer, ProcessingActivity
from c360.compliance.selectors import processing_activities_completeness, processing_activities_for_export
from c360.compliance.services import international_transfer_save, processing_activity_save
from c360.lib.errors import ValidationFailed

from .conftest import DPO

pytestmark = pytest.mark.django_db


def complete_activity(purposes, **overrides):
    values = {
        "name": "Newsletter",
        "controller": "Loja Exemplo Ltda., CNPJ 00.000.000/0001-00, dpo@loja-exemplo.com.br",
        "subject_categories": ["customers", "leads"],
        "data_categories": ["contact"],
        "recipient_categories": ["email service provider"],
        "recipients": [{"name": "MailCo", "role": "processor", "country": "US"}],
        "retention_text": "Until consent is withdrawn, then 5 years as proof.",
        "retention_days": 1825,
        "security_measures": "Field-level encryption, MFA for staff, audit log.",
        "lia_reference": "",
    }
    values.update(overrides)
    return processing_activity_save(activity=ProcessingActivity(**values), actor=DPO, purposes=purposes)


def test_the_dpo_contact_defaults_from_settings_and_a_complete_activity_has_nothing_missing(newsletter, settings):
    # given a complete activity
    activity = complete_activity([newsletter])

    # then
    assert activity.dpo_name == settings.C360_DPO_NAME
    assert activity.dpo_email == settings.C360_DPO_EMAIL
    assert processing_activities_completeness() == [
        {"id": activity.pk, "name": "Newsletter", "status": "draft", "missing": []}
    ]
    assert activity.history.first().history_actor == str(DPO)


def test_completeness_flags_missing_fields_and_legitimate_interest_without_lia(fraud):
    # given a draft with empty mandatory fields, resting on legitimate interest with no LIA
    activity = complete_activity([fraud], controller="", security_measures="", subject_categories=[])

    # when
    (entry,) = processing_activities_completeness()

    # then
    assert entry["id"] == activity.pk
    assert {item["field"] for item in entry["missing"]} == {
        "controller",
        "security_measures",
        "subject_categories",
        "lia_reference",
    }
    lia = next(item for item in entry["missing"] if item["field"] == "lia_reference")
    assert "security.fraud" in lia["label"]


def test_an_activity_without_purposes_or_retention_is_flagged():
    activity = complete_activity([], retention_text="", retention_days=None)

    (entry,) = processing_activities_completeness()

    assert entry["id"] == activity.pk
    assert {item["field"] for item in entry["missing"]} == {"purposes", "retention_text"}


def test_an_incomplete_activity_cannot_be_made_active_and_nothing_is_saved(fraud):
    with pytest.raises(ValidationFailed) as excinfo:
        complete_activity([fraud], status=ProcessingActivity.Status.ACTIVE)

    assert "lia_reference" in excinfo.value.errors
    assert not ProcessingActivity.objects.exists()


def test_an_activity_with_lia_becomes_active(fraud):
    activity = complete_activity([fraud], status=ProcessingActivity.Status.ACTIVE, lia_reference="LIA-2026-01")

    assert ProcessingActivity.objects.get(pk=activity.pk).status == "active"


def test_a_transfer_other_than_adequacy_needs_its_safeguard_document(newsletter):
    activity = complete_activity([newsletter])

    with pytest.raises(ValidationFailed) as excinfo:
        international_transfer_save(
            transfer=InternationalTransfer(activity=activity, country="us", recipient="MailCo", mechanism="sccs"),
            actor=DPO,
        )

    assert "safeguard_reference" in excinfo.value.errors
    assert not InternationalTransfer.objects.exists()


def test_the_csv_export_has_every_art_30_1_column_and_one_row_per_activity(newsletter, fraud):
    # given two activities, one with a transfer
    first = complete_activity([newsletter, fraud], lia_reference="LIA-2026-01")
    complete_activity([newsletter], name="Loyalty")
    international_transfer_save(
        transfer=InternationalTransfer(
            activity=first, country="us", recipient="MailCo", mechanism="sccs", safeguard_reference="DPA-2025-07"
        ),
        actor=DPO,
    )

    # when
    rows = list(csv.DictReader(io.StringIO(activities_csv(processing_activities_for_export()))))

    # then
    art_30_1 = {
        "controller", "joint_controllers", "representative", "dpo_name", "dpo_email",  # (a)
        "purposes", "lgpd_legal_basis", "gdpr_legal_basis",  # (b)
        "subject_categories", "data_categories",  # (c)
        "recipient_categories", "recipients",  # (d)
        "international_transfers",  # (e)
        "retention", "retention_days",  # (f)
        "security_measures",  # (g)
        "lia_reference",
    }  # fmt: skip
    assert art_30_1 <= set(CSV_COLUMNS)
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [row["name"] for row in rows] == ["Loyalty", "Newsletter"]
    newsletter_row = rows[1]
    assert newsletter_row["purposes"] == "marketing.newsletter; security.fraud"
    assert newsletter_row["subject_categories"] == "customers; leads"
    assert "Art. 7 IX: legitimate interest" in newsletter_row["lgpd_legal_basis"]
    assert newsletter_row["international_transfers"].startswith("MailCo (US): Standard contractual clauses")
    assert "[DPA-2025-07]" in newsletter_row["international_transfers"]
    assert newsletter_row["missing_fields"] == ""


def test_csv_cells_cannot_start_a_spreadsheet_formula(newsletter):
    complete_activity([newsletter], controller="=HYPERLINK(1)")

    (row,) = csv.DictReader(io.StringIO(activities_csv(processing_activities_for_export())))

    assert row["controller"] == "'=HYPERLINK(1)"


def test_the_pdf_export_is_a_pdf(newsletter):
    complete_activity([newsletter])
    complete_activity([newsletter], name="Loyalty", controller="")

    pdf = activities_pdf(processing_activities_for_export())

    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 1000
