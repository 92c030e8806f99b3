"""DPO console for requests: sources are configured (validated maps); requests are read with their trail
and moved on only through the services (the same ones the API calls)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from c360.lib.errors import ApplicationError
from c360.lib.history import Actor

from .models import DataRequest, DataSource, RequestEvent, RequestTask
from .services.execution import request_task_retry
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


class RequestTaskInline(admin.TabularInline):
    model = RequestTask
    fields = ("source", "operation", "status", "attempts", "error", "outcome", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RequestEventInline(admin.TabularInline):
    model = RequestEvent
    fields = ("at", "actor", "kind", "from_status", "to_status", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DataRequest)
class DataRequestAdmin(SimpleHistoryAdmin):
    list_display = ("protocol", "request_type", "status", "regime_list", "received_at", "due_at", "overdue")
    list_filter = ("status", "request_type", "intake_channel")
    search_fields = ("protocol",)
    ordering = ("due_at",)
    inlines = (RequestTaskInline, RequestEventInline)
    actions = ("retry_failed_sources",)
    exclude = ("requester_name_enc", "contact_email_enc", "identities_enc", "details_enc")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in DataRequest._meta.fields if not field.name.endswith("_enc")]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="regimes")
    def regime_list(self, obj: DataRequest) -> str:
        return ", ".join(obj.regimes)

    @admin.display(boolean=True, description="overdue")
    def overdue(self, obj: DataRequest) -> bool:
        return obj.overdue_flagged_at is not None

    @admin.action(description="Retry the failed sources of the selected requests")
    def retry_failed_sources(self, request: HttpRequest, queryset: Any) -> None:
        retried = 0
        for task in RequestTask.objects.filter(request__in=queryset, status=RequestTask.Status.FAILED):
            try:
                request_task_retry(task_id=task.pk, actor=Actor.for_user(request.user))
                retried += 1
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        self.message_user(request, f"{retried} source task(s) queued again.")
