"""What every portal page shares: who is signed in, the rate limits, and the page-level guard.

The browser's session holds only the sign-in id (``SESSION_KEY``); the person behind it is read from
the database on each request, so ending a sign-in ends every page at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django_ratelimit.core import get_usage, is_ratelimited

from profiles.services.portal import PortalIdentity, portal_identity

SESSION_KEY = "c360_portal_login"
View = Callable[..., HttpResponse]


class PortalRequest(HttpRequest):
    portal: PortalIdentity


def current_identity(request: HttpRequest) -> PortalIdentity | None:
    identity = portal_identity(request.session.get(SESSION_KEY))
    if identity is None and SESSION_KEY in request.session:
        del request.session[SESSION_KEY]
    return identity


def portal_login_required(view: View) -> View:
    """Pages of a signed-in person: anyone else goes to the sign-in page; responses are never cached."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        identity = current_identity(request)
        if identity is None:
            return redirect("portal:sign_in")
        request.portal = identity  # type: ignore[attr-defined]
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response

    return guarded


def too_many(request: HttpRequest, group: str, rate: str, key: str | Callable[..., str], *, count: bool) -> bool:
    """Whether ``group`` is over ``rate`` for this key; ``count`` adds this attempt first."""
    return is_ratelimited(request, group=group, key=key, rate=rate, increment=count)


def failures_locked(request: HttpRequest, *, count: bool = False) -> bool:
    """Lockout of a connection after repeated failed sign-ins (bad, used or expired links and codes).

    Checking (``count`` false) locks once the limit is reached; a failure (``count``) adds one.
    """
    usage = get_usage(
        request, group="portal.failures", key="ip", rate=settings.C360_PORTAL_FAILURES_PER_IP, increment=count
    )
    return usage is not None and usage["count"] >= usage["limit"]


def locked_out(request: HttpRequest) -> HttpResponse:
    message = _("Too many attempts from this connection. Wait a few minutes and try again.")
    return render(request, "portal/message.html", {"title": _("Please wait"), "message": message}, status=429)


def portal_context(request: HttpRequest) -> dict[str, Any]:
    """Template context of every page: who the controller and its encarregado/DPO are."""
    return {
        "controller_name": settings.C360_CONTROLLER_NAME,
        "dpo_name": settings.C360_DPO_NAME,
        "dpo_email": settings.C360_DPO_EMAIL,
    }
