from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from c360.lib.history import Actor

from .models import ApiKey
from .services import api_key_authenticate


@dataclass(frozen=True)
class ApiClient:
    """``request.user`` for API calls: the system behind a key, not a person."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_staff: bool = False

    @property
    def actor(self) -> Actor:
        return Actor.for_api_key(self.api_key)

    @property
    def pk(self) -> str:
        return self.api_key.prefix


def bearer_token(header: str) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or None for any other shape."""
    keyword, _, token = header.partition(" ")
    token = token.strip()
    return token if keyword == ApiKeyAuthentication.keyword and token else None


def active_api_key_with_scope(header: str, scope: str) -> ApiKey | None:
    """For views outside DRF (the fast lane): the active key of the header if it carries ``scope``, else None
    (the caller then hands the request to the DRF view, which answers with the precise error)."""
    token = bearer_token(header)
    api_key = api_key_authenticate(token) if token else None
    if api_key is None or not api_key.is_active or not api_key.has_scope(scope):
        return None
    return api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        token = bearer_token(header)
        if token is None:
            raise exceptions.AuthenticationFailed("Send the key as Authorization: Bearer <key>.", code="bad_header")
        api_key = api_key_authenticate(token)
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.", code="invalid_key")
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed("The API key has been revoked.", code="revoked_key")
        return ApiClient(api_key=api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="c360"'
