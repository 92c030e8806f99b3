"""Load the consent ledger and the DSAR workflow for ``make demo``, after ``generate_demo`` loaded the people.

Three areas, each written through the services, each safe to run again (a second run adds nothing):

- the consent catalogue: five purposes and a privacy notice in pt-br, en and es, looked up by code;
- a consent history for ~60% of the people: grants with the notice shown and the device as evidence, later
  withdrawals, refusals, objections, a legacy import, GPC signals and double opt-ins. A person who already
  has consent events is left alone, and double opt-ins are started once;
- DSAR: the sources c360 reaches (its own store, a paper archive, an inactive help-desk API) and requests in
  every state, each scenario recognised by its name in the request's (encrypted) details.

Deterministic for a ``--seed`` and a database: people are drawn in the order they were created.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core import mail
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Count
from django.test.utils import override_settings
from django.utils import timezone

from c360.lib.errors import ApplicationError
from c360.lib.history import Actor, acting_as
from consent.models import (
    Action,
    ActorKind,
    Channel,
    ConsentEvent,
    DoubleOptIn,
    GdprBasis,
    LgpdBasis,
    Method,
    Notice,
    NoticeVersion,
    Purpose,
)
from consent.services.events import (
    EventInput,
    consent_doi_confirm,
    consent_doi_start,
    consent_gpc_signal,
    consent_object,
    consent_record,
    consent_withdraw,
    consents_import,
    notice_version_publish,
    purpose_save,
)
from dsar.models import DataRequest, DataSource, RequestEvent, RequestTask
from dsar.services.execution import manual_task_complete
from dsar.services.requests import (
    request_complete,
    request_create,
    request_details,
    request_extend,
    request_identities,
    request_reject,
    request_verify,
)
from dsar.services.sources import source_save
from profiles.models import Identifier, Subject
from profiles.selectors import subject_find
from profiles.services.subjects import subject_reveal

LOADER = Actor.system("load_demo_workflows")
DPO = Actor.system("demo-dpo")
REVEAL_REASON = "demo setup: contact points for the demo requests and double opt-ins"
CONSENT_SHARE = 0.6
CHUNK = 100  # people per transaction: SQLite pays one commit per chunk, not one per event
GPC_PEOPLE = 2
DOI_PEOPLE, DOI_CONFIRMED = 3, 2
DOI_SOURCE = "site-newsletter"
DOI_CONFIRM_URL = "https://privacidade.example.com/confirmar/{token}"
LOCMEM_EMAIL = "django.core.mail.backends.locmem.EmailBackend"

# ================================================================ the catalogue

PURPOSES: tuple[dict[str, Any], ...] = (
    {
        "code": "marketing.newsletter",
        "names": {"pt-br": "Newsletter", "en": "Newsletter", "es": "Boletín informativo"},
        "descriptions": {
            "pt-br": "Enviar a newsletter com novidades, dicas e lançamentos, no canal que você escolher.",
            "en": "Send the newsletter with news, tips and launches, on the channel you choose.",
            "es": "Enviar el boletín con novedades, consejos y lanzamientos, por el canal que elija.",
        },
        "lgpd_basis": LgpdBasis.CONSENT,
        "gdpr_basis": GdprBasis.CONSENT,
        "channels": [Channel.EMAIL, Channel.SMS, Channel.WHATSAPP],
        "direct_marketing": True,
        "validity_days": 730,
        "data_categories": ["name", "contact", "engagement"],
        "retention": {
            "pt-br": "Enquanto o consentimento valer (até 2 anos, quando pedimos de novo); depois da retirada, só a "
            "prova do consentimento fica guardada, por 5 anos.",
            "en": "While your consent lasts (up to 2 years, when we ask again); after you withdraw it, only the proof "
            "of consent is kept, for 5 years.",
            "es": "Mientras dure su consentimiento (hasta 2 años, cuando volvemos a preguntar); tras retirarlo, solo "
            "se guarda la prueba del consentimiento, durante 5 años.",
        },
        "recipients": [
            {"name": "Envios Digitais Ltda.", "role": "processor", "country": "BR"},
            {"name": "Mensageria Global Inc.", "role": "processor", "country": "US"},
        ],
        "refusal_consequences": {
            "pt-br": "Você não recebe a newsletter. Nada muda nas suas compras, no atendimento nem nos preços.",
            "en": "You do not get the newsletter. Nothing changes in your purchases, customer service or prices.",
            "es": "No recibe el boletín. Nada cambia en sus compras, en la atención ni en los precios.",
        },
    },
    {
        "code": "marketing.offers",
        "names": {"pt-br": "Ofertas personalizadas", "en": "Personalised offers", "es": "Ofertas personalizadas"},
        "descriptions": {
            "pt-br": "Enviar ofertas e cupons escolhidos a partir das suas compras.",
            "en": "Send offers and vouchers chosen from your purchases.",
            "es": "Enviar ofertas y cupones elegidos a partir de sus compras.",
        },
        "lgpd_basis": LgpdBasis.CONSENT,
        "gdpr_basis": GdprBasis.CONSENT,
        "channels": [Channel.EMAIL, Channel.SMS, Channel.PUSH],
        "direct_marketing": True,
        "data_categories": ["name", "contact", "purchases", "preferences", "device"],
        "retention": {
            "pt-br": "As compras usadas para escolher as ofertas: 2 anos a partir de cada compra. A prova do "
            "consentimento: 5 anos após a retirada.",
            "en": "The purchases used to choose offers: 2 years from each purchase. The proof of consent: 5 years "
            "after you withdraw it.",
            "es": "Las compras usadas para elegir las ofertas: 2 años desde cada compra. La prueba del "
            "consentimiento: 5 años después de retirarlo.",
        },
        "recipients": [
            {"name": "Envios Digitais Ltda.", "role": "processor", "country": "BR"},
            {"name": "NotificaApp Serviços Ltda.", "role": "processor", "country": "BR"},
        ],
        "refusal_consequences": {
            "pt-br": "Você não recebe ofertas escolhidas a partir das suas compras. Preços, condições e cupons "
            "públicos continuam os mesmos para você.",
            "en": "You get no offers chosen from your purchases. Prices, terms and public vouchers stay the same "
            "for you.",
            "es": "No recibe ofertas elegidas a partir de sus compras. Los precios, las condiciones y los cupones "
            "públicos siguen siendo los mismos para usted.",
        },
    },
    {
        "code": "marketing.postal",
        "names": {"pt-br": "Ofertas por correio", "en": "Offers by post", "es": "Ofertas por correo postal"},
        "descriptions": {
            "pt-br": "Enviar catálogos e ofertas por correio a clientes com compras nos últimos 2 anos.",
            "en": "Send catalogues and offers by post to customers who bought in the last 2 years.",
            "es": "Enviar catálogos y ofertas por correo a clientes con compras en los últimos 2 años.",
        },
        "lgpd_basis": LgpdBasis.LEGITIMATE_INTEREST,
        "gdpr_basis": GdprBasis.LEGITIMATE_INTEREST,
        "channels": [Channel.POST, Channel.EMAIL],
        "direct_marketing": True,
        "lia_reference": "LIA-2026-03: ofertas por correio a clientes ativos (DPO, revisão anual)",
        "data_categories": ["name", "address", "purchases"],
        "retention": {
            "pt-br": "Enquanto você for cliente ativo (uma compra nos últimos 2 anos); depois, seu endereço sai da "
            "lista de envio.",
            "en": "While you are an active customer (a purchase in the last 2 years); after that, your address "
            "leaves the mailing list.",
            "es": "Mientras sea cliente activo (una compra en los últimos 2 años); después, su dirección sale de la "
            "lista de envío.",
        },
        "recipients": [
            {"name": "Gráfica e Postagem Exemplo Ltda.", "role": "processor", "country": "BR"},
        ],
        "refusal_consequences": {
            "pt-br": "Se você se opuser, paramos de enviar catálogos e ofertas por correio. Nada mais muda.",
            "en": "If you object, we stop sending catalogues and offers by post. Nothing else changes.",
            "es": "Si se opone, dejamos de enviarle catálogos y ofertas por correo. Nada más cambia.",
        },
    },
    {
        "code": "partners.share",
        "names": {
            "pt-br": "Compartilhamento com parceiros",
            "en": "Sharing with partners",
            "es": "Compartir con socios",
        },
        "descriptions": {
            "pt-br": "Compartilhar seu e-mail com parceiros selecionados, para ofertas deles e públicos de mídia.",
            "en": "Share your email with selected partners, for their offers and media audiences.",
            "es": "Compartir su correo con socios seleccionados, para sus ofertas y audiencias de medios.",
        },
        "lgpd_basis": LgpdBasis.CONSENT,
        "gdpr_basis": GdprBasis.CONSENT,
        "channels": [Channel.EMAIL, Channel.PAID_MEDIA],
        "sale_or_share": True,
        "data_categories": ["name", "email", "preferences"],
        "retention": {
            "pt-br": "Enviamos seu e-mail aos parceiros uma vez por mês enquanto o consentimento valer; cada "
            "parceiro apaga os dados até 30 dias depois da retirada.",
            "en": "We send your email to the partners once a month while your consent lasts; each partner deletes "
            "it within 30 days after you withdraw.",
            "es": "Enviamos su correo a los socios una vez al mes mientras dure su consentimiento; cada socio lo "
            "borra en un plazo de 30 días tras la retirada.",
        },
        "recipients": [
            {"name": "Viagens Parceiras Exemplo S.A.", "role": "controller", "country": "BR"},
            {
                "name": "Mídia Social Exemplo Ireland Ltd.",
                "role": "joint_controller",
                "country": "IE",
            },
        ],
        "refusal_consequences": {
            "pt-br": "Não compartilhamos seus dados com parceiros. Você continua recebendo nossas ofertas, se as "
            "autorizou, e nada muda nas suas compras.",
            "en": "We do not share your data with partners. You still get our own offers if you allowed them, and "
            "nothing changes in your purchases.",
            "es": "No compartimos sus datos con socios. Sigue recibiendo nuestras ofertas, si las autorizó, y nada "
            "cambia en sus compras.",
        },
    },
    {
        "code": "service.notices",
        "names": {"pt-br": "Avisos do serviço", "en": "Service notices", "es": "Avisos del servicio"},
        "descriptions": {
            "pt-br": "Avisar sobre pedidos, entregas, faturas e mudanças nos termos do contrato.",
            "en": "Tell you about orders, deliveries, invoices and changes to the terms.",
            "es": "Avisarle sobre pedidos, entregas, facturas y cambios en los términos.",
        },
        "lgpd_basis": LgpdBasis.CONTRACT,
        "gdpr_basis": GdprBasis.CONTRACT,
        "channels": [Channel.EMAIL, Channel.SMS],
        "data_categories": ["name", "contact", "purchases"],
        "retention": {
            "pt-br": "Durante o contrato e por 5 anos após o seu fim (prazos do Código de Defesa do Consumidor e da "
            "legislação fiscal).",
            "en": "During the contract and for 5 years after it ends (consumer-protection and tax law periods).",
            "es": "Durante el contrato y 5 años después de su fin (plazos de la ley de consumo y de la ley fiscal).",
        },
        "recipients": [
            {"name": "Envios Digitais Ltda.", "role": "processor", "country": "BR"},
            {"name": "Transportadora Exemplo Ltda.", "role": "processor", "country": "BR"},
        ],
        "refusal_consequences": {
            "pt-br": "Estes avisos fazem parte do contrato: sem eles não conseguimos entregar seus pedidos nem "
            "avisar sobre faturas e mudanças nos termos.",
            "en": "These notices are part of the contract: without them we cannot deliver your orders or tell you "
            "about invoices and changes to the terms.",
            "es": "Estos avisos son parte del contrato: sin ellos no podemos entregar sus pedidos ni avisarle de "
            "facturas y cambios en los términos.",
        },
    },
)

# What people are told about each purpose (the portal's "what we do" page), filled into catalogues loaded
# before these fields existed.
PORTAL_FIELDS = ("data_categories", "retention", "recipients", "refusal_consequences")

NOTICE_CODE = "privacy"
NOTICE_TITLE = "Aviso de privacidade"
# Version 2 added the sharing with partners: partner grants all come after it was published.
NOTICE_PUBLISHED_DAYS_AGO = {1: 760, 2: 120}
NOTICE_TEXTS = {
    1: {
        "pt-br": "Usamos seus dados de contato para enviar a newsletter e as ofertas que você autorizar, e para "
        "avisos sobre seus pedidos. Com base em legítimo interesse, podemos enviar ofertas por correio. Você pode "
        "retirar o consentimento ou se opor a qualquer momento, de graça, em privacidade.example.com.",
        "en": "We use your contact details to send the newsletter and the offers you allow, and to tell you about "
        "your orders. On the basis of legitimate interest we may send offers by post. You can withdraw consent "
        "or object at any time, free of charge, at privacidade.example.com.",
        "es": "Usamos sus datos de contacto para enviar el boletín y las ofertas que autorice, y para avisarle "
        "sobre sus pedidos. Por interés legítimo podemos enviar ofertas por correo. Puede retirar el "
        "consentimiento u oponerse en cualquier momento, gratis, en privacidade.example.com.",
    },
    2: {
        "pt-br": "Usamos seus dados de contato para enviar a newsletter e as ofertas que você autorizar, e para "
        "avisos sobre seus pedidos. Com base em legítimo interesse, podemos enviar ofertas por correio. Novo: "
        "se você permitir, compartilhamos seu e-mail com parceiros selecionados. Você pode retirar o "
        "consentimento ou se opor a qualquer momento, de graça, em privacidade.example.com.",
        "en": "We use your contact details to send the newsletter and the offers you allow, and to tell you about "
        "your orders. On the basis of legitimate interest we may send offers by post. New: if you allow it, we "
        "share your email with selected partners. You can withdraw consent or object at any time, free of "
        "charge, at privacidade.example.com.",
        "es": "Usamos sus datos de contacto para enviar el boletín y las ofertas que autorice, y para avisarle "
        "sobre sus pedidos. Por interés legítimo podemos enviar ofertas por correo. Nuevo: si lo permite, "
        "compartimos su correo con socios seleccionados. Puede retirar el consentimiento u oponerse en "
        "cualquier momento, gratis, en privacidade.example.com.",
    },
}

# ================================================================ consent history

# How a grant was collected: method, source system, weight.
GRANT_ROUTES = (
    (Method.FORM_CHECKBOX, "site", 45),
    (Method.FORM_CHECKBOX, "app", 20),
    (Method.PORTAL, "portal", 15),
    (Method.CALL_CENTRE, "call-center", 12),
    (Method.PAPER_FORM, "loja-fisica", 8),
)
WITHDRAW_ROUTES = {
    Channel.EMAIL: (Method.UNSUBSCRIBE_LINK, "email-marketing"),
    Channel.SMS: (Method.REPLY_STOP, "sms-gateway"),
    Channel.WHATSAPP: (Method.REPLY_STOP, "whatsapp-business"),
}
WEB_METHODS = {Method.FORM_CHECKBOX, Method.PORTAL}
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari",
)
# Documentation address ranges (RFC 5737, RFC 3849): never a real device.
IP_PREFIXES = ("192.0.2.", "198.51.100.", "203.0.113.")
LANGUAGES = (("pt-br", 94), ("en", 4), ("es", 2))


@dataclass
class History:
    """What happened to one person's consent: past events, in order, and what they do today."""

    imports: list[EventInput] = field(default_factory=list)
    events: list[EventInput] = field(default_factory=list)
    granted: list[tuple[str, str]] = field(default_factory=list)  # still granted: (purpose, channel)
    object_today: bool = False
    withdraw_today: tuple[str, str] | None = None
    shares_with_partners: bool = False


