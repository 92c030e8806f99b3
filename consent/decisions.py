"""The decision: may we contact this person for this purpose on this channel? One pure function.

``decide`` fails closed: no record, an unknown recipient or a missing purpose is a "no". Every answer
carries reason codes and, when it rests on an event, that event's id as evidence. The rules, in the
order they bind:

- the purpose must be active and allow the channel;
- an erased or restricted (blocked) subject, or a suppressed contact point, is never contacted;
- an objection to direct marketing is absolute (GDPR Art. 21(3), LGPD Art. 18 §2), and a Global Privacy
  Control signal objects to sale and sharing purposes;
- a global opt-out for a channel beats any topic opt-in on it;
- a purpose resting on consent needs a live grant (not refused, withdrawn, objected or expired), given by
  a guardian when the person is a minor and the purpose asks for it;
- a purpose on another basis (legitimate interest, contract, legal obligation) is allowed unless objected to;
- when several subjects were merged into one person, the most restrictive answer of them all stands:
  a merge never upgrades consent.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

ALL = "*"
NEGATIVE = ("objected", "withdrawn", "denied", "expired")  # most restrictive first


class Reason(StrEnum):
    NO_RECORD = "NO_RECORD"
    GRANTED = "GRANTED"
    DENIED = "DENIED"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"
    OBJECTED = "OBJECTED"
    GLOBAL_OPT_OUT = "GLOBAL_OPT_OUT"
    SUPPRESSED = "SUPPRESSED"
    RESTRICTED = "RESTRICTED"
    ERASED = "ERASED"
    MINOR_NO_GUARDIAN = "MINOR_NO_GUARDIAN"
    GPC_OPT_OUT = "GPC_OPT_OUT"
    LEGITIMATE_INTEREST = "LEGITIMATE_INTEREST"
    OTHER_LEGAL_BASIS = "OTHER_LEGAL_BASIS"
    CHANNEL_NOT_ALLOWED = "CHANNEL_NOT_ALLOWED"
    PURPOSE_INACTIVE = "PURPOSE_INACTIVE"
    UNKNOWN_RECIPIENT = "UNKNOWN_RECIPIENT"


_STATUS_REASONS = {
    "objected": Reason.OBJECTED,
    "withdrawn": Reason.WITHDRAWN,
    "denied": Reason.DENIED,
    "expired": Reason.EXPIRED,
}


@dataclass(frozen=True)
class PurposeRule:
    """What ``decide`` needs of a catalogue purpose."""

    code: str
    is_active: bool
    channels: frozenset[str]
    lgpd_basis: str
    gdpr_basis: str
    consent_bases: frozenset[str]
    legitimate_interest_bases: frozenset[str]
    direct_marketing: bool
    sale_or_share: bool
    minors_need_guardian: bool

    def basis_for(self, regimes: Iterable[str]) -> tuple[str, bool]:
        """The basis that governs for these regimes, and whether it is consent (the strictest wins)."""
        return _basis_for(self, tuple(regimes))


@functools.lru_cache(maxsize=4096)
def _basis_for(rule: PurposeRule, regimes: tuple[str, ...]) -> tuple[str, bool]:
    # A bulk check asks this once per recipient with a handful of distinct answers: remember them.
    bases = [rule.lgpd_basis if regime == "lgpd" else rule.gdpr_basis for regime in regimes] or [rule.lgpd_basis]
    consent = [basis for basis in bases if basis in rule.consent_bases]
    return (consent[0], True) if consent else (bases[0], False)


@dataclass(frozen=True)
class StateView:
    """One projection row relevant to the question: its scope, status and the event behind it."""

    owner: str  # "s:<subject id>" or "c:<contact>": who the state belongs to
    purpose_code: str
    channel: str
    status: str
    occurred_at: dt.datetime
    event_id: str
    valid_until: dt.datetime | None = None
    method: str = ""
    actor_kind: str = ""
    given_by_minor: bool = False  # granted by the person while a minor, not by a guardian


@dataclass(frozen=True)
class Situation:
    """Everything the store knows about the recipient that bears on the question."""

    known: bool
    subject_status: str | None = None
    regimes: tuple[str, ...] = ("lgpd",)
    suppressed: bool = False
    states: tuple[StateView, ...] = ()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    state: str
    legal_basis: str
    reasons: tuple[Reason, ...]
    evidence_event_id: str | None = None
    valid_until: dt.datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _effective(state: StateView, now: dt.datetime) -> str:
    if state.status == "granted" and state.valid_until is not None and state.valid_until <= now:
        return "expired"
    return state.status


def _purpose_state(states: list[StateView], now: dt.datetime) -> StateView | None:
    """The state that answers for this purpose: per owner the latest, across owners the strictest."""
    latest_per_owner: dict[str, StateView] = {}
    for state in states:
        current = latest_per_owner.get(state.owner)
        # The channel-specific row beats the every-channel row when newer, and vice versa.
        if current is None or state.occurred_at > current.occurred_at:
            latest_per_owner[state.owner] = state
    candidates = list(latest_per_owner.values())
    for status in NEGATIVE:  # a merge never upgrades: any owner's refusal stands
        for state in candidates:
            if _effective(state, now) == status:
                return state
    return max(candidates, key=lambda state: state.occurred_at, default=None)


def _standing_blocks(situation: Situation) -> list[Reason]:
    """What bars any contact, whatever the purpose: the subject's status and suppression."""
    blocks = []
    if situation.subject_status == "erased":
        blocks.append(Reason.ERASED)
    elif situation.subject_status == "restricted":
        blocks.append(Reason.RESTRICTED)
    if situation.suppressed:
        blocks.append(Reason.SUPPRESSED)
    return blocks


