"""DPO console for subjects: masked by default; clear text only through an audited reveal."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from c360.lib.crypto import blind_index
from c360.lib.errors import ApplicationError
from c360.lib.history import Actor
from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise

from .models import Subject, SubjectAccess, index_kind
from .selectors import subject_masked
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
            *super().get_urls(),
        ]

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
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
        response = TemplateResponse(request, "admin/profiles/subject/reveal.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Reveal selected subjects (audited)")
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
