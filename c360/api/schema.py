from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from c360.api.serializers import ErrorSerializer

API_PREFIX = "/api/v1/"
_ERRORS = {
    "400": "Invalid input: `errors` says which field and why.",
    "401": "No API key, or an unknown or revoked one.",
    "403": "The API key lacks the scope this operation needs.",
    "404": "No such object (or endpoint).",
    "409": "The object's state does not allow this (e.g. a request already closed): see `code`.",
    "410": "Gone: the object (or link) existed but has expired or been used up.",
    "413": "The request body is larger than this endpoint accepts.",
    "415": "The request body is not of a media type this endpoint accepts.",
    "429": "This API key's rate limit is spent: see `retry_after_seconds`.",
}


class C360AutoSchema(AutoSchema):
    """Names nested serializers after their API (SubjectCreateApi.InputSerializer -> SubjectCreateInput).

    Every API nests its own InputSerializer and OutputSerializer (HackSoft style); without this they
    would all collide as "Input" and "Output" in the OpenAPI components.
    """

    def get_serializer_name(self, serializer: Any, direction: str) -> str:
        name = super().get_serializer_name(serializer, direction)
        owner = type(serializer).__qualname__.rpartition(".")[0]
        return owner.removesuffix("Api") + name.removesuffix("Serializer") if owner else name

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        """Every API operation also documents the errors it can answer with, in the one error shape
        (``c360.api.errors``); an operation may declare more, or describe one of these itself, in ``extend_schema``."""
        responses = super()._get_response_bodies(direction)
        if direction != "response" or not self.path.startswith(API_PREFIX):
            return responses
        statuses = ["400", "404"]
        if self.view.authentication_classes:
            statuses.append("401")
        if self.view.permission_classes:
            statuses.append("403")
        if self.view.throttle_classes:
            statuses.append("429")
        if self.method in {"POST", "PUT", "PATCH"}:  # writes meet the state of what they change
            statuses += ["409", "410", "413", "415"]
        for status in sorted(statuses):
            if status not in responses:
                response = self._get_response_for_code(ErrorSerializer, status, ("application/json",), direction)
                response["description"] = _ERRORS[status]
                responses[status] = response
        return dict(sorted(responses.items()))


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "c360.access.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "c360_<prefix>_<secret>",
            "description": "An API key issued by the DPO (admin or `manage.py issue_api_key`), with scopes.",
        }
