"""The indicators' daily rollup: additive per-day figures of the settled reports, kept exact.

Tables (migration 0007): ``indicator_day_state`` (one row per local day: its bounds in UTC and ``dirty``),
``indicator_days`` (per day × department × category × channel × outcome: the ``ROLLUP_COLUMNS`` of
``ticketing.indicators``, summed over the day's *settled* — not open — reports) and ``indicator_day_hours`` (per
day × department × category: how many settled reports took each quantised business-hour duration).
``ticketing.indicators.Indicators`` reads a whole past day from here when its state is clean, and everything
else live from ``tickets`` (open reports, partial days, days not rolled up yet, dirty days), in one statement.

Exactness rests on one invariant: *a clean day's rows equal the live aggregate of that day's settled reports*.

- **Marking** (``_mark_dirty_days``, a ``before_flush`` listener on every ORM session, so the ticket service,
  the jobs, the console and the privacy code alike): any change to a ticket, and any new ticket event, marks the
  day the ticket was *created* (its cohort day) dirty, in the same transaction, with an unconditional ``UPDATE``
  of that day's state row (a no-op for today, which has no row yet). Set-based ``UPDATE tickets`` statements
  bypass it; none touches an indicator column today (the one in ``notifications.cli`` moves ``survey_due_at``).
- **Refreshing** (``refresh``, the scheduler's ``indicator_rollup`` job, or ``rebuild_all``): claims dirty days
  with ``SELECT … FOR UPDATE SKIP LOCKED`` (PostgreSQL), then recomputes each from ``tickets`` with the same
  aggregate as the live path (``cohort_select``) and marks it clean. A ticket change that commits before the
  claim is seen by the recomputation (READ COMMITTED: each statement sees every earlier commit); one that has
  not marked yet blocks on the claimed row until the refresh commits and then marks the day dirty again; one
  that marked already holds the row, so the refresh skips that day. Several processes never lose a change.
- **New days**: a day gets its state row (dirty) once it ended more than ``GRACE`` ago, so no transaction that
  created a report in it is still running (reports are stamped with the time they are created); and it is first
  rebuilt ``GRACE`` after that row was committed, so a change whose mark ran before the row existed (and so
  marked nothing) has committed by then and is seen. Transactions are assumed to last less than ``GRACE``.

Medians and p90 are not additive; the rollup keeps a histogram of quantised durations
(``ticketing.indicators.quantise_tenths``: 0.1 h below 10 h, 1 h below 100 h, 10 h above), and the live path
quantises the same way, so the figures agree exactly and differ from unrounded durations by at most 3 minutes
below 10 h and 5 % above.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, event, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from ticketing.catalog import Catalog
from ticketing.indicators import ROLLUP_COLUMNS, Indicators, cohort_select, quantise_tenths
from ticketing.models import IndicatorDay, IndicatorDayHours, IndicatorDayState, Ticket, TicketEvent, utcnow

log = logging.getLogger(__name__)

#: A day is rolled up once it ended this long ago (no transaction that created a report in it still runs).
GRACE = timedelta(minutes=10)
#: Days rebuilt in one transaction by the job: a change to a report of a day being rebuilt waits for the
#: transaction (about 70 ms a day at 1,000,000 reports), so keep it short.
DAYS_PER_TRANSACTION = 5
#: Local days last at most 25 hours: a moment's day starts within this much before it.
_LONGEST_DAY = timedelta(hours=26)


# --- marking days dirty -----------------------------------------------------------------------------------


def mark_dirty(session: Session, moments: set[datetime]) -> None:
    """Mark the rollup days containing ``moments`` (reports' creation times) dirty, in the caller's
    transaction; in order, so two transactions never wait on each other's days in a cycle."""
    st = IndicatorDayState.__table__
    conn = session.connection()  # not session.execute: no autoflush from inside a flush
    for moment in sorted(moments):
        conn.execute(update(st).where(st.c.starts_at > moment - _LONGEST_DAY, st.c.starts_at <= moment,
                                      st.c.ends_at > moment).values(dirty=True))


@event.listens_for(Session, "before_flush")
def _mark_dirty_days(session: Session, _context: Any, _instances: Any) -> None:
    moments: set[datetime] = set()
    with session.no_autoflush:
        for obj in session.new:
            if isinstance(obj, Ticket) and obj.created_at is not None:
                moments.add(obj.created_at)  # a report filed with an earlier date (an import)
            elif isinstance(obj, TicketEvent):
                if obj.ticket is not None:
                    moments.add(obj.ticket.created_at)
                elif obj.ticket_id is not None:
                    created = session.get(Ticket, obj.ticket_id)
                    if created is not None:
                        moments.add(created.created_at)
        for obj in session.dirty:
            if isinstance(obj, Ticket) and session.is_modified(obj) and obj.created_at is not None:
                moments.add(obj.created_at)
        for obj in session.deleted:
            if isinstance(obj, Ticket) and obj.created_at is not None:
                moments.add(obj.created_at)
    moments = {m.replace(tzinfo=UTC) if m.tzinfo is None else m for m in moments if m is not None}
    if moments:
        mark_dirty(session, moments)


# --- refreshing ---------------------------------------------------------------------------------------------


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC)


