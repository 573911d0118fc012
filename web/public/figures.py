"""How the public site and the dashboards write an indicator: percentages, business-hour durations, dates,
status names, and "pocos datos todavía" below ``ticketing.indicators.MIN_CASES``. Formatting only: every figure
comes from ``ticketing.indicators``; every word comes from ``public/labels.j2`` (``Figures`` reads it through the
app's ``Pages``, so a municipality's own copy of the template changes the wording)."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from ticketing.indicators import Durations, Rate
from web.templating import Pages

#: The words of the figures (macros ``status``, ``status_explanation``, ``channel``, ``missing``, ``date``...).
LABELS = "public/labels.j2"


def number(value: float | None, decimals: int = 1) -> str:
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.removesuffix(".0") if decimals == 1 else text


def minutes(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 90:
        return f"{number(value, 0) if value >= 10 else number(value)} min"
    return f"{number(value / 60)} h"


class Figures:
    """Writes figures, dates and codes with the wording of ``LABELS`` in ``pages``."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def text(self, macro: str, *args: object, **kwargs: object) -> str:
        return self.pages.macro_text(LABELS, macro, *args, **kwargs)

    @property
    def few(self) -> str:
        """In place of a figure on fewer than ``MIN_CASES`` reports ("pocos datos todavía")."""
        return self.text("missing", "few")

    def status(self, code: str) -> str:
        return self.text("status", code)

    def status_explanation(self, code: str) -> str:
        return self.text("status_explanation", code)

    def channel(self, code: str) -> str:
        return self.text("channel", code)

    def percent(self, rate: Rate, *, always: bool = False) -> str:
        """``"72 %"``, or "pocos datos todavía" below the minimum (``always``: internal tables show small n too)."""
        if rate.value is None:
            return self.text("missing", "no_cases")
        if not rate.enough and not always:
            return self.few
        return f"{rate.value * 100:.0f} %"

    def hours(self, value: float | None, day_hours: float = 8.0) -> str:
        """Business time in words: under a working day in hours, otherwise in working days."""
        if value is None:
            return "—"
        if value < day_hours:
            return self.text("business_time", number(value))
        days = value / day_hours
        return self.text("business_time", number(days), days=True, one=round(days, 1) == 1)

    def duration(self, durations: Durations, which: str = "median", *, day_hours: float = 8.0,
                 always: bool = False) -> str:
        if not durations.n:
            return self.text("missing", "no_cases")
        if not durations.enough and not always:
            return self.few
        return self.hours(durations.median if which == "median" else durations.p90, day_hours)

    def date_text(self, day: date) -> str:
        """``"9 de marzo de 2026"`` for a calendar date."""
        return self.text("date", day.day, day.month, day.year)

    def local_date(self, moment: datetime | None, tz: str) -> str:
        """``"9 de marzo de 2026"`` in the municipality's time zone."""
        if moment is None:
            return "—"
        return self.date_text(moment.astimezone(ZoneInfo(tz)))

    def short_date(self, moment: datetime, tz: str) -> str:
        """``"9 mar"`` in the municipality's time zone (a chart's axis)."""
        m = moment.astimezone(ZoneInfo(tz))
        return self.text("short_date", m.day, m.month)

    def local_datetime(self, moment: datetime | None, tz: str) -> str:
        if moment is None:
            return "—"
        m = moment.astimezone(ZoneInfo(tz))
        return self.text("date_time", self.date_text(m), f"{m:%H:%M}")


@lru_cache(maxsize=1)
def default() -> Figures:
    """Figures with the default templates (no municipality's own), for tools and tests."""
    return Figures(Pages())


def local_datetime(moment: datetime | None, tz: str) -> str:
    """``Figures.local_datetime`` with the default templates."""
    return default().local_datetime(moment, tz)
