"""When a person answers a conversation handed to staff: the catalog's ``staff_hours`` (default: its business
hours, holidays included), said in plain Spanish ("lunes a viernes de 9 a 17 h") with the next opening
("mañana a las 9:00") so a citizen who writes at 1 a.m. is told honestly when someone will read them.
"""

from __future__ import annotations

from datetime import datetime, time

from dialogue.formatting import WEEKDAYS, date_text
from ticketing.business_time import BusinessCalendar
from ticketing.catalog import WEEKDAYS as WEEKDAY_CODES
from ticketing.catalog import Catalog


def _clock(value: time) -> str:
    return f"{value.hour}" if value.minute == 0 else f"{value.hour}:{value.minute:02d}"


class StaffHours:
    def __init__(self, catalog: Catalog, timezone: str) -> None:
        self.hours = catalog.staff_service_hours
        self.calendar = BusinessCalendar(self.hours, timezone)
        self.timezone = timezone

    def is_open(self, now: datetime) -> bool:
        local = self.calendar.local(now)
        return (self.calendar.is_business_day(local.date())
                and self.hours.opens <= local.time() < self.hours.closes)

    def next_opening(self, now: datetime) -> datetime:
        """The next moment a person is at work (``now`` itself when open)."""
        if self.is_open(now):
            return now
        local = self.calendar.local(now)
        day = local.date()
        if not (self.calendar.is_business_day(day) and local.time() < self.hours.opens):
            day = self.calendar.next_business_day(day)
        return datetime.combine(day, self.hours.opens, tzinfo=self.calendar.tz)

    def next_opening_text(self, now: datetime) -> str:
        """ "mañana a las 9:00", "el lunes 7 de diciembre a las 9:00"."""
        opening = self.next_opening(now)
        day = date_text(opening, self.timezone, now=now)
        prefix = "" if day in ("hoy", "mañana") else "el "
        return f"{prefix}{day} a las {opening.astimezone(self.calendar.tz):%H:%M}".replace(" a las 0", " a las ")

    def hours_text(self) -> str:
        """ "lunes a viernes de 9 a 17 h" (a run of days), or the days listed."""
        days = sorted(WEEKDAY_CODES.index(d) for d in self.hours.weekdays)
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
            which = f"{WEEKDAYS[days[0]]} a {WEEKDAYS[days[-1]]}"
        else:
            names = [WEEKDAYS[d] for d in days]
            which = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " y " + names[-1]
        return f"{which} de {_clock(self.hours.opens)} a {_clock(self.hours.closes)} h"