def ensure_days(session: Session, *, timezone: str, now: datetime) -> int:
    """Add a (dirty) state row for every local day that ended more than ``GRACE`` ago and has none, from the
    first report's day on, contiguous; return how many. One process at a time (an advisory lock on PostgreSQL;
    SQLite has one writer)."""
    tz = ZoneInfo(timezone)
    st = IndicatorDayState.__table__
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7007)"))
    last = session.scalar(select(func.max(st.c.day)))
    if last is None:
        first_created = session.scalar(select(func.min(Ticket.created_at)))
        if first_created is None:
            return 0
        if first_created.tzinfo is None:
            first_created = first_created.replace(tzinfo=UTC)
        first = first_created.astimezone(tz).date()
    else:
        first = last + timedelta(days=1)
    until = (now - GRACE).astimezone(tz).date()  # days before this one have ended more than GRACE ago
    rows = []
    day = first
    while day < until:
        # refreshed_at is the row's birth until its first rebuild (see ``refresh``: not before GRACE after it)
        rows.append({"day": day, "starts_at": _midnight(day, tz), "ends_at": _midnight(day + timedelta(days=1), tz),
                     "dirty": True, "refreshed_at": now})
        day += timedelta(days=1)
    if rows:
        if session.get_bind().dialect.name == "sqlite":  # two processes may both read the same last day
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            session.execute(sqlite_insert(st).on_conflict_do_nothing(index_elements=["day"]), rows)
        else:
            session.execute(insert(st), rows)
    return len(rows)


def rebuild_day(session: Session, indicators: Indicators, state: IndicatorDayState, now: datetime) -> None:
    """Recompute one day's rows from its settled reports and mark it clean (the caller holds its row lock)."""
    t = Ticket.__table__
    d = IndicatorDay.__table__
    h = IndicatorDayHours.__table__
    session.execute(delete(d).where(d.c.day == state.day))
    session.execute(delete(h).where(h.c.day == state.day))
    where = [t.c.created_at >= state.starts_at, t.c.created_at < state.ends_at, t.c.is_open.is_(False)]
    rows = []
    for row in session.execute(cohort_select(now, where)):
        dept, cat, channel, reason, *values = row
        rows.append({"day": state.day, "department_id": dept, "category_code": cat, "channel": str(channel),
                     "outcome": reason, **{name: int(v or 0) for name, v in zip(ROLLUP_COLUMNS, values, strict=True)}})
    if rows:
        session.execute(insert(d), rows)
    resolved = session.execute(select(t.c.department_id, t.c.category_code, indicators._epoch(t.c.created_at),
                                      indicators._epoch(t.c.resolved_at))
                               .where(*where, t.c.resolved_at.is_not(None))).all()
    hours = indicators.clock.hours_between_epochs([(float(r[2]), float(r[3])) for r in resolved])
    histogram: dict[tuple[int, str, int], int] = {}
    for r, hour in zip(resolved, hours, strict=True):
        key = (r[0], r[1], quantise_tenths(hour))
        histogram[key] = histogram.get(key, 0) + 1
    if histogram:
        session.execute(insert(h), [{"day": state.day, "department_id": k[0], "category_code": k[1],
                                     "tenths": k[2], "n": n} for k, n in histogram.items()])
    state.dirty = False
    state.refreshed_at = now


def refresh(session: Session, catalog: Catalog, *, timezone: str, now: datetime | None = None,
            limit: int = 100, settle: timedelta = GRACE) -> int:
    """One batch in the caller's transaction: add the days that ended, then rebuild up to ``limit`` dirty days
    (oldest first; ``SKIP LOCKED`` on PostgreSQL, so several processes share the work). Returns days rebuilt.

    A day is rebuilt only ``settle`` after its state row was added (or last rebuilt): a transaction that changed
    one of its reports *before* the row existed marked nothing (its ``UPDATE`` found no row) and must have
    committed before the rebuild reads the tickets. ``settle=0`` only when nothing else writes (a rebuild from
    the command line with the service stopped, the benchmark)."""
    now = now or utcnow()
    ensure_days(session, timezone=timezone, now=now)
    session.flush()
    settled = or_(IndicatorDayState.refreshed_at.is_(None), IndicatorDayState.refreshed_at <= now - settle)
    stmt = (select(IndicatorDayState).where(IndicatorDayState.dirty.is_(True), settled)
            .order_by(IndicatorDayState.day).limit(limit).execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    indicators = Indicators(session, catalog, timezone=timezone, now=lambda: now)
    days = session.scalars(stmt).all()
    for state in days:
        rebuild_day(session, indicators, state, now)
    return len(days)


def rebuild_all(session_factory: Callable[[], Session], catalog: Catalog, *, timezone: str,
                now: datetime | None = None, batch: int = 100, everything: bool = False,
                settle: timedelta = GRACE) -> int:
    """Refresh in batches (a transaction each) until no settled day is dirty; ``everything`` first marks every
    day dirty (after a definition changed). Returns days rebuilt. ``settle`` as in ``refresh``."""
    if everything:
        with session_factory() as session, session.begin():
            session.execute(update(IndicatorDayState).values(dirty=True))
    total = 0
    while True:
        with session_factory() as session, session.begin():
            done = refresh(session, catalog, timezone=timezone, now=now, limit=batch, settle=settle)
        total += done
        if done < batch:
            return total
