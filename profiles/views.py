"""Portal pages of the profiles app: sign-in, sign-out, the portal's start page and "my data"."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from c360.lib.errors import ApplicationError, ValidationFailed
from c360.lib.history import Actor
from profiles.forms import CodeForm, SignInForm
from profiles.models import PortalLogin
from profiles.portal import (
    SESSION_KEY,
    PortalRequest,
    current_identity,
    failures_locked,
    locked_out,
    portal_login_required,
    too_many,
)
from profiles.services.portal import (
    contact_index,
    portal_code_redeem,
    portal_link_redeem,
    portal_sign_in_start,
    portal_sign_out,
)
from profiles.services.subjects import subject_reveal

PENDING_CODE_KEY = "c360_portal_pending_code"


def _link_problem(code: str) -> str:
    return {
        "link_used": _("This sign-in link was already used. Ask for a new one below."),
        "link_expired": _("This sign-in link has expired. Ask for a new one below."),
        "code_locked": _("Too many wrong codes. Ask for a new code below."),
    }.get(code, _("This sign-in link is not valid. Ask for a new one below."))


def _contact_key(channel: str, contact: str) -> str:
    """The rate-limit key of a contact point: its blind index, never the address itself."""
    try:
        return contact_index(channel, contact).hex()
    except ValidationFailed:
        return "invalid"


def _sign_in_page(request: HttpRequest, form: SignInForm, *, status: int = 200, problem: str = "") -> HttpResponse:
    return render(request, "portal/sign_in.html", {"form": form, "problem": problem}, status=status)


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if current_identity(request) is not None:
            return redirect("portal:index")
        return _sign_in_page(request, SignInForm())
    form = SignInForm(request.POST)
    if not form.is_valid():
        return _sign_in_page(request, form, status=400)
    return _start(request, form)


def _start(request: HttpRequest, form: SignInForm) -> HttpResponse:
    channel, contact = form.cleaned_data["channel"], form.cleaned_data["contact"]
    if too_many(request, "portal.sign_in.ip", settings.C360_PORTAL_RATE_PER_IP, "ip", count=True):
        return locked_out(request)
    contact_key = _contact_key(channel, contact)
    if too_many(
        request, "portal.sign_in.contact", settings.C360_PORTAL_RATE_PER_CONTACT, lambda *_: contact_key, count=True
    ):
        # The same page as a success: a limit reached for an address says nothing about the address.
        return redirect("portal:sign_in_sent" if channel == PortalLogin.Channel.EMAIL else "portal:sign_in_code")
    try:
        login = portal_sign_in_start(channel=channel, contact=contact, language=get_language())
    except ValidationFailed as exc:
        form.add_error("contact", _("Give a valid email address or a mobile number with area code."))
        return _sign_in_page(request, form, status=400, problem=exc.code)
    if channel == PortalLogin.Channel.SMS:
        request.session[PENDING_CODE_KEY] = str(login.id)
        return redirect("portal:sign_in_code")
    return redirect("portal:sign_in_sent")


def sign_in_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/sign_in_sent.html", {"minutes": settings.C360_PORTAL_LINK_MINUTES})


def _signed_in(request: HttpRequest, login: PortalLogin) -> HttpResponse:
    request.session.cycle_key()  # a new session id at sign-in: no fixation
    request.session[SESSION_KEY] = str(login.id)
    request.session.set_expiry(settings.C360_PORTAL_SESSION_MINUTES * 60)
    return redirect("portal:index")


@require_http_methods(["GET", "POST"])
def sign_in_link(request: HttpRequest) -> HttpResponse:
    """GET only shows a button: mail scanners that follow links must not spend the sign-in."""
    if failures_locked(request):
        return locked_out(request)
    secret = (request.POST if request.method == "POST" else request.GET).get("t", "")
    if request.method == "GET":
        return render(request, "portal/sign_in_link.html", {"secret": secret})
    try:
        login = portal_link_redeem(secret=secret)
    except ApplicationError as exc:
        failures_locked(request, count=True)
        return _sign_in_page(request, SignInForm(), status=400, problem=_link_problem(exc.code))
    return _signed_in(request, login)


@require_http_methods(["GET", "POST"])
def sign_in_code(request: HttpRequest) -> HttpResponse:
    if failures_locked(request):
        return locked_out(request)
    login_id = request.session.get(PENDING_CODE_KEY)
    form = CodeForm(request.POST or None)
    if request.method == "GET" or not form.is_valid():
        status = 400 if request.method == "POST" else 200
        return render(request, "portal/sign_in_code.html", {"form": form, "pending": bool(login_id)}, status=status)
    try:
        if not login_id:
            raise ValidationFailed("No code was asked for in this browser.", code="link_invalid")
        login = portal_code_redeem(login_id=login_id, code=form.cleaned_data["code"])
    except ApplicationError as exc:
        failures_locked(request, count=True)
        if exc.code == "validation_error":
            form.add_error("code", _("The code is not right."))
            return render(request, "portal/sign_in_code.html", {"form": form, "pending": True}, status=400)
        return _sign_in_page(request, SignInForm(), status=400, problem=_link_problem(exc.code))
    request.session.pop(PENDING_CODE_KEY, None)
    return _signed_in(request, login)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    login_id = request.session.get(SESSION_KEY)
    if login_id:
        portal_sign_out(login_id=login_id)
    request.session.flush()
    return render(request, "portal/message.html", {"title": _("Signed out"), "message": _("You have signed out.")})


@portal_login_required
def index(request: PortalRequest) -> HttpResponse:
    return render(request, "portal/index.html", {"identity": request.portal})


@portal_login_required
def my_data(request: PortalRequest) -> HttpResponse:
    revealed = None
    if request.portal.subject_id is not None:
        revealed = subject_reveal(
            subject_id=request.portal.subject_id,
            actor=Actor.for_subject(request.portal.subject_id),
            reason="The person viewed their own data in the portal (right of access).",
            with_sources=True,
        )
    return render(request, "portal/my_data.html", {"subject": revealed, "identity": request.portal})
