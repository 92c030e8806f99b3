"""Reads for the portal's "my requests" pages, and the words the person is shown (pages and mails).

A person sees a request when they proved its contact point (``requester_index`` equals the blind index
of the contact point of their session) or when it is about their own profile (``subject``). Every read is
bounded and answers through indexes: no scan of the request register.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from dsar.models import DataRequest, DataSource, ExportPackage, RequestEvent, RequestType

Status = DataRequest.Status

# The most requests a person's list shows; far above what one person files, and it keeps the page bounded.
LIST_LIMIT = 200
# The most events a request's timeline reads: the person's timeline has about eight steps.
TIMELINE_LIMIT = 200

REQUEST_TYPE_LABELS = {
    RequestType.CONFIRMATION: _("Do you process my data?"),
    RequestType.ACCESS: _("A copy of my data"),
    RequestType.PORTABILITY: _("My data in a reusable format (portability)"),
    RequestType.RECTIFICATION: _("Correct my data"),
    RequestType.ERASURE: _("Delete my data"),
    RequestType.ANONYMISATION: _("Anonymise my data"),
    RequestType.RESTRICTION: _("Block (restrict) the use of my data"),
    RequestType.OBJECTION: _("Object to a use of my data"),
    RequestType.CONSENT_REVOCATION: _("Withdraw my consent"),
    RequestType.SHARING_INFO: _("Who do you share my data with?"),
}
REQUEST_TYPE_HELP = {
    RequestType.CONFIRMATION: _("We tell you whether any of our systems holds data about you."),
    RequestType.ACCESS: _("We search every system and give you a copy of what we hold, where it came from and why."),
    RequestType.PORTABILITY: _("A copy of the data you gave us, in a format another service can import."),
    RequestType.RECTIFICATION: _("Tell us what is wrong or missing and the right value; we correct it everywhere."),
    RequestType.ERASURE: _("We delete your data, except what a law obliges us to keep (we tell you what and why)."),
    RequestType.ANONYMISATION: _("We remove what links the data to you, so it no longer identifies you."),
    RequestType.RESTRICTION: _("We keep your data but stop using it until the matter is settled."),
    RequestType.OBJECTION: _("You object to a use of your data, such as marketing; say which one."),
    RequestType.CONSENT_REVOCATION: _("You take back a consent you gave us; say for which purpose."),
    RequestType.SHARING_INFO: _("We tell you which companies and bodies we shared your data with."),
}
STATUS_LABELS = {
    Status.RECEIVED: _("Received"),
    Status.AWAITING_VERIFICATION: _("Waiting for a check"),
    Status.IN_PROGRESS: _("In progress"),
    Status.IN_REVIEW: _("In review"),
    Status.COMPLETED: _("Completed"),
    Status.REJECTED: _("Rejected"),
    Status.CANCELLED: _("Cancelled"),
}
REJECTION_LABELS = {
    DataRequest.RejectionReason.IDENTITY_NOT_VERIFIED: _("We could not confirm your identity."),
    DataRequest.RejectionReason.NOT_OUR_DATA: _("We are not the company that processes this data."),
    DataRequest.RejectionReason.MANIFESTLY_UNFOUNDED: _("The request is manifestly unfounded or excessive."),
    DataRequest.RejectionReason.LEGAL_OBLIGATION: _("A legal obligation prevents us from doing it."),
    DataRequest.RejectionReason.NO_AUTHORITY: _("The authority to act for the other person was not proven."),
    DataRequest.RejectionReason.OTHER: _("For the reasons explained below."),
}
# Where a person can complain about a refusal, per law (GDPR Art. 12(4), 77, 79; LGPD Art. 18 §1, §8).
COMPLAINT_ROUTE_LABELS = {
    "lgpd": (
        _("The ANPD (Brazil's data protection authority): a petition at https://www.gov.br/anpd"),
        _("The consumer protection office (Procon) of your state, or https://www.consumidor.gov.br"),
    ),
    "gdpr": (
        _("The data protection supervisory authority of your EU country (GDPR Art. 77)"),
        _("A court of law (GDPR Art. 79)"),
    ),
}
# The rules of the deadline engine (dsar.deadlines), in words.
DEADLINE_RULE_LABELS = {
    "gdpr.art12_3.one_month": _("GDPR Art. 12(3): one month from when we received the request"),
    "gdpr.art12_3.extended": _("GDPR Art. 12(3): three months from receipt, after an extension we told you about"),
    "lgpd.art19_ii.complete_declaration": _("LGPD Art. 19 II: 15 days from the request"),
    "lgpd.art19_ii.complete_declaration.small_agent": _(
        "LGPD Art. 19 II: 30 days from the request (small processing agent)"
    ),
    "anpd.res19_2024.transfer_safeguards": _("ANPD Resolution 19/2024: 15 days from the request"),
    "lgpd.art18.internal_sla": _("LGPD Art. 18: the law sets no period yet; we answer within our own period"),
}
TIMELINE_LABELS = {
    "received": _("Received"),
    "verified": _("Identity confirmed"),
    Status.IN_PROGRESS: _("In progress: we are searching our systems"),
    Status.IN_REVIEW: _("In review"),
    Status.COMPLETED: _("Completed"),
    Status.REJECTED: _("Rejected"),
    Status.CANCELLED: _("Cancelled"),
    "extended": _("Deadline extended"),
    "downloaded": _("Downloaded"),
}
ACTION_LABELS = {
    "deleted": _("deleted"),
    "masked": _("masked"),
    "nulled": _("emptied"),
    "anonymised": _("anonymised"),
    "rectified": _("corrected"),
    "restricted": _("blocked"),
    "objected": _("objection recorded"),
    "withdrawn": _("consent withdrawn"),
    "kept": _("kept as the law requires"),
    "unchanged": _("already done"),
}


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str

    @property
    def label(self) -> str:
        return str(TIMELINE_LABELS.get(self.kind, self.kind))


@dataclass(frozen=True)
class SourceFinding:
    name: str
    located: int | None
    exported: int | None
    actions: list[tuple[str, int]]
    manual: bool


@dataclass(frozen=True)
class DeadlineRule:
    regime: str
    text: str
    due_date: dt.date | None
    governing: bool


def _mine(contact_index: bytes, subject_id: uuid.UUID | None) -> Q:
    # Two indexed equality lookups joined by OR (a bitmap OR on PostgreSQL): never a scan.
    mine = Q(requester_index=contact_index)
    if subject_id is not None:
        mine |= Q(subject_id=subject_id)
    return mine


def requests_of_requester(*, contact_index: bytes, subject_id: uuid.UUID | None) -> list[DataRequest]:
    """The person's requests, newest first (at most ``LIST_LIMIT``), with only what the list shows."""
    return list(
        DataRequest.objects.filter(_mine(contact_index, subject_id))
        .only("id", "protocol", "request_type", "status", "received_at", "due_at", "deadline")
        .order_by("-received_at", "-protocol")[:LIST_LIMIT]
    )


