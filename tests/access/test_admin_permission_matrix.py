"""The permission matrix of the DPO console, generated from the admin registry and the roles.

For every role (c360.access.roles) and every registered ModelAdmin: the changelist, the add page (GET and an
empty POST), the change page of an existing object (GET and an empty POST), its history page, and every admin
action. The expected outcome comes from the role's permission set (and what the ModelAdmin allows at all,
asked as a superuser); each (role, model, view) is its own test id. A new model or action shows up here by
itself; a new action must say in ACTION_REQUIRES which permission it needs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.test import RequestFactory
from django.urls import reverse

from c360.access.roles import AUDITOR, ROLES, SUPPORT_AGENT, Role, role_permissions
from c360.lib.history import Actor

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("matrix-tests")

# What each admin action needs. ``None`` in the value means the model's own permission of that kind.
ACTION_REQUIRES: dict[tuple[str, str], str] = {
    ("*", "delete_selected"): "delete",
    ("access.apikey", "revoke"): "access.add_apikey",
    ("profiles.subject", "reveal_selected"): "profiles.reveal_subject",
    ("profiles.sourcerecord", "reprocess_selected"): "profiles.change_sourcerecord",
    ("profiles.matchsuggestion", "accept_selected"): "profiles.change_matchsuggestion",
    ("profiles.matchsuggestion", "reject_selected"): "profiles.change_matchsuggestion",
    # Reads the ledger and keeps the result (evidence, not a change to any data): anyone who can read it.
    ("consent.consentevent", "verify_ledger"): "consent.view_consentevent",
    ("dsar.datarequest", "retry_failed_sources"): "dsar.change_datarequest",
    ("dsar.datarequest", "accept_authority"): "dsar.change_datarequest",
    ("axes.accessattempt", "cleanup_expired_attempts"): "axes.delete_accessattempt",
    ("compliance.processingactivity", "export_csv"): "compliance.view_processingactivity",
    ("compliance.processingactivity", "export_pdf"): "compliance.view_processingactivity",
    ("compliance.retentionrule", "run_dry_run_now"): "compliance.change_retentionrule",
    ("compliance.legalhold", "release"): "compliance.change_legalhold",
}

# Known holes in admin modules owned by other apps: the action runs for roles that lack the permission.
# strict: once the check is added these start passing and the marker must go.
KNOWN_GAPS: dict[tuple[str, str], str] = {}
# Pages a role reaches without the permission (the ModelAdmin answers True without asking the user).
PAGE_GAPS: dict[tuple[str, str], str] = {}

# Apps whose every model the world below makes a row of. For a model of any other app (one added later) the
# change, history and action cases run against a missing object: the permission is still checked first, so a
# denied role gets 403 and an allowed one the admin's "does not exist" redirect; no action is run.
WORLD_APPS = frozenset({"access", "auth", "axes", "consent", "dsar", "otp_static", "otp_totp", "profiles"})
# ...except these, which only an identity-resolution scenario produces (covered without a row, as above).
NO_ROW = frozenset(
    {"profiles.matchsuggestion", "profiles.mergedecision", "profiles.portallogin", "consent.audiencecheck"}
)
MISSING_PK = "00000000-0000-0000-0000-000000000000"

REGISTRY: list[tuple[str, type[Model]]] = sorted((model._meta.label_lower, model) for model in admin.site._registry)


def _actions_of(model: type[Model]) -> list[str]:
    model_admin = admin.site._registry[model]
    names = [name for name in (model_admin.actions or []) if isinstance(name, str)]
    return ["delete_selected", *names]


def _params() -> Iterator[Any]:
    for role in ROLES:
        for label, _model_class in REGISTRY:
            reads = role.permissions({f"{label.replace('.', '.view_')}", f"{label.replace('.', '.change_')}"})
            for view in ("changelist", "add", "add-post", "change", "change-post", "history"):
                gap = PAGE_GAPS.get((label, view))
                marks = [pytest.mark.xfail(reason=gap, strict=True)] if gap and not reads else []
                yield pytest.param(role, label, view, id=f"{role.name}-{label}-{view}", marks=marks)


def _action_params() -> Iterator[Any]:
    for role in ROLES:
        for label, model in REGISTRY:
            for name in _actions_of(model):
                marks = []
                gap = KNOWN_GAPS.get((label, name))
                required = ACTION_REQUIRES.get((label, name), "")
                view = label.replace(".", ".view_")
                # only the roles that see the list but lack the permission are let through
                if gap and role.permissions({view}) and not role.permissions({required}):
                    marks.append(pytest.mark.xfail(reason=gap, strict=not label.startswith("compliance.")))
                yield pytest.param(role, label, name, id=f"{role.name}-{label}-action-{name}", marks=marks)


# ---------------------------------------------------------------- one row of everything


@pytest.fixture
def world(admin_user: Any, settings: Any, tmp_path: Any) -> dict[str, Model]:
    """At least one row of each registered model, made through the services where there are some."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.auth.models import Group
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from c360.access.services import api_key_issue
    from consent.models import Notice, NoticeVersion, Purpose, Suppression
    from consent.services.events import EventInput, consent_record, ledger_checkpoint, ledger_verification_record
    from dsar.models import DataSource
    from dsar.services.requests import request_create
    from profiles.models import Source
    from profiles.services.ingestion import records_ingest
    from profiles.services.subjects import subject_reveal
    from tests.factories import SubjectFactory

    settings.C360_FILES_DIR = tmp_path
    subject = SubjectFactory()
    subject_reveal(subject_id=subject.pk, actor=SYSTEM, reason="matrix fixture")
    crm = Source.objects.create(code="crm", name="CRM", trust_rank=80)
    records_ingest(
        source=crm,
        records=[
            {"external_id": "C1", "full_name": "Maria Souza", "email": "maria at gmail"},
            {"external_id": "C2", "full_name": "Joana Lima", "email": "joana.lima@example.com"},
        ],
        actor=SYSTEM,
    )
    purpose = Purpose.objects.create(
        code="marketing.newsletter",
        names={"pt-br": "Newsletter"},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email"],
        direct_marketing=True,
        validity_days=365,
        is_active=True,
    )
    notice = Notice.objects.create(code="privacy", title="Aviso de privacidade")
    notice.purposes.add(purpose)
    version = NoticeVersion.objects.create(notice=notice, version=1, language="pt-br", text="Usamos seu e-mail.")
    consent_record(
        event=EventInput(
            purpose_code=purpose.code,
            channel="email",
            action="grant",
            method="form_checkbox",
            subject_id=subject.id,
            notice_version_id=version.pk,
        ),
        actor=SYSTEM,
    )
    Suppression.objects.create(contact_kind="email", contact_index=b"x" * 32, reason="complaint")
    ledger_checkpoint()
    ledger_verification_record(actor=SYSTEM)
    DataSource.objects.create(code="c360", name="c360 profiles", kind="c360")
    request_create(
        request_type="access",
        regimes=["lgpd"],
        intake_channel="email",
        identities=[{"kind": "email", "value": "ana.souza@example.com.br"}],
        actor=SYSTEM,
    )
    api_key_issue(name="matrix", scopes=["consent:check"], actor=SYSTEM)
    TOTPDevice.objects.create(user=admin_user, name="phone")
    StaticDevice.objects.get_or_create(user=admin_user, name="backup")
    attempt = {"user_agent": "tests", "ip_address": "192.0.2.1", "username": "someone", "path_info": "/admin/login/"}
    AccessAttempt.objects.create(**attempt, get_data="", post_data="", http_accept="*/*", failures_since_start=1)
    AccessLog.objects.create(**attempt, http_accept="*/*")
    AccessFailureLog.objects.create(**attempt, http_accept="*/*", locked_out=False)
    Group.objects.get_or_create(name="Auditor")
    return {label: model._default_manager.order_by("pk").first() for label, model in REGISTRY}


