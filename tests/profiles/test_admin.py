"""The DPO console: masked lists, blind-index search, and the audited reveal."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from profiles.models import SubjectAccess
from tests.factories import SubjectFactory

pytestmark = pytest.mark.django_db


def clear_forms(person) -> list[str]:
    return [
        person.attributes["given_name"],
        person.attributes["family_name"],
        person.email.lower(),
        person.cpf,
    ]


def test_the_list_shows_masked_values_only(admin_client):
    subjects = [SubjectFactory() for _ in range(3)]

    response = admin_client.get("/admin/profiles/subject/")

    assert response.status_code == 200
    content = response.content.decode()
    for subject in subjects:
        assert str(subject.id)[:8] in content
        for value in clear_forms(subject.person):
            assert value not in content
    assert "***" in content
    assert not SubjectAccess.objects.exists()


@pytest.mark.parametrize("form", ["email", "phone", "cpf", "id"])
def test_search_finds_by_exact_identifier(admin_client, form):
    subject, other = SubjectFactory(), SubjectFactory()
    term = {
        "email": f"  {subject.person.email.upper()} ",
        "phone": subject.person.phone,
        "cpf": subject.person.cpf.replace(".", "").replace("-", ""),
        "id": str(subject.id),
    }[form]

    response = admin_client.get("/admin/profiles/subject/", {"q": term})

    assert list(response.context["cl"].result_list) == [subject]
    assert str(other.id)[:8] not in response.content.decode()


def test_search_for_something_that_is_no_identifier_finds_nothing(admin_client):
    SubjectFactory()

    response = admin_client.get("/admin/profiles/subject/", {"q": "Maria"})

    assert list(response.context["cl"].result_list) == []


def test_the_change_page_is_masked_and_offers_the_reveal(admin_client):
    subject = SubjectFactory()

    response = admin_client.get(f"/admin/profiles/subject/{subject.id}/change/")

    content = response.content.decode()
    assert response.status_code == 200
    assert f"/admin/profiles/subject/{subject.id}/reveal/" in content
    for value in clear_forms(subject.person):
        assert value not in content


def test_reveal_needs_a_reason_and_logs_it(admin_client, admin_user):
    subject = SubjectFactory()
    url = f"/admin/profiles/subject/{subject.id}/reveal/"

    form_page = admin_client.get(url)
    refused = admin_client.post(url, {"reason": "x"})
    assert form_page.status_code == refused.status_code == 200
    assert subject.person.email.lower() not in form_page.content.decode() + refused.content.decode()
    assert not SubjectAccess.objects.exists()

    shown = admin_client.post(url, {"reason": "DSAR 2026-0107 verification"})

    content = shown.content.decode()
    assert subject.person.email.lower() in content
    assert subject.person.attributes["family_name"] in content
    assert "no-store" in shown["Cache-Control"]
    access = SubjectAccess.objects.get()
    assert access.user == admin_user
    assert access.reason == "DSAR 2026-0107 verification"


def test_the_bulk_reveal_action_reveals_and_logs_each_subject(admin_client):
    first, second = SubjectFactory(), SubjectFactory()
    selection = {"action": "reveal_selected", "_selected_action": [first.pk, second.pk]}

    asked = admin_client.post("/admin/profiles/subject/", selection)
    shown = admin_client.post("/admin/profiles/subject/", {**selection, "reason": "quality audit Q4"})

    assert "reason" in asked.content.decode()
    assert first.person.email.lower() in shown.content.decode()
    assert second.person.email.lower() in shown.content.decode()
    assert SubjectAccess.objects.count() == 2


def test_staff_without_the_reveal_permission_cannot_reveal(client, django_user_model, second_factor):
    subject = SubjectFactory()
    agent = django_user_model.objects.create_user("agent", password="correct horse 1", is_staff=True)
    agent.user_permissions.add(Permission.objects.get(codename="view_subject"))
    client.force_login(agent)
    second_factor(client, agent)

    assert client.get("/admin/profiles/subject/").status_code == 200
    response = client.post(f"/admin/profiles/subject/{subject.id}/reveal/", {"reason": "just curious"})

    assert response.status_code == 403
    assert not SubjectAccess.objects.exists()


def test_the_access_log_is_read_only_in_the_admin(admin_client):
    subject = SubjectFactory()
    admin_client.post(f"/admin/profiles/subject/{subject.id}/reveal/", {"reason": "DSAR 2026-0108"})
    access = SubjectAccess.objects.get()

    assert admin_client.get("/admin/profiles/subjectaccess/").status_code == 200
    assert admin_client.post(f"/admin/profiles/subjectaccess/{access.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SubjectAccess.objects.filter(pk=access.pk).exists()
