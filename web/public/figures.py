"""How the public site and the dashboards write an indicator: percentages, business-hour durations, dates,
status names, and "pocos datos todavía" below ``ticketing.indicators.MIN_CASES``. Formatting only: every figure
comes from ``ticketing.indicators``."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from ticketing.indicators import Durations, Rate

FEW = "pocos datos todavía"
MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
          "noviembre", "diciembre")

#: What a citizen reads for each status (the folio lookup, the map).
STATUS_NAMES = {
    "received": "Recibido",
    "assigned": "Asignado a la dependencia",
    "in_progress": "En proceso",
    "resolved": "Resuelto",
    "not_resolved": "Cerrado sin resolver",
    "closed": "Cerrado",
}
STATUS_EXPLANATIONS = {
    "received": "Recibimos el reporte y lo estamos enviando a la dependencia que le corresponde.",
    "assigned": "La dependencia responsable ya tiene el reporte y lo va a atender.",
    "in_progress": "La dependencia está trabajando en el reporte.",
    "resolved": "La dependencia informó que el problema quedó atendido.",
    "not_resolved": "El reporte se cerró sin arreglar el problema. Abajo está el motivo.",
    "closed": "El reporte está cerrado.",
}
CHANNEL_NAMES = {"whatsapp": "WhatsApp", "telegram": "Telegram", "sms": "SMS", "simulator": "Simulador",
                 "phone": "Teléfono", "walk_in": "En persona", "web": "Web"}


def number(value: float | None, decimals: int = 1) -> str:
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.removesuffix(".0") if decimals == 1 else text


def percent(rate: Rate, *, always: bool = False) -> str:
    """``"72 %"``, or "pocos datos todavía" below the minimum (``always``: internal tables show small n too)."""
    if rate.value is None:
        return "sin casos"
    if not rate.enough and not always:
        return FEW
    return f"{rate.value * 100:.0f} %"


def hours(value: float | None, day_hours: float = 8.0) -> str:
    """Business time in words: under a working day in hours, otherwise in working days."""
    if value is None:
        return "—"
    if value < day_hours:
        return f"{number(value)} h hábiles"
    days = value / day_hours
    return f"{number(days)} {'día hábil' if round(days, 1) == 1 else 'días hábiles'}"


def duration(durations: Durations, which: str = "median", *, day_hours: float = 8.0, always: bool = False) -> str:
    if not durations.n:
        return "sin casos"
    if not durations.enough and not always:
        return FEW
    return hours(durations.median if which == "median" else durations.p90, day_hours)


def minutes(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 90:
        return f"{number(value, 0) if value >= 10 else number(value)} min"
    return f"{number(value / 60)} h"


def local_date(moment: datetime | None, tz: str) -> str:
    """``"9 de marzo de 2026"`` in the municipality's time zone."""
    if moment is None:
        return "—"
    m = moment.astimezone(ZoneInfo(tz))
    return f"{m.day} de {MONTHS[m.month - 1]} de {m.year}"


def date_text(day: date) -> str:
    """``"9 de marzo de 2026"`` for a calendar date."""
    return f"{day.day} de {MONTHS[day.month - 1]} de {day.year}"


def local_datetime(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "—"
    m = moment.astimezone(ZoneInfo(tz))
    return f"{local_date(m, tz)}, {m:%H:%M}"
