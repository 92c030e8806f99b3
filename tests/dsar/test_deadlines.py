"""Deadline engine: LEGAL.md O-3 vectors, pauses, extensions, time zones, calendars and properties."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsar import calendars as calendars_module
from dsar.calendars import (
    CalendarError,
    HolidayCalendar,
    brazil_calendar,
    eu_member_state_calendar,
)
from dsar.deadlines import (
    DeadlineError,
    DeadlinePolicy,
    Extension,
    ExtensionNotAllowedError,
    IncidentObligation,
    NaiveDatetimeError,
    Pause,
    PauseMode,
    PauseReason,
    Regime,
    RequestType,
    add_months,
    anpd_incident_deadline,
    dsar_deadline,
    gdpr_breach_deadline,
    gdpr_request_deadline,
    lgpd_request_deadline,
)

BERLIN = "Europe/Berlin"
SAO_PAULO = "America/Sao_Paulo"
D = dt.date


def at(day: str, time: str = "10:00", tz: str = BERLIN) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=ZoneInfo(tz))


def utc(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def gdpr(day: str, **kwargs):
    return gdpr_request_deadline(received_at=at(day), request_type=RequestType.ACCESS, **kwargs)


def lgpd(day: str, **kwargs):
    return lgpd_request_deadline(received_at=at(day, tz=SAO_PAULO), request_type=RequestType.ACCESS, **kwargs)


def anpd(day: str, **kwargs):
    return anpd_incident_deadline(
        obligation=IncidentObligation.ANPD_NOTICE, start_at=at(day, "15:00", SAO_PAULO), **kwargs
    )


def notified(day: str) -> Extension:
    return Extension(notified_at=at(day), reason="Complex request spanning 14 source systems")


# ---------------------------------------------------------------- LEGAL.md O-3, one test id per row


def _gdpr_normal():
    return {
        "due": gdpr("2026-03-09").due_date,
        "extended": gdpr("2026-03-09", extension=notified("2026-03-20")).due_date,
    }


def _gdpr_month_end_weekend():
    plain = gdpr("2026-01-31")
    return {
        "nominal": plain.nominal_due_date,
        "due": plain.due_date,
        "extended": gdpr("2026-01-31", extension=notified("2026-02-10")).due_date,
    }


def _gdpr_year_end():
    plain = gdpr("2026-12-31")
    return {"nominal": plain.nominal_due_date, "due": plain.due_date}


def _gdpr_extension_weekend():
    extended = gdpr("2026-08-14", extension=notified("2026-09-01"))
    return {
        "due": gdpr("2026-08-14").due_date,
        "extended_nominal": extended.nominal_due_date,
        "extended": extended.due_date,
    }


def _gdpr_pause_suspend():
    pause = Pause(at("2026-03-10"), at("2026-03-17"), PauseReason.IDENTITY_VERIFICATION)
    return {"due": gdpr("2026-03-09", pauses=[pause]).due_date}


def _gdpr_72h():
    return {"due_at": gdpr_breach_deadline(awareness_at=at("2026-04-17", "16:00")).due_at}


def _lgpd_15_days():
    return {"due": lgpd("2026-08-20").due_date}


def _lgpd_saturday():
    return {"due": lgpd("2026-03-20").due_date}


def _lgpd_small_agent():
    return {"due": lgpd("2026-08-20", small_agent=True).due_date}


def _anpd_tiradentes():
    return {"due": anpd("2026-04-17").due_date, "small_agent": anpd("2026-04-17", small_agent=True).due_date}


def _anpd_consciencia_negra():
    return {"due": anpd("2026-11-19").due_date}


def _anpd_christmas():
    return {"due": anpd("2026-12-23").due_date}


def _dual_regime():
    result = dsar_deadline(
        received_at=at("2026-08-20", tz=SAO_PAULO),
        request_type=RequestType.ACCESS,
        regimes=[Regime.LGPD, Regime.GDPR],
    )
    return {
        "gdpr": result.for_regime(Regime.GDPR).due_date,
        "lgpd": result.for_regime(Regime.LGPD).due_date,
        "due": result.due_date,
        "governing": result.governing_regime,
    }


@pytest.mark.parametrize(
    ("compute", "expected"),
    [
        pytest.param(_gdpr_normal, {"due": D(2026, 4, 9), "extended": D(2026, 6, 9)}, id="gdpr-normal"),
        pytest.param(
            _gdpr_month_end_weekend,
            {"nominal": D(2026, 2, 28), "due": D(2026, 3, 2), "extended": D(2026, 4, 30)},
            id="gdpr-month-end-weekend",
        ),
        pytest.param(_gdpr_year_end, {"nominal": D(2027, 1, 31), "due": D(2027, 2, 1)}, id="gdpr-year-end"),
        pytest.param(
            _gdpr_extension_weekend,
            {"due": D(2026, 9, 14), "extended_nominal": D(2026, 11, 14), "extended": D(2026, 11, 16)},
            id="gdpr-extension-lands-on-weekend",
        ),
        pytest.param(_gdpr_pause_suspend, {"due": D(2026, 4, 16)}, id="gdpr-pause-suspend"),
        pytest.param(_gdpr_72h, {"due_at": at("2026-04-20", "16:00")}, id="gdpr-breach-72h"),
        pytest.param(_lgpd_15_days, {"due": D(2026, 9, 4)}, id="lgpd-15-days"),
        pytest.param(_lgpd_saturday, {"due": D(2026, 4, 4)}, id="lgpd-15-days-ends-saturday"),
        pytest.param(_lgpd_small_agent, {"due": D(2026, 9, 19)}, id="lgpd-small-agent"),
        pytest.param(
            _anpd_tiradentes, {"due": D(2026, 4, 23), "small_agent": D(2026, 4, 28)}, id="anpd-incident-tiradentes"
        ),
        pytest.param(_anpd_consciencia_negra, {"due": D(2026, 11, 25)}, id="anpd-incident-consciencia-negra"),
        pytest.param(_anpd_christmas, {"due": D(2026, 12, 29)}, id="anpd-incident-christmas"),
        pytest.param(
            _dual_regime,
            {"gdpr": D(2026, 9, 21), "lgpd": D(2026, 9, 4), "due": D(2026, 9, 4), "governing": Regime.LGPD},
            id="dual-regime",
        ),
    ],
)
def test_legal_o3_vectors(compute, expected):
    assert compute() == expected


# ---------------------------------------------------------------- GDPR extension


def test_extension_notified_on_the_original_due_date_is_allowed():
    result = gdpr("2026-03-09", extension=notified("2026-04-09"))

    assert result.rule_id == "gdpr.art12_3.extended"
    assert result.original_due_date == D(2026, 4, 9)
    assert result.due_date == D(2026, 6, 9)


def test_extension_notified_after_the_original_due_date_is_refused():
    with pytest.raises(ExtensionNotAllowedError, match=r"within the first month.*2026-04-10.*2026-04-09"):
        gdpr("2026-03-09", extension=notified("2026-04-10"))


def test_extension_deadline_is_judged_on_the_local_date_of_the_controller():
    # 22:30 UTC on the due date is already the next day in Berlin.
    late = Extension(notified_at=utc("2026-04-09T22:30"), reason="Complex request")

    with pytest.raises(ExtensionNotAllowedError):
        gdpr("2026-03-09", extension=late)


@pytest.mark.parametrize("reason", ["", "   "], ids=["empty", "blank"])
def test_extension_without_a_reason_is_refused(reason):
    with pytest.raises(ExtensionNotAllowedError, match="reasons"):
        gdpr("2026-03-09", extension=Extension(notified_at=at("2026-03-20"), reason=reason))


def test_extension_notified_before_receipt_is_refused():
    with pytest.raises(ExtensionNotAllowedError, match="before the request was received"):
        gdpr("2026-03-09", extension=notified("2026-03-01"))


def test_extension_counts_from_the_original_due_date_including_pauses():
    # The one-month due moves to 04-16 with a 7-day pause, so an extension notified on 04-14 is in time.
    pause = Pause(at("2026-03-10"), at("2026-03-17"), PauseReason.IDENTITY_VERIFICATION)

    result = gdpr("2026-03-09", pauses=[pause], extension=notified("2026-04-14"))

    assert result.original_due_date == D(2026, 4, 16)
    assert result.nominal_due_date == D(2026, 6, 16)
    assert result.due_date == D(2026, 6, 16)


def test_extension_does_not_move_the_lgpd_date_in_dual_regime():
    result = dsar_deadline(
        received_at=at("2026-08-20", tz=SAO_PAULO),
        request_type=RequestType.ACCESS,
        regimes=[Regime.GDPR, Regime.LGPD],
        extension=notified("2026-09-01"),
    )

    assert result.for_regime(Regime.GDPR).due_date == D(2026, 11, 20)
    assert result.for_regime(Regime.LGPD).due_date == D(2026, 9, 4)
    assert result.due_date == D(2026, 9, 4)
    assert any("no extension" in note for note in result.for_regime(Regime.LGPD).notes)


# ---------------------------------------------------------------- pauses


def test_restart_mode_runs_the_month_again_from_the_day_information_arrived():
    policy = DeadlinePolicy(gdpr_pause_mode=PauseMode.RESTART)
    pause = Pause(at("2026-03-10"), at("2026-03-17"), PauseReason.IDENTITY_VERIFICATION)

    result = gdpr("2026-03-09", pauses=[pause], policy=policy)

    assert result.clock_start_date == D(2026, 3, 17)
    assert result.received_date == D(2026, 3, 9)
    assert result.due_date == D(2026, 4, 17)
    assert result.paused_days == 0


def test_restart_mode_with_two_pauses_restarts_from_the_last_information():
    policy = DeadlinePolicy(gdpr_pause_mode="restart")
    pauses = [
        Pause(at("2026-03-10"), at("2026-03-12"), PauseReason.IDENTITY_VERIFICATION),
        Pause(at("2026-03-20"), at("2026-03-31"), PauseReason.FEE),
    ]

    result = gdpr("2026-03-09", pauses=pauses, policy=policy)

    assert result.clock_start_date == D(2026, 3, 31)
    assert result.nominal_due_date == D(2026, 4, 30)
    assert result.due_date == D(2026, 4, 30)


def test_overlapping_pauses_stop_the_clock_once():
    pauses = [
        Pause(at("2026-03-10"), at("2026-03-17"), PauseReason.IDENTITY_VERIFICATION),
        Pause(at("2026-03-15"), at("2026-03-20"), PauseReason.FEE),
        Pause(at("2026-03-11"), at("2026-03-12"), PauseReason.IDENTITY_VERIFICATION),  # inside the first
    ]

    result = gdpr("2026-03-09", pauses=pauses)

    # Union 03-10..03-20 = 10 days: 04-09 + 10 = Sun 04-19 -> Mon 04-20.
    assert result.paused_days == 10
    assert result.nominal_due_date == D(2026, 4, 19)
    assert result.due_date == D(2026, 4, 20)


def test_pause_starting_after_the_due_date_is_ignored():
    late = Pause(at("2026-04-10"), at("2026-04-20"), PauseReason.IDENTITY_VERIFICATION)

    result = gdpr("2026-03-09", pauses=[late])

    assert result.due_date == D(2026, 4, 9)
    assert result.paused_days == 0
    assert any("ignored" in note for note in result.notes)


def test_clarification_does_not_pause_the_gdpr_clock_by_default():
    pause = Pause(at("2026-03-10"), at("2026-03-17"), PauseReason.CLARIFICATION)

    result = gdpr("2026-03-09", pauses=[pause])

    assert result.due_date == D(2026, 4, 9)
    assert result.paused_days == 0


def test_identity_verification_does_not_pause_the_lgpd_clock_by_default():
    pause = Pause(at("2026-08-21", tz=SAO_PAULO), at("2026-08-28", tz=SAO_PAULO), PauseReason.IDENTITY_VERIFICATION)

    result = lgpd("2026-08-20", pauses=[pause])

    assert result.due_date == D(2026, 9, 4)
    assert any("Art. 18 §4" in note for note in result.notes)


def test_identity_verification_can_pause_the_lgpd_clock_when_configured():
    policy = DeadlinePolicy(lgpd_pausable_reasons=frozenset({"identity_verification"}))
    pause = Pause(at("2026-08-21", tz=SAO_PAULO), at("2026-08-28", tz=SAO_PAULO), PauseReason.IDENTITY_VERIFICATION)

    result = lgpd("2026-08-20", pauses=[pause], policy=policy)

    assert result.paused_days == 7
    assert result.due_date == D(2026, 9, 11)


def test_pause_ending_before_it_starts_is_refused():
    with pytest.raises(DeadlineError, match="before it starts"):
        Pause(at("2026-03-17"), at("2026-03-10"), PauseReason.FEE)


# ---------------------------------------------------------------- LGPD specifics


def test_lgpd_roll_forward_on_moves_a_saturday_to_monday():
    policy = DeadlinePolicy(lgpd_roll_forward_if_holiday=True)

    result = lgpd("2026-03-20", policy=policy)

    assert result.nominal_due_date == D(2026, 4, 4)
    assert result.due_date == D(2026, 4, 6)


def test_lgpd_roll_forward_on_skips_a_national_holiday():
    # 04-06 + 15 = Tue 04-21, Tiradentes.
    assert lgpd("2026-04-06").due_date == D(2026, 4, 21)
    assert lgpd("2026-04-06", policy=DeadlinePolicy(lgpd_roll_forward_if_holiday=True)).due_date == D(2026, 4, 22)


@pytest.mark.parametrize(
    "request_type",
    [RequestType.DELETION, RequestType.CORRECTION, RequestType.PORTABILITY, RequestType.OBJECTION],
)
def test_other_art18_rights_use_the_internal_sla(request_type):
    policy = DeadlinePolicy(lgpd_internal_sla_days=10)

    result = lgpd_request_deadline(
        received_at=at("2026-08-20", tz=SAO_PAULO), request_type=request_type, small_agent=True, policy=policy
    )

    assert result.rule_id == "lgpd.art18.internal_sla"
    assert result.statutory is False
    assert result.due_date == D(2026, 8, 30)


@pytest.mark.parametrize("request_type", ["confirmation", "access", "copy"])
def test_art19_request_types_use_the_statutory_period(request_type):
    result = lgpd_request_deadline(received_at=at("2026-08-20", tz=SAO_PAULO), request_type=request_type)

    assert result.rule_id == "lgpd.art19_ii.complete_declaration"
    assert result.statutory is True
    assert result.legal_basis[0] == "LGPD Art. 19 II"


def test_small_agent_rule_is_recorded():
    result = lgpd("2026-08-20", small_agent=True)

    assert result.rule_id == "lgpd.art19_ii.complete_declaration.small_agent"
    assert "Res. CD/ANPD 2/2022 art. 14" in result.legal_basis


# ---------------------------------------------------------------- time zones and dates


def test_received_near_midnight_utc_counts_from_the_local_date_in_sao_paulo():
    # 01:30 UTC on 08-21 is 22:30 on 08-20 in São Paulo.
    result = lgpd_request_deadline(received_at=utc("2026-08-21T01:30"), request_type=RequestType.ACCESS)

    assert result.received_date == D(2026, 8, 20)
    assert result.due_date == D(2026, 9, 4)


def test_received_near_midnight_utc_counts_from_the_local_date_in_berlin():
    # 23:30 UTC on 03-08 is 00:30 on 03-09 in Berlin.
    result = gdpr_request_deadline(received_at=utc("2026-03-08T23:30"), request_type=RequestType.ACCESS)

    assert result.received_date == D(2026, 3, 9)
    assert result.due_date == D(2026, 4, 9)


def test_the_same_instant_lands_on_different_local_dates_per_regime():
    result = dsar_deadline(
        received_at=utc("2026-03-09T01:00"), request_type=RequestType.ACCESS, regimes=[Regime.GDPR, Regime.LGPD]
    )

    assert result.for_regime(Regime.GDPR).received_date == D(2026, 3, 9)
    assert result.for_regime(Regime.LGPD).received_date == D(2026, 3, 8)


def test_leap_year_month_end():
    assert add_months(D(2028, 1, 31), 1) == D(2028, 2, 29)
    assert add_months(D(2027, 1, 31), 1) == D(2027, 2, 28)
    assert gdpr("2028-01-31").due_date == D(2028, 2, 29)


def test_due_at_is_the_end_of_the_day_in_the_legal_timezone():
    result = gdpr("2026-03-09")

    assert result.due_at == dt.datetime(2026, 4, 9, 23, 59, 59, 999999, tzinfo=ZoneInfo(BERLIN))
    assert result.due_at.utcoffset() == dt.timedelta(hours=2)


def test_gdpr_breach_clock_is_72_real_hours_across_a_dst_change():
    # Berlin switches to summer time on Sun 2026-03-29: 72 h later the wall clock shows one hour more.
    result = gdpr_breach_deadline(awareness_at=at("2026-03-28", "12:00"))

    assert result.due_at == at("2026-03-31", "13:00")
    # Same-tzinfo subtraction in Python is wall-clock, so compare in UTC.
    assert result.due_at.astimezone(dt.UTC) - at("2026-03-28", "12:00").astimezone(dt.UTC) == dt.timedelta(hours=72)


def test_gdpr_breach_hours_are_configurable():
    result = gdpr_breach_deadline(awareness_at=at("2026-04-17", "16:00"), policy=DeadlinePolicy(gdpr_breach_hours=96))

    assert result.due_at == at("2026-04-21", "16:00")


def test_gdpr_timezone_of_the_controller_is_configurable():
    policy = DeadlinePolicy(gdpr_tz="Europe/Lisbon", gdpr_calendar=eu_member_state_calendar("PT"))

    # 2026-05-10 + 1 month = Wed 06-10, Portugal Day -> Thu 06-11.
    result = gdpr("2026-05-10", policy=policy)

    assert result.legal_tz == "Europe/Lisbon"
    assert result.calendar_id == "PT"
    assert result.due_date == D(2026, 6, 11)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        pytest.param(lambda v: gdpr_request_deadline(received_at=v, request_type="access"), "received_at", id="gdpr"),
        pytest.param(lambda v: lgpd_request_deadline(received_at=v, request_type="access"), "received_at", id="lgpd"),
        pytest.param(
            lambda v: dsar_deadline(received_at=v, request_type="access", regimes=["lgpd"]), "received_at", id="dsar"
        ),
        pytest.param(lambda v: Pause(v, v, PauseReason.FEE), "Pause.started_at", id="pause"),
        pytest.param(lambda v: Extension(notified_at=v, reason="x"), "Extension.notified_at", id="extension"),
        pytest.param(lambda v: anpd_incident_deadline(obligation="anpd_notice", start_at=v), "start_at", id="anpd"),
        pytest.param(lambda v: gdpr_breach_deadline(awareness_at=v), "awareness_at", id="gdpr-breach"),
    ],
)
def test_naive_datetime_is_refused(call, name):
    naive = dt.datetime(2026, 3, 9, 10, 0)  # noqa: DTZ001 - the point of the test

    with pytest.raises(NaiveDatetimeError, match=rf"{name} must be timezone-aware"):
        call(naive)


def test_a_date_instead_of_a_datetime_is_refused():
    with pytest.raises(TypeError, match="must be a datetime"):
        gdpr_request_deadline(received_at=D(2026, 3, 9), request_type="access")


# ---------------------------------------------------------------- result object


def test_internal_target_is_the_due_date_minus_the_buffer():
    assert gdpr("2026-03-09").internal_target_date == D(2026, 4, 6)
    assert gdpr("2026-03-09", policy=DeadlinePolicy(internal_buffer_days=7)).internal_target_date == D(2026, 4, 2)


def test_internal_target_is_never_before_receipt():
    result = lgpd("2026-08-20", policy=DeadlinePolicy(internal_buffer_days=40))

    assert result.internal_target_date == D(2026, 8, 20)


def test_dual_regime_result_records_rule_calendar_inputs_and_breakdown():
    pause = Pause(at("2026-08-21"), at("2026-08-24"), PauseReason.IDENTITY_VERIFICATION)
    received_at = at("2026-08-20", tz=SAO_PAULO)

    result = dsar_deadline(
        received_at=received_at, request_type="access", regimes=["gdpr", "lgpd", "gdpr"], pauses=[pause]
    )

    assert result.governing_regime is Regime.LGPD
    assert result.due_at == dt.datetime(2026, 9, 4, 23, 59, 59, 999999, tzinfo=ZoneInfo(SAO_PAULO))
    assert result.legal_tz == SAO_PAULO
    assert result.internal_target_date == D(2026, 9, 1)
    assert result.rule_id == "lgpd.art19_ii.complete_declaration"
    assert result.rule_version == "2026.1"
    assert result.calendar_id == "BR"
    assert "holidays=" in result.calendar_version
    assert result.inputs.received_at == received_at
    assert result.inputs.regimes == (Regime.GDPR, Regime.LGPD)
    assert [breakdown.regime for breakdown in result.regimes] == [Regime.GDPR, Regime.LGPD]
    assert result.for_regime("gdpr").paused_days == 3
    assert result.for_regime("gdpr").calendar_id == "DE"
    stored = json.loads(json.dumps(result.as_dict()))
    assert stored["due_date"] == "2026-09-04"
    assert stored["inputs"]["pauses"][0]["reason"] == "identity_verification"
    assert stored["regimes"][0]["due_date"] == "2026-09-23"
    assert stored["policy"]["lgpd_roll_forward_if_holiday"] is False


def test_governing_regime_is_chosen_by_instant_not_by_date():
    # Same due date in both regimes: Berlin's end of day comes first.
    policy = DeadlinePolicy(lgpd_internal_sla_days=31)

    result = dsar_deadline(
        received_at=at("2026-03-09", tz=SAO_PAULO), request_type="deletion", regimes=["lgpd", "gdpr"], policy=policy
    )

    assert result.for_regime(Regime.LGPD).due_date == result.for_regime(Regime.GDPR).due_date == D(2026, 4, 9)
    assert result.governing_regime is Regime.GDPR


def test_no_regime_is_refused():
    with pytest.raises(DeadlineError, match="At least one regime"):
        dsar_deadline(received_at=at("2026-03-09"), request_type="access", regimes=[])


def test_unknown_request_type_is_refused():
    with pytest.raises(ValueError, match="'gossip'"):
        dsar_deadline(received_at=at("2026-03-09"), request_type="gossip", regimes=["gdpr"])


@pytest.mark.parametrize(
    "kwargs",
    [{"gdpr_tz": "Mars/Olympus"}, {"lgpd_declaration_days": 0}, {"internal_buffer_days": -1}],
    ids=["bad-timezone", "zero-days", "negative-buffer"],
)
def test_invalid_policy_is_refused(kwargs):
    with pytest.raises(DeadlineError):
        DeadlinePolicy(**kwargs)


# ---------------------------------------------------------------- incidents and calendars


def test_anpd_supplement_counts_20_business_days_from_the_notification():
    notice = anpd_incident_deadline(obligation="anpd_supplement", start_at=at("2026-04-17", tz=SAO_PAULO))
    small = anpd_incident_deadline(
        obligation="anpd_supplement", start_at=at("2026-04-17", tz=SAO_PAULO), small_agent=True
    )

    # 20 business days after Fri 04-17, skipping Tiradentes (04-21) and Labour Day (05-01).
    assert notice.due_date == D(2026, 5, 19)
    assert notice.business_days == 20
    assert small.due_date == D(2026, 6, 16)
    assert small.rule_id == "anpd.res15_2024.art6_3.supplement"


def test_anpd_subject_notice_has_its_own_rule():
    result = anpd_incident_deadline(obligation="subject_notice", start_at=at("2026-04-17", tz=SAO_PAULO))

    assert result.rule_id == "anpd.res15_2024.art9.subject_notice"
    assert result.due_date == D(2026, 4, 23)
    assert result.due_at.tzinfo == ZoneInfo(SAO_PAULO)


def test_anpd_knowledge_late_evening_utc_uses_the_sao_paulo_date():
    # 02:00 UTC on Sat 04-18 is still Fri 04-17 in São Paulo.
    result = anpd_incident_deadline(obligation="anpd_notice", start_at=utc("2026-04-18T02:00"))

    assert result.start_date == D(2026, 4, 17)
    assert result.due_date == D(2026, 4, 23)


def test_anpd_calendar_can_exclude_pontos_facultativos():
    policy = DeadlinePolicy(anpd_calendar=brazil_calendar(subdivision="DF", include_optional=True))

    result = anpd("2026-12-23", policy=policy)

    # 24 Dec (Christmas Eve) and 25 Dec are closed: Mon 28, Tue 29, Wed 30.
    assert result.due_date == D(2026, 12, 30)
    assert result.calendar_id == "BR-DF+optional"


def test_extra_closures_move_the_due_date_and_change_the_calendar_version():
    closed = brazil_calendar(extra_closures=[D(2026, 4, 22)], closures_label="anpd-2026")

    result = anpd("2026-04-17", policy=DeadlinePolicy(anpd_calendar=closed))

    assert result.due_date == D(2026, 4, 24)
    assert result.calendar_id == "BR+closures"
    assert result.calendar_version != brazil_calendar().version
    assert "closures=anpd-2026:" in result.calendar_version


def test_gdpr_breach_is_not_an_anpd_obligation():
    with pytest.raises(DeadlineError, match="gdpr_breach_deadline"):
        anpd_incident_deadline(obligation="gdpr_authority_notice", start_at=at("2026-04-17"))


@pytest.mark.parametrize(("year", "is_holiday"), [(2023, False), (2024, True), (2026, True), (2035, True)])
def test_consciencia_negra_is_a_national_holiday_from_2024(year, is_holiday):
    assert (brazil_calendar().holiday_name(D(year, 11, 20)) is not None) is is_holiday


def test_consciencia_negra_is_added_when_the_holidays_package_lacks_it(monkeypatch):
    # holidays<0.6x (allowed by pyproject) predates Lei 14.759/2023.
    monkeypatch.setattr(calendars_module.holidays, "country_holidays", lambda *args, **kwargs: {})
    uncached = calendars_module._package_holidays.__wrapped__

    assert dict(uncached("BR", None, ("public",), 2025)) == {D(2025, 11, 20): calendars_module._BR_BLACK_AWARENESS_DAY}
    assert dict(uncached("BR", None, ("public",), 2023)) == {}
    assert dict(uncached("PT", None, ("public",), 2025)) == {}


def test_christmas_eve_is_a_business_day_in_the_default_brazil_calendar():
    assert brazil_calendar().is_business_day(D(2026, 12, 24))
    assert not brazil_calendar().is_business_day(D(2026, 12, 25))


def test_subdivision_calendar_adds_regional_holidays():
    assert eu_member_state_calendar("DE").is_business_day(D(2026, 1, 6))
    assert not eu_member_state_calendar("DE", subdivision="BY").is_business_day(D(2026, 1, 6))


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: eu_member_state_calendar("BR"), id="not-eea"),
        pytest.param(lambda: HolidayCalendar(country="XX"), id="unknown-country"),
        pytest.param(lambda: eu_member_state_calendar("DE", subdivision="ZZ"), id="unknown-subdivision"),
        pytest.param(lambda: HolidayCalendar(country="DE", categories=("optional",)), id="unknown-category"),
    ],
)
def test_invalid_calendar_is_refused(build):
    with pytest.raises(CalendarError):
        build()


# ---------------------------------------------------------------- properties

GDPR_SETUPS = [
    ("Europe/Berlin", eu_member_state_calendar("DE")),
    ("Europe/Berlin", eu_member_state_calendar("DE", subdivision="BY")),
    ("Europe/Lisbon", eu_member_state_calendar("PT")),
    ("Europe/Paris", eu_member_state_calendar("FR")),
    ("Europe/Dublin", eu_member_state_calendar("IE")),
]
instants = st.datetimes(
    min_value=dt.datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive by API
    max_value=dt.datetime(2040, 12, 31),  # noqa: DTZ001
    timezones=st.sampled_from([dt.UTC, ZoneInfo(BERLIN), ZoneInfo(SAO_PAULO), ZoneInfo("Asia/Tokyo")]),
)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@PROPERTY_SETTINGS
@given(received_at=instants, setup=st.sampled_from(GDPR_SETUPS), pause_days=st.integers(0, 20))
def test_gdpr_due_is_a_working_day_never_before_the_nominal_date(received_at, setup, pause_days):
    tz, calendar = setup
    policy = DeadlinePolicy(gdpr_tz=tz, gdpr_calendar=calendar)
    pause_start = received_at + dt.timedelta(days=1)
    pauses = [Pause(pause_start, pause_start + dt.timedelta(days=pause_days), PauseReason.IDENTITY_VERIFICATION)]

    plain = gdpr_request_deadline(received_at=received_at, request_type="access", policy=policy)
    paused = gdpr_request_deadline(received_at=received_at, request_type="access", pauses=pauses, policy=policy)

    for result in (plain, paused):
        assert calendar.is_business_day(result.due_date)
        assert result.due_date >= result.nominal_due_date
        assert result.due_date >= add_months(result.received_date, 1)
    assert plain.nominal_due_date == add_months(received_at.astimezone(ZoneInfo(tz)).date(), 1)
    assert paused.due_date >= plain.due_date


@PROPERTY_SETTINGS
@given(received_at=instants, small_agent=st.booleans())
def test_lgpd_due_is_exactly_15_or_30_days_after_the_local_receipt_date(received_at, small_agent):
    result = lgpd_request_deadline(received_at=received_at, request_type="access", small_agent=small_agent)

    local = received_at.astimezone(ZoneInfo(SAO_PAULO)).date()
    assert result.due_date - local == dt.timedelta(days=30 if small_agent else 15)


@PROPERTY_SETTINGS
@given(received_at=instants)
def test_dual_regime_due_is_never_later_than_either_regime(received_at):
    result = dsar_deadline(received_at=received_at, request_type="access", regimes=["gdpr", "lgpd"])

    assert all(result.due_at <= breakdown.due_at for breakdown in result.regimes)
    assert result.internal_target_date <= result.due_date