@dataclass(frozen=True)
class Person:
    subject_id: uuid.UUID
    kinds: frozenset[str]  # the kinds of identifier c360 holds for them: email, phone...
    language: str
    rng: random.Random


class HistoryWriter:
    """Draws a plausible consent history for one person from their own seeded random stream."""

    def __init__(self, *, now: dt.datetime, notices: dict[tuple[int, str], NoticeVersion]) -> None:
        self.now = now
        self.notices = notices

    def notice_for(self, occurred_at: dt.datetime, language: str) -> NoticeVersion:
        """The version people saw then: the latest published before the event, in their language."""
        shown = [
            version
            for (_, version_language), version in self.notices.items()
            if version_language == language and version.published_at <= occurred_at
        ]
        return max(shown or [self.notices[1, language]], key=lambda version: version.version)

    def history(self, subject_id: uuid.UUID, kinds: Iterable[str], rng: random.Random) -> History:
        languages, weights = zip(*LANGUAGES, strict=True)
        person = Person(subject_id, frozenset(kinds), rng.choices(languages, weights)[0], rng)
        history = History()
        contact = Channel.EMAIL if "email" in person.kinds else Channel.SMS if "phone" in person.kinds else None
        if contact is None:
            return history
        past = self._newsletter(person, contact, history)
        if rng.random() < 0.35:
            first = self._days_ago(rng, 20, 600)
            channels = [contact] + [channel for channel in (Channel.SMS, Channel.PUSH) if rng.random() < 0.25]
            for offset, channel in enumerate(dict.fromkeys(channels)):
                past.append(self._grant(person, "marketing.offers", channel, first + dt.timedelta(minutes=offset)))
        if contact == Channel.EMAIL and rng.random() < 0.12:
            at = self._days_ago(rng, 2, 110)  # partners.share is only in notice version 2
            past.append(self._grant(person, "partners.share", Channel.EMAIL, at))
            if rng.random() < 0.5:
                past.append(self._grant(person, "partners.share", Channel.PAID_MEDIA, at + dt.timedelta(minutes=1)))
            history.shares_with_partners = True
        if rng.random() < 0.03:
            at = self._days_ago(rng, 5, 300)
            past.append(
                EventInput(
                    purpose_code="marketing.postal",
                    channel=Channel.POST,
                    action=Action.OBJECT,
                    method=Method.PORTAL,
                    subject_id=subject_id,
                    occurred_at=at,
                    source_system="portal",
                )
            )
        past += self._later_withdrawals(person, [*history.imports, *past], history)
        history.events = sorted(past, key=lambda event: event.occurred_at or self.now)
        roll = rng.random()
        if roll < 0.02:
            history.object_today = True
        elif roll < 0.04 and history.granted:
            history.withdraw_today = history.granted[0]
        return history

    def _newsletter(self, person: Person, contact: str, history: History) -> list[EventInput]:
        rng = person.rng
        roll = rng.random()
        if roll < 0.15 and contact == Channel.EMAIL:
            # Opted in on the old CRM before c360: brought in by the import, with where the proof is.
            history.imports.append(
                EventInput(
                    purpose_code="marketing.newsletter",
                    channel=Channel.EMAIL,
                    action=Action.GRANT,
                    method=Method.IMPORT,
                    subject_id=person.subject_id,
                    occurred_at=self._days_ago(rng, 400, 700),
                    source_system="crm-legado",
                    evidence={"legacy_reference": f"crm-legado/optin-2024.csv#{rng.randrange(1, 90_000)}"},
                )
            )
            return []
        at = self._days_ago(rng, 3, 700)
        if roll < 0.80:
            grants = [self._grant(person, "marketing.newsletter", contact, at)]
            if "phone" in person.kinds:
                extra = [channel for channel in (Channel.SMS, Channel.WHATSAPP) if rng.random() < 0.22]
                grants += [
                    self._grant(person, "marketing.newsletter", channel, at + dt.timedelta(minutes=offset + 1))
                    for offset, channel in enumerate(channel for channel in extra if channel != contact)
                ]
            return grants
        # Left the box unticked: the refusal is recorded too.
        return [dataclasses.replace(self._grant(person, "marketing.newsletter", contact, at), action=Action.DENY)]

    def _later_withdrawals(self, person: Person, grants: Sequence[EventInput], history: History) -> list[EventInput]:
        withdrawals = []
        for grant in grants:
            if grant.action != Action.GRANT:
                continue
            granted_at = grant.occurred_at or self.now
            if person.rng.random() < 0.12 and granted_at < self.now - dt.timedelta(days=2):
                method, system = WITHDRAW_ROUTES.get(grant.channel, (Method.PORTAL, "portal"))
                span = (self.now - granted_at).total_seconds() - 86_400
                withdrawals.append(
                    EventInput(
                        purpose_code=grant.purpose_code,
                        channel=grant.channel,
                        action=Action.WITHDRAW,
                        method=method,
                        subject_id=grant.subject_id,
                        occurred_at=granted_at + dt.timedelta(seconds=3_600 + person.rng.random() * span),
                        source_system=system,
                    )
                )
            else:
                history.granted.append((grant.purpose_code, grant.channel))
        return withdrawals

    def _grant(self, person: Person, purpose: str, channel: str, at: dt.datetime) -> EventInput:
        rng = person.rng
        method, system, _ = rng.choices(GRANT_ROUTES, [weight for *_, weight in GRANT_ROUTES])[0]
        notice = self.notice_for(at, person.language)
        details: dict[str, Any] = {}
        if method in WEB_METHODS:
            details["ip"] = f"{rng.choice(IP_PREFIXES)}{rng.randrange(1, 255)}"
            details["user_agent"] = rng.choice(USER_AGENTS)
            details["evidence"] = {"form": f"{system}/preferencias-v{notice.version}"}
        elif method == Method.CALL_CENTRE:
            details["actor_kind"] = ActorKind.STAFF
            details["actor_ref"] = f"atendente:{rng.randrange(1, 40):03d}"
            details["evidence"] = {"call_recording": f"GRV-{rng.getrandbits(40):010x}"}
        else:
            details["evidence"] = {"paper_form": f"ficha-{rng.randrange(1, 99_999):05d} (digitalizada)"}
        return EventInput(
            purpose_code=purpose,
            channel=channel,
            action=Action.GRANT,
            method=method,
            subject_id=person.subject_id,
            notice_version_id=notice.pk,
            occurred_at=at,
            source_system=system,
            **details,
        )

    def _days_ago(self, rng: random.Random, low: float, high: float) -> dt.datetime:
        return self.now - dt.timedelta(days=low + rng.random() * (high - low))


