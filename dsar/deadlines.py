"""DSAR and incident deadline engine: LGPD Art. 19, GDPR Art. 12(3)/33(1), ANPD Res. 15/2024.

Pure on purpose (LEGAL.md O-2): no Django models, no database, no ``now()``. Every instant is an input,
every setting arrives in a ``DeadlinePolicy``, and every result carries the rule id/version, the calendar
id/version and the inputs, so a stored due date can be audited and recomputed later.
"""

from __future__ import annotations

import calendar as month_calendar
import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dsar.calendars import HolidayCalendar, brazil_calendar, eu_member_state_calendar

ENGINE_VERSION = "1"


class Regime(StrEnum):
    LGPD = "lgpd"
    GDPR = "gdpr"


class RequestType(StrEnum):
    """Request types of the portal (LEGAL.md N). Only some carry a statutory LGPD period."""

    CONFIRMATION = "confirmation"  # LGPD Art. 18 I / 19; GDPR Art. 15(1) first limb
    ACCESS = "access"  # LGPD Art. 18 II / 19 II; GDPR Art. 15
    COPY = "copy"  # LGPD Art. 19 §3; GDPR Art. 15(3)
    PORTABILITY = "portability"  # LGPD Art. 18 V; GDPR Art. 20
    CORRECTION = "correction"  # LGPD Art. 18 III; GDPR Art. 16
    DELETION = "deletion"  # LGPD Art. 18 IV/VI; GDPR Art. 17
    ANONYMISATION = "anonymisation"  # LGPD Art. 18 IV
    RESTRICTION = "restriction"  # LGPD Art. 18 IV (bloqueio); GDPR Art. 18
    OBJECTION = "objection"  # LGPD Art. 18 §2; GDPR Art. 21(1)
    MARKETING_OPT_OUT = "marketing_opt_out"  # GDPR Art. 21(2)-(3): apply at once, 12(3) is the outer limit
    CONSENT_WITHDRAWAL = "consent_withdrawal"  # LGPD Art. 18 IX; GDPR Art. 7(3): idem
    SHARING_INFO = "sharing_info"  # LGPD Art. 18 VII; GDPR Art. 15(1)(c)
    CONSENT_CONSEQUENCES = "consent_consequences"  # LGPD Art. 18 VIII
    AUTOMATED_DECISION_REVIEW = "automated_decision_review"  # LGPD Art. 20; GDPR Art. 22(3)
    TRANSFER_SAFEGUARDS = "transfer_safeguards"  # Res. CD/ANPD 19/2024; GDPR Art. 15(2)


# LGPD Art. 19: confirmation of existence or access, answered by the complete declaration within 15 days.
LGPD_ART19_REQUEST_TYPES = frozenset({RequestType.CONFIRMATION, RequestType.ACCESS, RequestType.COPY})


class PauseReason(StrEnum):
    IDENTITY_VERIFICATION = "identity_verification"  # GDPR Art. 12(6)
    FEE = "fee"  # GDPR Art. 12(5)
    CLARIFICATION = "clarification"  # not a pause in EU mode by default: use the extension (LEGAL.md O-2)


class PauseMode(StrEnum):
    SUSPEND = "suspend"  # due += paused calendar days, then roll forward again (conservative default)
    RESTART = "restart"  # UK ICO practice: the period runs again from the day the information arrived


class IncidentObligation(StrEnum):
    ANPD_NOTICE = "anpd_notice"  # Res. 15/2024 art. 6 caput
    SUBJECT_NOTICE = "subject_notice"  # Res. 15/2024 art. 9
    ANPD_SUPPLEMENT = "anpd_supplement"  # Res. 15/2024 art. 6 §3
    GDPR_AUTHORITY_NOTICE = "gdpr_authority_notice"  # GDPR Art. 33(1)


class DeadlineError(ValueError):
    """Base class for inputs the engine refuses."""


