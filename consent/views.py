"""Portal pages of the consent app: what we do (public), my consents, and their history.

Every change is a one-button POST whose subject comes from the session, never from the form; it is
recorded through the ledger services (method ``portal``) and answered by a redirect (PRG). A refused
change writes nothing and answers 400 with the page and the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language, gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from c360.lib.errors import ApplicationError
from c360.lib.history import Actor
from consent.decisions import Reason
from consent.forms import GRANT, ConsentChangeForm, ObjectionForm, form_problems
from consent.models import (
    ALL,
    LEGITIMATE_INTEREST_BASES,
    Action,
    ActorKind,
    Channel,
    GdprBasis,
    LgpdBasis,
    Method,
    NoticeVersion,
    Purpose,
)
from consent.selectors import (
    ChannelConsent,
    ConsentOwner,
    PurposeConsents,
    channel_consent,
    owner_consent_history,
    portal_consents,
    purposes_active,
)
from consent.services.events import EventInput, consent_object, consent_record, consent_withdraw
from profiles.portal import PortalRequest, current_identity, portal_login_required
from profiles.services.portal import PortalIdentity, portal_contact

logger = logging.getLogger(__name__)
SOURCE_SYSTEM = "portal"
FALLBACK_LANGUAGE = "pt-br"
HISTORY_PAGE_SIZE = 50

# The catalogue's choice labels live in consent.models, untranslated (the DPO console is in English);
# the portal shows them translated. They are repeated here only so that makemessages finds them, and a
# test checks that none is missing.
MODEL_LABELS = (
    gettext_noop("Email"),
    gettext_noop("SMS"),
    gettext_noop("WhatsApp"),
    gettext_noop("Phone call"),
    gettext_noop("Push notification"),
    gettext_noop("Post"),
    gettext_noop("Paid media audiences"),
    gettext_noop("Art. 7 I: consent"),
    gettext_noop("Art. 7 II: legal or regulatory obligation"),
    gettext_noop("Art. 7 III: public policies"),
    gettext_noop("Art. 7 IV: research"),
    gettext_noop("Art. 7 V: contract or preliminary steps"),
    gettext_noop("Art. 7 VI: exercise of rights in proceedings"),
    gettext_noop("Art. 7 VII: protection of life"),
    gettext_noop("Art. 7 VIII: health protection"),
    gettext_noop("Art. 7 IX: legitimate interest"),
    gettext_noop("Art. 7 X: credit protection"),
    gettext_noop("Art. 11 I: specific and highlighted consent (sensitive data)"),
    gettext_noop("Art. 11 II a: legal obligation (sensitive data)"),
    gettext_noop("Art. 11 II g: fraud prevention and authentication (sensitive data)"),
    gettext_noop("Art. 6(1)(a): consent"),
    gettext_noop("Art. 6(1)(b): contract"),
    gettext_noop("Art. 6(1)(c): legal obligation"),
    gettext_noop("Art. 6(1)(d): vital interests"),
    gettext_noop("Art. 6(1)(e): public task"),
    gettext_noop("Art. 6(1)(f): legitimate interests"),
    gettext_noop("Art. 9(2)(a): explicit consent (special categories)"),
    gettext_noop("Granted"),
    gettext_noop("Refused"),
    gettext_noop("Withdrawn"),
    gettext_noop("Objected"),
    gettext_noop("Expired"),
    gettext_noop("Erased: never contact again"),
    gettext_noop("Merged from another subject"),
    gettext_noop("Form checkbox (unticked by default)"),
    gettext_noop("Double opt-in confirmation"),
    gettext_noop("Reply STOP"),
    gettext_noop("Unsubscribe link"),
    gettext_noop("Call centre (recorded)"),
    gettext_noop("Paper form"),
    gettext_noop("Import of earlier consents"),
    gettext_noop("Global Privacy Control signal"),
    gettext_noop("Data subject request"),
    gettext_noop("Self-service portal"),
    gettext_noop("Rule applied by c360 (expiry, merge)"),
)

STATUS_LABELS = {
    "granted": _("Given"),
    "withdrawn": _("Withdrawn"),
    "denied": _("Refused"),
    "objected": _("Objected"),
    "expired": _("Expired"),
    "suppressed": _("Never contact again"),
    "": _("Not given"),
}
BLOCK_LABELS = {
    Reason.OBJECTED: _("Not in effect: you objected to all direct marketing."),
    Reason.GLOBAL_OPT_OUT: _("Not in effect: you opted out of this channel for every purpose."),
    Reason.MINOR_NO_GUARDIAN: _("Not in effect: a parent or guardian must give this consent."),
    Reason.GPC_OPT_OUT: _("Not in effect: your browser's Global Privacy Control signal objects to it."),
    Reason.WITHDRAWN: _("Not in effect: a withdrawal recorded for your address still stands."),
    Reason.DENIED: _("Not in effect: a refusal recorded for your address still stands."),
    Reason.EXPIRED: _("Not in effect: the consent expired."),
}
DATA_CATEGORY_LABELS = {
    "name": _("Name"),
    "identification": _("Identification numbers (such as CPF)"),
    "contact": _("Contact details (email, phone, address)"),
    "email": _("Email address"),
    "phone": _("Phone number"),
    "address": _("Postal address"),
    "purchases": _("Purchase history"),
    "preferences": _("Preferences and interests"),
    "browsing": _("Use of our site and app"),
    "engagement": _("Opens and clicks of our messages"),
    "device": _("Device identifiers"),
    "location": _("Approximate location"),
    "payment": _("Payment and billing data"),
    "health": _("Health data"),
    "demographics": _("Age and date of birth"),
    "communications": _("Messages you sent us"),
}
RECIPIENT_ROLE_LABELS = {
    "processor": _("processes the data on our behalf"),
    "controller": _("uses the data for its own purposes"),
    "joint_controller": _("decides with us how the data is used"),
    "authority": _("public authority"),
}


# ---------------------------------------------------------------- helpers


def _label(choices: type[models.TextChoices], value: str) -> str:
    try:
        return gettext(choices(value).label)
    except ValueError:
        return value


def _channel_label(channel: str) -> str:
    return gettext("All channels") if channel == ALL else _label(Channel, channel)


def _in_language(texts: Any, language: str) -> str:
    """A per-language text of the catalogue: the current language, else Portuguese, else nothing."""
    if not isinstance(texts, dict):
        return ""
    return str(texts.get(language) or texts.get(FALLBACK_LANGUAGE) or "")


def _owner(identity: PortalIdentity) -> ConsentOwner:
    return ConsentOwner(
        contact_kind=identity.contact_kind, contact_index=identity.contact_index, subject_id=identity.subject_id
    )


def _actor(identity: PortalIdentity) -> Actor:
    if identity.subject_id is not None:
        return Actor.for_subject(identity.subject_id)
    return Actor("subject", f"portal-login:{identity.login_id}")


def _purpose_name(purpose: Purpose | None, code: str, language: str) -> str:
    if code == ALL:
        return gettext("All purposes (all direct marketing)")
    return purpose.name(language) if purpose is not None else code


# ---------------------------------------------------------------- what we do


def _recipients(value: Any) -> list[dict[str, str]]:
    recipients = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and item.get("name"):
            role = str(item.get("role", ""))
            recipients.append(
                {
                    "name": str(item["name"]),
                    "role": str(RECIPIENT_ROLE_LABELS.get(role, role)),
                    "country": str(item.get("country", "")),
                }
            )
    return recipients


def _about_entry(purpose: Purpose, language: str) -> dict[str, Any]:
    categories = purpose.data_categories if isinstance(purpose.data_categories, list) else []
    return {
        "code": purpose.code,
        "name": purpose.name(language),
        "description": _in_language(purpose.descriptions, language),
        "lgpd_basis": _label(LgpdBasis, purpose.lgpd_basis),
        "gdpr_basis": _label(GdprBasis, purpose.gdpr_basis),
        "needs_consent": purpose.needs_consent,
        "legitimate_interest": bool({purpose.lgpd_basis, purpose.gdpr_basis} & LEGITIMATE_INTEREST_BASES),
        "channels": [_channel_label(channel) for channel in purpose.channels],
        "data_categories": [str(DATA_CATEGORY_LABELS.get(str(code), code)) for code in categories],
        "retention": _in_language(purpose.retention, language),
        "recipients": _recipients(purpose.recipients),
        "refusal_consequences": _in_language(purpose.refusal_consequences, language),
        "sensitive": purpose.sensitive,
        "direct_marketing": purpose.direct_marketing,
    }


@require_safe
def about(request: HttpRequest) -> HttpResponse:
    """Public: who we are, and every active purpose with its basis, data, recipients and retention."""
    language = get_language()
    return render(
        request,
        "portal/about.html",
        {
            "section": "about",
            "identity": current_identity(request),
            "purposes": [_about_entry(purpose, language) for purpose in purposes_active()],
        },
    )


# ---------------------------------------------------------------- my consents


def _channel_row(purpose: PurposeConsents, row: ChannelConsent, identity: PortalIdentity) -> dict[str, Any]:
    action, unavailable = "", ""
    if row.granted:
        action = "withdraw"
    elif not row.manageable:
        unavailable = (
            gettext("To manage this channel, sign in with your mobile number.")
            if identity.contact_kind == "email"
            else gettext("To manage this channel, sign in with your email address.")
        )
    elif purpose.notice is None:
        unavailable = gettext(
            "Consent cannot be given here yet: the notice that explains this purpose is not published."
        )
    else:
        action = GRANT
    return {
        "code": row.channel,
        "label": _channel_label(row.channel),
        "status": row.status or "none",
        "status_label": STATUS_LABELS.get(row.status, row.status),
        "since": row.since,
        "valid_until": row.valid_until,
        "in_effect": row.in_effect,
        "notes": [str(BLOCK_LABELS[reason]) for reason in row.blocked_by if reason in BLOCK_LABELS],
        "action": action,
        "unavailable": unavailable,
    }


def _consents_page(request: PortalRequest, *, problems: list[str] | None = None, status: int = 200) -> HttpResponse:
    identity = request.portal
    language = get_language()
    overview = portal_consents(owner=_owner(identity), language=language)
    purposes = [
        {
            "code": entry.purpose.code,
            "name": entry.purpose.name(language),
            "description": _in_language(entry.purpose.descriptions, language),
            "sensitive": entry.purpose.sensitive,
            "direct_marketing": entry.purpose.direct_marketing,
            "notice": entry.notice,
            "channels": [_channel_row(entry, row, identity) for row in entry.channels],
        }
        for entry in overview.consents
    ]
    objections = [
        {
            "code": entry.purpose.code,
            "name": entry.purpose.name(language),
            "description": _in_language(entry.purpose.descriptions, language),
            "objected_at": entry.objected.occurred_at if entry.objected else None,
        }
        for entry in overview.objections
    ]
    context = {
        "section": "consents",
        "identity": identity,
        "purposes": purposes,
        "objections": objections,
        "marketing_objected_at": overview.marketing_objection.occurred_at if overview.marketing_objection else None,
        "problems": problems or [],
    }
    return render(request, "portal/consents.html", context, status=status)


@portal_login_required
@require_safe
def consents(request: PortalRequest) -> HttpResponse:
    return _consents_page(request)


def _refused(request: PortalRequest, problems: list[str]) -> HttpResponse:
    return _consents_page(request, problems=problems, status=400)


def _not_recorded(request: PortalRequest, exc: ApplicationError) -> HttpResponse:
    # The form was valid but the ledger refused the event (e.g. an erased subject): nothing was written.
    logger.warning("Portal consent change refused by the ledger (%s) for sign-in %s", exc.code, request.portal.login_id)
    return _refused(request, [gettext("This change could not be recorded. Reload the page and try again.")])


def _record_grant(request: PortalRequest, purpose: Purpose, channel: str, notice: NoticeVersion, actor: Actor) -> None:
    identity = request.portal
    owner = _owner(identity)
    row = channel_consent(owner=owner, purpose=purpose, channel=channel)
    event = {
        "purpose_code": purpose.code,
        "channel": channel,
        "action": Action.GRANT,
        "method": Method.PORTAL,
        "actor_kind": ActorKind.SUBJECT,
        "actor_ref": str(actor),
        "notice_version_id": notice.pk,
        "source_system": SOURCE_SYSTEM,
        "ip": request.META.get("REMOTE_ADDR", ""),
        "user_agent": request.META.get("HTTP_USER_AGENT", ""),
        "evidence": {"page": "portal:consents", "language": get_language()},
    }
    with transaction.atomic():
        if identity.subject_id is not None:
            consent_record(event=EventInput(**event, subject_id=identity.subject_id), actor=actor)
        # An opt-out recorded for the very address the person signed in with (an unsubscribe link, a STOP)
        # would still stand against a grant made for their subject: they proved the address, so lift it too.
        if identity.subject_id is None or row.lift_contact_refusal:
            kind, value = portal_contact(identity)
            consent_record(event=EventInput(**event, contact_kind=kind, contact_value=value), actor=actor)


def _refusal_target(identity: PortalIdentity) -> dict[str, Any]:
    """Whose withdrawal or objection: the subject when the session has one, else the contact point."""
    if identity.subject_id is not None:
        return {"subject_id": identity.subject_id}
    return {"contact": portal_contact(identity)}


@portal_login_required
@require_POST
def consent_change(request: PortalRequest) -> HttpResponse:
    """Give or withdraw consent for one purpose on one channel."""
    form = ConsentChangeForm(request.POST)
    if not form.is_valid():
        return _refused(request, form_problems(form))
    purpose, channel = form.cleaned_data["purpose"], form.cleaned_data["channel"]
    actor = _actor(request.portal)
    try:
        if form.cleaned_data["action"] == GRANT:
            _record_grant(request, purpose, channel, form.cleaned_data["notice"], actor)
            done = gettext("Consent given: %(purpose)s, by %(channel)s.")
        else:
            consent_withdraw(
                purpose_code=purpose.code,
                channel=channel,
                method=Method.PORTAL,
                actor=actor,
                source_system=SOURCE_SYSTEM,
                **_refusal_target(request.portal),
            )
            done = gettext("Consent withdrawn: %(purpose)s, by %(channel)s. It takes effect at once.")
    except ApplicationError as exc:
        return _not_recorded(request, exc)
    messages.success(request, done % {"purpose": purpose.name(get_language()), "channel": _channel_label(channel)})
    return redirect("portal:consents")


@portal_login_required
@require_POST
def objection(request: PortalRequest) -> HttpResponse:
    """Object to one purpose resting on legitimate interest, or to all direct marketing (purpose ``*``)."""
    form = ObjectionForm(request.POST)
    if not form.is_valid():
        return _refused(request, form_problems(form))
    purpose = form.cleaned_data["purpose"]
    code = ALL if purpose == ALL else purpose.code
    try:
        consent_object(
            actor=_actor(request.portal),
            method=Method.PORTAL,
            purpose_code=code,
            channel=ALL,
            source_system=SOURCE_SYSTEM,
            **_refusal_target(request.portal),
        )
    except ApplicationError as exc:
        return _not_recorded(request, exc)
    if code == ALL:
        done = gettext("Done: we will send you no direct marketing, on any channel.")
    else:
        done = gettext("Objection recorded: %(purpose)s. We stop at once.") % {"purpose": purpose.name(get_language())}
    messages.success(request, done)
    return redirect("portal:consents")


# ---------------------------------------------------------------- history


@portal_login_required
@require_safe
def consent_history(request: PortalRequest) -> HttpResponse:
    """Every ledger event of the person, newest first, with the exact notice text each grant was given on."""
    language = get_language()
    page = Paginator(owner_consent_history(owner=_owner(request.portal)), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    codes = {event.purpose_code for event in page}
    purposes = {purpose.code: purpose for purpose in Purpose.objects.filter(code__in=codes)}
    events = [
        {
            "occurred_at": event.occurred_at,
            "purpose": _purpose_name(purposes.get(event.purpose_code), event.purpose_code, language),
            "channel": _channel_label(event.channel),
            "status": event.status,
            "action_label": _label(Action, event.action),
            "method": _label(Method, event.method),
            "notice": event.notice_version,
        }
        for event in page
    ]
    return render(
        request,
        "portal/consent_history.html",
        {"section": "consents", "identity": request.portal, "page": page, "events": events},
    )
