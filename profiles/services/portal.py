"""Portal sign-in: a magic link by email or a one-time code by SMS, and the short session it opens.

The answer to "send me a link" is the same whether or not the address is known, and a link is sent
either way: a person c360 holds no profile for may still file a request about that address. Secrets
are stored as SHA-256 only, expire after ``C360_PORTAL_LINK_MINUTES`` and are spent on first use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from c360.lib.crypto import blind_index, data_key_create, data_key_open, shred
from c360.lib.errors import Gone, NotFound, ValidationFailed
from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise
from c360.lib.sms import send_sms
from profiles.encryption import seal, unseal
from profiles.models import Identifier, PortalLogin, PortalLoginKey, Subject, index_kind

logger = logging.getLogger(__name__)
CODE_ATTEMPTS = 5
_LIVE = (Subject.Status.ACTIVE, Subject.Status.RESTRICTED)  # a restricted person still sees their data


@dataclass(frozen=True)
class PortalIdentity:
    """Who is signed in: the contact point they proved, and their subject when c360 holds one."""

    login_id: uuid.UUID
    contact_kind: str
    contact_index: bytes
    subject_id: uuid.UUID | None
    expires_at: dt.datetime


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _contact(channel: str, contact: str) -> tuple[str, str]:
    kind = IdentifierKind.EMAIL if channel == PortalLogin.Channel.EMAIL else IdentifierKind.PHONE
    try:
        return kind, normalise(kind, contact)
    except IdentifierError as exc:
        raise ValidationFailed("The contact is not valid.", errors={"contact": [exc.message]}) from None


def contact_index(channel: str, contact: str) -> bytes:
    """The blind index of a sign-in's contact point (rate limits key on it, never on the address)."""
    kind, value = _contact(channel, contact)
    return blind_index(index_kind(kind), value)


def _subject_for(kind: str, value: str) -> Subject | None:
    """The one live subject holding this contact point; none when two people share it."""
    subject_ids = set(
        Identifier.objects.filter(
            blind_index=blind_index(index_kind(kind), value), subject__status__in=_LIVE
        ).values_list("subject_id", flat=True)[:2]
    )
    return Subject.objects.get(pk=subject_ids.pop()) if len(subject_ids) == 1 else None


@transaction.atomic
def portal_sign_in_start(*, channel: str, contact: str, language: str) -> PortalLogin:
    """Create the sign-in and send its secret; the caller answers the same whatever this finds."""
    if channel not in PortalLogin.Channel.values:
        raise ValidationFailed("Unknown channel.", errors={"channel": ["Use email or sms."]})
    kind, value = _contact(channel, contact)
    secret = secrets.token_urlsafe(32) if channel == PortalLogin.Channel.EMAIL else f"{secrets.randbelow(10**6):06d}"
    now = timezone.now()
    login_id = uuid.uuid4()
    # A code is short: it only counts together with the sign-in id kept in the browser's session.
    digest = _digest(secret) if channel == PortalLogin.Channel.EMAIL else _code_digest(login_id, secret)
    login = PortalLogin(
        id=login_id,
        channel=channel,
        contact_kind=kind,
        contact_index=blind_index(index_kind(kind), value),
        subject=_subject_for(kind, value),
        secret_sha256=digest,
        language=language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE,
        created_at=now,
        expires_at=now + dt.timedelta(minutes=settings.C360_PORTAL_LINK_MINUTES),
    )
    key = PortalLoginKey(login=login)
    data_key = data_key_create(key)
    seal(data_key, login, "contact", value)
    seal(data_key, login, "secret", secret)
    login.save(force_insert=True)
    key.save(force_insert=True)
    from profiles.tasks import portal_sign_in_send_task  # the Celery wrapper calls back into this module

    transaction.on_commit(lambda: portal_sign_in_send_task.delay(str(login.id)))
    logger.info("Portal sign-in %s started by %s", login.id, channel)
    return login


def _code_digest(login_id: uuid.UUID, code: str) -> str:
    return _digest(f"{login_id}:{code}")


def portal_sign_in_send(*, login_id: uuid.UUID | str) -> bool:
    """Send the secret of a sign-in, then forget it. A redelivered task finds nothing left to send.

    The mail or SMS goes out with no row locked and no transaction open (a slow gateway holds nothing);
    the secret is forgotten after a successful send, so a failed send can be retried.
    """
    login = PortalLogin.objects.select_related("key").filter(pk=login_id).first()
    if login is None or login.secret_enc is None or login.redeemed_at is not None:
        return False
    data_key = data_key_open(login.key)
    _send(login, unseal(data_key, login, "contact"), unseal(data_key, login, "secret"))
    PortalLogin.objects.filter(pk=login.pk).update(secret_enc=None)
    return True