class NaiveDatetimeError(DeadlineError):
    """An instant without a timezone: its local date in the legal timezone would be a guess."""


class ExtensionNotAllowedError(DeadlineError):
    """A GDPR Art. 12(3) extension that was notified too late or without reasons."""


@dataclass(frozen=True)
class Rule:
    rule_id: str
    version: str
    legal_basis: tuple[str, ...]


# Bump a rule's version whenever its computation changes; stored due dates keep the version they used.
RULE_GDPR_ONE_MONTH = Rule("gdpr.art12_3.one_month", "2026.1", ("GDPR Art. 12(3)", "Reg. 1182/71 art. 3"))
RULE_GDPR_EXTENDED = Rule(
    "gdpr.art12_3.extended", "2026.1", ("GDPR Art. 12(3) second sentence (+2 months)", "Reg. 1182/71 art. 3")
)
RULE_LGPD_ART19 = Rule("lgpd.art19_ii.complete_declaration", "2026.1", ("LGPD Art. 19 II", "CC art. 132"))
RULE_LGPD_ART19_SMALL_AGENT = Rule(
    "lgpd.art19_ii.complete_declaration.small_agent",
    "2026.1",
    ("LGPD Art. 19 II", "Res. CD/ANPD 2/2022 art. 14", "CC art. 132"),
)
RULE_LGPD_TRANSFER_SAFEGUARDS = Rule("anpd.res19_2024.transfer_safeguards", "2026.1", ("Res. CD/ANPD 19/2024",))
RULE_LGPD_INTERNAL_SLA = Rule(
    "lgpd.art18.internal_sla", "2026.1", ("LGPD Art. 18 §5 (period left to ANPD regulation, pending)",)
)
RULE_ANPD_NOTICE = Rule("anpd.res15_2024.art6.notice", "2026.1", ("Res. CD/ANPD 15/2024 art. 6",))
RULE_ANPD_SUBJECT_NOTICE = Rule("anpd.res15_2024.art9.subject_notice", "2026.1", ("Res. CD/ANPD 15/2024 art. 9",))
RULE_ANPD_SUPPLEMENT = Rule("anpd.res15_2024.art6_3.supplement", "2026.1", ("Res. CD/ANPD 15/2024 art. 6 §3",))
RULE_GDPR_BREACH = Rule("gdpr.art33_1.breach_notice", "2026.1", ("GDPR Art. 33(1)", "Reg. 1182/71 art. 3(3)"))


def _default_gdpr_calendar() -> HolidayCalendar:
    return eu_member_state_calendar("DE")


