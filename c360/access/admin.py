from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from simple_history.admin import SimpleHistoryAdmin

from c360.lib.errors import ValidationFailed
from c360.lib.history import Actor

from .models import ApiKey, Scope
from .services import api_key_issue, api_key_revoke


class ConsoleAdminSite(OTPAdminSite):
    """The DPO console: staff sign in with a password and a one-time password (TOTP app or backup code).

    ``c360/urls.py`` makes the default admin site one of these. C360_ADMIN_OTP=0 (the demo's default) asks for
    the password alone. A session that signed in without a second factor sees no page, as if not staff.
    """

    @property  # type: ignore[override]
    def login_form(self) -> type[AdminAuthenticationForm]:
        return OTPAdminAuthenticationForm if settings.C360_ADMIN_OTP else AdminAuthenticationForm

    @property  # type: ignore[override]
    def login_template(self) -> str | None:
        return OTPAdminSite.login_template if settings.C360_ADMIN_OTP else None

    def has_permission(self, request: HttpRequest) -> bool:
        if settings.C360_ADMIN_OTP:
            return super().has_permission(request)
        return admin.AdminSite.has_permission(self, request)


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


# django-axes offers its clean-up to anyone who can read the lockouts (and it fails outside a sign-in request);
# here it needs the delete permission.
class LockoutAdmin(AccessAttemptAdmin):
    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        if not hasattr(request, "axes_attempt_time"):  # axes sets it only on sign-in requests, and needs it here
            request.axes_attempt_time = timezone.now()  # type: ignore[attr-defined]
        super().cleanup_expired_attempts(request, queryset)


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, LockoutAdmin)
