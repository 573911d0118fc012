"""Due dates in business time: weekends, Mexican holidays, time of day, urgent calendar hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from ticketing.business_time import BusinessCalendar
from ticketing.catalog import BusinessHours, Category
from ticketing.models import TicketEvent

MTY = ZoneInfo("America/Monterrey")


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=MTY)


@pytest.fixture
def cal(catalog) -> BusinessCalendar:
    return BusinessCalendar(catalog.business_hours, "America/Monterrey")


def days(cal: BusinessCalendar, start: datetime, n: int) -> datetime:
    return cal.add_business_time(start, cal.day_length * n).astimezone(MTY)


def test_mexican_statutory_holidays(cal) -> None:
    for d in (date(2025, 9, 16), date(2025, 12, 25), date(2026, 1, 1), date(2026, 2, 2), date(2026, 3, 16),
              date(2026, 5, 1), date(2026, 11, 16)):
        assert cal.is_holiday(d), d
        assert not cal.is_business_day(d)
    assert cal.is_business_day(date(2025, 9, 15))
    assert not cal.is_business_day(date(2025, 9, 13))  # Saturday


def test_within_a_week(cal) -> None:
    # Monday 10:00 + 3 business days -> Thursday 10:00, stored in UTC (Monterrey is UTC-6)
    due = cal.add_business_time(local(2025, 9, 1, 10), cal.day_length * 3)
    assert due.tzinfo == UTC
    assert due == datetime(2025, 9, 4, 16, 0, tzinfo=UTC)


def test_across_a_weekend_and_16_september(cal) -> None:
    # Friday 12 Sep 10:00 + 2 days: Mon 15 counts, Tue 16 (Independence Day) does not -> Wed 17 10:00
    assert days(cal, local(2025, 9, 12, 10), 2) == local(2025, 9, 17, 10)
    assert days(cal, local(2025, 9, 12, 10), 1) == local(2025, 9, 15, 10)


def test_across_christmas(cal) -> None:
    # Wed 24 Dec 12:00 + 1 day: Thu 25 Dec is a holiday -> Fri 26 Dec 12:00
    assert days(cal, local(2025, 12, 24, 12), 1) == local(2025, 12, 26, 12)
    # and 2 days from Christmas Eve: Fri 26, weekend, Mon 29 12:00
    assert days(cal, local(2025, 12, 24, 12), 2) == local(2025, 12, 29, 12)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (local(2025, 9, 1, 7, 0), local(2025, 9, 1, 17, 0)),  # before opening: the day starts at 09:00
        (local(2025, 9, 1, 9, 0), local(2025, 9, 1, 17, 0)),
        (local(2025, 9, 1, 16, 59), local(2025, 9, 2, 16, 59)),
        (local(2025, 9, 1, 17, 0), local(2025, 9, 2, 17, 0)),  # at closing: starts next morning
        (local(2025, 9, 1, 23, 30), local(2025, 9, 2, 17, 0)),  # at night: same
        (local(2025, 9, 5, 18, 0), local(2025, 9, 8, 17, 0)),  # Friday evening -> Monday
        (local(2025, 9, 6, 11, 0), local(2025, 9, 8, 17, 0)),  # Saturday -> Monday
        (local(2025, 9, 15, 20, 0), local(2025, 9, 17, 17, 0)),  # evening before 16 Sep -> Wednesday
    ],
)
def test_time_of_day(cal, start: datetime, expected: datetime) -> None:
    assert days(cal, start, 1) == expected


def test_urgent_categories_count_calendar_hours(cal, catalog) -> None:
    leak = catalog.category("water_leak")  # urgent, 24 hours
    saturday_night = local(2025, 9, 13, 22)
    assert cal.due_at(leak, saturday_night) == (saturday_night + timedelta(hours=24)).astimezone(UTC)
    signal = catalog.category("traffic_signal")  # urgent, 4 hours, even on 16 September at night
    assert cal.due_at(signal, local(2025, 9, 16, 23)) == local(2025, 9, 17, 3).astimezone(UTC)


def test_non_urgent_hours_count_business_hours(cal) -> None:
    cat = Category(code="x", name="X", description="X", department="d", sla_hours=4, photo="never",
                   duplicate_radius_m=10)
    # Friday 15:00 + 4 business hours: 2 on Friday, 2 on Monday -> Monday 11:00
    assert cal.due_at(cat, local(2025, 9, 12, 15)).astimezone(MTY) == local(2025, 9, 15, 11)


def test_municipal_days_off_and_custom_hours() -> None:
    hours = BusinessHours(weekdays=("mon", "tue", "wed", "thu", "fri", "sat"), opens=time(8), closes=time(14),
                          annual_holidays=("11-02",), extra_holidays=(date(2026, 12, 24),))
    cal = BusinessCalendar(hours, "America/Monterrey")
    assert cal.day_length == timedelta(hours=6)
    # Saturday is a working day here: Fri 30 Oct 2026 13:00 + 1 day -> Sat 31 Oct 13:00
    assert days(cal, local(2026, 10, 30, 13), 1) == local(2026, 10, 31, 13)
    # Sat 31 Oct 13:00 + 1 day: Sunday off, Monday 2 Nov (Día de Muertos) off -> Tue 3 Nov 13:00
    assert days(cal, local(2026, 10, 31, 13), 1) == local(2026, 11, 3, 13)
    assert days(cal, local(2026, 12, 23, 10), 1) == local(2026, 12, 26, 10)  # 24 and 25 Dec off
    no_federal = BusinessCalendar(BusinessHours(federal_holidays=False), "America/Monterrey")
    assert no_federal.is_business_day(date(2025, 9, 16))


@time_machine.travel(datetime(2025, 9, 15, 16, 30, tzinfo=MTY), tick=False)
def test_service_create_due_date_with_real_clock(service) -> None:
    # Monday 15 Sep 16:30, pothole = 10 business days: 30 min on Monday, Tuesday 16 Sep is a holiday,
    # then 9 full days (Wed 17 ... Mon 29) and 7.5 h -> Tuesday 30 Sep 16:30 local
    ticket = service.create(category="pothole", description="bache", channel="phone", actor="cli",
                            address="Av. Juárez 100")
    assert ticket.created_at == datetime(2025, 9, 15, 22, 30, tzinfo=UTC)
    assert ticket.due_at == local(2025, 9, 30, 16, 30)
    service.session.commit()
    service.session.expire_all()
    assert ticket.due_at.utcoffset() == timedelta(0)  # read back from the database as UTC
    assert ticket.due_at.astimezone(MTY).isoformat() == "2025-09-30T16:30:00-06:00"
    event = service.session.query(TicketEvent).filter_by(ticket_id=ticket.id).one()
    assert event.data["due_at"] == "2025-09-30T22:30:00+00:00"
