"""c360's own store as a source: the unified profile, its source records, and its consent.

Erasure here is a crypto-shred (the subject's data keys are destroyed), plus a suppression entry for each
contact point and an ``erase_suppress`` ledger event kept as proof (profiles announces the erasure,
consent records it). Restriction blocks the subject, so every consent check denies.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from c360.lib.errors import ApplicationError, Gone, NotFound
from c360.lib.history import Actor
from consent.decisions import ALL
from consent.models import Method
from consent.selectors import subject_consent_history, subject_consent_states
from consent.services.events import consent_object, consent_withdraw
from dsar.connectors.base import ConnectorError, ExportedRecord, FieldAction, Identity, Match, Outcome
from profiles.models import Subject
from profiles.selectors import subjects_by_identifier
from profiles.services.subjects import subject_erase, subject_restrict, subject_reveal, subject_update

# The data category of each profile attribute, for the access answer (GDPR Art. 15(1)(b)).
ATTRIBUTE_CATEGORIES = {
    "given_name": "identity",
    "family_name": "identity",
    "social_name": "identity",
    "birth_date": "identity",
    "address": "contact",
    "locale": "preferences",
}
IDENTIFIER_CATEGORIES = {"email": "contact", "phone": "contact", "cpf": "identity", "cnpj": "identity"}
RECTIFIABLE = ("given_name", "family_name", "social_name", "birth_date", "address", "locale")


class C360StoreConnector:
    def __init__(self, *, actor: Actor, reason: str) -> None:
        self.actor = actor
        self.reason = reason

    def locate(self, identities: list[Identity]) -> list[Match]:
        found: dict[uuid.UUID, str] = {}
        for identity in identities:
            if identity.kind == "external_id":
                subjects = subjects_by_identifier(source_code=identity.namespace, external_id=identity.value)
            elif identity.kind == "subject_id":
                subjects = Subject.objects.filter(pk=identity.value)
            else:
                try:
                    subjects = subjects_by_identifier(kind=identity.kind, value=identity.value)
                except ApplicationError:
                    continue
            for candidate in subjects.only("id", "status", "merged_into_id"):
                subject = candidate
                while subject.status == Subject.Status.MERGED and subject.merged_into_id:
                    subject = Subject.objects.only("id", "status", "merged_into_id").get(pk=subject.merged_into_id)
                if subject.status != Subject.Status.ERASED:
                    found.setdefault(subject.id, f"identity:{identity.kind}")
        return [Match("subject", {"subject_id": str(subject_id)}, via=via) for subject_id, via in found.items()]

    def export(self, matches: list[Match]) -> list[ExportedRecord]:
        records: list[ExportedRecord] = []
        for match in matches:
            subject_id = match.locator["subject_id"]
            revealed = self._call(subject_reveal, subject_id=subject_id, reason=self.reason, with_sources=True)
            provenance = f"c360:profiles/subject#{subject_id}"
            records.append(
                ExportedRecord(
                    "profile",
                    {name: _plain(value) for name, value in revealed.attributes.items() if value not in (None, "")},
                    {name: ATTRIBUTE_CATEGORIES.get(name, "other") for name in revealed.attributes},
                    provenance,
                )
            )
            records += [
                ExportedRecord(
                    "identifiers",
                    {"kind": item.kind, "value": item.value, "verified": item.is_verified, "source": item.source},
                    {"value": IDENTIFIER_CATEGORIES.get(item.kind, "identity")},
                    provenance,
                )
                for item in revealed.identifiers
            ]
            records += [
                ExportedRecord(
                    "source_records",
                    {"source": item.source, "received_at": item.received_at.isoformat(), **_plain(item.attributes)},
                    {name: ATTRIBUTE_CATEGORIES.get(name, "other") for name in item.attributes},
                    f"c360:{item.source}/record#{item.record_id}",
                )
                for item in revealed.sources
            ]
            records += [
                ExportedRecord(
                    "consents",
                    {
                        "purpose": state.purpose_code,
                        "channel": state.channel,
                        "status": state.status,
                        "legal_basis": state.legal_basis,
                        "since": state.occurred_at.isoformat(),
                        "valid_until": state.valid_until.isoformat() if state.valid_until else None,
                    },
                    {"status": "consent"},
                    provenance,
                )
                for state in subject_consent_states(subject_id)
            ]
            records += [
                ExportedRecord(
                    "consent_history",
                    {
                        "purpose": event.purpose_code,
                        "channel": event.channel,
                        "action": event.action,
                        "method": event.method,
                        "occurred_at": event.occurred_at.isoformat(),
                        "notice": str(event.notice_version) if event.notice_version_id else None,
                        "source_system": event.source_system,
                    },
                    {"action": "consent"},
                    f"c360:consent/event#{event.id}",
                )
                for event in subject_consent_history(subject_id)
            ]
        return records

    def erase(self, matches: list[Match]) -> Outcome:
        outcome = Outcome()
        for match in matches:
            erased = self._call(subject_erase, subject_id=match.locator["subject_id"], reason=self.reason)
            action = "unchanged" if erased.already_erased else "deleted"
            outcome.actions.append(
                FieldAction(
                    "subject",
                    match.locator,
                    action,
                    reason="already erased" if erased.already_erased else "crypto-shredded; contact points suppressed",
                )
            )
        return outcome

    def rectify(self, matches: list[Match], corrections: dict[str, Any]) -> Outcome:
        attributes = {name: value for name, value in corrections.items() if name in RECTIFIABLE}
        if isinstance(attributes.get("birth_date"), str):  # corrections travel as JSON: dates as ISO text
            try:
                attributes["birth_date"] = dt.date.fromisoformat(attributes["birth_date"])
            except ValueError:
                raise ConnectorError("c360 store: rectify: birth_date is not an ISO date", retryable=False) from None
        outcome = Outcome()
        for match in matches:
            if attributes:
                self._call(subject_update, subject_id=match.locator["subject_id"], source="dsar", attributes=attributes)
            outcome.actions += [
                FieldAction("subject", match.locator, "rectified" if name in attributes else "unchanged", field=name)
                for name in corrections
            ]
        return outcome

    def restrict(self, matches: list[Match]) -> Outcome:
        outcome = Outcome()
        for match in matches:
            changed = self._call(subject_restrict, subject_id=match.locator["subject_id"], reason=self.reason)
            outcome.actions.append(FieldAction("subject", match.locator, "restricted" if changed else "unchanged"))
        return outcome

    def object(self, matches: list[Match], purposes: list[str]) -> Outcome:
        """An objection: to the purposes named, or to all direct marketing (absolute, GDPR Art. 21(3))."""
        outcome = Outcome()
        for match in matches:
            for purpose in purposes or [ALL]:
                self._call(
                    consent_object,
                    subject_id=match.locator["subject_id"],
                    purpose_code=purpose,
                    method=Method.DSAR,
                    source_system="dsar",
                )
                outcome.actions.append(FieldAction("consent", match.locator, "objected", field=purpose))
        return outcome

    def revoke(self, matches: list[Match], purposes: list[str]) -> Outcome:
        """Withdraw consent to the purposes named, or to every purpose the person granted (LGPD Art. 8 §5)."""
        outcome = Outcome()
        for match in matches:
            subject_id = match.locator["subject_id"]
            granted = [
                (state.purpose_code, state.channel)
                for state in subject_consent_states(subject_id).filter(status="granted")
                if not purposes or state.purpose_code in purposes
            ]
            for purpose, channel in granted:
                self._call(
                    consent_withdraw,
                    subject_id=subject_id,
                    purpose_code=purpose,
                    channel=channel,
                    method=Method.DSAR,
                    source_system="dsar",
                )
                outcome.actions.append(FieldAction("consent", match.locator, "withdrawn", field=f"{purpose}/{channel}"))
            if not granted:
                outcome.actions.append(FieldAction("consent", match.locator, "unchanged", reason="nothing granted"))
        return outcome

    def _call(self, service: Any, **arguments: Any) -> Any:
        try:
            return service(actor=self.actor, **arguments)
        except (NotFound, Gone) as exc:
            raise ConnectorError(f"c360 store: {exc.message}", retryable=False) from None


def _plain(value: Any) -> Any:
    """JSON-ready: dates as ISO text, nested mappings kept."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