@dataclass(frozen=True)
class DeadlinePolicy:
    """Every knob of the engine. The caller builds it from Django settings; defaults are the conservative reading.

    The GDPR defaults (Europe/Berlin, DE national holidays) are placeholders: set them to the controller's
    Member State, whose calendar Reg. 1182/71 art. 3(4) uses.
    """

    # LGPD (Art. 19 II; LEGAL.md U-3, U-7)
    lgpd_tz: str = "America/Sao_Paulo"
    lgpd_calendar: HolidayCalendar = field(default_factory=brazil_calendar)
    lgpd_declaration_days: int = 15
    lgpd_small_agent_declaration_days: int = 30
    lgpd_transfer_safeguards_days: int = 15
    lgpd_internal_sla_days: int = 15
    lgpd_roll_forward_if_holiday: bool = False
    lgpd_pausable_reasons: frozenset[PauseReason] = frozenset()
    lgpd_pause_mode: PauseMode = PauseMode.SUSPEND
    # GDPR (Art. 12(3), 12(5), 12(6); LEGAL.md U-4)
    gdpr_tz: str = "Europe/Berlin"
    gdpr_calendar: HolidayCalendar = field(default_factory=_default_gdpr_calendar)
    gdpr_pausable_reasons: frozenset[PauseReason] = frozenset({PauseReason.IDENTITY_VERIFICATION, PauseReason.FEE})
    gdpr_pause_mode: PauseMode = PauseMode.SUSPEND
    # Internal target = statutory due minus this many calendar days (never before the receipt date).
    internal_buffer_days: int = 3
    # Incidents (Res. 15/2024 arts. 6 and 9; GDPR Art. 33(1); LEGAL.md U-9, U-11)
    anpd_tz: str = "America/Sao_Paulo"
    anpd_calendar: HolidayCalendar = field(default_factory=brazil_calendar)
    anpd_notice_business_days: int = 3
    anpd_small_agent_notice_business_days: int = 6
    anpd_supplement_business_days: int = 20
    anpd_small_agent_supplement_business_days: int = 40
    gdpr_breach_hours: int = 72

    def __post_init__(self) -> None:
        for name in ("lgpd_tz", "gdpr_tz", "anpd_tz"):
            try:
                ZoneInfo(getattr(self, name))
            except (ZoneInfoNotFoundError, ValueError) as error:
                raise DeadlineError(f"{name}={getattr(self, name)!r} is not an IANA timezone") from error
        for name in (
            "lgpd_declaration_days",
            "lgpd_small_agent_declaration_days",
            "lgpd_transfer_safeguards_days",
            "lgpd_internal_sla_days",
            "anpd_notice_business_days",
            "anpd_small_agent_notice_business_days",
            "anpd_supplement_business_days",
            "anpd_small_agent_supplement_business_days",
            "gdpr_breach_hours",
        ):
            if getattr(self, name) <= 0:
                raise DeadlineError(f"{name} must be a positive number")
        if self.internal_buffer_days < 0:
            raise DeadlineError("internal_buffer_days must be >= 0")
        # Accept plain strings from settings, store enums.
        object.__setattr__(self, "lgpd_pausable_reasons", frozenset(map(PauseReason, self.lgpd_pausable_reasons)))
        object.__setattr__(self, "gdpr_pausable_reasons", frozenset(map(PauseReason, self.gdpr_pausable_reasons)))
        object.__setattr__(self, "lgpd_pause_mode", PauseMode(self.lgpd_pause_mode))
        object.__setattr__(self, "gdpr_pause_mode", PauseMode(self.gdpr_pause_mode))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot, stored with a result so a recomputation can use the same settings."""
        data: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, HolidayCalendar):
                value = value.as_dict()
            elif isinstance(value, frozenset):
                value = sorted(str(item) for item in value)
            elif isinstance(value, StrEnum):
                value = str(value)
            data[name] = value
        return data


@dataclass(frozen=True)
class Pause:
    """A period while waiting for the subject (identity proof, fee); ``ended_at`` is when it arrived.

    For a pause still open, pass the caller's current time as ``ended_at``: the result is then the earliest
    possible due date, which is the one to show.
    """

    started_at: dt.datetime
    ended_at: dt.datetime
    reason: PauseReason

    def __post_init__(self) -> None:
        _require_aware("Pause.started_at", self.started_at)
        _require_aware("Pause.ended_at", self.ended_at)
        if self.ended_at < self.started_at:
            raise DeadlineError(f"Pause ends ({self.ended_at.isoformat()}) before it starts")
        object.__setattr__(self, "reason", PauseReason(self.reason))


@dataclass(frozen=True)
class Extension:
    """GDPR Art. 12(3): the subject was told of the extension, with reasons, at ``notified_at``."""

    notified_at: dt.datetime
    reason: str

    def __post_init__(self) -> None:
        _require_aware("Extension.notified_at", self.notified_at)


@dataclass(frozen=True)
class DeadlineInputs:
    received_at: dt.datetime
    request_type: RequestType
    regimes: tuple[Regime, ...]
    small_agent: bool
    pauses: tuple[Pause, ...]
    extension: Extension | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at.isoformat(),
            "request_type": str(self.request_type),
            "regimes": [str(regime) for regime in self.regimes],
            "small_agent": self.small_agent,
            "pauses": [
                {"started_at": p.started_at.isoformat(), "ended_at": p.ended_at.isoformat(), "reason": str(p.reason)}
                for p in self.pauses
            ],
            "extension": None
            if self.extension is None
            else {"notified_at": self.extension.notified_at.isoformat(), "reason": self.extension.reason},
        }


@dataclass(frozen=True)
class RegimeDeadline:
    """One regime's answer. ``statutory`` is False where the law sets no period (internal SLA)."""

    regime: Regime
    rule_id: str
    rule_version: str
    legal_basis: tuple[str, ...]
    statutory: bool
    legal_tz: str
    calendar_id: str
    calendar_version: str
    received_date: dt.date  # local date of receipt in legal_tz (not counted)
    clock_start_date: dt.date  # received_date, or the day information arrived in restart mode
    nominal_due_date: dt.date  # after pauses, before roll-forward
    due_date: dt.date
    due_at: dt.datetime  # end of due_date in legal_tz
    internal_target_date: dt.date
    paused_days: int
    original_due_date: dt.date | None  # GDPR with extension: the one-month due date it replaced
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "regime": str(self.regime),
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "legal_basis": list(self.legal_basis),
            "statutory": self.statutory,
            "legal_tz": self.legal_tz,
            "calendar_id": self.calendar_id,
            "calendar_version": self.calendar_version,
            "received_date": self.received_date.isoformat(),
            "clock_start_date": self.clock_start_date.isoformat(),
            "nominal_due_date": self.nominal_due_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "due_at": self.due_at.isoformat(),
            "internal_target_date": self.internal_target_date.isoformat(),
            "paused_days": self.paused_days,
            "original_due_date": None if self.original_due_date is None else self.original_due_date.isoformat(),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class DsarDeadline:
    """The governing (earliest) deadline across the applicable regimes, with every regime's breakdown."""

    due_date: dt.date
    due_at: dt.datetime
    legal_tz: str
    internal_target_date: dt.date
    governing_regime: Regime
    rule_id: str
    rule_version: str
    calendar_id: str
    calendar_version: str
    inputs: DeadlineInputs
    regimes: tuple[RegimeDeadline, ...]
    policy: DeadlinePolicy
    engine_version: str = ENGINE_VERSION

    def for_regime(self, regime: Regime | str) -> RegimeDeadline:
        """The breakdown of one regime (KeyError if it did not apply)."""
        for breakdown in self.regimes:
            if breakdown.regime == regime:
                return breakdown
        raise KeyError(regime)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record for storage next to the request (audit and recomputation)."""
        return {
            "engine_version": self.engine_version,
            "due_date": self.due_date.isoformat(),
            "due_at": self.due_at.isoformat(),
            "legal_tz": self.legal_tz,
            "internal_target_date": self.internal_target_date.isoformat(),
            "governing_regime": str(self.governing_regime),
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "calendar_id": self.calendar_id,
            "calendar_version": self.calendar_version,
            "inputs": self.inputs.as_dict(),
            "regimes": [breakdown.as_dict() for breakdown in self.regimes],
            "policy": self.policy.as_dict(),
        }


@dataclass(frozen=True)
class IncidentDeadline:
    """A breach clock. ANPD clocks end at the end of a business day; the GDPR one at an exact instant."""

    obligation: IncidentObligation
    regime: Regime
    rule_id: str
    rule_version: str
    legal_basis: tuple[str, ...]
    legal_tz: str
    calendar_id: str | None  # None where no calendar is used (GDPR hours)
    calendar_version: str | None
    start_at: dt.datetime
    start_date: dt.date
    due_date: dt.date
    due_at: dt.datetime
    business_days: int | None
    hours: int | None
    small_agent: bool
    engine_version: str = ENGINE_VERSION

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine_version": self.engine_version,
            "obligation": str(self.obligation),
            "regime": str(self.regime),
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "legal_basis": list(self.legal_basis),
            "legal_tz": self.legal_tz,
            "calendar_id": self.calendar_id,
            "calendar_version": self.calendar_version,
            "start_at": self.start_at.isoformat(),
            "start_date": self.start_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "due_at": self.due_at.isoformat(),
            "business_days": self.business_days,
            "hours": self.hours,
            "small_agent": self.small_agent,
        }


DEFAULT_POLICY = DeadlinePolicy()


# ---------------------------------------------------------------- helpers


def _require_aware(name: str, value: object) -> None:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{name} must be timezone-aware (got naive {value.isoformat()}); the local date in the legal "
            "timezone cannot be derived from it. Use django.utils.timezone.now() or attach a tzinfo."
        )


def local_date(instant: dt.datetime, tz: str) -> dt.date:
    """Calendar date of ``instant`` in the legal timezone ``tz`` (LEGAL.md O-2: periods run on local dates)."""
    _require_aware("instant", instant)
    return instant.astimezone(ZoneInfo(tz)).date()


def end_of_day(day: dt.date, tz: str) -> dt.datetime:
    """Last instant of ``day`` in ``tz``: a period 'ends with the expiry of the last hour' (Reg. 1182/71 art. 3(2))."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=ZoneInfo(tz))


