"""Subject APIs: thin. Shape checks here, rules in profiles.services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from c360.access.models import Scope
from c360.api.errors import error_response
from c360.api.serializers import StrictBooleanField, StrictCharField, StrictSerializer
from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise
from profiles.models import ADDRESS_KEYS, Regime, RegimeReason, SourceRecord, VerificationMethod
from profiles.selectors import quarantined_records, record_errors, subject_find, subjects_by_identifier
from profiles.services.ingestion import MAX_BATCH, record_reprocess, records_ingest, source_get
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


class SubjectSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    regimes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


class SubjectCollectionApi(APIView):
    """``POST`` creates a subject; ``GET`` searches subjects by one identifier (staff search)."""

    required_scopes = {"GET": Scope.PROFILES_READ, "POST": Scope.PROFILES_WRITE}

    class SearchSerializer(StrictSerializer):
        email = StrictCharField(max_length=320, required=False)
        phone = StrictCharField(max_length=64, required=False)
        cpf = StrictCharField(max_length=32, required=False)
        cnpj = StrictCharField(max_length=32, required=False)
        source = StrictCharField(max_length=64, required=False)
        external_id = StrictCharField(max_length=255, required=False)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            given = [name for name in ("email", "phone", "cpf", "cnpj") if name in attrs]
            by_source = "source" in attrs or "external_id" in attrs
            if len(given) + by_source != 1 or (by_source and not ("source" in attrs and "external_id" in attrs)):
                raise serializers.ValidationError(
                    "Give exactly one of email, phone, cpf, cnpj, or source together with external_id.",
                    code="one_identifier",
                )
            if given:
                try:
                    normalise(given[0], attrs[given[0]])
                except IdentifierError as exc:
                    raise serializers.ValidationError({given[0]: [exc.message]}, code=exc.code) from None
            return attrs

    class SearchOutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        results = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        summary="Search subjects by an identifier",
        operation_id="subjects_search",
        description="Exact match after normalisation (blind index). Prefer POST /subjects/find, which keeps "
        "the identifier out of URLs; query strings never reach c360's logs.",
        parameters=[
            OpenApiParameter(name, str, required=False)
            for name in ("email", "phone", "cpf", "cnpj", "source", "external_id")
        ],
        responses={200: SearchOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        serializer = self.SearchSerializer(data=request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        criteria = serializer.validated_data
        if "source" in criteria:
            subjects = subjects_by_identifier(source_code=criteria["source"], external_id=criteria["external_id"])
        else:
            ((kind, value),) = criteria.items()
            subjects = subjects_by_identifier(kind=kind, value=value)
        found = list(subjects.order_by("created_at")[:100])
        return Response({"count": len(found), "results": SubjectSummarySerializer(found, many=True).data})

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
        operation_id="subjects_create",
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
        operation_id="subjects_read",
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
        operation_id="subjects_find",
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


# ---------------------------------------------------------------- source records


MAX_INGEST_BYTES = 64 * 1024 * 1024


class RecordOutcomeSerializer(serializers.Serializer):
    index = serializers.IntegerField(source="position")
    status = serializers.CharField()
    record_id = serializers.UUIDField(allow_null=True)
    subject_id = serializers.UUIDField(allow_null=True)
    match = serializers.DictField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), allow_null=True)


class SourceRecordsIngestApi(APIView):
    required_scope = Scope.PROFILES_WRITE

    class InputSerializer(StrictSerializer):
        records = serializers.ListField(child=serializers.JSONField(), allow_empty=False)

    class OutputSerializer(serializers.Serializer):
        source = serializers.CharField()
        counts = serializers.DictField(child=serializers.IntegerField())
        results = RecordOutcomeSerializer(many=True)

    @extend_schema(
        summary="Ingest a batch of records from a source",
        operation_id="source_records_ingest",
        description=(
            f"Up to {MAX_BATCH:,} records. Each gets an outcome: created, updated, unchanged (identical "
            "to what was last received), quarantined (invalid: stored encrypted with its reasons, fix and "
            "re-process it later), erased (the person was erased; not kept again) or superseded (a later "
            "copy in the same batch). Linked records name their subject and how they matched."
        ),
        request=InputSerializer,
        responses={200: OutputSerializer},
    )
    def post(self, request: Request, code: str) -> Response:
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_INGEST_BYTES:
            return error_response(
                "payload_too_large", f"The body is over {MAX_INGEST_BYTES // 2**20} MiB; send smaller batches.", 413
            )
        source = source_get(code)
        records = request.data.get("records") if isinstance(request.data, dict) else None
        if isinstance(records, list) and len(records) > MAX_BATCH:
            return error_response(
                "batch_too_large", f"A batch holds at most {MAX_BATCH:,} records; this one has {len(records):,}.", 413
            )
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = records_ingest(source=source, records=serializer.validated_data["records"], actor=request.user.actor)
        body = {"source": source.code, "counts": dict(result.counts), "results": result.outcomes}
        return Response(self.OutputSerializer(body).data)


class QuarantineListApi(APIView):
    required_scope = Scope.PROFILES_READ

    class OutputSerializer(serializers.Serializer):
        record_id = serializers.UUIDField(source="id")
        source = serializers.CharField(source="source.code")
        subject_id = serializers.UUIDField(allow_null=True)
        received_at = serializers.DateTimeField()
        updated_at = serializers.DateTimeField()
        errors = serializers.SerializerMethodField()

        def get_errors(self, record: SourceRecord) -> dict[str, list[str]]:
            return record_errors(record)

    class QuerySerializer(serializers.Serializer):
        source = serializers.CharField(max_length=64, required=False)

    class Pagination(CursorPagination):
        ordering = ("-received_at", "id")
        page_size = 100
        max_page_size = 1000
        page_size_query_param = "limit"

    @extend_schema(
        summary="List quarantined records",
        operation_id="quarantine_list",
        parameters=[
            OpenApiParameter("source", str, description="Only this source's records."),
            OpenApiParameter("cursor", str, description="The page to read: the cursor in a `next` or `previous` link."),
            OpenApiParameter("limit", int, description="Records per page (default 100, at most 1000)."),
        ],
        # The answer is a cursor page, not a bare list (it was documented as an array).
        responses={
            200: inline_serializer(
                "QuarantinePage",
                {
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": OutputSerializer(many=True),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        # The filter is validated like any input (found by the fuzzer: a NUL byte in it reached PostgreSQL, a 500).
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = self.Pagination()
        page = paginator.paginate_queryset(quarantined_records(source_code=query.validated_data.get("source")), request)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class QuarantineReprocessApi(APIView):
    required_scope = Scope.PROFILES_WRITE

    class InputSerializer(StrictSerializer):
        record = serializers.JSONField(required=False, help_text="The corrected record; omit to retry it as stored.")

    @extend_schema(
        summary="Re-process a quarantined record, corrected or as it is",
        operation_id="quarantine_reprocess",
        request=InputSerializer,
        responses={200: RecordOutcomeSerializer},
    )
    def post(self, request: Request, record_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        outcome = record_reprocess(
            record_id=record_id, actor=request.user.actor, fields=serializer.validated_data.get("record")
        )
        return Response(RecordOutcomeSerializer(outcome).data)
