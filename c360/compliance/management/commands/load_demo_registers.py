"""Load the DPO's registers for ``make demo``, after ``load_demo_workflows`` loaded the consent catalogue.

What a Brazilian retailer, Loja Exemplo Comércio Ltda, would keep, in pt-BR, written through the compliance
services (the only writers) as ``system:demo-loader``:

- the record of processing activities: five entries linked to the demo purposes and DSAR sources, four
  complete and active, one left as a draft without its security measures (the completeness flag shows it),
  and one international transfer (the e-mail provider in the USA, under standard contractual clauses);
- the incident register: one incident closed and notified to the ANPD within the clock, one recent with
  its clocks running and half of the notice checklist ticked;
- retention: two rules, one legal hold on the invoices, and one dry run so the admin shows a run.

Each row is recognised by its name or title, so a second run adds nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from c360.compliance.models import (
    CHECKLIST_ITEMS,
    Incident,
    InternationalTransfer,
    LegalHold,
    ProcessingActivity,
    Regime,
    RetentionRule,
    RetentionRun,
)
from c360.compliance.selectors import activity_missing_fields
from c360.compliance.services import (
    incident_checklist_tick,
    incident_notification_record,
    incident_save,
    international_transfer_save,
    legal_hold_save,
    processing_activity_save,
    retention_rule_save,
    retention_run,
)
from c360.lib.errors import ApplicationError
from c360.lib.history import Actor, acting_as
from consent.models import Purpose
from dsar.models import DataSource

LOADER = Actor.system("demo-loader")

CONTROLLER = (
    "Loja Exemplo Comércio Ltda, CNPJ 00.000.000/0001-00, Av. Paulista, 1000, São Paulo/SP, 01310-100; "
    "privacidade@loja-exemplo.com.br, (11) 4000-0000"
)
DPO_NAME_FALLBACK = "Encarregado de Proteção de Dados"
DPO_EMAIL_FALLBACK = "encarregado@loja-exemplo.com.br"
SECURITY = (
    "Controle de acesso por perfil com autenticação em dois fatores; dados pessoais cifrados em repouso (chave "
    "por titular) e em trânsito (TLS 1.2+); registro de acessos e trilha de auditoria; cópias de segurança "
    "cifradas e testadas; treinamento anual da equipe em proteção de dados."
)
FIVE_YEARS = 5 * 365

# ================================================================ the record of processing activities

ACTIVITIES: tuple[dict[str, Any], ...] = (
    {
        "name": "Atendimento ao cliente (SAC)",
        "description": "Responder dúvidas, reclamações, trocas e devoluções recebidas por telefone, e-mail, chat e "
        "pelas lojas, e registrar o histórico de cada atendimento.",
        "purposes": ["service.notices"],
        "sources": ["c360", "helpdesk"],
        "subject_categories": ["clientes", "consumidores que entram em contato sem compra"],
        "data_categories": ["identificação", "contato", "histórico de pedidos", "histórico de atendimento"],
        "recipient_categories": ["fornecedor do help desk (operador)", "transportadoras, para trocas"],
        "recipients": [
            {"name": "Fornecedor do help desk", "role": "processor", "country": "BR"},
            {"name": "Transportadora Exemplo Ltda.", "role": "processor", "country": "BR"},
        ],
        "retention_text": "3 anos após o último chamado; chamados sobre defeito ou vício do produto, 5 anos "
        "(CDC art. 27).",
        "retention_days": 3 * 365,
    },
    {
        "name": "Pedidos do e-commerce e faturamento",
        "description": "Receber e entregar os pedidos da loja virtual, cobrar, emitir as notas fiscais eletrônicas "
        "(NF-e) e guardar os documentos fiscais pelo prazo legal.",
        "purposes": ["service.notices"],
        "sources": ["c360", "contratos-papel"],
        "subject_categories": ["clientes", "destinatários das entregas"],
        "data_categories": [
            "identificação (nome, CPF)",
            "contato",
            "endereço de entrega e de cobrança",
            "pedidos e pagamentos",
            "notas fiscais",
        ],
        "recipient_categories": [
            "intermediadores de pagamento",
            "transportadoras",
            "Secretaria da Fazenda (NF-e)",
            "contabilidade terceirizada",
        ],
        "recipients": [
            {"name": "Pagamentos Exemplo Instituição de Pagamento S.A.", "role": "controller", "country": "BR"},
            {"name": "Transportadora Exemplo Ltda.", "role": "processor", "country": "BR"},
            {"name": "Contabilidade Exemplo Ltda.", "role": "processor", "country": "BR"},
            {"name": "Secretaria da Fazenda do Estado de São Paulo", "role": "controller", "country": "BR"},
        ],
        "retention_text": "Documentos fiscais e dados dos pedidos: 5 anos contados do primeiro dia do exercício "
        "seguinte (prazo decadencial e prescricional do crédito tributário, CTN arts. 173 e 174); depois, "
        "eliminação.",
        "retention_days": FIVE_YEARS,
    },
    {
        "name": "Newsletter por e-mail (consentimento)",
        "description": "Enviar a newsletter com novidades, dicas e lançamentos a quem se inscreveu e confirmou o "
        "e-mail (dupla confirmação).",
        "purposes": ["marketing.newsletter"],
        "sources": ["c360"],
        "subject_categories": ["clientes e visitantes inscritos na newsletter"],
        "data_categories": ["nome", "contato (e-mail, celular)", "engajamento (aberturas e cliques)"],
        "recipient_categories": ["provedores de envio de e-mail e SMS (operadores)"],
        "recipients": [
            {"name": "Envios Digitais Ltda.", "role": "processor", "country": "BR"},
            {"name": "Mensageria Global Inc.", "role": "processor", "country": "US"},
        ],
        "retention_text": "Enquanto o consentimento valer (renovado a cada 2 anos); após a retirada, só a prova do "
        "consentimento, por 5 anos.",
        "retention_days": 2 * 365,
    },
    {
        "name": "Ofertas por correio (legítimo interesse)",
        "description": "Enviar catálogos e ofertas pelos Correios a clientes com compra nos últimos 2 anos, com "
        "opção de oposição em todo envio.",
        "purposes": ["marketing.postal"],
        "sources": ["c360"],
        "subject_categories": ["clientes ativos (compra nos últimos 2 anos)"],
        "data_categories": ["nome", "endereço postal", "histórico de compras"],
        "recipient_categories": ["gráfica e serviço de postagem (operador)"],
        "recipients": [{"name": "Gráfica e Postagem Exemplo Ltda.", "role": "processor", "country": "BR"}],
        "retention_text": "Enquanto o cliente estiver ativo (uma compra nos últimos 2 anos) e não se opuser; "
        "depois, o endereço sai da lista de envio.",
        "retention_days": 2 * 365,
        "lia_from_purpose": True,
    },
    {
        # Left as a draft without its security measures: the completeness flag shows what is missing.
        "name": "Compartilhamento com parceiros (consentimento)",
        "description": "Compartilhar o e-mail de quem autorizou com parceiros selecionados, para ofertas deles e "
        "públicos de mídia. Em revisão com o parceiro de mídia (controladoria conjunta).",
        "purposes": ["partners.share"],
        "sources": ["c360"],
        "subject_categories": ["clientes que autorizaram o compartilhamento"],
        "data_categories": ["nome", "e-mail", "preferências"],
        "recipient_categories": ["parceiros comerciais (controladores)", "plataforma de mídia (controladora conjunta)"],
        "recipients": [
            {"name": "Viagens Parceiras Exemplo S.A.", "role": "controller", "country": "BR"},
            {"name": "Mídia Social Exemplo Ireland Ltd.", "role": "joint_controller", "country": "IE"},
        ],
        "joint_controllers": "Mídia Social Exemplo Ireland Ltd. (públicos personalizados), acordo de "
        "controladoria conjunta em negociação.",
        "retention_text": "Envio mensal enquanto o consentimento valer; cada parceiro apaga os dados até 30 dias "
        "após a retirada.",
        "retention_days": None,
        "draft": True,
    },
)

TRANSFER = {
    "activity": "Newsletter por e-mail (consentimento)",
    "country": "US",
    "recipient": "Mensageria Global Inc.",
    "mechanism": InternationalTransfer.Mechanism.SCCS,
    "lgpd_item": "II b",
    "safeguard_reference": "Contrato de operador CT-2025-014, anexo III: cláusulas-padrão contratuais "
    "(Res. CD/ANPD 19/2024) e SCC da Comissão Europeia 2021/914, módulo 2",
}

# ================================================================ incidents

CLOSED_INCIDENT = "Envio de e-mails de pedido a destinatários errados"
OPEN_INCIDENT = "Acesso indevido ao painel do help desk com credencial vazada"

# ================================================================ retention

RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "Clientes inativos há 5 anos: eliminar",
        "target": RetentionRule.Target.INACTIVE_SUBJECTS,
        "period_days": FIVE_YEARS,
        "action": RetentionRule.Action.ERASE,
        "is_active": True,
        "legal_basis": "Sem finalidade depois de 5 anos sem atividade, sem consentimento vigente e sem solicitação "
        "aberta: fim do tratamento (LGPD arts. 15 I e 16); o prazo cobre a prescrição do CDC (art. 27).",
    },
    {
        "name": "Solicitações de titulares encerradas há 5 anos: eliminar os dados pessoais",
        "target": RetentionRule.Target.CLOSED_REQUESTS,
        "period_days": FIVE_YEARS,
        "action": RetentionRule.Action.SHRED_REQUEST_PII,
        "is_active": True,
        "legal_basis": "Prova do atendimento ao titular guardada pelo prazo prescricional (CDC art. 27); depois, "
        "fica só o registro sem dados pessoais (LGPD art. 16).",
    },
)

HOLD = {
    "scope": LegalHold.Scope.DATA_CATEGORY,
    "data_category": "invoices",
    "reason": "Fiscalização da Receita Federal sobre as notas fiscais de 2020 a 2024 (termo de início de "
    "procedimento fiscal): nenhuma nota fiscal ou dado de pedido ligado a elas pode ser eliminado até o fim.",
    "authority": "Receita Federal do Brasil",
}
HOLD_REVIEW_DAYS = 90


class Command(BaseCommand):
    help = (
        "Demo only: load the DPO's registers (processing activities, an international transfer, two incidents, "
        "retention rules, a legal hold and a dry run) for Loja Exemplo. Run after load_demo_workflows; a second "
        "run adds nothing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.C360_DEMO or settings.DEBUG):
            raise CommandError("load_demo_registers only runs with C360_DEMO=1 or DEBUG=1.")
        self.now = timezone.now()
        try:
            activities, new_activities, new_transfers = self._activities()
            new_incidents = self._incidents(activities)
            new_rules, new_holds, new_runs = self._retention()
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} {getattr(exc, 'errors', '')}") from exc
        complete = sum(1 for activity in activities.values() if not activity_missing_fields(activity))
        self.stdout.write(
            f"Record of processing activities: {len(activities)} activities ({complete} complete, "
            f"{len(activities) - complete} draft to finish), {InternationalTransfer.objects.count()} international "
            f"transfer(s); incidents: {Incident.objects.count()}."
        )
        created = new_activities + new_transfers + new_incidents + new_rules + new_holds + new_runs
        self.stdout.write(
            f"Retention: {RetentionRule.objects.count()} rules, "
            f"{LegalHold.objects.filter(released_at__isnull=True).count()} legal hold(s), "
            f"{RetentionRun.objects.count()} run(s). "
            + (f"{created} new row(s) loaded." if created else "Nothing new: the registers were already loaded.")
        )

    # ------------------------------------------------------------ activities and the transfer

    def _activities(self) -> tuple[dict[str, ProcessingActivity], int, int]:
        codes = {code for spec in ACTIVITIES for code in spec["purposes"]}
        purposes = {purpose.code: purpose for purpose in Purpose.objects.filter(code__in=codes)}
        sources = {source.code: source for source in DataSource.objects.all()}
        missing = sorted(codes - set(purposes)) + sorted(
            {code for spec in ACTIVITIES for code in spec["sources"]} - set(sources)
        )
        if missing:
            raise CommandError(f"Missing {', '.join(missing)}: run load_demo_workflows first.")
        existing = {activity.name: activity for activity in ProcessingActivity.objects.all()}
        activities: dict[str, ProcessingActivity] = {}
        created = 0
        for spec in ACTIVITIES:
            if spec["name"] in existing:
                activities[spec["name"]] = existing[spec["name"]]
                continue
            linked = [purposes[code] for code in spec["purposes"]]
            activity = ProcessingActivity(
                name=spec["name"],
                description=spec["description"],
                status=ProcessingActivity.Status.DRAFT if spec.get("draft") else ProcessingActivity.Status.ACTIVE,
                controller=CONTROLLER,
                joint_controllers=spec.get("joint_controllers", ""),
                dpo_name=settings.C360_DPO_NAME or DPO_NAME_FALLBACK,
                dpo_email=settings.C360_DPO_EMAIL or DPO_EMAIL_FALLBACK,
                subject_categories=spec["subject_categories"],
                data_categories=spec["data_categories"],
                recipient_categories=spec["recipient_categories"],
                recipients=spec["recipients"],
                retention_text=spec["retention_text"],
                retention_days=spec["retention_days"],
                security_measures="" if spec.get("draft") else SECURITY,
                lia_reference=linked[0].lia_reference if spec.get("lia_from_purpose") else "",
            )
            activities[spec["name"]] = processing_activity_save(
                activity=activity,
                actor=LOADER,
                purposes=linked,
                data_sources=[sources[code] for code in spec["sources"]],
            )
            created += 1
        activity = activities[TRANSFER["activity"]]
        fields = {key: value for key, value in TRANSFER.items() if key != "activity"}
        new_transfers = 0
        if not InternationalTransfer.objects.filter(
            activity=activity, country=fields["country"], recipient=fields["recipient"]
        ).exists():
            international_transfer_save(transfer=InternationalTransfer(activity=activity, **fields), actor=LOADER)
            new_transfers = 1
        return activities, created, new_transfers

    # ------------------------------------------------------------ incidents

    def _incidents(self, activities: dict[str, ProcessingActivity]) -> int:
        created = 0
        if not Incident.objects.filter(title=CLOSED_INCIDENT).exists():
            self._closed_incident(activities)
            created += 1
        if not Incident.objects.filter(title=OPEN_INCIDENT).exists():
            self._open_incident(activities)
            created += 1
        return created

    def _closed_incident(self, activities: dict[str, ProcessingActivity]) -> None:
        aware = self.now - dt.timedelta(days=40)
        incident = incident_save(
            incident=Incident(
                title=CLOSED_INCIDENT,
                description="Uma falha na atualização do serviço de e-mails transacionais trocou os destinatários "
                "das confirmações de pedido por cerca de duas horas: cada cliente recebeu a confirmação de outro "
                "pedido (nome, endereço de entrega e itens). Causa: erro de mapeamento na fila de envio, já "
                "corrigido.",
                occurred_at=aware - dt.timedelta(hours=6),
                detected_at=aware - dt.timedelta(hours=2),
                aware_at=aware,
                data_categories=["nome", "endereço de entrega", "itens do pedido"],
                systems=["e-commerce", "serviço de e-mails transacionais"],
                subjects_affected=412,
                records_affected=412,
                regimes=[Regime.LGPD],
                risk=Incident.Risk.RELEVANT,
                risk_reasoning="Dados de endereço e de compras expostos a terceiros em volume relevante; pode "
                "causar dano aos titulares (Res. CD/ANPD 15/2024 art. 5).",
                notify_authority=True,
                notify_subjects=True,
                measures_taken="Envio suspenso e corrigido; pedido aos destinatários errados para apagar as "
                "mensagens; teste automatizado do mapeamento de destinatários antes de cada publicação.",
            ),
            actor=LOADER,
        )
        for item in CHECKLIST_ITEMS:
            incident_checklist_tick(incident_id=incident.pk, item=item, actor=LOADER)
        # Both notices well inside the three business days (Res. 15/2024 arts. 6 and 9).
        sent = min(aware + dt.timedelta(days=1), incident.anpd_authority_due_at - dt.timedelta(hours=1))
        incident_notification_record(
            incident_id=incident.pk,
            recipient="anpd",
            sent_at=sent,
            reference="Protocolo ANPD 00261.000000/2025-00 (peticionamento eletrônico SEI)",
            actor=LOADER,
        )
        incident_notification_record(
            incident_id=incident.pk,
            recipient="subjects",
            sent_at=sent + dt.timedelta(minutes=30),
            reference="Comunicado por e-mail aos 412 clientes afetados",
            actor=LOADER,
        )
        incident.refresh_from_db()
        incident.status = Incident.Status.CLOSED
        incident_save(incident=incident, actor=LOADER)
        self._link(incident, activities["Pedidos do e-commerce e faturamento"])

    def _open_incident(self, activities: dict[str, ProcessingActivity]) -> None:
        aware = self.now - dt.timedelta(hours=30)
        incident = incident_save(
            incident=Incident(
                title=OPEN_INCIDENT,
                description="Credencial de um atendente, exposta em um vazamento de outro serviço, foi usada para "
                "entrar no painel do help desk e consultar chamados. Acesso bloqueado; investigação em curso para "
                "saber quais chamados foram abertos.",
                occurred_at=aware - dt.timedelta(hours=20),
                detected_at=aware - dt.timedelta(hours=3),
                aware_at=aware,
                data_categories=["nome", "contato", "histórico de atendimento"],
                systems=["help desk"],
                subjects_affected=1800,
                records_affected=2600,
                regimes=[Regime.LGPD, Regime.GDPR],
                risk=Incident.Risk.RELEVANT,
                risk_reasoning="Dados de contato e conteúdo de chamados de muitos titulares acessados por terceiro "
                "desconhecido; risco de phishing dirigido (Res. CD/ANPD 15/2024 art. 5).",
                notify_authority=True,
                notify_subjects=True,
                measures_taken="Sessões encerradas, senha trocada, autenticação em dois fatores obrigatória no help "
                "desk; revisão dos registros de acesso em andamento.",
            ),
            actor=LOADER,
        )
        # Half of the notice content is ready; the rest waits for the investigation.
        for item in list(CHECKLIST_ITEMS)[: len(CHECKLIST_ITEMS) // 2]:
            incident_checklist_tick(incident_id=incident.pk, item=item, actor=LOADER)
        self._link(incident, activities["Atendimento ao cliente (SAC)"])

    @staticmethod
    def _link(incident: Incident, activity: ProcessingActivity) -> None:
        # The incident services take no activities; the admin sets the link the same way.
        with acting_as(LOADER):
            incident.activities.set([activity])

    # ------------------------------------------------------------ retention

    def _retention(self) -> tuple[int, int, int]:
        new_rules = 0
        for spec in RULES:
            if not RetentionRule.objects.filter(name=spec["name"]).exists():
                retention_rule_save(rule=RetentionRule(**spec), actor=LOADER)
                new_rules += 1
        new_holds = 0
        if not LegalHold.objects.filter(
            scope=HOLD["scope"], data_category=HOLD["data_category"], authority=HOLD["authority"]
        ).exists():
            review = timezone.localdate(self.now) + dt.timedelta(days=HOLD_REVIEW_DAYS)
            legal_hold_save(hold=LegalHold(review_at=review, **HOLD), actor=LOADER)
            new_holds = 1
        new_runs = 0
        if not RetentionRun.objects.filter(actor=str(LOADER)).exists():
            retention_run(dry_run=True, actor=LOADER)
            new_runs = 1
        return new_rules, new_holds, new_runs
