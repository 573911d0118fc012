"""The daily rollup (``ticketing.rollup``) gives the same figures as the live formulas on the hand-built
history of ``test_indicators``, before and after a change to an old day, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.ticketing.conftest import Clock
from tests.ticketing.test_indicators import NOW, WEEK, history, local  # noqa: F401  (the fixture)
from ticketing.indicators import Durations, Indicators, Rate, quantise_tenths
from ticketing.models import IndicatorDay, IndicatorDayHours, IndicatorDayState, Ticket
from ticketing.rollup import GRACE, refresh


def same(rolled, live) -> None:
    assert rolled.groups == live.groups
    assert rolled.reasons == live.reasons
    assert rolled.durations == live.durations


def dirty(session, day) -> bool:
    return session.scalar(select(IndicatorDayState.dirty).where(IndicatorDayState.day == day))


def periods():
    # the week (whole local days), a period with partial days at both ends, the public page's last 30 days
    return [WEEK, (local(1, 13), local(9, 15)), (NOW - timedelta(days=30), NOW)]


def check(session, catalog) -> None:
    rolled = Indicators(session, catalog, now=lambda: NOW)
    live = Indicators(session, catalog, now=lambda: NOW, rollup=False)
    for start, end in periods():
        for dept in (None, rolled.department_id("servicios_publicos")):
            same(rolled.report(start, end, department_id=dept), live.report(start, end, department_id=dept))


def test_rollup_equals_the_live_formulas_including_a_change_to_an_old_day(history, session, catalog,  # noqa: F811
                                                                          make_service) -> None:
    # Every day from Mon 2 (the first report) to Wed 11 has ended more than 10 minutes before "now" (Thu 12 12:00):
    # the first run adds their state rows, a run GRACE later (no transaction older than the rows) rebuilds them.
    assert refresh(session, catalog, timezone="America/Monterrey", now=NOW) == 0
    assert refresh(session, catalog, timezone="America/Monterrey", now=NOW + GRACE) == 10
    session.flush()
    states = session.scalars(select(IndicatorDayState).order_by(IndicatorDayState.day)).all()
    assert [s.day.day for s in states] == list(range(2, 12)) and not any(s.dirty for s in states)
    # Mon 2 holds the settled reports A, B, D, F, G (C, E, H are open: always read live).
    assert session.scalar(select(func.sum(IndicatorDay.reports))) == 5
    # ... and the durations of the resolved ones, quantised: G 5, D 16, A 26, B 49 business hours.
    assert sorted(session.scalars(select(IndicatorDayHours.tenths))) == [50, 160, 260, 490]
    check(session, catalog)
    week = Indicators(session, catalog, now=lambda: NOW).report(*WEEK)
    assert week.total().reopen_rate == Rate(2, 4) and week.time_to_resolve().median == pytest.approx(21)

    # A change to an old day: G (reported and resolved Mon 2) is reopened now by the citizen.
    svc = make_service(now=Clock(NOW))
    g = session.scalars(select(Ticket).where(Ticket.description == "reporte G")).one()
    svc.reopen(g, actor="citizen:4")
    session.flush()
    assert dirty(session, states[0].day)  # marked in the same transaction
    check(session, catalog)
    week = Indicators(session, catalog, now=lambda: NOW).report(*WEEK)
    # G is a false positive now (3 of the 4 ever resolved) and open again: resolved are A, B, D; open C, E, G, H,
    # of which E and G are past their due date (Mon 9); G's 5 hours leave the durations.
    total = week.total()
    assert total.reopen_rate == Rate(3, 4) and total.resolved == 3 and total.open == 4
    assert total.open_overdue == 2 and total.on_time_rate == Rate(2, 5)
    assert week.time_to_resolve().hours == [16, 26, 49]

    # The next refresh rebuilds only that day; the figures stay the same.
    assert refresh(session, catalog, timezone="America/Monterrey", now=NOW + 2 * GRACE) == 1
    session.flush()
    assert not dirty(session, states[0].day)
    assert session.scalar(select(func.sum(IndicatorDay.reports))) == 4  # G is open again: read live
    check(session, catalog)

    # Resolved again on Thu 12 10:00 (late for the original due Mon 9): the rollup follows after a refresh.
    svc = make_service(now=Clock(NOW - timedelta(hours=2)))
    svc.change_status(g, "resolved", actor="staff:ana")
    session.flush()
    check(session, catalog)
    assert refresh(session, catalog, timezone="America/Monterrey", now=NOW + 3 * GRACE) == 1
    session.flush()
    check(session, catalog)
    total = Indicators(session, catalog, now=lambda: NOW).report(*WEEK).total()
    assert total.on_time_rate == Rate(2, 5)  # A, D on time; B and now G late; E open past due
    assert Indicators(session, catalog, now=lambda: NOW).report(*WEEK).time_to_resolve().n == 4


def test_quantised_percentiles() -> None:
    assert [quantise_tenths(h) for h in (0, 0.04, 0.06, 9.94, 9.96, 12.4, 99.4, 99.6, 104, 106)] == [
        0, 0, 1, 99, 100, 120, 990, 1000, 1000, 1100]
    d = Durations()
    d.add_hours([1.01, 2.0, 3.04, 50.2])
    other = Durations()
    other.add_tenths(20, 2)
    d.extend(other)
    # values 1.0, 2.0, 2.0, 2.0, 3.0, 50: median (2 + 2) / 2, p90 nearest rank ceil(5.4) = 6th = 50
    assert d.n == 6 and d.median == pytest.approx(2.0) and d.p90 == pytest.approx(50)
    assert Durations().median is None and Durations().p90 is None


def test_a_change_during_a_refresh_is_never_lost_with_several_processes(pg_url, catalog) -> None:
    """PostgreSQL, three connections: a change that marked its day first makes the refresh skip that day; a
    refresh that claimed the day first makes the change wait and leave the day dirty again."""
    import threading

    from ticketing.catalog import sync_departments
    from ticketing.db import make_engine, make_session_factory
    from ticketing.service import TicketService

    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    tz = "America/Monterrey"
    try:
        with factory() as s, s.begin():
            sync_departments(s, catalog)
            svc = TicketService(s, catalog, now=Clock(local(2, 10)))
            ids = [svc.create(category="streetlight", description=f"r{i}", lat=25.67, lon=-100.31,
                              channel="phone", actor="staff:ana").id for i in range(2)]
            svc.change_status(s.get(Ticket, ids[0]), "resolved", actor="staff:ana")
        with factory() as s, s.begin():
            assert refresh(s, catalog, timezone=tz, now=NOW) == 0
        with factory() as s, s.begin():
            assert refresh(s, catalog, timezone=tz, now=NOW + GRACE) == 10
        later = NOW + 2 * GRACE

        def figures():
            with factory() as s, s.begin():
                rolled = Indicators(s, catalog, now=lambda: NOW).report(*WEEK)
                live = Indicators(s, catalog, now=lambda: NOW, rollup=False).report(*WEEK)
                same(rolled, live)
                return rolled.total()

        # 1. The change marks Mon 2 first (and holds its row): another process's refresh skips the day.
        a = factory()
        a.begin()
        TicketService(a, catalog, now=Clock(NOW)).reopen(a.get(Ticket, ids[0]), actor="citizen:1")
        a.flush()
        with factory() as b, b.begin():
            assert refresh(b, catalog, timezone=tz, now=later) == 0
        a.commit()
        a.close()
        assert figures().reopened_after_resolution == 1
        with factory() as b, b.begin():
            assert refresh(b, catalog, timezone=tz, now=later) == 1
        assert figures().reopened_after_resolution == 1

        # 2. A refresh claims Mon 2 first; a change of one of its reports commits only after it, dirty again.
        with factory() as s, s.begin():
            svc = TicketService(s, catalog, now=Clock(NOW))
            svc.change_status(s.get(Ticket, ids[0]), "resolved", actor="staff:ana")
        b = factory()
        b.begin()
        assert refresh(b, catalog, timezone=tz, now=later + GRACE) == 1  # holds Mon 2 until it commits

        def change() -> None:
            with factory() as s, s.begin():
                TicketService(s, catalog, now=Clock(NOW)).change_status(
                    s.get(Ticket, ids[1]), "not_resolved", reason="needs_budget", actor="staff:ana")

        worker = threading.Thread(target=change)
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive()  # waiting for the refresh's row lock on Mon 2
        b.commit()
        b.close()
        worker.join(timeout=10)
        assert not worker.is_alive()
        with factory() as s:
            assert dirty(s, local(2, 10).astimezone(Indicators(s, catalog).calendar.tz).date())
        total = figures()
        assert total.not_completed == 1 and total.resolved == 1
    finally:
        engine.dispose()