def add_months(day: dt.date, months: int) -> dt.date:
    """Same date ``months`` later, or the last day of that month if it has no such date (Reg. 1182/71 art. 3(2)(c))."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, month_calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class _Clock:
    start: dt.date
    nominal: dt.date
    due: dt.date
    paused_days: int
    notes: tuple[str, ...]


def _merge(intervals: Iterable[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, dt.date]]:
    """Union of half-open day intervals [start, end): overlapping pauses stop the clock once."""
    merged: list[tuple[dt.date, dt.date]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _regime_deadline(
    regime: Regime,
    rule: Rule,
    *,
    statutory: bool,
    tz: str,
    calendar: HolidayCalendar,
    received: dt.date,
    clock: _Clock,
    policy: DeadlinePolicy,
    notes: Sequence[str],
    original_due: dt.date | None,
) -> RegimeDeadline:
    """The result of one regime's clock, with the rule and calendar that produced it."""
    return RegimeDeadline(
        regime=regime,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        legal_basis=rule.legal_basis,
        statutory=statutory,
        legal_tz=tz,
        calendar_id=calendar.calendar_id,
        calendar_version=calendar.version,
        received_date=received,
        clock_start_date=clock.start,
        nominal_due_date=clock.nominal,
        due_date=clock.due,
        due_at=end_of_day(clock.due, tz),
        internal_target_date=_internal_target(clock.due, received, policy),
        paused_days=clock.paused_days,
        original_due_date=original_due,
        notes=(*notes, *clock.notes),
    )


