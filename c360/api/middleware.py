from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import URLResolver, get_resolver, resolve
from django.urls.resolvers import ResolverMatch
from django.utils import translation

API_PREFIX = "/api/"


class ApiLanguageMiddleware:
    """API answers default to English; a client that sends Accept-Language gets that language.

    The site's default language (pt-BR) is for people on the portal, not for programs.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX) and "HTTP_ACCEPT_LANGUAGE" not in request.META:
            translation.activate("en")
            request.LANGUAGE_CODE = "en"
        return self.get_response(request)


def _fast_lanes() -> dict[str, tuple[Callable[[HttpRequest], HttpResponse | None], ResolverMatch]]:
    """Every static URL whose view declares a ``fast_lane``: path -> (lane, the path's resolver match)."""
    lanes = {}

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if "<" in route or "(" in route:
                continue  # a path with parameters: no lane (lanes are for fixed hot endpoints)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif lane := getattr(getattr(pattern.callback, "cls", None), "fast_lane", None):
                lanes["/" + route] = (lane, resolve("/" + route))

    walk(get_resolver().url_patterns, "")
    return lanes


class FastLaneMiddleware:
    """Lets a hot API endpoint answer right after the request id and metrics middleware.

    The consent check is called before every message a marketing system sends, the consent write on every
    form and preference change; the full stack (sessions, CSRF, locale, two-factor, DRF's negotiation) costs
    a large share of either. A DRF view
    at a fixed path opts in with a ``fast_lane`` callable: it answers the well-formed, authorised request
    itself or returns None, and the request then goes through the whole stack to the view, which gives every
    error its usual answer (a database that cannot be reached included: the API's 503). Responses of the
    lane get the same security headers as any other. ``C360_API_FAST_LANE=0`` turns every lane off.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.security = SecurityMiddleware(get_response)
        self.frame_options = XFrameOptionsMiddleware(get_response)
        self.lanes: dict[str, tuple[Callable[[HttpRequest], HttpResponse | None], ResolverMatch]] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and settings.C360_API_FAST_LANE and request.path_info.startswith(API_PREFIX):
            if self.lanes is None:
                self.lanes = _fast_lanes()  # on the first request: every URLconf module is loaded by then
            found = self.lanes.get(request.path_info)
            # An HTTPS redirect is the full stack's to give.
            if found is not None and self.security.process_request(request) is None:
                lane, request.resolver_match = found
                try:
                    response = lane(request)
                except (OperationalError, InterfaceError):
                    response = None  # the database is away: the view answers with the API's 503
                if response is not None:
                    if not response.streaming and not response.has_header("Content-Length"):
                        response.headers["Content-Length"] = str(len(response.content))  # as CommonMiddleware
                    response = self.security.process_response(request, response)
                    return self.frame_options.process_response(request, response)
        return self.get_response(request)
