from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from .models import ApiKey


class HasScope(permissions.BasePermission):
    """Views name their scope in ``required_scope`` (or per method in ``required_scopes``).

    A scope may be a tuple: any one of its scopes is enough (reading consent needs check or write).
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        scopes = getattr(view, "required_scopes", None) or {}
        scope = scopes.get(request.method) if scopes else getattr(view, "required_scope", None)
        if scope is None:
            return True  # public endpoints (schema, docs) declare no scope
        if not isinstance(request.auth, ApiKey):
            raise exceptions.NotAuthenticated()
        accepted = scope if isinstance(scope, tuple) else (scope,)
        if not any(request.auth.has_scope(item) for item in accepted):
            raise exceptions.PermissionDenied(
                f"This API key lacks the scope {' or '.join(accepted)}.", code="insufficient_scope"
            )
        return True