def test_the_world_has_a_row_of_every_model_of_its_apps(world):
    missing = sorted(
        label
        for label, row in world.items()
        if row is None and label.split(".")[0] in WORLD_APPS and label not in NO_ROW
    )
    assert missing == []


# ---------------------------------------------------------------- helpers


def _request_as(user: Any) -> Any:
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _superuser() -> Any:
    return get_user_model().objects.filter(is_superuser=True).get()


def _names(model: type[Model]) -> dict[str, str]:
    app_label, model_name = model._meta.app_label, model._meta.model_name
    return {kind: f"{app_label}.{kind}_{model_name}" for kind in ("view", "add", "change", "delete")}


def _url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _model(label: str) -> type[Model]:
    return dict(REGISTRY)[label]


# ---------------------------------------------------------------- pages


@pytest.mark.parametrize(("role", "label", "view"), list(_params()))
def test_pages(role: Role, label: str, view: str, staff_client, world):
    # given a member of the role, and what the admin allows at all (asked as a superuser)
    client = staff_client(role)
    model = _model(label)
    model_admin = admin.site._registry[model]
    granted = role_permissions(role)
    perm = _names(model)
    obj = world[label]
    pk = obj.pk if obj is not None else MISSING_PK
    superuser = _request_as(_superuser())
    reads = perm["view"] in granted or perm["change"] in granted

    # when / then
    if view == "changelist":
        expected = reads
        response = client.get(_url(model, "changelist"))
    elif view == "add":
        expected = perm["add"] in granted and model_admin.has_add_permission(superuser)
        response = client.get(_url(model, "add"))
    elif view == "add-post":
        expected = perm["add"] in granted and model_admin.has_add_permission(superuser)
        before = model._default_manager.count()
        response = client.post(_url(model, "add"), {})
        if not expected:
            assert model._default_manager.count() == before
    elif view == "change":
        expected = reads
        response = client.get(_url(model, "change", pk))
    elif view == "change-post":
        expected = perm["change"] in granted and model_admin.has_change_permission(superuser, obj)
        response = client.post(_url(model, "change", pk), {})
    else:
        if obj is None:
            return  # simple-history answers 500 for the history of a missing object: nothing to learn here
        expected = reads
        response = client.get(_url(model, "history", pk))

    if expected:
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 302:
            assert "/login/" not in response["Location"]
    else:
        assert response.status_code == 403, response.status_code
    if role is AUDITOR and view.endswith("-post"):
        assert response.status_code != 200 or not expected  # the auditor never saves anything
        assert response.status_code == 403