def request_of_requester(*, protocol: str, contact_index: bytes, subject_id: uuid.UUID | None) -> DataRequest | None:
    """One of the person's requests by protocol; None for someone else's and for none (the same answer)."""
    return DataRequest.objects.filter(_mine(contact_index, subject_id), protocol=protocol).first()


def request_package(request: DataRequest) -> ExportPackage | None:
    return ExportPackage.objects.filter(request=request).only("id", "request_id", "downloaded_at").first()


def request_timeline(request: DataRequest, package: ExportPackage | None = None) -> list[TimelineEntry]:
    """The steps of a request as the person sees them: no notes, no staff, no internal step."""
    entries: list[TimelineEntry] = []
    events: QuerySet[RequestEvent] = RequestEvent.objects.filter(
        request=request, kind__in=["received", "transition", "extension"]
    ).only("at", "kind", "to_status")
    for event in events.order_by("at", "id")[:TIMELINE_LIMIT]:
        if event.kind == "received":
            entries.append(TimelineEntry(event.at, "received"))
        elif event.kind == "extension":
            entries.append(TimelineEntry(event.at, "extended"))
        elif event.to_status in TIMELINE_LABELS:
            entries.append(TimelineEntry(event.at, event.to_status))
    if request.verified_at and request.verification_outcome == DataRequest.Outcome.VERIFIED:
        entries.append(TimelineEntry(request.verified_at, "verified"))
    if package is not None and package.downloaded_at is not None:
        entries.append(TimelineEntry(package.downloaded_at, "downloaded"))
    order = {"received": 0, "verified": 1}
    return sorted(entries, key=lambda entry: (entry.at, order.get(entry.kind, 2)))


def request_due_date(request: DataRequest) -> dt.date | None:
    """The due date in the governing law's own time zone (the date the law counts), not the server's."""
    text = (request.deadline or {}).get("due_date")
    if text:
        return dt.date.fromisoformat(text)
    return request.due_at.date() if request.due_at else None


def request_deadline_rules(request: DataRequest) -> list[DeadlineRule]:
    """Each applicable law's period in words, the governing (earliest) one first."""
    deadline = request.deadline or {}
    governing = deadline.get("governing_regime")
    rules = [
        DeadlineRule(
            regime=item.get("regime", ""),
            text=str(DEADLINE_RULE_LABELS.get(item.get("rule_id", ""), item.get("rule_id", ""))),
            due_date=dt.date.fromisoformat(item["due_date"]) if item.get("due_date") else None,
            governing=item.get("regime") == governing,
        )
        for item in deadline.get("regimes", [])
    ]
    return sorted(rules, key=lambda rule: not rule.governing)


def request_source_findings(request: DataRequest) -> list[SourceFinding]:
    """Per connected system: what was found and done (from the request's summary; counts only)."""
    outcomes: dict[str, dict[str, Any]] = (request.summary or {}).get("sources", {})
    names = dict(DataSource.objects.filter(code__in=list(outcomes)).values_list("code", "name"))
    findings = []
    for code, outcome in sorted(outcomes.items()):
        actions = [
            (str(ACTION_LABELS.get(action, action)), count)
            for action, count in sorted((outcome.get("actions") or {}).items())
            if count
        ]
        findings.append(
            SourceFinding(
                name=names.get(code, code),
                located=outcome.get("located"),
                exported=outcome.get("exported"),
                actions=actions,
                manual=bool(outcome.get("manual")),
            )
        )
    return findings


def complaint_routes(request: DataRequest) -> list[str]:
    return [str(route) for regime in request.regimes for route in COMPLAINT_ROUTE_LABELS.get(regime, ())]
