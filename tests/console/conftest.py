"""Fixtures of the console pages: staff users with and without the DSAR permissions, and requests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from c360.lib.history import Actor
from dsar.models import DataRequest
from dsar.services.requests import request_create
from tests.conftest import _second_factor

REQUESTER_EMAIL = "maria.segredo@example.com"
REQUESTER_NAME = "Maria Segredo Tavares"


def _staff(django_user_model: Any, username: str, *codenames: str) -> Any:
    user = django_user_model.objects.create_user(username=username, password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="dsar", codename__in=codenames))
    return user


@pytest.fixture
def dpo(db: None, django_user_model: Any) -> Any:
    return _staff(django_user_model, "dpo", "view_datarequest", "change_datarequest")


@pytest.fixture
def viewer(db: None, django_user_model: Any) -> Any:
    return _staff(django_user_model, "viewer", "view_datarequest")


@pytest.fixture
def dpo_client(dpo: Any) -> Client:
    client = Client()
    client.force_login(dpo)
    _second_factor(client, dpo)
    return client


@pytest.fixture
def make_request(db: None) -> Callable[..., DataRequest]:
    """``make_request(kind, regimes, due_in=days, status=...)``: a request filed by email, with a known
    requester name and address (to prove pages never show them)."""

    def make(
        request_type: str = "access",
        regimes: tuple[str, ...] = ("lgpd",),
        *,
        due_in: float | None = None,
        status: str | None = None,
        received_days_ago: float = 0,
    ) -> DataRequest:
        request = request_create(
            request_type=request_type,
            regimes=regimes,
            intake_channel="email",
            identities=[{"kind": "email", "value": REQUESTER_EMAIL}],
            requester_name=REQUESTER_NAME,
            contact_email=REQUESTER_EMAIL,
            received_at=timezone.now() - dt.timedelta(days=received_days_ago),
            actor=Actor.system("tests"),
        )
        changes: dict[str, Any] = {}
        if due_in is not None:
            changes["due_at"] = timezone.now() + dt.timedelta(days=due_in)
        if status is not None:
            changes["status"] = status
        if changes:
            # Test set-up only: put the request where the test needs it without walking the workflow.
            DataRequest.objects.filter(pk=request.pk).update(**changes)
            request.refresh_from_db()
        return request

    return make
