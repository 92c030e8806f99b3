"""Shared fixtures, and the rules that decide what may be skipped.

- Tests marked ``postgres`` run only on PostgreSQL; on SQLite they are skipped and the run says so.
- REQUIRE_POSTGRES=1 (CI) makes a missing PostgreSQL a failure at start-up.
- C360_NO_SKIPS=1 (CI) turns every skip into a failure: in CI nothing real may be skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from c360.access.services import forget_cached_keys
from c360.lib.crypto import data_key_cache
from c360.lib.history import Actor
from consent.services.events import forget_cached_catalogue

ON_POSTGRES = connection.vendor == "postgresql"
NO_SKIPS = os.environ.get("C360_NO_SKIPS") == "1"


def _database_line() -> str:
    settings_dict = connection.settings_dict
    if ON_POSTGRES:
        return f"database: PostgreSQL at {settings_dict.get('HOST') or 'socket'}:{settings_dict.get('PORT') or 5432}"
    return (
        "database: SQLite (no DATABASE_URL and nothing answers on 127.0.0.1:5432); tests marked 'postgres' are SKIPPED"
    )


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("REQUIRE_POSTGRES") == "1" and not ON_POSTGRES:
        raise pytest.UsageError(
            "REQUIRE_POSTGRES=1 but the tests would run on SQLite: "
            "set DATABASE_URL or start PostgreSQL on 127.0.0.1:5432."
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [_database_line()]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (running on SQLite)")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"C360_NO_SKIPS=1: skipping is a failure in CI ({reason})"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not ON_POSTGRES:
        skipped = [
            report for report in terminalreporter.stats.get("skipped", []) if "needs PostgreSQL" in str(report.longrepr)
        ]
        terminalreporter.write_line(
            f"Ran on SQLite: {len(skipped)} PostgreSQL-only test(s) skipped. "
            "Set DATABASE_URL or start PostgreSQL on 127.0.0.1:5432 to run them.",
            yellow=True,
        )


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    # Each test starts with no unwrapped key in memory (decrypt paths really unwrap) and no rate counters.
    data_key_cache.clear()
    cache.clear()
    forget_cached_keys()
    forget_cached_catalogue()
    yield
    data_key_cache.clear()


@pytest.fixture(autouse=True)
def _sqlite_append_only_guards(request: pytest.FixtureRequest) -> Iterator[None]:
    """On SQLite, a transactional test ends with a flush by DELETE, which the append-only triggers refuse:
    lift them for the flush, and make sure every test starts with them (PostgreSQL flushes by TRUNCATE)."""
    marker = request.node.get_closest_marker("django_db")
    if ON_POSTGRES or marker is None:
        yield
        return
    from c360.lib.db import guard_append_only_tables, unguard_append_only_tables

    transactional = bool(marker.kwargs.get("transaction"))
    request.getfixturevalue("transactional_db" if transactional else "db")
    guard_append_only_tables()  # inside the test's transaction unless transactional: rolled back with it
    yield
    if transactional:
        unguard_append_only_tables()


@pytest.fixture
def system_actor() -> Actor:
    return Actor.system("tests")


@pytest.fixture
def api_key_client(db: None) -> Callable[..., APIClient]:
    """``api_key_client("profiles:read", ...)``: an API client authenticated by a fresh key with those scopes."""
    from c360.access.services import api_key_issue

    def make(*scopes: str, rate: str = "") -> APIClient:
        issued = api_key_issue(name="tests", scopes=scopes, rate=rate, actor=Actor.system("tests"))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
        client.api_key = issued.api_key  # type: ignore[attr-defined]
        return client

    return make


# ---------------------------------------------------------------- staff in the console (two factors)


def _second_factor(client: Client, user: Any) -> None:
    """Mark the client's session as verified by a one-time password, as ``django_otp.login`` does after a
    correct token (the console refuses sessions signed in with a password alone)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_static.models import StaticDevice

    device, _ = StaticDevice.objects.get_or_create(user=user, name="tests")
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


@pytest.fixture
def second_factor(db: None) -> Callable[[Client, Any], None]:
    """``second_factor(client, user)`` after ``client.force_login(user)``: the session passed 2FA."""
    return _second_factor


@pytest.fixture
def admin_client(db: None, admin_user: Any) -> Client:
    """pytest-django's ``admin_client`` (a superuser), signed in with both factors."""
    client = Client()
    client.force_login(admin_user)
    _second_factor(client, admin_user)
    return client


@pytest.fixture
def staff_client(db: None, django_user_model: Any) -> Callable[..., Client]:
    """``staff_client("Auditor")`` (or a ``c360.access.roles.Role``): a client signed in, with both factors, as a
    new staff member whose only group is that role's. ``client.user`` is that member."""
    from django.contrib.auth.models import Group

    from c360.access.roles import Role, roles_sync

    made: dict[str, int] = {}

    def make(role: str | Role) -> Client:
        name = role.name if isinstance(role, Role) else role
        if not Group.objects.filter(name=name).exists():
            roles_sync()
        made[name] = made.get(name, 0) + 1
        username = f"{name.lower().replace(' ', '-')}-{made[name]}"
        user = django_user_model.objects.create_user(username, password="correct horse battery 1", is_staff=True)
        user.groups.add(Group.objects.get(name=name))
        client = Client()
        client.force_login(user)
        _second_factor(client, user)
        client.user = user  # type: ignore[attr-defined]
        return client

    return make
