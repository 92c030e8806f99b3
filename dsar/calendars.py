"""Versioned holiday calendars for deadline counting (pure: no Django, no database, no clock).

A calendar is identified by ``calendar_id`` (what it covers) and ``version`` (which data produced it).
Both are stored with every computed due date, so a due date can be audited or recomputed when the
``holidays`` package or the configured closures change (LEGAL.md O-2, "always store ... recompute").
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

import holidays

# Bump when the way this module derives holidays changes (e.g. a new local patch below).
CALENDAR_RULES_VERSION = "1"

WEEKEND = frozenset({5, 6})  # Saturday, Sunday: Reg. 1182/71 art. 3(4); dias úteis are Mon-Fri.

# Reg. 1182/71 applies the public holidays of the Member State concerned; the GDPR also applies in the EEA.
EEA_COUNTRIES = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT",
        "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "IS", "LI", "NO",
    }
)  # fmt: skip

# Lei 14.759/2023 made 20 November a national holiday from 2024 on. holidays>=0.60 is allowed by
# pyproject and older releases lack it, so it is added here whatever the package version says.
_BR_BLACK_AWARENESS_DAY = "Dia Nacional de Zumbi e da Consciência Negra (Lei 14.759/2023)"
_BR_BLACK_AWARENESS_FIRST_YEAR = 2024


class CalendarError(ValueError):
    """A calendar was configured with an unknown country, subdivision or category."""


@dataclass(frozen=True)
class HolidayCalendar:
    """Weekends plus public holidays of one jurisdiction, plus configured extra closure dates."""

    country: str
    subdivision: str | None = None
    categories: tuple[str, ...] = ("public",)
    extra_closures: frozenset[dt.date] = field(default_factory=frozenset)
    # Free-form tag for the closure list (e.g. "anpd-2026-02"), so a changed list gets a readable version.
    closures_label: str | None = None

    def __post_init__(self) -> None:
        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise CalendarError(f"Unknown holiday country {self.country!r} (ISO 3166-1 alpha-2 expected)")
        probe = holidays.country_holidays(self.country)
        if self.subdivision is not None and self.subdivision not in probe.subdivisions:
            raise CalendarError(
                f"Unknown subdivision {self.subdivision!r} for {self.country}; known: {', '.join(probe.subdivisions)}"
            )
        unknown = set(self.categories) - set(probe.supported_categories)
        if unknown or not self.categories:
            raise CalendarError(
                f"Unsupported holiday categories {sorted(unknown)} for {self.country}; "
                f"supported: {', '.join(probe.supported_categories)}"
            )
        if not all(type(day) is dt.date for day in self.extra_closures):
            raise CalendarError("extra_closures must hold datetime.date values (not datetimes)")

    @property
    def calendar_id(self) -> str:
        """What the calendar covers, e.g. ``BR``, ``BR-DF+optional``, ``DE-BY+catholic``, ``PT+closures``."""
        parts = [self.country if self.subdivision is None else f"{self.country}-{self.subdivision}"]
        parts.extend(category for category in sorted(self.categories) if category != "public")
        if self.extra_closures:
            parts.append("closures")
        return "+".join(parts)

    @property
    def version(self) -> str:
        """Which data produced the holiday set: module rules, ``holidays`` release and closure list digest."""
        version = f"r{CALENDAR_RULES_VERSION};holidays={holidays.__version__}"
        if self.extra_closures:
            digest = hashlib.sha256(",".join(sorted(d.isoformat() for d in self.extra_closures)).encode())
            label = f"{self.closures_label}:" if self.closures_label else ""
            version += f";closures={label}{digest.hexdigest()[:12]}"
        return version

    def holidays_in(self, year: int) -> Mapping[dt.date, str]:
        """Holidays and extra closures of one year, date -> name."""
        named = dict(_package_holidays(self.country, self.subdivision, self.categories, year))
        for day in self.extra_closures:
            if day.year == year:
                named.setdefault(day, "Configured closure")
        return MappingProxyType(named)

    def holiday_name(self, day: dt.date) -> str | None:
        """Name of the holiday or closure on ``day``, or None for an ordinary day."""
        return self.holidays_in(day.year).get(day)

    def is_business_day(self, day: dt.date) -> bool:
        """Mon-Fri and neither a public holiday nor a configured closure."""
        return day.weekday() not in WEEKEND and self.holiday_name(day) is None

    def roll_forward(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a business day, else the next one (Reg. 1182/71 art. 3(4); CC art. 132 §1)."""
        while not self.is_business_day(day):
            day += dt.timedelta(days=1)
        return day

    def add_business_days(self, start: dt.date, count: int) -> dt.date:
        """The ``count``-th business day after ``start`` (the start day itself is never counted)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        day = start
        for _ in range(count):
            day = self.roll_forward(day + dt.timedelta(days=1))
        return day

    def as_dict(self) -> dict[str, object]:
        """JSON-ready description, stored next to the due dates computed with it."""
        return {
            "calendar_id": self.calendar_id,
            "version": self.version,
            "country": self.country,
            "subdivision": self.subdivision,
            "categories": sorted(self.categories),
            "extra_closures": sorted(d.isoformat() for d in self.extra_closures),
        }


@lru_cache(maxsize=1024)
def _package_holidays(
    country: str, subdivision: str | None, categories: tuple[str, ...], year: int
) -> tuple[tuple[dt.date, str], ...]:
    named = dict(holidays.country_holidays(country, subdiv=subdivision, years=year, categories=categories).items())
    if country == "BR" and year >= _BR_BLACK_AWARENESS_FIRST_YEAR:
        named.setdefault(dt.date(year, 11, 20), _BR_BLACK_AWARENESS_DAY)
    return tuple(sorted(named.items()))


def brazil_calendar(
    *,
    subdivision: str | None = None,
    include_optional: bool = False,
    extra_closures: Iterable[dt.date] = (),
    closures_label: str | None = None,
) -> HolidayCalendar:
    """Brazilian national holidays (*dias úteis* for ANPD clocks and CC art. 132 §1 roll-forward).

    Defaults to national holidays only, so *pontos facultativos* (Carnival, Corpus Christi, 24/31 Dec) and
    DF-only holidays count as business days: the conservative reading of LEGAL.md U-11. Pass
    ``subdivision="DF"`` and/or ``include_optional=True`` to follow the ANPD's own closures instead.
    """
    return HolidayCalendar(
        country="BR",
        subdivision=subdivision,
        categories=("optional", "public") if include_optional else ("public",),
        extra_closures=frozenset(extra_closures),
        closures_label=closures_label,
    )


def eu_member_state_calendar(
    country: str,
    *,
    subdivision: str | None = None,
    categories: Iterable[str] = ("public",),
    extra_closures: Iterable[dt.date] = (),
    closures_label: str | None = None,
) -> HolidayCalendar:
    """Public holidays of the controller's Member State, used by Reg. 1182/71 art. 3(4) roll-forward."""
    if country not in EEA_COUNTRIES:
        raise CalendarError(f"{country!r} is not an EU/EEA Member State (GDPR Art. 12(3) uses its calendar)")
    return HolidayCalendar(
        country=country,
        subdivision=subdivision,
        categories=tuple(sorted(categories)),
        extra_closures=frozenset(extra_closures),
        closures_label=closures_label,
    )
