"""DSAR API (scope ``dsar:manage``): file, list, read, advance and retry requests; hand out the package.

Thin: every change goes through ``dsar.services``. Responses never carry the requester's personal data
in clear except the identities on the detail view, which a ``dsar:manage`` key is trusted with.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from c360.access.models import Scope
from c360.api.serializers import StrictCharField, StrictSerializer
from dsar.models import IDENTITY_KINDS, DataRequest, IntakeChannel, RequestTask, RequestType
from dsar.services.execution import manual_task_complete, request_task_retry
from dsar.services.packages import package_download, package_link_issue
from dsar.services.requests import (
    request_cancel,
    request_complete,
    request_create,
    request_extend,
    request_identities,
    request_reject,
    request_verify,
)

ACTIONS = ("verify", "complete", "reject", "cancel", "extend")


class IdentitySerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=IDENTITY_KINDS)
    value = StrictCharField(max_length=320)
    namespace = StrictCharField(max_length=64, required=False, default="")


class TaskSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.code")

    class Meta:
        model = RequestTask
        fields = ("id", "source", "operation", "status", "attempts", "error", "retryable", "outcome", "finished_at")


class EventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    kind = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    note = serializers.CharField()


class RequestSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = DataRequest
        fields = (
            "id",
            "protocol",
            "request_type",
            "regimes",
            "status",
            "intake_channel",
            "received_at",
            "due_at",
            "internal_target",
            "verification_method",
            "verification_outcome",
            "completed_at",
        )


class RequestDetailSerializer(RequestSummarySerializer):
    tasks = TaskSerializer(many=True, read_only=True)
    events = EventSerializer(many=True, read_only=True)
    identities = serializers.SerializerMethodField()

    class Meta(RequestSummarySerializer.Meta):
        fields = (
            *RequestSummarySerializer.Meta.fields,
            "requester",
            "deadline",
            "extension_notified_at",
            "extension_reason",
            "rejection_reason",
            "rejection_text",
            "summary",
            "identities",
            "tasks",
            "events",
        )

    def get_identities(self, request: DataRequest) -> list[dict[str, str]]:
        return request_identities(request)


class RequestListCreateApi(APIView):
    required_scope = Scope.DSAR_MANAGE

    class InputSerializer(StrictSerializer):
        request_type = serializers.ChoiceField(choices=RequestType.choices)
        regimes = serializers.ListField(child=serializers.ChoiceField(choices=["lgpd", "gdpr"]), min_length=1)
        intake_channel = serializers.ChoiceField(choices=IntakeChannel.choices)
        received_at = serializers.DateTimeField(required=False)
        identities = IdentitySerializer(many=True)
        requester = serializers.ChoiceField(choices=DataRequest.Requester.choices, required=False, default="subject")
        requester_name = StrictCharField(max_length=200, required=False, default="")
        contact_email = StrictCharField(max_length=320, required=False, default="")
        language = serializers.ChoiceField(choices=["pt-br", "en", "es"], required=False, default="pt-br")
        corrections = serializers.DictField(required=False, help_text="Rectification: attribute -> new value.")
        purposes = serializers.ListField(
            child=StrictCharField(max_length=80),
            required=False,
            help_text="Objection or consent revocation: the purposes concerned (none: all direct marketing / all).",
        )
        small_agent = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        summary="List requests (filter by status)",
        operation_id="dsar_request_list",
        parameters=[OpenApiParameter("status", str, description="One of the request statuses.")],
        responses={200: RequestSummarySerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        queryset = DataRequest.objects.all()
        if wanted := request.query_params.get("status"):
            queryset = queryset.filter(status=wanted)
        return Response(RequestSummarySerializer(queryset[:500], many=True).data)

    @extend_schema(
        summary="File a request as it arrived (any channel)",
        operation_id="dsar_request_create",
        description="`received_at` is when the request first reached any of your channels (kept when re-routed). "
        "The due date follows the law for the regimes given; the earliest governs.",
        request=InputSerializer,
        responses={201: RequestDetailSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        created = request_create(
            request_type=data["request_type"],
            regimes=data["regimes"],
            intake_channel=data["intake_channel"],
            received_at=data.get("received_at"),
            identities=data["identities"],
            requester=data["requester"],
            requester_name=data["requester_name"],
            contact_email=data["contact_email"],
            language=data["language"],
            details={key: data[key] for key in ("corrections", "purposes") if data.get(key)},
            small_agent=data["small_agent"],
            actor=request.user.actor,
        )
        return Response(RequestDetailSerializer(created).data, status=status.HTTP_201_CREATED)


class RequestDetailApi(APIView):
    required_scope = Scope.DSAR_MANAGE

    @extend_schema(
        summary="A request with its tasks and audit trail",
        operation_id="dsar_request_detail",
        responses={200: RequestDetailSerializer},
    )
    def get(self, request: Request, request_id: str) -> Response:
        return Response(RequestDetailSerializer(get_object_or_404(DataRequest, pk=request_id)).data)


class RequestActionApi(APIView):
    required_scope = Scope.DSAR_MANAGE

    class InputSerializer(StrictSerializer):
        action = serializers.ChoiceField(choices=ACTIONS)
        method = serializers.ChoiceField(choices=DataRequest.VERIFICATION_METHODS, required=False)
        verified = serializers.BooleanField(required=False)
        authority_proven = serializers.BooleanField(required=False, default=False)
        reason = StrictCharField(max_length=2000, required=False, default="")
        text = StrictCharField(max_length=4000, required=False, default="")
        note = StrictCharField(max_length=500, required=False, default="")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if attrs["action"] == "verify" and ("method" not in attrs or "verified" not in attrs):
                raise serializers.ValidationError({"method": ["verify needs method and verified."]})
            return attrs

    @extend_schema(
        summary="Advance a request: verify, complete, reject, cancel or extend",
        operation_id="dsar_request_action",
        request=InputSerializer,
        responses={200: RequestDetailSerializer},
    )
    def post(self, request: Request, request_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, actor = serializer.validated_data, request.user.actor
        action = data["action"]
        if action == "verify":
            request_verify(
                request_id=request_id,
                method=data["method"],
                verified=data["verified"],
                authority_proven=data["authority_proven"],
                actor=actor,
            )
        elif action == "complete":
            request_complete(request_id=request_id, actor=actor, note=data["note"])
        elif action == "reject":
            request_reject(request_id=request_id, reason=data["reason"], text=data["text"], actor=actor)
        elif action == "cancel":
            request_cancel(request_id=request_id, actor=actor, note=data["note"])
        else:
            request_extend(request_id=request_id, reason=data["reason"], actor=actor)
        return Response(RequestDetailSerializer(get_object_or_404(DataRequest, pk=request_id)).data)


class TaskRetryApi(APIView):
    required_scope = Scope.DSAR_MANAGE

    @extend_schema(
        summary="Retry one failed source task",
        operation_id="dsar_task_retry",
        request=None,
        responses={202: TaskSerializer},
    )
    def post(self, request: Request, request_id: str, task_id: int) -> Response:
        get_object_or_404(RequestTask, pk=task_id, request_id=request_id)
        task = request_task_retry(task_id=task_id, actor=request.user.actor)
        task.refresh_from_db()
        return Response(TaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)


class ManualTaskCompleteApi(APIView):
    required_scope = Scope.DSAR_MANAGE

    class InputSerializer(StrictSerializer):
        note = StrictCharField(max_length=4000)
        evidence_sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", required=False)

    @extend_schema(
        summary="Record a manual step as done, with what was done",
        operation_id="dsar_task_manual_done",
        request=InputSerializer,
        responses={200: TaskSerializer},
    )
    def post(self, request: Request, request_id: str, task_id: int) -> Response:
        get_object_or_404(RequestTask, pk=task_id, request_id=request_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = manual_task_complete(task_id=task_id, actor=request.user.actor, note=serializer.validated_data["note"])
        if digest := serializer.validated_data.get("evidence_sha256"):
            RequestTask.objects.filter(pk=task.pk).update(evidence_sha256=digest)
            task.refresh_from_db()
        return Response(TaskSerializer(task).data)


class PackageLinkApi(APIView):
    required_scope = Scope.DSAR_MANAGE

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="Shown once; give it to the verified requester.")
        expires_at = serializers.DateTimeField()

    @extend_schema(
        summary="Issue a single-use, expiring download token for the request's package",
        operation_id="dsar_package_link",
        request=None,
        responses={201: OutputSerializer},
    )
    def post(self, request: Request, request_id: str) -> Response:
        token = package_link_issue(request_id=request_id, actor=request.user.actor)
        package = get_object_or_404(DataRequest, pk=request_id).package
        return Response({"token": token, "expires_at": package.link_expires_at}, status=status.HTTP_201_CREATED)


class PackageDownloadApi(APIView):
    required_scope = Scope.DSAR_MANAGE

    class InputSerializer(StrictSerializer):
        token = StrictCharField(max_length=100)

    @extend_schema(
        summary="Download a package once (the token goes in the body, never in a URL)",
        operation_id="dsar_package_download",
        request=InputSerializer,
        responses={200: OpenApiResponse(description="application/zip: files, manifest.json, manifest.sig")},
    )
    def post(self, request: Request) -> HttpResponse:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        package, content = package_download(token=serializer.validated_data["token"], actor=request.user.actor)
        response = HttpResponse(content, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="c360-{package.request.protocol}.zip"'
        response["Cache-Control"] = "no-store"
        return response
