"""Consent APIs: record events, read a subject's consents, check one recipient or a whole list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from c360.access.authentication import ApiClient, active_api_key_with_scope
from c360.access.models import ApiKey, Scope
from c360.access.throttling import api_key_request_allowed
from c360.api.errors import error_response
from c360.api.serializers import ErrorSerializer, StrictCharField, StrictSerializer
from c360.lib.errors import ApplicationError
from c360.lib.history import Actor
from c360.lib.signing import public_key
from c360.metrics import count_consent_check
from consent.decisions import Decision
from consent.models import ActorKind, AudienceCheck, Method
from consent.selectors import (
    RECIPIENT_KINDS,
    CheckResult,
    Recipient,
    consent_check,
    consent_check_many,
    parse_recipient,
    recipient_error,
    subject_consent_history,
    subject_consent_states,
)
from consent.services.audiences import audience_check_create, result_path
from consent.services.events import EventInput, consent_gpc_signal, consent_record

MAX_BULK = 100_000
BULK_CHUNK = 5_000
# 100,000 recipients of up to ~300 bytes each: above Django's 2.5 MB default, which the other endpoints keep.
MAX_BULK_BODY = 32 * 1024 * 1024


class RecipientSerializer(StrictSerializer):
    email = StrictCharField(max_length=320, required=False)
    phone = StrictCharField(max_length=64, required=False)
    subject_id = serializers.UUIDField(required=False)
    external_id = StrictCharField(max_length=255, required=False)
    source = StrictCharField(max_length=64, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in RECIPIENT_KINDS if name in attrs]
        if len(given) != 1 or ("external_id" in attrs) != ("source" in attrs):
            raise serializers.ValidationError(
                "Give exactly one of email, phone, subject_id, or external_id together with source.",
                code="one_recipient",
            )
        return attrs


def _recipient(attrs: dict[str, Any]) -> Recipient:
    kind = next(name for name in RECIPIENT_KINDS if name in attrs)
    return Recipient(kind, str(attrs[kind]), attrs.get("source", ""))


def decision_body(decision: Decision) -> dict[str, Any]:
    return {
        "allowed": decision.allowed,
        "state": decision.state,
        "legal_basis": decision.legal_basis,
        "reasons": list(decision.reasons),
        "evidence_event_id": decision.evidence_event_id,
        "valid_until": decision.valid_until.isoformat() if decision.valid_until else None,
    }


class DecisionSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    state = serializers.CharField()
    legal_basis = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())
    evidence_event_id = serializers.CharField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)


_CHECK_FIELDS = frozenset({"recipient", "purpose", "channel"})
_TEXT_LIMITS = {"purpose": 80, "channel": 16, "email": 320, "phone": 64, "external_id": 255, "source": 64}


def _plain(value: Any, limit: int) -> bool:
    """Text the serializer would take unchanged (ASCII, trimmed, within its limit); anything else is theirs."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= limit
        and value.isascii()
        and value == value.strip()
        and ("\x00" not in value)
    )


def _lane_request(request: HttpRequest, scope: str) -> tuple[ApiKey, Any] | None:
    """A fast lane's request: the active key carrying ``scope`` and the JSON body, or None (the view's then)."""
    header = request.META.get("HTTP_AUTHORIZATION", "") if request.content_type == "application/json" else ""
    api_key = active_api_key_with_scope(header, scope)
    if api_key is None:
        return None
    try:
        return api_key, json.loads(request.body)
    except (ValueError, RequestDataTooBig):
        return None


def _fast_lane_input(request: HttpRequest) -> tuple[ApiKey, Recipient, str, str] | None:
    if (given := _lane_request(request, Scope.CONSENT_CHECK)) is None:
        return None
    api_key, data = given
    if not isinstance(data, dict) or data.keys() != _CHECK_FIELDS or not isinstance(data["recipient"], dict):
        return None
    texts = {"purpose": data["purpose"], "channel": data["channel"], **data["recipient"]}
    if not all(_plain(value, _TEXT_LIMITS[name]) for name, value in texts.items() if name in _TEXT_LIMITS):
        return None
    recipient = parse_recipient(data["recipient"])
    if not isinstance(recipient, Recipient) or recipient_error(recipient):
        return None
    return api_key, recipient, data["purpose"], data["channel"]