# ================================================================ DSAR

SOURCES: tuple[dict[str, Any], ...] = (
    {
        "code": "c360",
        "name": "c360: perfis unificados e consentimentos",
        "kind": DataSource.Kind.C360,
        "owner": "Dados e Privacidade",
        "categories": ["identificação", "contato", "endereço", "preferências", "consentimentos"],
        "purposes": ["atendimento ao cliente", "comunicação de marketing com consentimento", "gestão de consentimento"],
        "recipients": [],
        "retention": "Enquanto a relação durar e 5 anos depois (CDC art. 27); consentimentos: prova guardada 5 anos.",
    },
    {
        "code": "contratos-papel",
        "name": "Arquivo de contratos em papel",
        "kind": DataSource.Kind.MANUAL,
        "owner": "Jurídico",
        "categories": ["identificação", "contrato", "assinatura"],
        "purposes": ["execução de contrato", "defesa em processos"],
        "retention": "10 anos após o fim do contrato (Código Civil art. 205).",
        "instructions": (
            "1. Procure o titular no índice do arquivo (sala 2, armário B) pelo CPF e pelo nome completo.\n"
            "2. Acesso ou portabilidade: digitalize os contratos encontrados e anexe os arquivos à tarefa.\n"
            "3. Eliminação: não destrua contratos dentro do prazo legal; marque a pasta como 'bloqueada (LGPD)' "
            "e anote até quando ela deve ser guardada.\n"
            "4. Registre aqui o que foi feito, quem fez e quando. Se nada for encontrado, registre isso também."
        ),
    },
    {
        "code": "helpdesk",
        "name": "Central de atendimento (help desk)",
        "kind": DataSource.Kind.HTTP,
        "is_active": False,  # described for the demo, never called: desk.example.com is not a real system
        "owner": "Atendimento",
        "categories": ["contato", "histórico de atendimento"],
        "purposes": ["atendimento ao cliente"],
        "recipients": ["Fornecedor do help desk (operador, contrato de tratamento de dados)"],
        "retention": "3 anos após o último chamado.",
        "secret_env": "C360_HELPDESK_API_TOKEN",
        "config": {
            "base_url": "https://desk.example.com/api",
            "auth": {"header": "Authorization", "scheme": "Bearer"},
            "timeout": {"connect": 3, "read": 10, "total": 30},
            "endpoints": {
                "locate": {
                    "method": "POST",
                    "path": "/customers/search",
                    "by": {
                        "email": {"body": {"email": "{email}"}},
                        "phone": {"body": {"phone": "{phone}"}},
                    },
                    "results_path": "$.customers[*]",
                    "id_path": "$.id",
                    "collection": "customers",
                },
                "export": [
                    {"path": "/customers/{id}", "categories": {"email": "contact", "name": "identification"}},
                    {
                        "path": "/customers/{id}/tickets",
                        "records_path": "$.tickets[*]",
                        "collection": "tickets",
                        "default_category": "support",
                    },
                ],
                "erase": {"method": "DELETE", "path": "/customers/{id}"},
                "rectify": {"method": "PATCH", "path": "/customers/{id}", "fields": {"email": "email"}},
                "restrict": {"method": "POST", "path": "/customers/{id}/restriction", "body": {"restricted": True}},
            },
        },
    },
)


