from __future__ import annotations

import hashlib
import io
import math
import time

import pytest
from django.core.management import CommandError, call_command

from c360.access.models import ApiKey
from c360.access.services import api_key_authenticate, api_key_issue, api_key_revoke
from c360.access.throttling import api_key_spend
from c360.lib.errors import NotFound, ValidationFailed
from c360.lib.history import Actor

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")


def test_issuing_stores_only_a_hash_of_the_secret():
    issued = api_key_issue(name="Braze", scopes=["consent:check", "consent:check"], actor=ACTOR)

    key = ApiKey.objects.get()
    assert issued.plaintext.startswith(f"c360_{key.prefix}_")
    secret = issued.plaintext.split("_", 2)[2]
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiKey.objects.values().get())
    assert key.scopes == ["consent:check"]
    assert key.history.get().history_actor == "system:tests"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["admin:all"]}, "scopes"),
        ({"name": "x", "scopes": ["consent:check"], "rate": "lots"}, "rate"),
        ({"name": "x", "scopes": ["consent:check"], "rate": "5/fortnight"}, "rate"),
        ({"name": "  ", "scopes": ["consent:check"]}, "name"),
    ],
)
def test_issuing_refuses_bad_requests(kwargs, field):
    with pytest.raises(ValidationFailed) as excinfo:
        api_key_issue(actor=ACTOR, **kwargs)

    assert field in excinfo.value.errors
    assert not ApiKey.objects.exists()


def test_authentication_checks_prefix_and_secret():
    issued = api_key_issue(name="CRM", scopes=["profiles:write"], actor=ACTOR)
    prefix, secret = issued.api_key.prefix, issued.plaintext.split("_", 2)[2]

    assert api_key_authenticate(issued.plaintext) == issued.api_key
    assert api_key_authenticate(f"c360_{prefix}_{secret[:-1]}x") is None
    assert api_key_authenticate(f"c360_zzzzzzzz_{secret}") is None
    assert api_key_authenticate(secret) is None
    assert api_key_authenticate(f"c360_{prefix}") is None
    assert ApiKey.objects.get().last_used_at is not None


def test_revoking_is_recorded_and_idempotent():
    issued = api_key_issue(name="CRM", scopes=["profiles:write"], actor=ACTOR)

    first = api_key_revoke(prefix=issued.api_key.prefix, actor=Actor("user", "3"))
    again = api_key_revoke(prefix=issued.api_key.prefix, actor=ACTOR)

    assert first.revoked_at == again.revoked_at
    assert issued.api_key.history.latest().history_actor == "user:3"
    with pytest.raises(NotFound):
        api_key_revoke(prefix="nope", actor=ACTOR)


def test_commands_issue_and_revoke():
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "issue_api_key",
        "--name",
        "Shop",
        "--scope",
        "profiles:write",
        "--scope",
        "profiles:read",
        stdout=out,
        stderr=err,
    )

    plaintext = out.getvalue().strip()
    key = api_key_authenticate(plaintext)
    assert key is not None
    assert key.scopes == ["profiles:read", "profiles:write"]
    assert "Shown once" in err.getvalue()

    call_command("revoke_api_key", key.prefix, stdout=io.StringIO())
    assert ApiKey.objects.get().revoked_at is not None


def test_commands_fail_clearly_on_bad_input():
    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("issue_api_key", "--name", "Shop", "--scope", "root")
    with pytest.raises(CommandError, match="No API key has that prefix"):
        call_command("revoke_api_key", "missing1")
    assert not ApiKey.objects.exists()


def test_a_budget_is_counted_per_window_and_comes_back_with_the_next():
    issued = api_key_issue(name="crm", scopes=["consent:check"], rate="3/sec", actor=Actor.system("tests"))
    other = api_key_issue(name="shop", scopes=["consent:check"], rate="3/sec", actor=Actor.system("tests"))
    # Start at the beginning of a window, so that the four requests below fall in the same one.
    time.sleep(math.ceil(time.time()) - time.time())

    answers = [api_key_spend(issued.api_key) for _ in range(4)]

    assert answers[:3] == [None, None, None]
    assert 0 < answers[3] <= 1  # seconds until the next window
    assert api_key_spend(other.api_key) is None  # each key has its own budget
    time.sleep(answers[3])
    assert api_key_spend(issued.api_key) is None
