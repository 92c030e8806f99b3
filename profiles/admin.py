"""DPO console for subjects: masked by default; clear text only through an audited reveal."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from c360.lib.crypto import blind_index
from c360.lib.errors import ApplicationError
from c360.lib.history import Actor
from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise

from .models import (
    MatchSuggestion,
    MergeDecision,
    PortalLogin,
    Source,
    SourceRecord,
    Subject,
    SubjectAccess,
    index_kind,
)
from .selectors import record_errors, subject_masked
from .services.ingestion import record_reprocess, record_reveal, source_save
from .services.merges import subject_split, suggestion_accept, suggestion_reject
from .services.subjects import subject_reveal

REVEAL_PERMISSION = "profiles.reveal_subject"


class RevealForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        min_length=5,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why you need to see this person's data (e.g. the request protocol). Do not copy personal data here.",
    )


def blind_index_filter(search_term: str) -> Q | None:
    """Staff search by email, phone, CPF, CNPJ or ``namespace:external-id``: exact after normalisation."""
    term = search_term.strip()
    conditions = Q()
    for kind in (IdentifierKind.EMAIL, IdentifierKind.PHONE, IdentifierKind.CPF, IdentifierKind.CNPJ):
        try:
            value = normalise(kind, term)
        except IdentifierError:
            continue
        conditions |= Q(
            identifiers__kind=kind,
            identifiers__namespace="",
            identifiers__blind_index=blind_index(kind, value),
        )
    namespace, separator, external_id = term.partition(":")
    if separator and namespace and external_id:
        try:
            value = normalise(IdentifierKind.EXTERNAL, external_id)
        except IdentifierError:
            pass
        else:
            conditions |= Q(
                identifiers__kind=IdentifierKind.EXTERNAL,
                identifiers__namespace=namespace,
                identifiers__blind_index=blind_index(index_kind(IdentifierKind.EXTERNAL, namespace), value),
            )
    return conditions or None


@admin.register(Subject)
class SubjectAdmin(SimpleHistoryAdmin):
    list_display = ("short_id", "masked_name", "masked_identifiers", "status", "regime_list", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("id",)
    search_help_text = "Exact email, phone, CPF, CNPJ, source:external-id, or subject id."
    readonly_fields = (
        "id",
        "status",
        "regimes",
        "regimes_reason",
        "masked_name",
        "masked_identifiers",
        "created_at",
        "updated_at",
        "restricted_at",
        "erased_at",
        "merged_into",
        "provenance_summary",
        "source_records",
        "reveal_link",
    )
    fields = readonly_fields
    actions = ("reveal_selected",)
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subject]:
        return super().get_queryset(request).select_related("key").prefetch_related("identifiers")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # subjects come from sources, the API and the portal, through services

    def has_delete_permission(self, request: HttpRequest, obj: Subject | None = None) -> bool:
        return False  # erasure is crypto-shredding through a request, never a row delete

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Subject], search_term: str
    ) -> tuple[QuerySet[Subject], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        conditions = blind_index_filter(term) or Q(pk__in=[])
        with contextlib.suppress(ValueError):
            conditions |= Q(pk=uuid.UUID(term))
        return queryset.filter(conditions).distinct(), True

    @admin.display(description="id")
    def short_id(self, subject: Subject) -> str:
        return str(subject.id)[:8]

    @admin.display(description="name (masked)")
    def masked_name(self, subject: Subject) -> str:
        return subject_masked(subject).name

    @admin.display(description="identifiers (masked)")
    def masked_identifiers(self, subject: Subject) -> str:
        rows = subject_masked(subject).identifiers
        return format_html_join(
            ", ", "{}: {}{}", ((kind, value, " ✓" if verified else "") for kind, value, verified in rows)
        )

    @admin.display(description="regimes")
    def regime_list(self, subject: Subject) -> str:
        return ", ".join(regime.upper() for regime in subject.regimes)

    @admin.display(description="values come from")
    def provenance_summary(self, subject: Subject) -> str:
        return (
            format_html_join(
                "",
                "<div>{}: {} (trust {})</div>",
                ((name, item["source"], item["trust"]) for name, item in subject.provenance.items()),
            )
            or "-"
        )

    @admin.display(description="source records")
    def source_records(self, subject: Subject) -> str:
        records = subject.source_records.select_related("source").order_by("received_at")
        rows = format_html_join(
            "",
            '<div><a href="{}">{}</a> {} · {} · linked by {}</div>',
            (
                (
                    reverse("admin:profiles_sourcerecord_change", args=[record.pk]),
                    str(record.pk)[:8],
                    record.source.code,
                    record.status,
                    record.link_rule or "-",
                )
                for record in records
            ),
        )
        if subject.is_live and records.filter(status=SourceRecord.Status.LINKED).count() > 1:
            url = reverse("admin:profiles_subject_split", args=[subject.pk])
            rows += format_html('<p><a class="button" href="{}">Split records off (unmerge)</a></p>', url)
        return rows or "-"

    @admin.display(description="clear text")
    def reveal_link(self, subject: Subject) -> str:
        if subject.is_erased:
            return "Erased: nothing to reveal."
        url = reverse("admin:profiles_subject_reveal", args=[subject.pk])
        return format_html('<a class="button" href="{}">Reveal (audited)</a>', url)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<uuid:subject_id>/reveal/",
                self.admin_site.admin_view(self.reveal_view),
                name="profiles_subject_reveal",
            ),
            path(
                "<uuid:subject_id>/split/", self.admin_site.admin_view(self.split_view), name="profiles_subject_split"
            ),
            *super().get_urls(),
        ]

    def split_view(self, request: HttpRequest, subject_id: str) -> HttpResponse:
        """Cut wrongly merged records out of a subject; they re-resolve without the cut link."""
        if not request.user.has_perm("profiles.change_subject"):
            raise PermissionDenied
        subject = get_object_or_404(Subject, pk=subject_id)
        records = subject.source_records.filter(status=SourceRecord.Status.LINKED).select_related("source")
        if request.method == "POST":
            chosen = request.POST.getlist("record")
            try:
                outcome = subject_split(subject_id=subject.pk, record_ids=chosen, actor=Actor.for_user(request.user))
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                destinations = ", ".join(sorted({str(subject_id)[:8] for subject_id in outcome.records.values()}))
                self.message_user(
                    request, f"Split {len(outcome.records)} record(s) off; they now belong to {destinations}."
                )
                return redirect(reverse("admin:profiles_subject_change", args=[subject.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "subject": subject,
            "records": records.order_by("received_at"),
            "title": f"Split subject {str(subject.id)[:8]}",
        }
        return TemplateResponse(request, "admin/profiles/subject/split.html", context)

    def reveal_view(self, request: HttpRequest, subject_id: str) -> HttpResponse:
        if not request.user.has_perm(REVEAL_PERMISSION):
            raise PermissionDenied
        subject = get_object_or_404(Subject, pk=subject_id)
        form = RevealForm(request.POST or None)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "subject": subject,
            "form": form,
            "title": f"Reveal subject {str(subject.id)[:8]}",
        }
        if request.method == "POST" and form.is_valid():
            try:
                context["revealed"] = subject_reveal(
                    subject_id=subject.pk,
                    actor=Actor.for_user(request.user),
                    reason=form.cleaned_data["reason"],
                    with_sources=True,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
        response = TemplateResponse(request, "admin/profiles/subject/reveal.html", context)
        add_never_cache_headers(response)
        return response

    def has_reveal_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVEAL_PERMISSION)

    @admin.action(description="Reveal selected subjects (audited)", permissions=["reveal"])
    def reveal_selected(self, request: HttpRequest, queryset: QuerySet[Subject]) -> HttpResponse | None:
        if not request.user.has_perm(REVEAL_PERMISSION):
            raise PermissionDenied
        subjects = list(queryset[:20])
        form = RevealForm(request.POST if "reason" in request.POST else None)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "subjects": subjects,
            "form": form,
            "title": "Reveal subjects",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        if form.is_bound and form.is_valid():
            actor = Actor.for_user(request.user)
            context["revealed_list"] = [
                subject_reveal(subject_id=subject.pk, actor=actor, reason=form.cleaned_data["reason"])
                for subject in subjects
                if not subject.is_erased
            ]
        response = TemplateResponse(request, "admin/profiles/subject/reveal.html", context)
        add_never_cache_headers(response)
        return response


@admin.register(SubjectAccess)
class SubjectAccessAdmin(admin.ModelAdmin):
    """The access log: read-only for everyone, the database refuses changes anyway."""

    list_display = ("accessed_at", "actor", "user", "subject_link", "reason", "field_list")
    list_filter = ("accessed_at",)
    search_fields = ("actor", "subject__id")
    date_hierarchy = "accessed_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SubjectAccess | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SubjectAccess | None = None) -> bool:
        return False

    @admin.display(description="subject")
    def subject_link(self, access: SubjectAccess) -> str:
        url = reverse("admin:profiles_subject_change", args=[access.subject_id])
        return format_html('<a href="{}">{}</a>', url, str(access.subject_id)[:8])

    @admin.display(description="fields")
    def field_list(self, access: SubjectAccess) -> str:
        return ", ".join(access.fields)


@admin.register(PortalLogin)
class PortalLoginAdmin(admin.ModelAdmin):
    """Portal sign-ins, as security evidence: when, how, whether used. No contact point is shown."""

    list_display = ("created_at", "channel", "subject_id", "redeemed_at", "failed_attempts", "ended_at")
    list_filter = ("channel", "created_at")
    fields = (
        "id",
        "channel",
        "contact_kind",
        "subject",
        "language",
        "created_at",
        "expires_at",
        "failed_attempts",
        "redeemed_at",
        "session_expires_at",
        "ended_at",
    )
    readonly_fields = fields
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PortalLogin | None = None) -> bool:
        return False


# ---------------------------------------------------------------- sources, records, identity decisions


@admin.register(Source)
class SourceAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "kind", "trust_rank", "emails_verified", "record_count")
    list_filter = ("kind", "emails_verified")
    search_fields = ("code", "name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        return super().get_queryset(request).annotate(records_total=Count("records"))

    @admin.display(description="records", ordering="records_total")
    def record_count(self, source: Source) -> int:
        return source.records_total  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: Source, form: Any, change: bool) -> None:
        source_save(source=obj, actor=Actor.for_user(request.user))

    def has_delete_permission(self, request: HttpRequest, obj: Source | None = None) -> bool:
        return False  # records point at their source for good; retire a source by its description


class FixRecordForm(forms.Form):
    record = forms.CharField(widget=forms.Textarea(attrs={"rows": 16, "cols": 100}), help_text="The record as JSON.")

    def clean_record(self) -> Any:
        try:
            return json.loads(self.cleaned_data["record"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON (line {exc.lineno}, column {exc.colno}).") from None


@admin.register(SourceRecord)
class SourceRecordAdmin(SimpleHistoryAdmin):
    """Source records and the quarantine: reasons are shown; values only through an audited reveal."""

    list_display = ("short_id", "source", "status", "subject_link", "link_rule", "received_at", "updated_at")
    list_filter = ("status", "source", "link_rule")
    readonly_fields = (
        "id",
        "source",
        "status",
        "subject_link",
        "link_rule",
        "link_explanation",
        "quarantine_reasons",
        "source_updated_at",
        "received_at",
        "updated_at",
        "fix_link",
    )
    fields = readonly_fields
    actions = ("reprocess_selected",)
    list_select_related = ("source", "subject")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SourceRecord | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SourceRecord | None = None) -> bool:
        return False

    @admin.display(description="id")
    def short_id(self, record: SourceRecord) -> str:
        return str(record.id)[:8]

    @admin.display(description="subject")
    def subject_link(self, record: SourceRecord) -> str:
        if not record.subject_id:
            return "-"
        url = reverse("admin:profiles_subject_change", args=[record.subject_id])
        return format_html('<a href="{}">{}</a>', url, str(record.subject_id)[:8])

    @admin.display(description="quarantine reasons")
    def quarantine_reasons(self, record: SourceRecord) -> str:
        if record.status != SourceRecord.Status.QUARANTINED:
            return "-"
        return format_html_join(
            "",
            "<div><strong>{}</strong>: {}</div>",
            ((field, " ".join(messages)) for field, messages in record_errors(record).items()),
        )

    @admin.display(description="fix")
    def fix_link(self, record: SourceRecord) -> str:
        if record.status != SourceRecord.Status.QUARANTINED:
            return "-"
        url = reverse("admin:profiles_sourcerecord_fix", args=[record.pk])
        return format_html('<a class="button" href="{}">Fix and re-process (audited)</a>', url)

    def get_urls(self) -> list[Any]:
        return [
            path("<uuid:record_id>/fix/", self.admin_site.admin_view(self.fix_view), name="profiles_sourcerecord_fix"),
            *super().get_urls(),
        ]

    def fix_view(self, request: HttpRequest, record_id: str) -> HttpResponse:
        """Reveal a quarantined record (with a reason, logged), correct it, re-process it."""
        if not request.user.has_perm(REVEAL_PERMISSION) or not request.user.has_perm("profiles.change_sourcerecord"):
            raise PermissionDenied
        record = get_object_or_404(SourceRecord, pk=record_id)
        context: dict[str, Any] = {**self.admin_site.each_context(request), "opts": self.opts, "record": record}
        actor = Actor.for_user(request.user)
        if request.method == "POST" and "record" in request.POST:
            form = FixRecordForm(request.POST)
            if form.is_valid():
                try:
                    outcome = record_reprocess(record_id=record.pk, actor=actor, fields=form.cleaned_data["record"])
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    level = messages.SUCCESS if outcome.status != "quarantined" else messages.WARNING
                    self.message_user(request, f"Re-processed: {outcome.status}.", level)
                    return redirect(reverse("admin:profiles_sourcerecord_changelist") + "?status__exact=quarantined")
            context["form"] = form
        else:
            reveal_form = RevealForm(request.POST or None)
            context["reveal_form"] = reveal_form
            if request.method == "POST" and reveal_form.is_valid():
                revealed = record_reveal(record_id=record.pk, actor=actor, reason=reveal_form.cleaned_data["reason"])
                context["errors"] = revealed.errors
                context["form"] = FixRecordForm(
                    initial={"record": json.dumps(revealed.fields, indent=2, ensure_ascii=False)}
                )
        response = TemplateResponse(request, "admin/profiles/sourcerecord/fix.html", context)
        add_never_cache_headers(response)
        return response

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("profiles.change_sourcerecord")

    @admin.action(description="Re-process selected quarantined records as they are", permissions=["reprocess"])
    def reprocess_selected(self, request: HttpRequest, queryset: QuerySet[SourceRecord]) -> None:
        actor = Actor.for_user(request.user)
        results = Counter(
            record_reprocess(record_id=record.pk, actor=actor).status
            for record in queryset.filter(status=SourceRecord.Status.QUARANTINED)
        )
        self.message_user(
            request, "Re-processed: " + (", ".join(f"{n} {status}" for status, n in results.items()) or "none")
        )


@admin.register(MatchSuggestion)
class MatchSuggestionAdmin(SimpleHistoryAdmin):
    list_display = ("created_at", "first", "second", "evidence", "score", "status", "decided_by")
    list_filter = ("status", "evidence")
    readonly_fields = (
        "subject_a",
        "subject_b",
        "evidence",
        "detail",
        "score",
        "status",
        "created_at",
        "decided_at",
        "decided_by",
    )
    actions = ("accept_selected", "reject_selected")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MatchSuggestion | None = None) -> bool:
        return False

    @admin.display(description="subject")
    def first(self, suggestion: MatchSuggestion) -> str:
        return _subject_link(suggestion.subject_a_id)

    @admin.display(description="other subject")
    def second(self, suggestion: MatchSuggestion) -> str:
        return _subject_link(suggestion.subject_b_id)

    @admin.action(description="Accept: merge each pair (the newer into the older)", permissions=["change"])
    def accept_selected(self, request: HttpRequest, queryset: QuerySet[MatchSuggestion]) -> None:
        self._decide(request, queryset, suggestion_accept)

    @admin.action(description="Reject: keep each pair apart for good", permissions=["change"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[MatchSuggestion]) -> None:
        self._decide(request, queryset, suggestion_reject)

    def _decide(self, request: HttpRequest, queryset: QuerySet[MatchSuggestion], decide: Any) -> None:
        actor, done, refused = Actor.for_user(request.user), 0, []
        for suggestion in queryset.filter(status=MatchSuggestion.Status.OPEN):
            try:
                decide(suggestion_id=suggestion.pk, actor=actor)
                done += 1
            except ApplicationError as exc:
                refused.append(exc.message)
        self.message_user(request, f"{done} decided." + (f" Refused: {'; '.join(refused)}" if refused else ""))


@admin.register(MergeDecision)
class MergeDecisionAdmin(SimpleHistoryAdmin):
    list_display = (
        "decided_at",
        "survivor_link",
        "absorbed_link",
        "rule",
        "identifier_kind",
        "decided_by",
        "undone_at",
    )
    list_filter = ("rule", "identifier_kind", "undone_at")
    readonly_fields = (
        "survivor",
        "absorbed",
        "rule",
        "identifier_kind",
        "records",
        "decided_at",
        "decided_by",
        "undone_at",
        "undone_by",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MergeDecision | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MergeDecision | None = None) -> bool:
        return False

    @admin.display(description="survivor")
    def survivor_link(self, decision: MergeDecision) -> str:
        return _subject_link(decision.survivor_id)

    @admin.display(description="absorbed")
    def absorbed_link(self, decision: MergeDecision) -> str:
        return _subject_link(decision.absorbed_id)


def _subject_link(subject_id: Any) -> str:
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:profiles_subject_change", args=[subject_id]), str(subject_id)[:8]
    )