@dataclass(frozen=True)
class Scenario:
    """One demo request: what was asked, when, and the steps the DPO has taken so far."""

    name: str
    request_type: str
    regimes: tuple[str, ...]
    intake_channel: str
    days_ago: float
    message: str
    language: str = "pt-br"
    steps: tuple[tuple[str, str], ...] = ()


SCENARIOS = (
    Scenario(
        "access-completed",
        "access",
        ("lgpd",),
        "portal",
        12,
        "Quero saber quais dados pessoais vocês têm sobre mim e de onde vieram.",
        steps=(
            ("verify", "portal_session"),
            ("manual", "Índice do arquivo conferido pelo CPF e pelo nome: nenhum contrato em papel do titular."),
            ("complete", "Declaração completa e pacote de dados liberados no portal."),
        ),
    ),
    Scenario(
        "erasure-in-progress",
        "erasure",
        ("lgpd",),
        "email",
        5,
        "Não sou mais cliente. Peço a eliminação dos meus dados.",
        steps=(("verify", "one_time_code"),),
    ),
    Scenario(
        "rectification-in-progress",
        "rectification",
        ("lgpd",),
        "portal",
        3,
        "Por favor, usem o meu nome social nas comunicações.",
        steps=(("verify", "portal_session"),),
    ),
    Scenario(
        "restriction-in-progress",
        "restriction",
        ("lgpd",),
        "phone",
        2,
        "Contesto o uso dos meus dados em campanhas; bloqueiem enquanto analisam.",
        steps=(("verify", "staff"),),
    ),
    Scenario(
        "confirmation-awaiting-verification",
        "confirmation",
        ("lgpd",),
        "email",
        1,
        "Vocês tratam dados meus?",
    ),
    Scenario(
        "access-gdpr-extended",
        "access",
        ("gdpr",),
        "email",
        20,
        "I live in Lisbon and would like a copy of all the personal data you hold about me.",
        language="en",
        steps=(
            ("verify", "document"),
            ("extend", "The data is spread over several systems, including the paper contract archive."),
        ),
    ),
    Scenario(
        "portability-rejected",
        "portability",
        ("lgpd",),
        "email",
        8,
        "Quero meus dados em formato aberto para levar a outra loja.",
        steps=(
            ("verify_failed", "one_time_code"),
            (
                "reject",
                (
                    "O código de confirmação enviado ao e-mail cadastrado não foi confirmado em 7 dias, e não "
                    "conseguimos confirmar a sua identidade. Você pode fazer um novo pedido pelo portal."
                ),
            ),
        ),
    ),
)
SOCIAL_NAMES = ("Alex", "Dani", "Kim", "Ariel", "Sam")


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _chunks(items: Sequence[uuid.UUID], size: int) -> Iterator[Sequence[uuid.UUID]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Command(BaseCommand):
    help = (
        "After generate_demo: load the consent catalogue, a consent history for ~60% of the demo people, the DSAR "
        "sources and requests in every state. Runs through the services; a second run adds nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=360)
        parser.add_argument("--share", type=float, default=CONSENT_SHARE, help="Share of people with consents.")

    def handle(self, *args: Any, seed: int, share: float, **options: Any) -> None:
        if not 0 <= share <= 1:
            raise CommandError("--share is a fraction between 0 and 1.")
        self.seed = seed
        self.now = timezone.now()
        self.emails_used: set[str] = set()
        # People: subjects not merged into another (an erasure turns merged subjects into erased ones, which
        # stay merged into the person). Each is chosen by a draw of their own, so who is chosen never depends
        # on who else is there: a second run chooses the same people and adds nothing.
        people = list(
            Subject.objects.filter(merged_into__isnull=True).order_by("created_at", "id").values_list("id", "status")
        )
        if not people:
            raise CommandError("No demo people yet: run generate_demo first.")
        chosen = {
            subject_id
            for subject_id, _ in people
            if random.Random(f"{seed}:chosen:{subject_id}").random() < share  # noqa: S311 - demo data
        }
        self.active = [subject_id for subject_id, status in people if status == Subject.Status.ACTIVE]
        self.kinds: dict[uuid.UUID, set[str]] = {}
        for subject_id, kind in Identifier.objects.filter(subject__status=Subject.Status.ACTIVE).values_list(
            "subject_id", "kind"
        ):
            self.kinds.setdefault(subject_id, set()).add(kind)

        notices = self._catalogue()
        self._ledger([subject_id for subject_id in self.active if subject_id in chosen], notices)
        self._double_opt_ins([subject_id for subject_id in self.active if subject_id not in chosen], notices)
        sources = self._sources()
        self._requests([subject_id for subject_id in self.active if subject_id in chosen], sources)

    # ------------------------------------------------------------ 1. catalogue

    def _catalogue(self) -> dict[tuple[int, str], NoticeVersion]:
        codes = [spec["code"] for spec in PURPOSES]
        existing = set(Purpose.objects.filter(code__in=codes).values_list("code", flat=True))
        for spec in PURPOSES:
            if spec["code"] not in existing:
                purpose_save(purpose=Purpose(**spec, is_active=True), actor=LOADER)
        specs = {spec["code"]: spec for spec in PURPOSES}
        for purpose in Purpose.objects.filter(code__in=existing):
            if not any(getattr(purpose, name) for name in PORTAL_FIELDS):
                for name in PORTAL_FIELDS:
                    setattr(purpose, name, specs[purpose.code][name])
                purpose_save(purpose=purpose, actor=LOADER)
        purposes = list(Purpose.objects.filter(code__in=codes))
        # Notices have no service of their own (the admin writes them): the history still names the loader.
        with acting_as(LOADER), transaction.atomic():
            notice, _ = Notice.objects.get_or_create(code=NOTICE_CODE, defaults={"title": NOTICE_TITLE})
            notice.purposes.add(*purposes)
        published = {(version.version, version.language): version for version in notice.versions.all()}
        new_versions = 0
        for number, texts in NOTICE_TEXTS.items():
            for language, text in texts.items():
                if (number, language) in published:
                    continue
                published[number, language] = notice_version_publish(
                    version=NoticeVersion(
                        notice=notice,
                        version=number,
                        language=language,
                        text=text,
                        published_at=self.now - dt.timedelta(days=NOTICE_PUBLISHED_DAYS_AGO[number]),
                    ),
                    actor=LOADER,
                )
                new_versions += 1
        self.stdout.write(
            f"Consent catalogue: {len(purposes)} purposes ({len(PURPOSES) - len(existing)} new), notice "
            f"'{NOTICE_CODE}' in {len(published)} versions ({new_versions} new)."
        )
        return published

    # ------------------------------------------------------------ 2. consent history

    def _ledger(self, chosen: list[uuid.UUID], notices: dict[tuple[int, str], NoticeVersion]) -> None:
        # One INFO line per consent event would bury the summary under thousands of lines.
        with _quiet("consent.services.events"):
            self._ledger_load(chosen, notices)

    def _ledger_load(self, chosen: list[uuid.UUID], notices: dict[tuple[int, str], NoticeVersion]) -> None:
        started = time.monotonic()
        with_events = set(
            ConsentEvent.objects.filter(subject__isnull=False).values_list("subject_id", flat=True).distinct()
        )
        pending = [subject_id for subject_id in chosen if subject_id not in with_events and self.kinds.get(subject_id)]
        writer = HistoryWriter(now=self.now, notices=notices)
        gpc_left = 0 if ConsentEvent.objects.filter(method=Method.GPC).exists() else GPC_PEOPLE
        new_events = new_people = 0
        for chunk in _chunks(pending, CHUNK):
            with transaction.atomic():
                histories = [
                    (
                        subject_id,
                        writer.history(
                            subject_id,
                            self.kinds[subject_id],
                            random.Random(f"{self.seed}:{subject_id}"),  # noqa: S311 - demo data
                        ),
                    )
                    for subject_id in chunk
                ]
                imports = [event for _, history in histories for event in history.imports]
                if imports:
                    result = consents_import(events=imports, actor=LOADER)
                    if result.errors:
                        raise CommandError(f"The legacy import refused some consents: {result.errors}")
                    new_events += result.recorded
                new_people += sum(1 for _, history in histories if history.imports or history.events)
                for subject_id, history in histories:
                    new_events += self._record(subject_id, history, gpc=gpc_left > 0 and history.shares_with_partners)
                    if gpc_left and history.shares_with_partners:
                        gpc_left -= 1
        self._ledger_summary(new_events, new_people, time.monotonic() - started)

    def _record(self, subject_id: uuid.UUID, history: History, *, gpc: bool) -> int:
        person = Actor.for_subject(subject_id)
        for event in history.events:
            consent_record(event=event, actor=person)
        written = len(history.events)
        if history.object_today:
            # An objection to all direct marketing, on every channel: absolute (GDPR Art. 21(3)).
            consent_object(actor=person, method=Method.PORTAL, subject_id=subject_id, source_system="portal")
            written += 1
        elif history.withdraw_today:
            purpose_code, channel = history.withdraw_today
            method, system = WITHDRAW_ROUTES.get(channel, (Method.PORTAL, "portal"))
            consent_withdraw(
                purpose_code=purpose_code,
                channel=channel,
                method=method,
                actor=person,
                subject_id=subject_id,
                source_system=system,
            )
            written += 1
        if gpc:
            written += len(consent_gpc_signal(actor=person, subject_id=subject_id, source_system="site"))
        return written

    def _ledger_summary(self, new_events: int, new_people: int, elapsed: float) -> None:
        people = ConsentEvent.objects.filter(subject__isnull=False).values("subject_id").distinct().count()
        by_action = dict(
            ConsentEvent.objects.values_list("action").annotate(count=Count("id")).values_list("action", "count")
        )
        imported = ConsentEvent.objects.filter(method=Method.IMPORT).count()
        gpc = ConsentEvent.objects.filter(method=Method.GPC).values("subject_id").distinct().count()
        self.stdout.write(
            f"Consent ledger: {people:,} people with a consent history ({new_people:,} new), "
            f"{sum(by_action.values()):,} events ({new_events:,} new, {elapsed:.1f}s): "
            f"{by_action.get(Action.GRANT, 0):,} grants ({imported:,} imported), "
            f"{by_action.get(Action.DENY, 0):,} refusals, {by_action.get(Action.WITHDRAW, 0):,} withdrawals, "
            f"{by_action.get(Action.OBJECT, 0):,} objections ({gpc} people by GPC)."
        )

    def _double_opt_ins(self, others: list[uuid.UUID], notices: dict[tuple[int, str], NoticeVersion]) -> None:
        requests = DoubleOptIn.objects.filter(source_system=DOI_SOURCE)
        if not requests.exists():
            with_events = set(
                ConsentEvent.objects.filter(subject__isnull=False).values_list("subject_id", flat=True).distinct()
            )
            candidates = [subject_id for subject_id in others if subject_id not in with_events]
            for position, (subject_id, email, _) in enumerate(self._people(candidates, DOI_PEOPLE)):
                self._double_opt_in(subject_id, email, notices, confirm=position < DOI_CONFIRMED)
        confirmed = requests.filter(confirmed_at__isnull=False).count()
        self.stdout.write(f"Double opt-in: {requests.count()} newsletter sign-ups, {confirmed} confirmed.")

    def _double_opt_in(
        self, subject_id: uuid.UUID, email: str, notices: dict[tuple[int, str], NoticeVersion], *, confirm: bool
    ) -> None:
        rng = random.Random(f"{self.seed}:doi:{subject_id}")  # noqa: S311 - demo data
        # The link only exists in the mail; a local mailbox catches it (the demo sends no real mail).
        with override_settings(EMAIL_BACKEND=LOCMEM_EMAIL):
            sent = len(getattr(mail, "outbox", []))
            consent_doi_start(
                email=email,
                purpose_code="marketing.newsletter",
                notice_version_id=notices[max(number for number, _ in notices), "pt-br"].pk,
                actor=Actor.for_subject(subject_id),
                subject_id=subject_id,
                source_system=DOI_SOURCE,
                confirm_url=DOI_CONFIRM_URL,
            )
            messages = getattr(mail, "outbox", [])[sent:]
        found = re.search(r"/confirmar/([\w-]+)", messages[0].body) if messages else None
        if confirm and found:
            consent_doi_confirm(
                token=found.group(1),
                ip=f"{rng.choice(IP_PREFIXES)}{rng.randrange(1, 255)}",
                user_agent=rng.choice(USER_AGENTS),
            )

    def _people(self, candidates: Iterable[uuid.UUID], wanted: int) -> Iterator[tuple[uuid.UUID, str, str]]:
        """(subject id, email, name) of people with an email of their own: a family email would reach, or
        erase, two people."""
        found = 0
        for subject_id in candidates:
            if found == wanted:
                return
            if "email" not in self.kinds.get(subject_id, set()):
                continue
            revealed = subject_reveal(
                subject_id=subject_id, actor=LOADER, reason=REVEAL_REASON, attributes=["given_name", "family_name"]
            )
            name = " ".join(str(revealed.attributes[part] or "") for part in ("given_name", "family_name")).strip()
            for identifier in revealed.identifiers:
                if identifier.kind != "email" or identifier.value in self.emails_used:
                    continue
                if subject_find(kind="email", value=identifier.value).count() == 1:
                    self.emails_used.add(identifier.value)
                    found += 1
                    yield subject_id, identifier.value, name
                    break

    # ------------------------------------------------------------ 3. DSAR

    def _sources(self) -> dict[str, DataSource]:
        existing = {source.code: source for source in DataSource.objects.filter(code__in=[s["code"] for s in SOURCES])}
        created = []
        for spec in SOURCES:
            if spec["code"] not in existing:
                existing[spec["code"]] = source_save(source=DataSource(**spec), actor=LOADER)
                created.append(spec["code"])
        described = ", ".join(
            f"{source.code} ({source.kind}{'' if source.is_active else ', inactive'})" for source in existing.values()
        )
        self.stdout.write(f"DSAR sources: {described}; {len(created)} new.")
        return existing

    def _requests(self, chosen: list[uuid.UUID], sources: dict[str, DataSource]) -> None:
        demo_requests = DataRequest.objects.filter(
            pk__in=RequestEvent.objects.filter(kind="received", actor=str(LOADER)).values("request_id")
        ).select_related("key")
        done, created = set(), 0
        for request in demo_requests:
            done.add(request_details(request).get("demo_scenario"))
            self.emails_used.update(item["value"] for item in request_identities(request) if item["kind"] == "email")
        missing = [scenario for scenario in SCENARIOS if scenario.name not in done]
        if missing:
            candidates = list(chosen)
            random.Random(self.seed).shuffle(candidates)  # noqa: S311 - demo data
            for scenario, person in zip(missing, self._people(candidates, len(missing)), strict=False):
                try:
                    self._scenario(scenario, *person)
                except ApplicationError as exc:
                    raise CommandError(f"DSAR scenario {scenario.name}: {exc.message} {exc.errors}") from exc
                created += 1
        by_status = Counter(demo_requests.values_list("status", flat=True))
        states = ", ".join(f"{count} {DataRequest.Status(status).label.lower()}" for status, count in by_status.items())
        waiting = RequestTask.objects.filter(request__in=demo_requests, status=RequestTask.Status.WAITING).count()
        self.stdout.write(
            f"DSAR requests: {sum(by_status.values())} ({created} new): {states}; "
            f"{waiting} manual step(s) waiting in '{sources['contratos-papel'].name}'."
        )

    def _scenario(self, scenario: Scenario, subject_id: uuid.UUID, email: str, name: str) -> None:
        details: dict[str, Any] = {"demo_scenario": scenario.name, "message": scenario.message}
        if scenario.request_type == "rectification":
            rng = random.Random(f"{self.seed}:{scenario.name}")  # noqa: S311 - demo data
            details["corrections"] = {"social_name": rng.choice(SOCIAL_NAMES)}
        request = request_create(
            request_type=scenario.request_type,
            regimes=scenario.regimes,
            intake_channel=scenario.intake_channel,
            identities=[{"kind": "email", "value": email}],
            actor=LOADER,
            received_at=self.now - dt.timedelta(days=scenario.days_ago),
            requester_name=name,
            contact_email=email,
            language=scenario.language,
            details=details,
        )
        for step, text in scenario.steps:
            self._step(request.id, step, text)

    @staticmethod
    def _step(request_id: uuid.UUID, step: str, text: str) -> None:
        if step in {"verify", "verify_failed"}:
            # Verified requests start at once: Celery is eager in the demo, so c360's own store answers now
            # and the paper archive waits for a person.
            request_verify(request_id=request_id, method=text, verified=step == "verify", actor=DPO)
        elif step == "manual":
            for task_id in RequestTask.objects.filter(
                request_id=request_id, status=RequestTask.Status.WAITING
            ).values_list("id", flat=True):
                manual_task_complete(task_id=task_id, actor=DPO, note=text, evidence=text.encode())
        elif step == "complete":
            request_complete(request_id=request_id, actor=DPO, note=text)
        elif step == "extend":
            request_extend(request_id=request_id, reason=text, actor=DPO)
        elif step == "reject":
            request_reject(
                request_id=request_id, reason=DataRequest.RejectionReason.IDENTITY_NOT_VERIFIED, text=text, actor=DPO
            )
