"""Plain es-MX wording of values the templates show: dates (weekday and month names) and distances.

Words that depend on the situation (statuses, "the pin you sent") are labels in ``labels.j2``."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
          "noviembre", "diciembre")



def local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone))


def date_text(moment: datetime | None, timezone: str, *, with_time: bool = False, now: datetime | None = None) -> str:
    """``jueves 27 de noviembre`` (``hoy``/``mañana`` when close), optionally ``a las 15:30``."""
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
    if with_time:
        day += f" a las {when:%H:%M}"
    return day


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