def _run_clock(
    *,
    start: dt.date,
    period: Callable[[dt.date], dt.date],
    roll: Callable[[dt.date], dt.date],
    pauses: Sequence[tuple[dt.date, dt.date]],
    mode: PauseMode,
) -> _Clock:
    """Apply pauses to a period. A pause counts only if it began on or before the running due date."""
    intervals = _merge((max(begin, start), max(end, start)) for begin, end in pauses)
    intervals = [(begin, end) for begin, end in intervals if end > begin]
    notes: list[str] = []
    if mode is PauseMode.SUSPEND:
        added = 0
        for begin, end in intervals:
            if begin > roll(period(start) + dt.timedelta(days=added)):
                notes.append(f"pause from {begin.isoformat()} ignored: it began after the due date")
                continue
            added += (end - begin).days
        nominal = period(start) + dt.timedelta(days=added)
        return _Clock(start=start, nominal=nominal, due=roll(nominal), paused_days=added, notes=tuple(notes))
    clock_start = start
    for begin, end in intervals:
        if begin > roll(period(clock_start)):
            notes.append(f"pause from {begin.isoformat()} ignored: it began after the due date")
            continue
        clock_start = end
        notes.append(f"clock restarted on {end.isoformat()} (information received)")
    nominal = period(clock_start)
    return _Clock(start=clock_start, nominal=nominal, due=roll(nominal), paused_days=0, notes=tuple(notes))


