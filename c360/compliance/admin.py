"""DPO console for the registers. Every change goes through the services, so history names the actor."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from c360.lib.errors import ValidationFailed
from c360.lib.history import Actor

from .exports import activities_csv, activities_pdf
from .models import (
    CHECKLIST_ITEMS,
    Incident,
    IncidentNotification,
    InternationalTransfer,
    LegalHold,
    ProcessingActivity,
    RetentionRule,
    RetentionRun,
)
from .selectors import activity_missing_fields
from .services.activities import (
    international_transfer_delete,
    international_transfer_save,
    processing_activity_save,
)
from .services.incidents import incident_checklist_tick, incident_notification_record, incident_save
from .services.retention import legal_hold_release, legal_hold_save, retention_rule_save, retention_run

_FAILED = "_compliance_save_failed"


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user)


def _report(admin_: admin.ModelAdmin, request: HttpRequest, error: ValidationFailed) -> None:
    details = "; ".join(f"{field}: {' '.join(map(str, texts))}" for field, texts in error.errors.items())
    admin_.message_user(request, f"Not saved. {error.message} {details}".strip(), messages.ERROR)
    setattr(request, _FAILED, True)


class ServiceSavedAdmin(SimpleHistoryAdmin):
    """Saves go through the services; when one refuses, the admin must not also say "saved"."""

    def construct_change_message(self, request: HttpRequest, form: Any, formsets: Any, add: bool = False) -> Any:
        if getattr(request, _FAILED, False):
            return []  # nothing was saved: the formsets were never saved either
        return super().construct_change_message(request, form, formsets, add)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, _FAILED, False):
            return None  # nothing was added
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, _FAILED, False):
            return None
        return super().log_change(request, obj, message)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        if getattr(request, _FAILED, False):
            return HttpResponseRedirect(request.get_full_path())  # back to the form, with the refusal shown
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        if getattr(request, _FAILED, False):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)


# ---------------------------------------------------------------- ROPA


class InternationalTransferInline(admin.TabularInline):
    model = InternationalTransfer
    extra = 0
    fields = ("country", "recipient", "mechanism", "lgpd_item", "safeguard_reference")


@admin.register(ProcessingActivity)
class ProcessingActivityAdmin(ServiceSavedAdmin):
    list_display = ("name", "status", "purpose_list", "missing_count", "updated_at")
    list_filter = ("status", "purposes", "data_sources")
    search_fields = ("name", "description", "controller", "lia_reference")
    filter_horizontal = ("purposes", "data_sources")
    readonly_fields = ("created_at", "updated_at", "missing_fields")
    inlines = (InternationalTransferInline,)
    actions = ("export_csv", "export_pdf")
    fieldsets = (
        (None, {"fields": ("name", "description", "status", "missing_fields")}),
        ("Art. 30(1)(a): who", {
            "fields": ("controller", "joint_controllers", "representative", "dpo_name", "dpo_email"),
        }),
        ("Art. 30(1)(b): purposes and legal basis", {"fields": ("purposes", "lia_reference")}),
        ("Art. 30(1)(c)-(d): subjects, data, recipients", {
            "fields": ("subject_categories", "data_categories", "recipient_categories", "recipients"),
        }),
        ("Art. 30(1)(f)-(g): retention and security", {
            "fields": ("retention_text", "retention_days", "security_measures", "data_sources"),
        }),
        (None, {"fields": ("created_at", "updated_at")}),
    )  # fmt: skip

    @admin.display(description="purposes")
    def purpose_list(self, activity: ProcessingActivity) -> str:
        return ", ".join(purpose.code for purpose in activity.purposes.all())

    @admin.display(description="missing items")
    def missing_count(self, activity: ProcessingActivity) -> int:
        return len(activity_missing_fields(activity))

    @admin.display(description="missing mandatory items")
    def missing_fields(self, activity: ProcessingActivity) -> str:
        return "; ".join(item["label"] for item in activity_missing_fields(activity)) or "none"

    def save_model(self, request: HttpRequest, obj: ProcessingActivity, form: Any, change: bool) -> None:
        try:
            processing_activity_save(
                activity=obj,
                actor=_actor(request),
                purposes=form.cleaned_data.get("purposes"),
                data_sources=form.cleaned_data.get("data_sources"),
            )
        except ValidationFailed as error:
            _report(self, request, error)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if getattr(request, _FAILED, False) or form.instance.pk is None:
            return
        for formset in formsets:  # the many-to-many fields were set by the service
            self.save_formset(request, form, formset, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        instances = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            international_transfer_delete(transfer_id=deleted.pk, actor=_actor(request))
        for transfer in instances:
            try:
                international_transfer_save(transfer=transfer, actor=_actor(request))
            except ValidationFailed as error:
                _report(self, request, error)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retire an activity by keeping it in the record's history; set it back to draft

    @admin.action(description="Export as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[ProcessingActivity]) -> HttpResponse:
        activities = queryset.prefetch_related("purposes", "data_sources", "transfers").order_by("name")
        response = HttpResponse(activities_csv(activities), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="ropa-{timezone.localdate():%Y%m%d}.csv"'
        return response

    @admin.action(description="Export as PDF")
    def export_pdf(self, request: HttpRequest, queryset: QuerySet[ProcessingActivity]) -> HttpResponse:
        activities = queryset.prefetch_related("purposes", "data_sources", "transfers").order_by("name")
        response = HttpResponse(activities_pdf(activities), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="ropa-{timezone.localdate():%Y%m%d}.pdf"'
        return response


# ---------------------------------------------------------------- incidents


class IncidentForm(forms.ModelForm):
    checklist_done = forms.MultipleChoiceField(
        choices=list(CHECKLIST_ITEMS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Notification content covered",
    )

    class Meta:
        model = Incident
        fields = (
            "title", "description", "occurred_at", "detected_at", "aware_at", "data_categories", "systems",
            "activities", "subjects_affected", "records_affected", "children_affected", "adolescents_affected",
            "elderly_affected", "regimes", "small_agent", "risk", "risk_reasoning", "notify_authority",
            "notify_subjects", "decision_reasons", "measures_taken", "status", "first_notice_partial",
        )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["checklist_done"] = [
                item for item, entry in self.instance.checklist.items() if entry.get("done")
            ]


class IncidentNotificationInline(admin.TabularInline):
    model = IncidentNotification
    extra = 0
    fields = ("recipient", "authority", "sent_at", "reference", "partial", "supplement", "reason_for_delay")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a notification sent is a fact: add a new one, never edit it

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(ServiceSavedAdmin):
    form = IncidentForm
    list_display = (
        "title", "aware_at", "risk", "status", "small_agent", "gdpr_authority_due_at", "anpd_authority_due_at",
    )  # fmt: skip
    list_filter = ("status", "risk", "small_agent", "notify_authority", "notify_subjects")
    search_fields = ("title", "description")
    date_hierarchy = "aware_at"
    filter_horizontal = ("activities",)
    inlines = (IncidentNotificationInline,)
    readonly_fields = (
        "gdpr_authority_due_at", "anpd_authority_due_at", "anpd_subjects_due_at", "anpd_supplement_due_at",
        "eu_sa_notified_at", "anpd_notified_at", "subjects_notified_at", "anpd_supplement_sent_at",
        "checklist_log", "retain_until", "created_at",
    )  # fmt: skip

    @admin.display(description="checklist (who, when)")
    def checklist_log(self, incident: Incident) -> str:
        return "; ".join(
            f"{item}: {'done' if entry.get('done') else 'undone'} by {entry.get('by')} at {entry.get('at')}"
            for item, entry in incident.checklist.items()
        )

    def save_model(self, request: HttpRequest, obj: Incident, form: Any, change: bool) -> None:
        actor = _actor(request)
        try:
            incident_save(incident=obj, actor=actor)
        except ValidationFailed as error:
            _report(self, request, error)
            return
        wanted = set(form.cleaned_data.get("checklist_done") or [])
        current = {item for item, entry in obj.checklist.items() if entry.get("done")}
        for item in sorted(wanted ^ current):
            incident_checklist_tick(incident_id=obj.pk, item=item, actor=actor, done=item in wanted)
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if getattr(request, _FAILED, False):
            return
        form.instance.activities.set(form.cleaned_data.get("activities") or [])
        for formset in formsets:
            for notification in formset.save(commit=False):
                try:
                    incident_notification_record(
                        incident_id=form.instance.pk,
                        recipient=notification.recipient,
                        sent_at=notification.sent_at,
                        actor=_actor(request),
                        reference=notification.reference,
                        authority=notification.authority,
                        partial=notification.partial,
                        supplement=notification.supplement,
                        reason_for_delay=notification.reason_for_delay,
                    )
                except ValidationFailed as error:
                    _report(self, request, error)

    def has_delete_permission(self, request: HttpRequest, obj: Incident | None = None) -> bool:
        return False  # kept at least five years (Res. 15/2024 art. 10), also when not notified


# ---------------------------------------------------------------- retention


@admin.register(RetentionRule)
class RetentionRuleAdmin(ServiceSavedAdmin):
    list_display = ("name", "target", "action", "period_days", "purpose", "data_category", "is_active")
    list_filter = ("is_active", "target", "action")
    search_fields = ("name", "data_category", "legal_basis")
    readonly_fields = ("created_at", "updated_at")
    actions = ("run_dry_run_now",)

    def save_model(self, request: HttpRequest, obj: RetentionRule, form: Any, change: bool) -> None:
        try:
            retention_rule_save(rule=obj, actor=_actor(request))
        except ValidationFailed as error:
            _report(self, request, error)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: runs refer to rules by id

    @admin.action(description="Run a dry run now", permissions=["change"])
    def run_dry_run_now(self, request: HttpRequest, queryset: QuerySet[RetentionRule]) -> None:
        run = retention_run(dry_run=True, actor=_actor(request))
        self.message_user(
            request,
            f"Dry run {run.pk}: {run.total_eligible} eligible, "
            f"{sum(r['would_purge'] for r in run.results.values())} would be purged, {run.total_held} held. "
            "Every active rule was evaluated; nothing was changed.",
            messages.SUCCESS,
        )


@admin.register(LegalHold)
class LegalHoldAdmin(ServiceSavedAdmin):
    list_display = ("__str__", "scope", "authority", "starts_at", "review_at", "released_at")
    list_filter = ("scope", ("released_at", admin.EmptyFieldListFilter), "data_source")
    search_fields = ("subject_id", "data_category", "reason", "authority")
    readonly_fields = ("released_at", "created_at")
    actions = ("release",)

    def save_model(self, request: HttpRequest, obj: LegalHold, form: Any, change: bool) -> None:
        try:
            legal_hold_save(hold=obj, actor=_actor(request))
        except ValidationFailed as error:
            _report(self, request, error)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # release a hold; its record stays

    @admin.action(description="Release the selected holds", permissions=["change"])
    def release(self, request: HttpRequest, queryset: QuerySet[LegalHold]) -> None:
        for hold in queryset:
            legal_hold_release(hold_id=hold.pk, actor=_actor(request))
        self.message_user(request, f"{queryset.count()} hold(s) released.", messages.SUCCESS)


@admin.register(RetentionRun)
class RetentionRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "finished_at", "dry_run", "actor", "total_eligible", "total_purged", "total_held")
    list_filter = ("dry_run",)
    search_fields = ("actor",)
    date_hierarchy = "started_at"
    readonly_fields = ("started_at", "finished_at", "dry_run", "actor", "results")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
