from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from simple_history.admin import SimpleHistoryAdmin

from c360.lib.errors import ValidationFailed
from c360.lib.history import Actor

from .models import ApiKey, Scope
from .services import api_key_issue, api_key_revoke


class ApiKeyIssueForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Which system will use this key.")
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    rate = forms.CharField(max_length=20, required=False, help_text="e.g. 6000/min; blank uses the default.")


@admin.register(ApiKey)
class ApiKeyAdmin(SimpleHistoryAdmin):
    list_display = ("name", "prefix", "scope_list", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    readonly_fields = (
        "name",
        "prefix",
        "scopes",
        "rate",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    actions = ("revoke",)

    @admin.display(description="scopes")
    def scope_list(self, api_key: ApiKey) -> str:
        return ", ".join(api_key.scopes)

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # keys are issued and revoked, never edited

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoked keys stay, so history can still say who called

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiKeyIssueForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": "Issue an API key",
        }
        if request.method == "POST" and form.is_valid():
            try:
                issued = api_key_issue(
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    rate=form.cleaned_data["rate"],
                    actor=Actor.for_user(request.user),
                )
            except ValidationFailed as exc:
                for field, errors in exc.errors.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                response = TemplateResponse(
                    request,
                    "admin/access/apikey/issued.html",
                    {
                        **context,
                        "title": "API key issued",
                        "api_key": issued.api_key,
                        "plaintext": issued.plaintext,
                    },
                )
                add_never_cache_headers(response)
                return response
        return TemplateResponse(request, "admin/access/apikey/issue.html", context)

    @admin.action(description="Revoke selected API keys", permissions=["add"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(prefix=api_key.prefix, actor=Actor.for_user(request.user))
        self.message_user(request, f"Revoked {queryset.count()} API key(s).", messages.SUCCESS)