def _pauses_in(
    pauses: Sequence[Pause], *, tz: str, allowed: frozenset[PauseReason]
) -> tuple[list[tuple[dt.date, dt.date]], list[str]]:
    kept: list[tuple[dt.date, dt.date]] = []
    notes: list[str] = []
    for pause in pauses:
        if pause.reason in allowed:
            kept.append((local_date(pause.started_at, tz), local_date(pause.ended_at, tz)))
        else:
            notes.append(f"pause for {pause.reason} does not stop this clock (policy)")
    return kept, notes


def _internal_target(due: dt.date, received: dt.date, policy: DeadlinePolicy) -> dt.date:
    return max(received, due - dt.timedelta(days=policy.internal_buffer_days))


# ---------------------------------------------------------------- DSAR clocks


def gdpr_request_deadline(
    *,
    received_at: dt.datetime,
    request_type: RequestType | str,
    pauses: Sequence[Pause] = (),
    extension: Extension | None = None,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> RegimeDeadline:
    """GDPR Art. 12(3): one month from receipt per Reg. 1182/71 art. 3, extendable once by two months.

    Pauses for Art. 12(6) identity information or an Art. 12(5) fee follow ``policy.gdpr_pause_mode``.
    Raises ExtensionNotAllowedError if the extension was notified after the original due date or has no reason.
    """
    _require_aware("received_at", received_at)
    RequestType(request_type)
    tz, calendar = policy.gdpr_tz, policy.gdpr_calendar
    received = local_date(received_at, tz)
    kept, notes = _pauses_in(pauses, tz=tz, allowed=policy.gdpr_pausable_reasons)
    clock = _run_clock(
        start=received,
        period=lambda start: add_months(start, 1),
        roll=calendar.roll_forward,
        pauses=kept,
        mode=policy.gdpr_pause_mode,
    )
    rule, original_due = RULE_GDPR_ONE_MONTH, None
    if extension is not None:
        if not extension.reason.strip():
            raise ExtensionNotAllowedError("A GDPR Art. 12(3) extension needs the reasons given to the data subject")
        if extension.notified_at < received_at:
            raise ExtensionNotAllowedError("The extension cannot be notified before the request was received")
        notified = local_date(extension.notified_at, tz)
        if notified > clock.due:
            raise ExtensionNotAllowedError(
                f"A GDPR Art. 12(3) extension must be notified within the first month: notified "
                f"{notified.isoformat()}, original due date {clock.due.isoformat()} ({tz})"
            )
        original_due, rule = clock.due, RULE_GDPR_EXTENDED
        clock = _run_clock(
            start=received,
            period=lambda start: add_months(start, 3),
            roll=calendar.roll_forward,
            pauses=kept,
            mode=policy.gdpr_pause_mode,
        )
    return _regime_deadline(
        Regime.GDPR,
        rule,
        statutory=True,
        tz=tz,
        calendar=calendar,
        received=received,
        clock=clock,
        policy=policy,
        notes=notes,
        original_due=original_due,
    )


def _lgpd_rule(request_type: RequestType, *, small_agent: bool, policy: DeadlinePolicy) -> tuple[Rule, int, bool]:
    if request_type in LGPD_ART19_REQUEST_TYPES:
        if small_agent:
            return RULE_LGPD_ART19_SMALL_AGENT, policy.lgpd_small_agent_declaration_days, True
        return RULE_LGPD_ART19, policy.lgpd_declaration_days, True
    if request_type is RequestType.TRANSFER_SAFEGUARDS:
        return RULE_LGPD_TRANSFER_SAFEGUARDS, policy.lgpd_transfer_safeguards_days, True
    return RULE_LGPD_INTERNAL_SLA, policy.lgpd_internal_sla_days, False


def lgpd_request_deadline(
    *,
    received_at: dt.datetime,
    request_type: RequestType | str,
    small_agent: bool = False,
    pauses: Sequence[Pause] = (),
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> RegimeDeadline:
    """LGPD Art. 19 II: complete declaration within 15 calendar days (30 for small agents, Res. 2/2022 art. 14).

    Start day excluded, end day included (CC art. 132); no roll-forward and no pause for identity checks
    unless the policy says so (LEGAL.md U-3). Other Art. 18 rights have no statutory period yet (Art. 18 §5):
    they get the internal SLA and the rule id ``lgpd.art18.internal_sla``.
    """
    _require_aware("received_at", received_at)
    request_type = RequestType(request_type)
    tz, calendar = policy.lgpd_tz, policy.lgpd_calendar
    rule, days, statutory = _lgpd_rule(request_type, small_agent=small_agent, policy=policy)
    received = local_date(received_at, tz)
    kept, notes = _pauses_in(pauses, tz=tz, allowed=policy.lgpd_pausable_reasons)
    clock = _run_clock(
        start=received,
        period=lambda start: start + dt.timedelta(days=days),
        roll=calendar.roll_forward if policy.lgpd_roll_forward_if_holiday else lambda day: day,
        pauses=kept,
        mode=policy.lgpd_pause_mode,
    )
    identity_pending = any(pause.reason is PauseReason.IDENTITY_VERIFICATION for pause in pauses)
    if identity_pending and PauseReason.IDENTITY_VERIFICATION not in policy.lgpd_pausable_reasons:
        notes.append("identity verification does not stop the LGPD clock: send the Art. 18 §4 reply before the due")
    return _regime_deadline(
        Regime.LGPD,
        rule,
        statutory=statutory,
        tz=tz,
        calendar=calendar,
        received=received,
        clock=clock,
        policy=policy,
        notes=notes,
        original_due=None,
    )


def dsar_deadline(
    *,
    received_at: dt.datetime,
    request_type: RequestType | str,
    regimes: Collection[Regime | str],
    small_agent: bool = False,
    pauses: Sequence[Pause] = (),
    extension: Extension | None = None,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> DsarDeadline:
    """Due date of a data subject request under every applicable regime; the earliest instant governs.

    ``small_agent`` only affects the LGPD (Res. 2/2022); ``extension`` only the GDPR (the LGPD has none).
    """
    _require_aware("received_at", received_at)
    request_type = RequestType(request_type)
    ordered = tuple(sorted({Regime(regime) for regime in regimes}))
    if not ordered:
        raise DeadlineError("At least one regime (lgpd, gdpr) must apply")
    breakdowns: list[RegimeDeadline] = []
    for regime in ordered:
        if regime is Regime.GDPR:
            breakdowns.append(
                gdpr_request_deadline(
                    received_at=received_at,
                    request_type=request_type,
                    pauses=pauses,
                    extension=extension,
                    policy=policy,
                )
            )
        else:
            lgpd = lgpd_request_deadline(
                received_at=received_at,
                request_type=request_type,
                small_agent=small_agent,
                pauses=pauses,
                policy=policy,
            )
            if extension is not None:
                lgpd = _with_note(lgpd, "the LGPD has no extension: the GDPR extension does not move this date")
            breakdowns.append(lgpd)
    # Compare instants, not dates: the end of a day in São Paulo comes hours after the same day in Berlin.
    governing = min(breakdowns, key=lambda breakdown: breakdown.due_at)
    return DsarDeadline(
        due_date=governing.due_date,
        due_at=governing.due_at,
        legal_tz=governing.legal_tz,
        internal_target_date=governing.internal_target_date,
        governing_regime=governing.regime,
        rule_id=governing.rule_id,
        rule_version=governing.rule_version,
        calendar_id=governing.calendar_id,
        calendar_version=governing.calendar_version,
        inputs=DeadlineInputs(
            received_at=received_at,
            request_type=request_type,
            regimes=ordered,
            small_agent=small_agent,
            pauses=tuple(pauses),
            extension=extension,
        ),
        regimes=tuple(breakdowns),
        policy=policy,
    )


def _with_note(breakdown: RegimeDeadline, note: str) -> RegimeDeadline:
    return replace(breakdown, notes=(*breakdown.notes, note))


# ---------------------------------------------------------------- incident clocks

_ANPD_RULES = {
    IncidentObligation.ANPD_NOTICE: RULE_ANPD_NOTICE,
    IncidentObligation.SUBJECT_NOTICE: RULE_ANPD_SUBJECT_NOTICE,
    IncidentObligation.ANPD_SUPPLEMENT: RULE_ANPD_SUPPLEMENT,
}


def anpd_incident_deadline(
    *,
    obligation: IncidentObligation | str,
    start_at: dt.datetime,
    small_agent: bool = False,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> IncidentDeadline:
    """Res. CD/ANPD 15/2024: N *dias úteis* after the start day, in America/Sao_Paulo.

    ``start_at`` is when the controller knew the incident affected personal data (notices: 3, small agent 6,
    arts. 6 and 9) or when the ANPD was notified (supplement: 20, small agent 40, art. 6 §3).
    """
    _require_aware("start_at", start_at)
    obligation = IncidentObligation(obligation)
    if obligation not in _ANPD_RULES:
        raise DeadlineError(f"{obligation} is not an ANPD obligation; use gdpr_breach_deadline()")
    if obligation is IncidentObligation.ANPD_SUPPLEMENT:
        days = policy.anpd_small_agent_supplement_business_days if small_agent else policy.anpd_supplement_business_days
    else:
        days = policy.anpd_small_agent_notice_business_days if small_agent else policy.anpd_notice_business_days
    rule, tz, calendar = _ANPD_RULES[obligation], policy.anpd_tz, policy.anpd_calendar
    start = local_date(start_at, tz)
    due = calendar.add_business_days(start, days)
    return IncidentDeadline(
        obligation=obligation,
        regime=Regime.LGPD,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        legal_basis=(*rule.legal_basis, "Res. CD/ANPD 15/2024 art. 6 §8 / art. 9 §6")
        if small_agent
        else rule.legal_basis,
        legal_tz=tz,
        calendar_id=calendar.calendar_id,
        calendar_version=calendar.version,
        start_at=start_at,
        start_date=start,
        due_date=due,
        due_at=end_of_day(due, tz),
        business_days=days,
        hours=None,
        small_agent=small_agent,
    )


def gdpr_breach_deadline(*, awareness_at: dt.datetime, policy: DeadlinePolicy = DEFAULT_POLICY) -> IncidentDeadline:
    """GDPR Art. 33(1): exactly 72 hours after awareness; weekends and holidays count (Reg. 1182/71 art. 3(3)).

    Added in UTC so a DST change inside the window does not add or lose an hour.
    """
    _require_aware("awareness_at", awareness_at)
    tz, rule = policy.gdpr_tz, RULE_GDPR_BREACH
    due_at = (awareness_at.astimezone(dt.UTC) + dt.timedelta(hours=policy.gdpr_breach_hours)).astimezone(ZoneInfo(tz))
    return IncidentDeadline(
        obligation=IncidentObligation.GDPR_AUTHORITY_NOTICE,
        regime=Regime.GDPR,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        legal_basis=rule.legal_basis,
        legal_tz=tz,
        calendar_id=None,
        calendar_version=None,
        start_at=awareness_at,
        start_date=local_date(awareness_at, tz),
        due_date=due_at.date(),
        due_at=due_at,
        business_days=None,
        hours=policy.gdpr_breach_hours,
        small_agent=False,
    )
