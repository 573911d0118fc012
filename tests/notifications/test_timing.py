"""Dates as a citizen reads them in proactive messages (``notifications.timing.spanish_date``): the weekday and
month names are the conversation's (``dialogue.formatting``), so a status update and a reply say a day alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialogue.formatting import date_text
from notifications.timing import spanish_date

TZ = "America/Mexico_City"


def test_spanish_date_in_the_municipalitys_time_zone() -> None:
    assert spanish_date(datetime(2026, 3, 12, 16, 30, tzinfo=UTC), TZ) == "jueves 12 de marzo"
    # the exact minute (not rounded like the conversation's promises), and the local day
    assert spanish_date(datetime(2026, 3, 12, 16, 29, tzinfo=UTC), TZ, with_time=True) == \
        "jueves 12 de marzo a las 10:29"
    assert spanish_date(datetime(2026, 12, 1, 5, 0, tzinfo=UTC), TZ) == "lunes 30 de noviembre"


def test_every_day_of_a_year_reads_as_in_the_conversation() -> None:
    start = datetime(2026, 1, 1, 18, 0, tzinfo=UTC)
    for n in range(365):
        moment = start + timedelta(days=n)
        assert spanish_date(moment, TZ) == date_text(moment, TZ), moment
