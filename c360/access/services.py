"""Issuing, revoking and using API keys: the only writers of ApiKey."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from c360.lib.errors import NotFound, ValidationFailed
from c360.lib.history import Actor, acting_as

from .models import ApiKey, Scope

KEY_PREFIX = "c360_"
PREFIX_LENGTH = 8
_PREFIX_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
LAST_USED_RESOLUTION = timedelta(minutes=1)
# The consent check path authenticates thousands of calls a second: each process keeps a key row this long
# (seconds). A revocation takes effect at once in the process that made it and within this time elsewhere.
KEY_CACHE_SECONDS = 5.0
_key_cache: dict[str, tuple[float, ApiKey | None]] = {}


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    plaintext: str  # shown once to whoever issued it, never stored


def _hash(secret: str) -> str:
    # The secret has 256 bits of entropy, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _validate(scopes: Iterable[str], rate: str) -> list[str]:
    errors: dict[str, list[str]] = {}
    scope_list = sorted(set(scopes))
    unknown = [scope for scope in scope_list if scope not in Scope.values]
    if not scope_list:
        errors["scopes"] = ["Give at least one scope."]
    elif unknown:
        errors["scopes"] = [f"Unknown scope {scope!r}; use one of {', '.join(Scope.values)}." for scope in unknown]
    if rate:
        try:
            SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]
        except (ValueError, KeyError, IndexError):
            errors["rate"] = ["Write the rate as NUMBER/PERIOD, PERIOD one of sec, min, hour, day (e.g. 6000/min)."]
    if errors:
        raise ValidationFailed("The API key request is invalid.", errors=errors)
    return scope_list


@transaction.atomic
def api_key_issue(*, name: str, scopes: Iterable[str], actor: Actor, rate: str = "") -> IssuedApiKey:
    if not name.strip():
        raise ValidationFailed("The API key needs a name.", errors={"name": ["Name the system that uses this key."]})
    scope_list = _validate(scopes, rate)
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = secrets.token_urlsafe(32)
    api_key = ApiKey(
        name=name.strip(),
        prefix=prefix,
        secret_hash=_hash(secret),
        scopes=scope_list,
        rate=rate,
        created_by_id=actor.user_id,
    )
    with acting_as(actor):
        api_key.save()
    return IssuedApiKey(api_key=api_key, plaintext=f"{KEY_PREFIX}{prefix}_{secret}")


@transaction.atomic
def api_key_revoke(*, prefix: str, actor: Actor) -> ApiKey:
    api_key = ApiKey.objects.select_for_update().filter(prefix=prefix).first()
    if api_key is None:
        raise NotFound("No API key has that prefix.")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        with acting_as(actor):
            api_key.save(update_fields=["revoked_at"])
        transaction.on_commit(forget_cached_keys)
    return api_key


def api_key_authenticate(plaintext: str) -> ApiKey | None:
    """The active key matching ``plaintext``, or None. Constant-time on the secret."""
    if not plaintext.startswith(KEY_PREFIX):
        return None
    body = plaintext[len(KEY_PREFIX) :]
    prefix, separator, secret = (
        body[:PREFIX_LENGTH],
        body[PREFIX_LENGTH : PREFIX_LENGTH + 1],
        body[PREFIX_LENGTH + 1 :],
    )
    if separator != "_" or not secret:
        return None
    api_key = _key_by_prefix(prefix)
    stored = api_key.secret_hash if api_key else _hash("no-such-key")
    if not hmac.compare_digest(stored, _hash(secret)) or api_key is None:
        return None
    _touch(api_key)
    return api_key


def _key_by_prefix(prefix: str) -> ApiKey | None:
    now = time.monotonic()
    cached = _key_cache.get(prefix)
    if cached is not None and cached[0] > now:
        return cached[1]
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    if len(_key_cache) > 1000:
        _key_cache.clear()
    _key_cache[prefix] = (now + KEY_CACHE_SECONDS, api_key)
    return api_key


def forget_cached_keys() -> None:
    _key_cache.clear()


def _touch(api_key: ApiKey) -> None:
    # At most one write a minute per key: the consent check path must not write on every call.
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
