"""DPO console for requests: sources are configured (validated maps); requests are read with their trail
and moved on only through the services (the same ones the API calls)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from c360.lib.errors import ApplicationError, NotFound
from c360.lib.history import Actor

from .models import DataRequest, DataSource, RequestDocument, RequestEvent, RequestTask
from .services.documents import EXTENSIONS, document_read
from .services.execution import request_task_retry
from .services.requests import request_verify
from .services.sources import source_problems, source_save


class DataSourceForm(forms.ModelForm):
    class Meta:
        model = DataSource
        fields = (
            "code",
            "name",
            "kind",
            "is_active",
            "owner",
            "secret_env",
            "dataset_map",
            "config",
            "instructions",
            "categories",
            "purposes",
            "recipients",
            "retention",
        )
        widgets = {"dataset_map": forms.Textarea(attrs={"rows": 30, "cols": 100, "style": "font-family: monospace"})}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        probe = DataSource(
            **{name: value for name, value in cleaned.items() if name in {f.name for f in DataSource._meta.fields}}
        )
        for field, problems in source_problems(probe).items():
            self.add_error(field if field in self.fields else None, problems)
        return cleaned


@admin.register(DataSource)
class DataSourceAdmin(SimpleHistoryAdmin):
    form = DataSourceForm
    list_display = ("code", "name", "kind", "is_active", "owner")
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name")

    def save_model(self, request: HttpRequest, obj: DataSource, form: Any, change: bool) -> None:
        source_save(source=obj, actor=Actor.for_user(request.user))


class ReadOnlyInline(admin.TabularInline):
    """Rows a request accumulates (tasks, events, documents): shown with it, written only by the services."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RequestTaskInline(ReadOnlyInline):
    model = RequestTask
    fields = ("source", "operation", "status", "attempts", "error", "outcome", "finished_at")


class RequestEventInline(ReadOnlyInline):
    model = RequestEvent
    fields = ("at", "actor", "kind", "from_status", "to_status", "note")


class RequestDocumentInline(ReadOnlyInline):
    """The files the requester sent. Opening one goes through ``document_read``, which logs the reading."""

    model = RequestDocument
    fields = ("kind", "content_type", "size", "sha256", "created_at", "open_link")

    @admin.display(description="file")
    def open_link(self, obj: RequestDocument) -> str:
        url = reverse("admin:dsar_datarequest_document", args=[obj.request_id, obj.id])
        return format_html('<a href="{}">Download (the reading is logged)</a>', url)


@admin.register(DataRequest)
class DataRequestAdmin(SimpleHistoryAdmin):
    list_display = ("protocol", "request_type", "status", "regime_list", "received_at", "due_at", "overdue")
    list_filter = ("status", "request_type", "intake_channel")
    search_fields = ("protocol",)
    ordering = ("due_at",)
    inlines = (RequestDocumentInline, RequestTaskInline, RequestEventInline)
    actions = ("retry_failed_sources", "accept_authority")
    # The blind index of the requester's contact point is a lookup key, meaningless to read: not shown.
    exclude = ("requester_name_enc", "contact_email_enc", "identities_enc", "details_enc", "requester_index")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in DataRequest._meta.fields if field.name not in self.exclude]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<uuid:request_id>/documents/<uuid:document_id>/",
                self.admin_site.admin_view(self.document_download),
                name="dsar_datarequest_document",
            ),
            *super().get_urls(),
        ]

    def document_download(self, request: HttpRequest, request_id: uuid.UUID, document_id: uuid.UUID) -> HttpResponse:
        """A proof document, decrypted for the staff member checking it; each reading is on the trail.

        Only staff who work requests (change permission) check proofs: reading is not enough.
        """
        if not self.has_change_permission(request):
            raise PermissionDenied
        if not RequestDocument.objects.filter(pk=document_id, request_id=request_id).exists():
            raise Http404("No such document.")
        try:
            document, content = document_read(document_id=document_id, actor=Actor.for_user(request.user))
        except NotFound:
            raise Http404("No such document.") from None
        response = HttpResponse(content, content_type=document.content_type)
        extension = EXTENSIONS.get(document.content_type, "bin")
        response["Content-Disposition"] = (
            f'attachment; filename="{document.request.protocol}-{document.kind}.{extension}"'
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Authority proven (proof checked): start the selected requests", permissions=["change"])
    def accept_authority(self, request: HttpRequest, queryset: Any) -> None:
        started = 0
        waiting = queryset.filter(
            status=DataRequest.Status.AWAITING_VERIFICATION,
            verification_outcome=DataRequest.Outcome.VERIFIED,
            authority_proven=False,
        ).exclude(requester=DataRequest.Requester.SUBJECT)
        for data_request in waiting:
            try:
                request_verify(
                    request_id=data_request.pk,
                    method=data_request.verification_method or DataRequest.Verification.STAFF,
                    verified=True,
                    authority_proven=True,
                    actor=Actor.for_user(request.user),
                )
                started += 1
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        self.message_user(request, f"{started} request(s) started after checking the proof of authority.")

    @admin.display(description="regimes")
    def regime_list(self, obj: DataRequest) -> str:
        return ", ".join(obj.regimes)

    @admin.display(boolean=True, description="overdue")
    def overdue(self, obj: DataRequest) -> bool:
        return obj.overdue_flagged_at is not None

    @admin.action(description="Retry the failed sources of the selected requests", permissions=["change"])
    def retry_failed_sources(self, request: HttpRequest, queryset: Any) -> None:
        retried = 0
        for task in RequestTask.objects.filter(request__in=queryset, status=RequestTask.Status.FAILED):
            try:
                request_task_retry(task_id=task.pk, actor=Actor.for_user(request.user))
                retried += 1
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        self.message_user(request, f"{retried} source task(s) queued again.")