def _send(login: PortalLogin, value: str, secret: str) -> None:
    minutes = settings.C360_PORTAL_LINK_MINUTES
    with translation.override(login.language):
        if login.channel == PortalLogin.Channel.SMS:
            text = translation.gettext("Your c360 sign-in code is %(code)s. It expires in %(minutes)s minutes.")
            send_sms(value, text % {"code": secret, "minutes": minutes})
            return
        context = {
            "link": f"{settings.C360_PUBLIC_URL}{reverse('portal:sign_in_link')}?t={secret}",
            "minutes": minutes,
            "controller": settings.C360_CONTROLLER_NAME,
        }
        subject = render_to_string("emails/portal_link_subject.txt", context).strip()
        message = EmailMultiAlternatives(
            subject, render_to_string("emails/portal_link.txt", context), settings.DEFAULT_FROM_EMAIL, [value]
        )
        message.attach_alternative(render_to_string("emails/portal_link.html", context), "text/html")
        message.send()


def _open_session(login: PortalLogin, now: dt.datetime) -> PortalLogin:
    login.redeemed_at = now
    login.session_expires_at = now + dt.timedelta(minutes=settings.C360_PORTAL_SESSION_MINUTES)
    login.save(update_fields=["redeemed_at", "session_expires_at", "failed_attempts"])
    logger.info("Portal sign-in %s redeemed", login.id)
    return login


def _usable(login: PortalLogin | None, now: dt.datetime) -> PortalLogin:
    if login is None:
        raise NotFound("This sign-in link is not valid.", code="link_invalid")
    if login.redeemed_at is not None:
        raise Gone("This sign-in link was already used.", code="link_used")
    if login.expires_at <= now:
        raise Gone("This sign-in link has expired.", code="link_expired")
    return login


@transaction.atomic
def portal_link_redeem(*, secret: str) -> PortalLogin:
    """Spend a magic link: one use, before it expires."""
    now = timezone.now()
    login = (
        PortalLogin.objects.select_for_update()
        .filter(channel=PortalLogin.Channel.EMAIL, secret_sha256=_digest(secret))
        .first()
    )
    return _open_session(_usable(login, now), now)


def portal_code_redeem(*, login_id: uuid.UUID | str, code: str) -> PortalLogin:
    """Spend an SMS code; five wrong codes end the sign-in (a new code must be asked for)."""
    with transaction.atomic():
        now = timezone.now()
        login = PortalLogin.objects.select_for_update().filter(pk=login_id, channel=PortalLogin.Channel.SMS).first()
        login = _usable(login, now)
        if login.failed_attempts >= CODE_ATTEMPTS:
            raise Gone("Too many wrong codes; ask for a new one.", code="code_locked")
        if hmac.compare_digest(login.secret_sha256, _code_digest(login.id, code.strip())):
            return _open_session(login, now)
        login.failed_attempts += 1
        login.save(update_fields=["failed_attempts"])
    raise ValidationFailed("The code is not right.", errors={"code": ["The code is not right."]})


def portal_identity(login_id: uuid.UUID | str | None) -> PortalIdentity | None:
    """The signed-in person of a session, or None when the session ended or expired."""
    if not login_id:
        return None
    login = (
        PortalLogin.objects.filter(
            pk=login_id, redeemed_at__isnull=False, ended_at__isnull=True, session_expires_at__gt=timezone.now()
        )
        .only("id", "contact_kind", "contact_index", "subject_id", "session_expires_at", "subject__status")
        .select_related("subject")
        .first()
    )
    if login is None:
        return None
    live = login.subject_id and login.subject.status in _LIVE
    return PortalIdentity(
        login_id=login.id,
        contact_kind=login.contact_kind,
        contact_index=bytes(login.contact_index),
        subject_id=login.subject_id if live else None,
        expires_at=login.session_expires_at,
    )


def portal_contact(identity: PortalIdentity) -> tuple[str, str]:
    """The signed-in contact point in clear (kind, value), to file a request or a consent about it."""
    login = PortalLogin.objects.select_related("key").get(pk=identity.login_id)
    return login.contact_kind, unseal(data_key_open(login.key), login, "contact")


@transaction.atomic
def portal_sign_out(*, login_id: uuid.UUID | str) -> None:
    """End the session and shred its key: the stored contact point becomes unreadable."""
    login = PortalLogin.objects.select_for_update().filter(pk=login_id).first()
    if login is None or login.ended_at is not None:
        return
    login.ended_at = timezone.now()
    login.save(update_fields=["ended_at"])
    if hasattr(login, "key"):
        shred(login.key)
    logger.info("Portal session %s ended", login.id)


def portal_logins_purge(*, now: dt.datetime | None = None) -> int:
    """Delete sign-ins older than ``C360_PORTAL_LOGIN_RETENTION_DAYS`` (their keys go with them)."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.C360_PORTAL_LOGIN_RETENTION_DAYS)
    deleted, _ = PortalLogin.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("Purged %d old portal sign-in row(s)", deleted)
    return deleted
