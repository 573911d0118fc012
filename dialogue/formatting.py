"""Plain es-MX wording of values the templates show: dates (weekday and month names) and distances.

Words that depend on the situation (statuses, "the pin you sent") are labels in ``labels.j2``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
          "noviembre", "diciembre")



def local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone))


def date_text(moment: datetime | None, timezone: str, *, with_time: bool = False, now: datetime | None = None) -> str:
    """``jueves 27 de noviembre`` (``hoy``/``mañana`` when close). With ``with_time``, the hour is said only for a
    moment later today, rounded up to the half hour as a person would say it (``hoy a las 15:30``): "mañana a las
    01:29" reads oddly, "mañana" does not."""
    if moment is None:
        return "sin fecha"
    when = local(moment, timezone)
    day = f"{WEEKDAYS[when.weekday()]} {when.day} de {MONTHS[when.month - 1]}"
    if now is not None:
        today = local(now, timezone).date()
        delta = (when.date() - today).days
        if delta == 0:
            day = "hoy"
        elif delta == 1:
            day = "mañana"
        if when.year != local(now, timezone).year:
            day += f" de {when.year}"
    if with_time and (now is None or day == "hoy"):
        day += f" a las {_rounded(when):%H:%M}"
    return day


def long_date(moment: datetime, timezone: str) -> str:
    """``1 de diciembre de 2026``."""
    when = local(moment, timezone)
    return f"{when.day} de {MONTHS[when.month - 1]} de {when.year}"


def _rounded(when: datetime) -> datetime:
    """Up to the next half hour (a deadline said earlier than it is would be a broken promise)."""
    if when.minute % 30 == 0 and when.second == 0 and when.microsecond == 0:
        return when
    extra = 30 - when.minute % 30
    return (when + timedelta(minutes=extra)).replace(second=0, microsecond=0)


def distance_text(metres: float) -> str:
    if metres < 1000:
        return f"{max(1, round(metres / 5) * 5)} m"
    return f"{metres / 1000:.1f} km".replace(".", ",")


def shorten(text: str | None, limit: int) -> str:
    """At most ``limit`` characters, cut at a word with an ellipsis."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 3].rsplit(" ", 1)[0]
    return (cut or text[: limit - 3]) + "..."
