"""The scheduler's ``indicator_rollup`` job rolls up the days that ended, a few a transaction, and rebuilds a
day a change made dirty."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from tests.notifications.conftest import Env
from ticketing.models import IndicatorDay, IndicatorDayState, Ticket
from ticketing.rollup import GRACE


def test_the_job_rolls_up_past_days_and_a_changed_one(env: Env) -> None:
    now = datetime(2026, 3, 20, 18, tzinfo=UTC)
    with env.session_factory() as session, session.begin():
        svc = env.service(session)
        for day in (2, 3, 9):  # reports of three past days, one resolved
            svc._now = lambda day=day: datetime(2026, 3, day, 16, tzinfo=UTC)
            ticket = svc.create(category="pothole", description="bache", channel="phone", actor="staff:ana",
                                lat=25.6866, lon=-100.3161)
        svc.change_status(ticket, "resolved", actor="staff:ana")
    jobs = env.jobs(now=lambda: now, batch_size=200)
    # 2 – 19 March (in Monterrey) ended more than 10 minutes ago: 18 days added, rebuilt GRACE later (in
    # transactions of 5).
    assert jobs.run_all()["indicator_rollup"] == 0
    jobs = env.jobs(now=lambda: now + GRACE, batch_size=200)
    assert jobs.indicator_rollup() == 18
    with env.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(IndicatorDayState)) == 18
        assert session.scalar(select(func.sum(IndicatorDay.resolved))) == 1
    assert jobs.indicator_rollup() == 0
    with env.session_factory() as session, session.begin():
        ticket = session.scalars(select(Ticket).where(Ticket.is_open.is_(False))).one()
        env.service(session).reopen(ticket, actor="citizen:1")
    jobs = env.jobs(now=lambda: now + 2 * GRACE, batch_size=200)
    assert jobs.indicator_rollup() == 1  # only its creation day
    with env.session_factory() as session:
        assert not session.scalar(select(func.count()).select_from(IndicatorDay))
        assert not session.scalar(select(func.count()).where(IndicatorDayState.dirty.is_(True)))
