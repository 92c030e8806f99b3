"""Content-Security-Policy: the strict policy of settings everywhere, widened only for staff tools.

The Django admin sets inline style attributes and Swagger UI loads its bundle from a CDN with an
inline bootstrap script; neither is reachable by data subjects, and the portal never gets these.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase

_CDN = "https://cdn.jsdelivr.net"
_STAFF_TOOLS = {
    "/admin/": {"style-src": ["'self'", "'unsafe-inline'"]},
    "/api/docs/": {
        "script-src": ["'self'", "'unsafe-inline'", _CDN],
        "style-src": ["'self'", "'unsafe-inline'", _CDN],
        "img-src": ["'self'", "data:", _CDN],
    },
}


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        for prefix, widened in _STAFF_TOOLS.items():
            if request.path.startswith(prefix):
                parts.update = {**(parts.update or {}), **widened}
                break
        return parts
