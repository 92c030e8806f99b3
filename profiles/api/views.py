"""Subject APIs: thin. Shape checks here, rules in profiles.services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from c360.access.models import Scope
from c360.api.serializers import StrictBooleanField, StrictCharField, StrictSerializer
from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise
from profiles.models import ADDRESS_KEYS, Regime, RegimeReason, VerificationMethod
from profiles.selectors import subject_find
from profiles.services.subjects import IdentifierInput, subject_create, subject_reveal

MAX_IDENTIFIERS_PER_SUBJECT = 50


class IdentifierInputSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=[kind.value for kind in IdentifierKind])
    value = StrictCharField(max_length=320)
    namespace = StrictCharField(max_length=64, required=False, default="")
    is_verified = StrictBooleanField(required=False, default=False)
    verification_method = serializers.ChoiceField(
        choices=[method for method in VerificationMethod.values if method], required=False, default=""
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            normalise(attrs["kind"], attrs["value"])
        except IdentifierError as exc:
            raise serializers.ValidationError({"value": [exc.message]}, code=exc.code) from None
        return attrs


AddressSerializer = type(
    "AddressSerializer",
    (StrictSerializer,),
    {key: StrictCharField(max_length=200, required=False, allow_blank=True) for key in ADDRESS_KEYS},
)


class IdentifierSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    namespace = serializers.CharField()
    is_verified = serializers.BooleanField()


class SubjectCreateApi(APIView):
    required_scope = Scope.PROFILES_WRITE

    class InputSerializer(StrictSerializer):
        given_name = StrictCharField(max_length=200, required=False, allow_blank=True)
        family_name = StrictCharField(max_length=200, required=False, allow_blank=True)
        social_name = StrictCharField(max_length=200, required=False, allow_blank=True)
        birth_date = serializers.DateField(required=False, allow_null=True)
        address = AddressSerializer(required=False)
        locale = StrictCharField(max_length=35, required=False, allow_blank=True)
        regimes = serializers.ListField(
            child=serializers.ChoiceField(choices=Regime.values), required=False, min_length=1
        )
        regimes_reason = serializers.ChoiceField(choices=RegimeReason.values, required=False, default="")
        identifiers = IdentifierInputSerializer(many=True, required=False, max_length=MAX_IDENTIFIERS_PER_SUBJECT)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        status = serializers.CharField()
        regimes = serializers.ListField(child=serializers.CharField())
        created_at = serializers.DateTimeField()
        identifiers = IdentifierSummarySerializer(many=True, source="identifiers.all")

    @extend_schema(
        summary="Create a subject",
        request=InputSerializer,
        responses={201: OutputSerializer},
        description="Every attribute and identifier value is encrypted under the new subject's own data key. "
        "The answer holds no personal data.",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        identifiers = [IdentifierInput(**item) for item in data.pop("identifiers", [])]
        regimes = data.pop("regimes", None)
        regimes_reason = data.pop("regimes_reason", "")
        subject = subject_create(
            actor=request.user.actor,
            source=f"api:{request.auth.prefix}",
            attributes=data,
            identifiers=identifiers,
            regimes=regimes,
            regimes_reason=regimes_reason,
        )
        location = reverse("api:subject-detail", kwargs={"subject_id": subject.id}, request=request)
        return Response(
            self.OutputSerializer(subject).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


class RevealedIdentifierSerializer(IdentifierSummarySerializer):
    value = serializers.CharField()
    verification_method = serializers.CharField()
    source = serializers.CharField()


class SubjectDetailApi(APIView):
    required_scope = Scope.PROFILES_READ

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        status = serializers.CharField()
        regimes = serializers.ListField(child=serializers.CharField())
        attributes = serializers.DictField()
        identifiers = RevealedIdentifierSerializer(many=True)
        created_at = serializers.DateTimeField()
        updated_at = serializers.DateTimeField()

    @extend_schema(
        summary="Read a subject in clear text (audited)",
        parameters=[
            OpenApiParameter(
                "X-Access-Reason",
                location=OpenApiParameter.HEADER,
                required=True,
                description="Why the data is needed (at least 5 characters). Written to the access log.",
            )
        ],
        responses={200: OutputSerializer},
    )
    def get(self, request: Request, subject_id: str) -> Response:
        revealed = subject_reveal(
            subject_id=subject_id, actor=request.user.actor, reason=request.headers.get("X-Access-Reason", "")
        )
        return Response(self.OutputSerializer(revealed).data, headers={"Cache-Control": "no-store"})


class SubjectSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    regimes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


class SubjectFindApi(APIView):
    required_scope = Scope.PROFILES_READ

    class InputSerializer(StrictSerializer):
        kind = serializers.ChoiceField(choices=[kind.value for kind in IdentifierKind])
        value = StrictCharField(max_length=320)
        namespace = StrictCharField(max_length=64, required=False, default="")

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        results = SubjectSummarySerializer(many=True)

    @extend_schema(
        summary="Find subjects by an identifier",
        description="Exact match after normalisation, through the blind index. The identifier travels in the "
        "body, never in the URL. Answers ids only; read a subject to see its data.",
        request=InputSerializer,
        responses={200: OutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            subjects = list(subject_find(**serializer.validated_data)[:100])
        except IdentifierError as exc:
            raise serializers.ValidationError({"value": [exc.message]}, code=exc.code) from None
        return Response(self.OutputSerializer({"count": len(subjects), "results": subjects}).data)
