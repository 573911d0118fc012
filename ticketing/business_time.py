"""Business time: when a ticket is due, in the municipality's time zone and working calendar.

Rules (documented in docs/ticketing.md):

- A business day is one of ``business_hours.weekdays`` that is not a Mexican statutory holiday
  (``holidays`` package, country MX: 1 Jan, first Monday of Feb, third Monday of Mar, 1 May, 16 Sep,
  1 Oct of a change of federal government, third Monday of Nov, 25 Dec), nor a municipal day off
  from the catalog (``annual_holidays``, ``extra_holidays``).
- Business hours run from ``opens`` to ``closes`` (default 09:00–17:00) local time on business days.
- ``sla_business_days: N`` is N × (closes − opens) of business hours counted from the report:
  reported Monday 10:00 with 3 days → Thursday 10:00; reported after closing, on a weekend or a
  holiday, the clock starts at the next opening (Friday 18:00 with 1 day → Monday 17:00).
- ``sla_hours: N`` on an ``urgent`` category is N calendar hours, 24/7; on other categories it is
  N business hours.

All inputs and outputs are aware datetimes; results are returned in UTC (what the database stores).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from ticketing.catalog import BusinessHours, Category


@lru_cache(maxsize=64)
def _mexican_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("MX", years=year).keys())


class BusinessCalendar:
    """The working calendar of one municipality: business days, business hours and SLA due dates."""

    def __init__(self, hours: BusinessHours, timezone: str = "America/Monterrey"):
        self.hours = hours
        self.tz = ZoneInfo(timezone)
        self._weekdays = hours.weekday_numbers
        self._annual = frozenset(hours.annual_holidays)
        self._extra = frozenset(hours.extra_holidays)
        opens = datetime.combine(date(2000, 1, 1), hours.opens)
        closes = datetime.combine(date(2000, 1, 1), hours.closes)
        self.day_length = closes - opens

    def is_holiday(self, day: date) -> bool:
        if self.hours.federal_holidays and day in _mexican_holidays(day.year):
            return True
        return day in self._extra or day.strftime("%m-%d") in self._annual

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self._weekdays and not self.is_holiday(day)

    def _opening(self, day: date) -> datetime:
        return datetime.combine(day, self.hours.opens, tzinfo=self.tz)

    def _closing(self, day: date) -> datetime:
        return datetime.combine(day, self.hours.closes, tzinfo=self.tz)

    def next_business_day(self, day: date) -> date:
        day += timedelta(days=1)
        for _ in range(366):
            if self.is_business_day(day):
                return day
            day += timedelta(days=1)
        raise ValueError("no business day within a year: check business_hours in the catalog")

    def add_business_time(self, start: datetime, amount: timedelta) -> datetime:
        """``start`` plus ``amount`` of business time (only time inside business hours counts), in UTC."""
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        cursor = start.astimezone(self.tz)
        remaining = amount
        day = cursor.date()
        if not self.is_business_day(day) or cursor >= self._closing(day):
            day = self.next_business_day(day)
            cursor = self._opening(day)
        elif cursor < self._opening(day):
            cursor = self._opening(day)
        while True:
            # business hours contain no DST change, so wall-clock subtraction is exact here
            available = self._closing(day) - cursor
            if remaining <= available:
                return (cursor + remaining).astimezone(UTC)
            remaining -= available
            day = self.next_business_day(day)
            cursor = self._opening(day)

    def due_at(self, category: Category, created_at: datetime) -> datetime:
        """The service commitment's deadline for a report of ``category`` made at ``created_at`` (UTC)."""
        if category.sla_hours is not None:
            if category.urgent:
                return (created_at + timedelta(hours=category.sla_hours)).astimezone(UTC)
            return self.add_business_time(created_at, timedelta(hours=category.sla_hours))
        assert category.sla_business_days is not None
        return self.add_business_time(created_at, self.day_length * category.sla_business_days)

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the municipality's time zone (for display: ISO 8601 with its offset)."""
        return moment.astimezone(self.tz)