def consent_check_fast_lane(request: HttpRequest) -> HttpResponse | None:
    """The single check without DRF, for the well-formed and authorised request (see FastLaneMiddleware).

    Returns None whenever ``ConsentCheckApi`` must answer instead: any error, a spent rate budget, text the
    serializer would trim or refuse. The answer is the view's, byte for byte (tests compare both).
    """
    given = _fast_lane_input(request)
    if given is None or not api_key_request_allowed(given[0]):
        return None
    _, recipient, purpose, channel = given
    result = consent_check(recipient, purpose_code=purpose, channel=channel)
    count_consent_check(allowed=result.decision.allowed, reasons=result.decision.reasons)
    return _lane_response(ConsentCheckApi.answer(result, purpose, channel))


def _lane_response(body: Any, status_code: int = 200) -> HttpResponse:
    """JSON as DRF's renderer writes it (compact, UTF-8, its encoder), for answers given by a fast lane."""
    return HttpResponse(
        json.dumps(body, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":")).encode(),
        content_type="application/json",
        status=status_code,
    )


class ConsentCheckApi(APIView):
    required_scope = Scope.CONSENT_CHECK
    fast_lane = staticmethod(consent_check_fast_lane)

    class InputSerializer(StrictSerializer):
        recipient = RecipientSerializer()
        purpose = StrictCharField(max_length=80)
        channel = StrictCharField(max_length=16)

    class OutputSerializer(DecisionSerializer):
        purpose = serializers.CharField()
        channel = serializers.CharField()
        checked_at = serializers.DateTimeField()

    @extend_schema(
        summary="May we contact this recipient for this purpose on this channel?",
        operation_id="consent_check",
        description="Fails closed: an unknown recipient or purpose is a no. Check the address or number you "
        "will actually send to: consent given for one address does not cover another.",
        request=InputSerializer,
        responses={200: OutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = consent_check(_recipient(data["recipient"]), purpose_code=data["purpose"], channel=data["channel"])
        if result.error:
            return error_response(
                "validation_error",
                "The recipient is invalid.",
                400,
                {"recipient": [{"code": "invalid", "message": result.error}]},
            )
        count_consent_check(allowed=result.decision.allowed, reasons=result.decision.reasons)
        return Response(self.answer(result, data["purpose"], data["channel"]))

    @staticmethod
    def answer(result: CheckResult, purpose: str, channel: str) -> dict[str, Any]:
        return {**decision_body(result.decision), "purpose": purpose, "channel": channel, "checked_at": timezone.now()}


class ConsentBulkCheckApi(APIView):
    required_scope = Scope.CONSENT_CHECK

    class InputSerializer(StrictSerializer):
        purpose = StrictCharField(max_length=80)
        channel = StrictCharField(max_length=16)
        recipients = serializers.ListField(child=RecipientSerializer(), min_length=1, max_length=MAX_BULK)

    @extend_schema(
        summary="Check up to 100,000 recipients at once (answer streamed as JSON Lines)",
        operation_id="consent_check_bulk",
        description="One line per recipient, in order: index, allowed, state, reasons, evidence_event_id (or "
        "error for an unreadable recipient); the last line is a summary. Checked in sets, not one by one.",
        request=InputSerializer,
        responses={200: OpenApiResponse(description="application/x-ndjson")},
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        data = _bulk_body(request)
        if isinstance(data, Response):
            return data
        errors = {}
        if unknown := sorted(set(data) - {"purpose", "channel", "recipients"}):
            errors.update({name: [{"code": "unknown_field", "message": "Unknown field."}] for name in unknown})
        fields = self.InputSerializer().fields
        for name in ("purpose", "channel"):
            if not isinstance(data.get(name), str) or not data.get(name):
                errors[name] = [{"code": "required", "message": "Give it as text."}]
                continue
            try:  # the field's own rules (length, no NUL or lone surrogates): the answer streams, so no error may
                fields[name].run_validation(data[name])  # reach the database after the 200 has been sent
            except serializers.ValidationError as exc:
                errors[name] = [{"code": detail.code or "invalid", "message": str(detail)} for detail in exc.detail]
        recipients = data.get("recipients")
        if not isinstance(recipients, list) or not recipients:
            errors["recipients"] = [{"code": "empty", "message": "Give a non-empty list of recipients."}]
        if errors:
            return error_response("validation_error", "The request has invalid fields; see errors.", 400, errors)
        if len(recipients) > MAX_BULK:
            return error_response(
                "batch_too_large",
                f"At most {MAX_BULK:,} recipients per request; this one has {len(recipients):,}.",
                413,
            )
        response = StreamingHttpResponse(
            _bulk_lines(recipients, data["purpose"], data["channel"]), content_type="application/x-ndjson"
        )
        response["Cache-Control"] = "no-store"
        return response


def _bulk_body(request: Request) -> dict[str, Any] | Response:
    """The JSON object posted, read under this endpoint's own size limit (or the error to answer)."""
    if not (request.content_type or "").startswith("application/json"):
        return error_response("unsupported_media_type", "Send the list as application/json.", 415)
    raw = request.stream.read(MAX_BULK_BODY + 1) if request.stream is not None else b""
    if len(raw) > MAX_BULK_BODY:
        return error_response(
            "body_too_large", f"At most {MAX_BULK_BODY // (1024 * 1024)} MB per request; split the list.", 413
        )
    try:
        data = json.loads(raw)
    except ValueError:
        return error_response("parse_error", "The body is not valid JSON.", 400)
    if not isinstance(data, dict):
        return error_response("validation_error", "Give an object with purpose, channel and recipients.", 400)
    return data


def _bulk_lines(raw: list[Any], purpose: str, channel: str) -> Iterator[bytes]:
    allowed = denied = invalid = 0
    for start in range(0, len(raw), BULK_CHUNK):
        chunk = [parse_recipient(item) for item in raw[start : start + BULK_CHUNK]]
        readable = [item for item in chunk if isinstance(item, Recipient)]
        results = iter(consent_check_many(readable, purpose_code=purpose, channel=channel))
        lines = []
        for offset, item in enumerate(chunk):
            index = start + offset
            result: CheckResult | None = next(results) if isinstance(item, Recipient) else None
            error = item if isinstance(item, str) else (result.error if result else "")
            if error:
                invalid += 1
                lines.append({"index": index, "allowed": False, "error": error})
                continue
            decision = result.decision  # type: ignore[union-attr]
            allowed += decision.allowed
            denied += not decision.allowed
            count_consent_check(allowed=decision.allowed, reasons=decision.reasons)
            lines.append(
                {
                    "index": index,
                    "allowed": decision.allowed,
                    "state": decision.state,
                    "reasons": list(decision.reasons),
                    "evidence_event_id": decision.evidence_event_id,
                }
            )
        yield ("\n".join(json.dumps(line, separators=(",", ":")) for line in lines) + "\n").encode()
    summary = {"total": len(raw), "allowed": allowed, "denied": denied, "invalid": invalid}
    yield (json.dumps({"summary": summary}, separators=(",", ":")) + "\n").encode()


def consent_event_fast_lane(request: HttpRequest) -> HttpResponse | None:
    """A consent write past the middleware stack and DRF's dispatch (see FastLaneMiddleware), for the valid,
    authorised request: the view's own serializer checks it and the view's ``record`` writes it, so the lane
    adds no rule of its own. Anything short of a 201 (invalid input, a refusal by the service, a spent budget)
    goes to the view, which answers as always; a refused write changed nothing, so trying it there is safe.
    """
    if (given := _lane_request(request, Scope.CONSENT_WRITE)) is None:
        return None
    api_key, data = given
    serializer = ConsentEventCreateApi.InputSerializer(data=data)
    if not serializer.is_valid() or not api_key_request_allowed(api_key):
        return None
    try:
        body = ConsentEventCreateApi.record(
            serializer.validated_data, ApiClient(api_key=api_key).actor, request.headers.get("Sec-GPC") == "1"
        )
    except ApplicationError:
        return None
    return _lane_response(body, status.HTTP_201_CREATED)


class ConsentEventCreateApi(APIView):
    required_scope = Scope.CONSENT_WRITE
    fast_lane = staticmethod(consent_event_fast_lane)

    class ContactSerializer(StrictSerializer):
        kind = serializers.ChoiceField(choices=["email", "phone"])
        value = StrictCharField(max_length=320)

    class ActorSerializer(StrictSerializer):
        kind = serializers.ChoiceField(choices=ActorKind.values)
        ref = StrictCharField(max_length=80, required=False, default="")

    class EvidenceSerializer(StrictSerializer):
        ip = serializers.IPAddressField(required=False)
        user_agent = StrictCharField(max_length=500, required=False)
        form_sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", required=False)
        doi_token_sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", required=False)
        legacy_reference = StrictCharField(max_length=200, required=False)
        tc_string = StrictCharField(max_length=4000, required=False)
        url = serializers.URLField(max_length=500, required=False)

    class InputSerializer(StrictSerializer):
        subject_id = serializers.UUIDField(required=False)
        contact = serializers.JSONField(required=False)
        purpose = StrictCharField(max_length=80)
        channel = StrictCharField(max_length=16)
        action = StrictCharField(max_length=16)
        method = serializers.ChoiceField(choices=Method.values)
        actor = serializers.JSONField(required=False)
        notice_version = serializers.IntegerField(required=False, min_value=1)
        occurred_at = serializers.DateTimeField(required=False)
        valid_until = serializers.DateTimeField(required=False)
        source_system = StrictCharField(max_length=64, required=False, default="")
        evidence = serializers.JSONField(required=False)
        gpc = serializers.BooleanField(required=False, default=False)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            for name, nested in (
                ("contact", ConsentEventCreateApi.ContactSerializer),
                ("actor", ConsentEventCreateApi.ActorSerializer),
                ("evidence", ConsentEventCreateApi.EvidenceSerializer),
            ):
                if name in attrs:
                    inner = nested(data=attrs[name])
                    if not inner.is_valid():
                        raise serializers.ValidationError({name: inner.errors})
                    attrs[name] = inner.validated_data
            return attrs

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        chain = serializers.CharField()
        sequence = serializers.IntegerField()
        status = serializers.CharField()
        hash = serializers.CharField()
        recorded_at = serializers.DateTimeField()
        valid_until = serializers.DateTimeField(allow_null=True)
        gpc_objections = serializers.IntegerField()

    @extend_schema(
        summary="Record a consent event (grant, deny, withdraw, object)",
        operation_id="consent_event_create",
        description="Appended to the subject's (or contact point's) chain and projected at once. A grant needs "
        "the notice version shown. `Sec-GPC: 1` on the request (or `gpc: true`) also records an objection to "
        "every sale or sharing purpose.",
        request=InputSerializer,
        responses={201: OutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        gpc = request.headers.get("Sec-GPC") == "1"
        return Response(self.record(serializer.validated_data, request.user.actor, gpc), status=status.HTTP_201_CREATED)

    @classmethod
    def record(cls, data: dict[str, Any], by: Actor, gpc_header: bool) -> dict[str, Any]:
        """Record the validated event (and the GPC objections it signals); the 201 answer's body."""
        contact, actor, evidence = data.get("contact", {}), data.get("actor", {}), dict(data.get("evidence", {}))
        event = consent_record(
            event=EventInput(
                purpose_code=data["purpose"],
                channel=data["channel"],
                action=data["action"],
                method=data["method"],
                actor_kind=actor.get("kind", ActorKind.SUBJECT),
                actor_ref=actor.get("ref", ""),
                subject_id=data.get("subject_id"),
                contact_kind=contact.get("kind", ""),
                contact_value=contact.get("value", ""),
                notice_version_id=data.get("notice_version"),
                occurred_at=data.get("occurred_at"),
                valid_until=data.get("valid_until"),
                source_system=data["source_system"],
                ip=evidence.pop("ip", ""),
                user_agent=evidence.pop("user_agent", ""),
                evidence=evidence,
            ),
            actor=by,
        )
        gpc_events = []
        if data["gpc"] or gpc_header:
            gpc_events = consent_gpc_signal(
                actor=by,
                subject_id=data.get("subject_id"),
                contact=(contact["kind"], contact["value"]) if contact else None,
                source_system=data["source_system"],
            )
        fields = ("id", "chain", "sequence", "status", "hash", "recorded_at", "valid_until")
        body = {**{name: getattr(event, name) for name in fields}, "gpc_objections": len(gpc_events)}
        return cls.OutputSerializer(body).data


class SubjectConsentsApi(APIView):
    required_scope = (Scope.CONSENT_CHECK, Scope.CONSENT_WRITE)

    class StateSerializer(serializers.Serializer):
        purpose = serializers.CharField(source="purpose_code")
        channel = serializers.CharField()
        status = serializers.CharField()
        legal_basis = serializers.CharField()
        occurred_at = serializers.DateTimeField()
        valid_until = serializers.DateTimeField(allow_null=True)
        last_event_id = serializers.UUIDField()

    class EventSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        sequence = serializers.IntegerField()
        purpose = serializers.CharField(source="purpose_code")
        channel = serializers.CharField()
        action = serializers.CharField()
        status = serializers.CharField()
        method = serializers.CharField()
        actor_kind = serializers.CharField()
        legal_basis = serializers.CharField()
        notice_version = serializers.IntegerField(source="notice_version_id", allow_null=True)
        notice_sha256 = serializers.CharField(source="notice_version.text_sha256", allow_null=True, default=None)
        occurred_at = serializers.DateTimeField()
        recorded_at = serializers.DateTimeField()
        valid_until = serializers.DateTimeField(allow_null=True)
        hash = serializers.CharField()

    class OutputSerializer(serializers.Serializer):
        subject_id = serializers.UUIDField()
        states = serializers.ListField(child=serializers.DictField())
        history = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        summary="A subject's consent: current state per purpose and channel, and the full history",
        operation_id="subject_consents",
        responses={200: OutputSerializer},
    )
    def get(self, request: Request, subject_id: str) -> Response:
        states = self.StateSerializer(subject_consent_states(subject_id), many=True).data
        history = self.EventSerializer(subject_consent_history(subject_id), many=True).data
        return Response({"subject_id": subject_id, "states": states, "history": history})


# ---------------------------------------------------------------- audience checks


class AudienceCheckSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    purpose = serializers.CharField(source="purpose.code")
    channel = serializers.CharField()
    input_name = serializers.CharField()
    input_sha256 = serializers.CharField()
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    allowed = serializers.IntegerField()
    denied = serializers.IntegerField()
    invalid = serializers.IntegerField()
    denied_by_reason = serializers.DictField(child=serializers.IntegerField())
    receipt = serializers.DictField()
    signature = serializers.CharField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class AudienceCheckCreateApi(APIView):
    required_scope = Scope.CONSENT_CHECK
    parser_classes = [MultiPartParser]

    class InputSerializer(StrictSerializer):
        file = serializers.FileField()
        purpose = StrictCharField(max_length=80)
        channel = StrictCharField(max_length=16)
        format = serializers.ChoiceField(choices=["csv", "jsonl"], required=False)

    @extend_schema(
        summary="Check a whole campaign list (CSV or JSON Lines, any size) in the background",
        operation_id="audience_check_create",
        description="Upload the list as multipart `file`. A CSV names its recipient column in the header "
        "(email, phone, subject_id, or external_id with source); JSON Lines holds one recipient object per "
        "line. The list is stored encrypted and deleted once checked. Poll the returned status; when done, "
        "download the per-line result and keep the signed receipt.",
        request={"multipart/form-data": InputSerializer},
        responses={202: AudienceCheckSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data["file"]
        input_format = data.get("format") or ("csv" if upload.name.lower().endswith(".csv") else "jsonl")
        check = audience_check_create(
            purpose_code=data["purpose"],
            channel=data["channel"],
            chunks=upload.chunks(),
            input_format=input_format,
            name=upload.name,
            actor=request.user.actor,
        )
        check.refresh_from_db()
        location = reverse("api:audience-check", kwargs={"check_id": check.id}, request=request)
        return Response(
            AudienceCheckSerializer(check).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location}
        )


class AudienceCheckDetailApi(APIView):
    required_scope = Scope.CONSENT_CHECK

    @extend_schema(
        summary="An audience check's progress, counts and signed receipt",
        operation_id="audience_check_read",
        responses={200: AudienceCheckSerializer},
    )
    def get(self, request: Request, check_id: str) -> Response:
        return Response(
            AudienceCheckSerializer(
                get_object_or_404(AudienceCheck.objects.select_related("purpose"), pk=check_id)
            ).data
        )


class AudienceCheckResultApi(APIView):
    required_scope = Scope.CONSENT_CHECK

    @extend_schema(
        summary="Download the per-line result (JSON Lines: line, allowed, reasons, evidence)",
        operation_id="audience_check_result",
        responses={
            200: OpenApiResponse(description="application/x-ndjson"),
            409: OpenApiResponse(ErrorSerializer, description="The check is not done yet (`not_ready`)."),
        },
    )
    def get(self, request: Request, check_id: str) -> Response | FileResponse:
        check = get_object_or_404(AudienceCheck, pk=check_id)
        path = result_path(check)
        if check.status != AudienceCheck.Status.DONE or not path.exists():
            return error_response("not_ready", f"The check is {check.status}; the result comes when it is done.", 409)
        return FileResponse(path.open("rb"), content_type="application/x-ndjson", filename=f"audience-{check.id}.jsonl")


class SigningKeySerializer(serializers.Serializer):
    algorithm = serializers.CharField()
    public_key = serializers.CharField(help_text="Raw 32-byte Ed25519 public key, base64.")
    encoding = serializers.CharField()


class ReceiptSigningKeyApi(APIView):
    required_scope = Scope.CONSENT_CHECK

    @extend_schema(
        summary="The public key that verifies audience-check receipts",
        operation_id="receipt_signing_key",
        responses={200: SigningKeySerializer},
    )
    def get(self, request: Request) -> Response:
        return Response({"algorithm": "Ed25519", "public_key": public_key(), "encoding": "base64"})