def _every_purpose_blocks(
    states: list[StateView], purpose: PurposeRule, needs_consent: bool, now: dt.datetime
) -> tuple[list[Reason], StateView | None]:
    """Objections to all direct marketing, and global opt-outs of a channel."""
    blocks: list[Reason] = []
    evidence = None
    for state in states:
        status = _effective(state, now)
        if status == "objected" and purpose.direct_marketing and state.method != "gpc":
            blocks.append(Reason.OBJECTED)
        elif status in {"withdrawn", "denied"} and (purpose.direct_marketing or needs_consent):
            blocks.append(Reason.GLOBAL_OPT_OUT)
        else:
            continue
        evidence = evidence or state
    return blocks, evidence


def _answer_blocks(answer: StateView | None, purpose: PurposeRule, now: dt.datetime) -> list[Reason]:
    """A refusal, withdrawal, objection or expiry of this very purpose (a GPC objection named as such)."""
    status = _effective(answer, now) if answer else None
    if answer is not None and status == "objected" and answer.method == "gpc":
        return [Reason.GPC_OPT_OUT] if purpose.sale_or_share else []
    return [_STATUS_REASONS[status]] if status in _STATUS_REASONS else []  # type: ignore[index]


def decide(purpose: PurposeRule | None, channel: str, situation: Situation, now: dt.datetime) -> Decision:
    """The answer, with every reason that applies (the first is the main one)."""
    if purpose is None or not purpose.is_active:
        return Decision(False, "unknown_purpose", "", (Reason.PURPOSE_INACTIVE,))
    basis, needs_consent = purpose.basis_for(situation.regimes)
    if channel not in purpose.channels:
        return Decision(False, "channel_not_allowed", basis, (Reason.CHANNEL_NOT_ALLOWED,))
    if not situation.known:
        return Decision(False, "no_record", basis, (Reason.UNKNOWN_RECIPIENT, Reason.NO_RECORD))

    relevant = [
        state
        for state in situation.states
        if state.purpose_code in {purpose.code, ALL} and state.channel in {channel, ALL}
    ]
    scope_blocks, evidence = _every_purpose_blocks(
        [state for state in relevant if state.purpose_code == ALL], purpose, needs_consent, now
    )
    answer = _purpose_state([state for state in relevant if state.purpose_code == purpose.code], now)
    answer_blocks = _answer_blocks(answer, purpose, now)
    blocks = _standing_blocks(situation) + scope_blocks + answer_blocks
    if answer_blocks:
        evidence = evidence or answer
    status = _effective(answer, now) if answer else None

    if needs_consent and status == "granted":
        if purpose.minors_need_guardian and answer.given_by_minor:  # type: ignore[union-attr]
            blocks.append(Reason.MINOR_NO_GUARDIAN)
        if not blocks:
            return Decision(True, "granted", basis, (Reason.GRANTED,), answer.event_id, answer.valid_until)  # type: ignore[union-attr]
    elif needs_consent and answer is None:
        blocks.append(Reason.NO_RECORD)
    elif not needs_consent and not blocks:
        reason = Reason.LEGITIMATE_INTEREST if basis in purpose.legitimate_interest_bases else Reason.OTHER_LEGAL_BASIS
        return Decision(True, status or "not_asked", basis, (reason,), answer.event_id if answer else None)

    reasons = tuple(dict.fromkeys(blocks))  # in order, without repeats
    standing = {Reason.ERASED, Reason.RESTRICTED, Reason.SUPPRESSED}
    state = reasons[0].lower() if reasons[0] in standing else (status or "no_record")
    return Decision(False, state, basis, reasons, evidence.event_id if evidence else None)
