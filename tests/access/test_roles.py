"""Staff roles are groups kept in step with the code on every migrate."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from c360.access.roles import AUDITOR, DPO, PRIVACY_ANALYST, ROLES, SUPPORT_AGENT, role_permissions, roles_sync

pytestmark = pytest.mark.django_db


def group_permissions() -> dict[str, set[str]]:
    return {
        group.name: {
            f"{app}.{codename}"
            for app, codename in group.permissions.values_list("content_type__app_label", "codename")
        }
        for group in Group.objects.filter(name__in=[role.name for role in ROLES])
    }


@pytest.mark.django_db(transaction=True)
def test_migrating_twice_leaves_the_groups_identical():
    call_command("migrate", verbosity=0)
    first = group_permissions()
    call_command("migrate", verbosity=0)

    assert group_permissions() == first
    assert set(first) == {role.name for role in ROLES}
    assert Group.objects.filter(name=DPO.name).count() == 1


def test_a_group_edited_by_hand_is_put_back_by_the_sync():
    auditor = Group.objects.get(name=AUDITOR.name)
    auditor.permissions.add(*DPO_ONLY_PERMISSIONS())

    roles_sync()

    assert group_permissions()[AUDITOR.name] == set(role_permissions(AUDITOR))


def DPO_ONLY_PERMISSIONS():  # noqa: N802
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename__in=["reveal_subject", "add_apikey", "delete_datasource"])


def test_the_dpo_reveals_and_holds_every_permission():
    permissions = group_permissions()[DPO.name]

    assert "profiles.reveal_subject" in permissions
    assert "access.add_apikey" in permissions
    assert permissions == set(role_permissions(DPO))


def test_the_auditor_holds_only_view_permissions_and_no_second_factor_secrets():
    permissions = group_permissions()[AUDITOR.name]

    assert permissions
    assert all(permission.split(".")[1].startswith("view_") for permission in permissions)
    assert "profiles.view_subjectaccess" in permissions  # the access log
    assert "profiles.view_historicalsubject" in permissions  # history
    assert "otp_totp.view_totpdevice" not in permissions
    assert "profiles.reveal_subject" not in permissions


def test_the_analyst_works_requests_and_reveals_but_never_deletes_nor_issues_keys():
    permissions = group_permissions()[PRIVACY_ANALYST.name]

    assert {
        "dsar.change_datarequest",
        "consent.change_purpose",
        "profiles.change_source",
        "profiles.reveal_subject",
    } <= permissions
    assert not [permission for permission in permissions if ".delete_" in permission]
    assert not [
        permission for permission in permissions if permission.startswith("access.") and ".view_" not in permission
    ]


def test_support_files_and_reads_requests_only():
    assert group_permissions()[SUPPORT_AGENT.name] == {
        "dsar.add_datarequest",
        "dsar.view_datarequest",
        "dsar.view_requestevent",
        "dsar.view_requesttask",
        "profiles.view_subject",
    }
