from __future__ import annotations

import pytest
from django.utils import timezone

from c360.compliance.models import Incident, ProcessingActivity, RetentionRule, RetentionRun

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["processingactivity", "incident", "retentionrule", "legalhold", "retentionrun"])
def test_every_register_has_a_changelist_and_an_add_page(admin_client, model):
    assert admin_client.get(f"/admin/compliance/{model}/").status_code == 200
    expected = 403 if model == "retentionrun" else 200
    assert admin_client.get(f"/admin/compliance/{model}/add/").status_code == expected


def test_an_activity_saved_in_the_admin_goes_through_the_service_and_exports(admin_client, admin_user, newsletter):
    # given
    response = admin_client.post(
        "/admin/compliance/processingactivity/add/",
        {
            "name": "Newsletter",
            "status": "draft",
            "controller": "Loja Exemplo",
            "dpo_name": "Encarregado",
            "dpo_email": "dpo@example.com",
            "purposes": [newsletter.pk],
            "subject_categories": '["customers"]',
            "data_categories": '["contact"]',
            "recipient_categories": '["none"]',
            "recipients": "[]",
            "security_measures": "Encryption",
            "retention_text": "2 years",
            "transfers-TOTAL_FORMS": "0",
            "transfers-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    activity = ProcessingActivity.objects.get()
    assert list(activity.purposes.all()) == [newsletter]
    assert activity.history.first().history_actor == f"user:{admin_user.pk}"

    # when
    csv_response = admin_client.post(
        "/admin/compliance/processingactivity/", {"action": "export_csv", "_selected_action": [activity.pk]}
    )
    pdf_response = admin_client.post(
        "/admin/compliance/processingactivity/", {"action": "export_pdf", "_selected_action": [activity.pk]}
    )

    # then
    assert csv_response["Content-Type"].startswith("text/csv")
    assert b"Newsletter" in csv_response.content
    assert pdf_response.content.startswith(b"%PDF")


def test_an_incident_saved_in_the_admin_gets_its_clocks_and_checklist(admin_client):
    response = admin_client.post(
        "/admin/compliance/incident/add/",
        {
            "title": "Phishing",
            "detected_at_0": "2026-11-19",
            "detected_at_1": "09:00:00",
            "aware_at_0": "2026-11-19",
            "aware_at_1": "10:00:00",
            "data_categories": '["contact"]',
            "systems": "[]",
            "regimes": '["lgpd"]',
            "risk": "",
            "notify_authority": "unknown",
            "notify_subjects": "unknown",
            "status": "open",
            "checklist_done": ["lgpd_48_1_i"],
            "notifications-TOTAL_FORMS": "0",
            "notifications-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    incident = Incident.objects.get()
    assert incident.anpd_authority_due_at is not None
    assert incident.checklist["lgpd_48_1_i"]["done"] is True


def test_the_dry_run_action_records_a_run(admin_client):
    rule = RetentionRule.objects.create(
        name="r", target="inactive_subjects", period_days=10, action="erase", is_active=True, updated_at=timezone.now()
    )

    admin_client.post("/admin/compliance/retentionrule/", {"action": "run_dry_run_now", "_selected_action": [rule.pk]})

    assert RetentionRun.objects.get().dry_run is True


def test_a_refused_incident_is_not_reported_as_saved(admin_client):
    """Not notifying without reasons: the service refuses, the admin says so and nothing else."""
    from django.contrib.messages import get_messages

    response = admin_client.post(
        "/admin/compliance/incident/add/",
        {
            "title": "Lost laptop",
            "detected_at_0": "2026-11-19",
            "detected_at_1": "09:00:00",
            "aware_at_0": "2026-11-19",
            "aware_at_1": "10:00:00",
            "data_categories": '["contact"]',
            "systems": "[]",
            "regimes": '["lgpd"]',
            "risk": "low",
            "notify_authority": "no",
            "notify_subjects": "no",
            "status": "open",
            "notifications-TOTAL_FORMS": "0",
            "notifications-INITIAL_FORMS": "0",
        },
    )
    texts = [str(message) for message in get_messages(response.wsgi_request)]
    assert response.status_code == 302
    assert response["Location"] == "/admin/compliance/incident/add/"
    assert any(text.startswith("Not saved.") for text in texts)
    assert not any("successfully" in text for text in texts)
    assert not Incident.objects.exists()
