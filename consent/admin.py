"""DPO console for consent: the catalogue is edited (versioned); the ledger and its proofs are read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from c360.lib.history import Actor

from .models import (
    AudienceCheck,
    ConsentEvent,
    ConsentState,
    LedgerCheckpoint,
    LedgerVerification,
    Notice,
    NoticeVersion,
    Purpose,
    Suppression,
)
from .services.events import ledger_verification_record, notice_version_publish, purpose_save


class ReadOnlyAdmin(admin.ModelAdmin):
    """Evidence is looked at, never edited from the console."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Purpose)
class PurposeAdmin(SimpleHistoryAdmin):
    list_display = ("code", "lgpd_basis", "gdpr_basis", "channel_list", "is_active", "version", "updated_at")
    list_filter = ("is_active", "direct_marketing", "sale_or_share", "sensitive")
    search_fields = ("code",)
    readonly_fields = ("version", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("code", "names", "descriptions", "is_active", "version", "created_at", "updated_at")}),
        ("Legal basis", {"fields": ("lgpd_basis", "gdpr_basis", "lia_reference")}),
        (
            "Use",
            {
                "fields": (
                    "channels",
                    "sensitive",
                    "direct_marketing",
                    "sale_or_share",
                    "minors_need_guardian",
                    "validity_days",
                )
            },
        ),
        (
            "What people are told (portal page 'What we do'; LGPD Art. 9, GDPR Art. 13)",
            {
                "description": "Per-language texts take pt-br, en and es keys; pt-br is shown when a language is "
                "missing. Data categories are short codes (name, identification, contact, email, phone, address, "
                "purchases, preferences, browsing, engagement, device, location, payment, health, demographics, "
                "communications); recipient roles are processor, controller, joint_controller or authority.",
                "fields": ("data_categories", "retention", "recipients", "refusal_consequences"),
            },
        ),
    )

    @admin.display(description="channels")
    def channel_list(self, purpose: Purpose) -> str:
        return ", ".join(purpose.channels)

    def save_model(self, request: HttpRequest, obj: Purpose, form: Any, change: bool) -> None:
        try:
            purpose_save(purpose=obj, actor=Actor.for_user(request.user))
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)

    def has_delete_permission(self, request: HttpRequest, obj: Purpose | None = None) -> bool:
        return False  # the ledger refers to purposes for good; retire one by deactivating it


class NoticeVersionInline(admin.TabularInline):
    model = NoticeVersion
    extra = 0
    fields = ("version", "language", "published_at", "text_sha256")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notice)
class NoticeAdmin(SimpleHistoryAdmin):
    list_display = ("code", "title", "created_at")
    filter_horizontal = ("purposes",)
    inlines = (NoticeVersionInline,)


@admin.register(NoticeVersion)
class NoticeVersionAdmin(admin.ModelAdmin):
    """A published text is proof of what people were told: it can be added, never changed."""

    list_display = ("notice", "version", "language", "published_at", "text_sha256")
    list_filter = ("notice", "language")
    readonly_fields = ("text_sha256",)

    def has_change_permission(self, request: HttpRequest, obj: NoticeVersion | None = None) -> bool:
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: NoticeVersion | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: NoticeVersion, form: Any, change: bool) -> None:
        notice_version_publish(version=obj, actor=Actor.for_user(request.user))


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = (
        "recorded_at",
        "chain_short",
        "sequence",
        "purpose_code",
        "channel",
        "action",
        "method",
        "actor_kind",
    )
    list_filter = ("action", "method", "channel", "actor_kind", "purpose_code")
    search_fields = ("chain", "=id")
    date_hierarchy = "recorded_at"
    exclude = ("ip_enc", "user_agent_enc", "contact_index")
    actions = ("verify_ledger",)

    @admin.display(description="chain")
    def chain_short(self, event: ConsentEvent) -> str:
        if event.subject_id:
            url = reverse("admin:profiles_subject_change", args=[event.subject_id])
            return format_html('<a href="{}">{}</a>', url, event.chain[:14])
        return event.chain[:14]

    @admin.action(description="Verify the whole ledger now (the result is kept)")
    def verify_ledger(self, request: HttpRequest, queryset: Any) -> None:
        report = ledger_verification_record(actor=Actor.for_user(request.user))
        self.message_user(
            request,
            f"{report.chains} chains, {report.events} events, {report.broken} broken link(s); "
            f"last checkpoint {'matches' if report.checkpoint_matches else 'missing or DOES NOT MATCH'}.",
            messages.SUCCESS if report.ok else messages.ERROR,
        )


@admin.register(ConsentState)
class ConsentStateAdmin(ReadOnlyAdmin):
    list_display = ("subject", "contact_kind", "purpose_code", "channel", "status", "valid_until", "occurred_at")
    list_filter = ("status", "channel", "purpose_code")
    exclude = ("contact_index",)


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin):
    list_display = ("contact_kind", "channel", "reason", "since")
    list_filter = ("contact_kind", "reason")
    exclude = ("contact_index",)


@admin.register(LedgerVerification)
class LedgerVerificationAdmin(ReadOnlyAdmin):
    list_display = ("finished_at", "ok", "chains", "events", "broken", "checkpoint_matches", "run_by")
    list_filter = ("ok",)


@admin.register(LedgerCheckpoint)
class LedgerCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("taken_at", "chains", "events", "heads_sha256")


@admin.register(AudienceCheck)
class AudienceCheckAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "purpose",
        "channel",
        "status",
        "total",
        "allowed",
        "denied",
        "invalid",
        "requested_by",
    )
    list_filter = ("status", "channel")
    exclude = ("input_wrapped_key", "input_kek_version")