# ---------------------------------------------------------------- actions


def _required(label: str, name: str) -> str:
    if (label, name) in ACTION_REQUIRES:
        return ACTION_REQUIRES[(label, name)]
    if ("*", name) in ACTION_REQUIRES:
        return _names(_model(label))[ACTION_REQUIRES[("*", name)]]
    raise AssertionError(f"{label}: the admin action {name!r} is not in ACTION_REQUIRES; say what it needs.")


@pytest.mark.parametrize(("role", "label", "name"), list(_action_params()))
def test_actions(role: Role, label: str, name: str, staff_client, world, monkeypatch):  # noqa: PLR0917
    from profiles.models import SubjectAccess

    # given a member of the role, an object, and a spy that notes when the action ran to its end
    client = staff_client(role)
    model = _model(label)
    model_admin = admin.site._registry[model]
    obj = world[label]
    superuser = _request_as(_superuser())
    available = name in model_admin.get_actions(superuser)
    expected = available and _required(label, name) in role_permissions(role)
    completed: list[bool] = []
    if name != "delete_selected":
        original = getattr(type(model_admin), name)

        @functools.wraps(original)
        def spy(self: Any, request: Any, queryset: Any) -> Any:
            result = original(self, request, queryset)
            completed.append(True)
            return result

        monkeypatch.setattr(type(model_admin), name, spy)
    accesses = SubjectAccess.objects.count()

    # when the member runs it on the object (a delete is only asked, never confirmed)
    as_member = _request_as(client.user)
    offered = model_admin.has_view_or_change_permission(as_member) and name in model_admin.get_actions(as_member)
    if obj is None:  # a model the world makes no row of: what is offered is all there is to check
        assert offered == expected
        return
    response = client.post(_url(model, "changelist"), {"action": name, "_selected_action": [obj.pk]})

    # then
    if expected:
        assert offered
        assert response.status_code in (200, 302)
        if name != "delete_selected":
            assert completed == [True]
    else:
        assert completed == []
        assert response.status_code in (200, 302, 403)
        assert model._default_manager.filter(pk=obj.pk).exists()
        assert SubjectAccess.objects.count() == accesses
        if name == "delete_selected" or (label, name) in KNOWN_GAPS:
            assert not offered


# ---------------------------------------------------------------- the sharp edges, spelled out


def test_support_cannot_reveal_by_page_or_action_and_nothing_is_logged(staff_client, world):
    from profiles.models import SubjectAccess

    client = staff_client(SUPPORT_AGENT)
    subject = world["profiles.subject"]
    before = SubjectAccess.objects.count()

    page = client.post(_url(_model("profiles.subject"), "reveal", subject.pk), {"reason": "caller asked for it"})
    action = client.post(
        _url(_model("profiles.subject"), "changelist"),
        {"action": "reveal_selected", "_selected_action": [subject.pk], "reason": "caller asked for it"},
    )

    assert page.status_code == 403
    # The action is not offered to the role: the changelist answers "no action selected", nothing is revealed.
    assert action.status_code in (200, 302)
    assert "reveal_selected" not in client.get(_url(_model("profiles.subject"), "changelist")).content.decode()
    assert SubjectAccess.objects.count() == before


def test_support_files_requests_but_cannot_change_or_decide_one(staff_client, world):
    client = staff_client(SUPPORT_AGENT)
    data_request = world["dsar.datarequest"]
    status = data_request.status

    change = client.post(_url(_model("dsar.datarequest"), "change", data_request.pk), {"status": "completed"})

    assert change.status_code == 403
    data_request.refresh_from_db()
    assert data_request.status == status
    assert client.user.has_perm("dsar.add_datarequest")
    assert not client.user.has_perm("dsar.change_datarequest")
    assert not client.user.has_perm("profiles.reveal_subject")
