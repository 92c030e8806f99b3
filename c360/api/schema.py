from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


class C360AutoSchema(AutoSchema):
    """Names nested serializers after their API (SubjectCreateApi.InputSerializer -> SubjectCreateInput).

    Every API nests its own InputSerializer and OutputSerializer (HackSoft style); without this they
    would all collide as "Input" and "Output" in the OpenAPI components.
    """

    def get_serializer_name(self, serializer: Any, direction: str) -> str:
        name = super().get_serializer_name(serializer, direction)
        owner = type(serializer).__qualname__.rpartition(".")[0]
        return owner.removesuffix("Api") + name.removesuffix("Serializer") if owner else name


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
