"""Every indicator Reporta publishes, computed in one place from tickets and their events.

The internal dashboards (``/console/tableros``), the public pages (``/dependencias/...``), the exports and the
benchmarks all read their figures from here, so a figure means the same everywhere. The plain-Spanish version
of each definition is the public page "Cómo medimos"; ``docs/accountability.md`` has the same in English.

Definitions (a *cohort* is the reports created in the period ``[start, end)``, optionally of one department):

- **on time**: of the cohort's reports whose outcome can be judged — resolved, or still open after their
  committed date — the share resolved by the **original** committed date ``due_at``. A reopen never moves that
  date (it only sets ``revised_due_at``); the resolution that counts is the last one (the fix that held).
  Reports closed without a fix (duplicate, out of jurisdiction, …) are not judged here: they are counted in
  the reasons for non-completion.
- **reopen rate** ("falsos positivos"): of the cohort's reports that were ever marked resolved, the share
  later reopened (a ``reopened`` event whose ``previous_reason`` was ``resolved``).
- **confirmed fix**: of the reports whose citizen was asked "¿ya quedó?", the share that answered yes
  (``confirmation == "confirmed"``). "No" reopens the report; no answer closes it as not confirmed.
- **satisfaction**: the mean and the distribution of the 1–5 ratings; the response rate is ratings over the
  reports whose citizen confirmed the fix (the only ones asked to rate).
- **routing corrections**: the share of the cohort whose category or department staff changed (events
  ``rerouted`` or ``reassigned``).
- **time to resolve**: business hours (the catalog's working days and hours) from the report to its last
  resolution; median and 90th percentile (nearest rank) of the cohort's resolved reports.
- **first response on escalations**: calendar minutes from a conversation's handoff request to the first
  staff message, from the handoff log (``handoff_log``, one row per escalation, kept after the hand-back).
- **backlog / overdue at a moment**: reports created by then and not yet out (resolved, or closed without a
  fix); overdue are those past their original committed date. A reopened report counts as pending from its
  creation to its last outcome (the problem was never gone).

No rate is worth publishing on fewer than ``MIN_CASES`` reports: ``Rate.enough`` says so and the pages show
"pocos datos todavía" instead. Everything is a handful of SQL aggregates (one scan of the cohort grouped by
department, category, channel and outcome); only the business-hour durations are computed here, from the
cohort's resolved rows.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from ticketing.business_time import BusinessCalendar
from ticketing.catalog import Catalog
from ticketing.models import (
    OPEN_STATUSES,
    ChannelKind,
    Department,
    HandoffLog,
    IndicatorDay,
    IndicatorDayHours,
    IndicatorDayState,
    Ticket,
    TicketEvent,
    UTCDateTime,
)

__all__ = [
    "MIN_CASES",
    "ROUTING_EVENT_KINDS",
    "BacklogPoint",
    "BusinessClock",
    "Counts",
    "Durations",
    "Escalations",
    "Indicators",
    "Rate",
    "Report",
    "percentile",
]

#: Below this many cases a rate is not shown ("pocos datos todavía") and nothing is ranked.
MIN_CASES = 10
#: Ticket events that mean staff corrected where a report was routed. ``rerouted`` is the console's category
#: change (data: from_category, to_category, from_department, to_department); ``reassigned`` is the ticket
#: service's department change.
ROUTING_EVENT_KINDS = ("rerouted", "reassigned")
#: Channels where nobody can be asked "¿ya quedó?" (staff took the report by phone or in person).
UNASKABLE_CHANNELS = (ChannelKind.PHONE, ChannelKind.WALK_IN)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ``values``: the smallest value with at least q % of
    the values at or below it. None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Rate:
    """``numerator`` of ``denominator`` cases; ``value`` is None without cases, ``enough`` from MIN_CASES."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def enough(self) -> bool:
        return self.denominator >= MIN_CASES

    @property
    def percent(self) -> float | None:
        v = self.value
        return None if v is None else 100 * v


@dataclass(slots=True)
class Counts:
    """The additive figures of a group of reports (a category, a channel, a department, everything)."""

    reports: int = 0
    resolved: int = 0  # resolved now (its last outcome is a fix)
    judged: int = 0  # resolved, or open past the committed date: the on-time denominator
    on_time: int = 0
    open_overdue: int = 0
    ever_resolved: int = 0
    reopened_after_resolution: int = 0
    asked: int = 0  # asked "¿ya quedó?"
    confirmed: int = 0
    rated: int = 0
    rating_sum: int = 0
    ratings: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])  # how many 1s, 2s, … 5s
    rerouted: int = 0
    not_completed: int = 0  # closed without a fix (any reason but resolved)
    open: int = 0

    def add(self, other: Counts) -> None:
        for name in ("reports", "resolved", "judged", "on_time", "open_overdue", "ever_resolved",
                     "reopened_after_resolution", "asked", "confirmed", "rated", "rating_sum", "rerouted",
                     "not_completed", "open"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ratings = [a + b for a, b in zip(self.ratings, other.ratings, strict=True)]

    @property
    def on_time_rate(self) -> Rate:
        return Rate(self.on_time, self.judged)

    @property
    def reopen_rate(self) -> Rate:
        return Rate(self.reopened_after_resolution, self.ever_resolved)

    @property
    def confirmed_rate(self) -> Rate:
        return Rate(self.confirmed, self.asked)

    @property
    def response_rate(self) -> Rate:
        return Rate(self.rated, self.confirmed)

    @property
    def routing_rate(self) -> Rate:
        return Rate(self.rerouted, self.reports)

    @property
    def satisfaction_mean(self) -> float | None:
        return self.rating_sum / self.rated if self.rated else None

    @property
    def satisfaction_enough(self) -> bool:
        return self.rated >= MIN_CASES


def quantise_tenths(hours: float) -> int:
    """A business-hour duration rounded to its histogram bucket, in tenths of an hour: to the nearest 0.1 h below
    10 h, the nearest hour below 100 h, the nearest 10 h above. Every time-to-resolve figure (live or from the
    daily rollup) is computed on these values, so both agree exactly; against the unrounded durations a median
    or p90 is off by at most 0.05 h (3 minutes) below 10 h and by at most 5 % above."""
    if hours < 9.95:
        return round(hours * 10)
    if hours < 99.5:
        return round(hours) * 10
    return round(hours / 10) * 100


@dataclass(slots=True)
class Durations:
    """Business hours from report to its last resolution, as a histogram of quantised values
    (``quantise_tenths``: tenths of an hour -> how many reports)."""

    tenths: dict[int, int] = field(default_factory=dict)

    def add_hours(self, hours: Iterable[float]) -> None:
        for h in hours:
            k = quantise_tenths(h)
            self.tenths[k] = self.tenths.get(k, 0) + 1

    def add_tenths(self, tenths: int, n: int) -> None:
        self.tenths[tenths] = self.tenths.get(tenths, 0) + n

    def extend(self, other: Durations) -> None:
        for k, n in other.tenths.items():
            self.add_tenths(k, n)

    @property
    def n(self) -> int:
        return sum(self.tenths.values())

    @property
    def hours(self) -> list[float]:
        """Every value, sorted (quantised)."""
        return [k / 10 for k in sorted(self.tenths) for _ in range(self.tenths[k])]

    def _at_rank(self, rank: int) -> float:
        """The ``rank``-th smallest value (1-based)."""
        seen = 0
        for k in sorted(self.tenths):
            seen += self.tenths[k]
            if seen >= rank:
                return k / 10
        raise IndexError(rank)

    @property
    def median(self) -> float | None:
        n = self.n
        if not n:
            return None
        if n % 2:
            return self._at_rank((n + 1) // 2)
        return (self._at_rank(n // 2) + self._at_rank(n // 2 + 1)) / 2

    @property
    def p90(self) -> float | None:
        n = self.n
        return self._at_rank(max(1, math.ceil(0.9 * n))) if n else None

    @property
    def enough(self) -> bool:
        return self.n >= MIN_CASES


@dataclass(frozen=True, slots=True)
class Group:
    department: str
    category: str
    channel: str


@dataclass
class Report:
    """The figures of one cohort, by department × category × channel, with helpers to roll them up."""

    start: datetime
    end: datetime
    department: str | None
    groups: dict[Group, Counts]
    reasons: dict[tuple[str, str, str], int]  # (department, category, reason) -> reports closed without a fix
    durations: dict[tuple[str, str], Durations]  # (department, category) -> business hours to resolve

    def _roll(self, key: Callable[[Group], str]) -> dict[str, Counts]:
        out: dict[str, Counts] = {}
        for group, counts in self.groups.items():
            out.setdefault(key(group), Counts()).add(counts)
        return out

    def total(self) -> Counts:
        out = Counts()
        for counts in self.groups.values():
            out.add(counts)
        return out

    def by_category(self) -> dict[str, Counts]:
        return self._roll(lambda g: g.category)

    def by_channel(self) -> dict[str, Counts]:
        return self._roll(lambda g: g.channel)

    def by_department(self) -> dict[str, Counts]:
        return self._roll(lambda g: g.department)

    def time_to_resolve(self, *, category: str | None = None, department: str | None = None) -> Durations:
        out = Durations()
        for (dept, cat), durations in self.durations.items():
            if (category is None or cat == category) and (department is None or dept == department):
                out.extend(durations)
        return out

    def reasons_total(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (_dept, _cat, reason), n in self.reasons.items():
            out[reason] = out.get(reason, 0) + n
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True, slots=True)
class BacklogPoint:
    at: datetime
    backlog: int
    overdue: int


@dataclass(frozen=True, slots=True)
class Escalations:
    requested: int
    answered: int
    minutes: tuple[float, ...]  # first response times of the answered ones

    @property
    def median_minutes(self) -> float | None:
        return statistics.median(self.minutes) if self.minutes else None

    @property
    def p90_minutes(self) -> float | None:
        return percentile(self.minutes, 90)

    @property
    def answered_rate(self) -> Rate:
        return Rate(self.answered, self.requested)


class BusinessClock:
    """Business seconds between two moments on the catalog's calendar, fast enough for a whole cohort.

    Positions are precomputed per business day (its opening and closing as epoch seconds and the business
    seconds before it), so one duration is two binary searches.
    """

    def __init__(self, calendar: BusinessCalendar):
        self.calendar = calendar
        self._first: date | None = None
        self._last: date | None = None
        self._opens: list[float] = []
        self._closes: list[float] = []
        self._before: list[float] = []

    def _cover(self, first: date, last: date) -> None:
        if self._first is not None and self._last is not None and first >= self._first and last <= self._last:
            return
        if self._first is not None and self._last is not None:
            first, last = min(first, self._first), max(last, self._last)
        cal = self.calendar
        opens, closes, before, total = [], [], [], 0.0
        day = first
        while day <= last:
            if cal.is_business_day(day):
                o = datetime.combine(day, cal.hours.opens, tzinfo=cal.tz).timestamp()
                c = datetime.combine(day, cal.hours.closes, tzinfo=cal.tz).timestamp()
                opens.append(o)
                closes.append(c)
                before.append(total)
                total += c - o
            day += timedelta(days=1)
        self._first, self._last = first, last
        self._opens, self._closes, self._before = opens, closes, before

    def _position(self, ts: float) -> float:
        i = bisect.bisect_right(self._opens, ts) - 1
        if i < 0:
            return 0.0
        return self._before[i] + min(ts - self._opens[i], self._closes[i] - self._opens[i])

    def hours_between(self, pairs: Iterable[tuple[datetime, datetime]]) -> list[float]:
        """Business hours from each ``start`` to its ``end`` (0 when ``end`` is not later)."""
        return self.hours_between_epochs([(a.timestamp(), b.timestamp()) for a, b in pairs])

    def hours_between_epochs(self, pairs: Sequence[tuple[float, float]]) -> list[float]:
        """The same for moments given as seconds since 1970 (UTC)."""
        if not pairs:
            return []
        tz = self.calendar.tz
        first = datetime.fromtimestamp(min(a for a, _ in pairs), tz).date() - timedelta(days=1)
        last = max(first, datetime.fromtimestamp(max(b for _, b in pairs), tz).date() + timedelta(days=1))
        self._cover(first, last)
        opens, closes, before, find = self._opens, self._closes, self._before, bisect.bisect_right
        out = []
        for a, b in pairs:
            if b <= a:
                out.append(0.0)
                continue
            i = find(opens, a) - 1
            j = find(opens, b) - 1
            pa = 0.0 if i < 0 else before[i] + min(a - opens[i], closes[i] - opens[i])
            pb = 0.0 if j < 0 else before[j] + min(b - opens[j], closes[j] - opens[j])
            out.append(max(0.0, pb - pa) / 3600)
        return out


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("indicators need aware datetimes")
    return value.astimezone(UTC)


#: The additive columns of the cohort aggregate, in the order of ``count_columns`` and of ``indicator_days``.
ROLLUP_COLUMNS = ("reports", "resolved", "judged", "on_time", "open_overdue", "ever_resolved",
                  "reopened_after_resolution", "asked", "confirmed", "rated", "rating_sum", "rating_1", "rating_2",
                  "rating_3", "rating_4", "rating_5", "rerouted", "open")


def cohort_rows(where: Sequence[Any], state_join: Any | None = None) -> Any:
    """One row per report matching ``where`` with what ``count_columns`` reads, its grouping keys and its two
    event flags (a reopen after a resolution, a routing correction), each tested once per report. The
    ``OFFSET 0`` keeps PostgreSQL from inlining the subquery, which would test each flag once per column using
    it. ``state_join``: join ``indicator_day_state`` on that condition (the dirty days' piece)."""
    t = Ticket.__table__
    e = TicketEvent.__table__
    false_positive = exists().where(e.c.ticket_id == t.c.id, e.c.kind == "reopened",
                                    e.c.data["previous_reason"].as_string() == "resolved")
    rerouted = exists().where(e.c.ticket_id == t.c.id, e.c.kind.in_(ROUTING_EVENT_KINDS))
    outcome = case((and_(not_(t.c.is_open), t.c.resolved_at.is_(None)), t.c.reason_code), else_=None)
    source = t.join(IndicatorDayState.__table__, state_join) if state_join is not None else t
    return (select(t.c.department_id, t.c.category_code, cast(t.c.channel, String).label("channel"),
                   outcome.label("outcome"), t.c.is_open, t.c.resolved_at, t.c.due_at, t.c.survey_sent_at,
                   t.c.reporter_identity_id, t.c.confirmation, t.c.satisfaction,
                   false_positive.label("fp"), rerouted.label("rr"))
            .select_from(source).where(*where).offset(0).subquery())


def count_columns(now: datetime, c: Any) -> list[Any]:
    """The aggregate columns (``ROLLUP_COLUMNS``) over ``cohort_rows``' columns ``c``: the one definition of every
    additive figure, used live and by the daily rollup (``ticketing.rollup``). Only open reports' figures
    depend on ``now``."""
    resolved = c.resolved_at.is_not(None)
    asked = or_(
        and_(c.survey_sent_at.is_not(None), c.reporter_identity_id.is_not(None),
             c.channel.not_in([k.value for k in UNASKABLE_CHANNELS])),
        c.confirmation == "confirmed",
    )

    def n(condition: Any) -> Any:
        return func.count().filter(condition)

    return [
        func.count(),
        n(resolved),
        n(or_(resolved, and_(c.is_open, c.due_at < now))),
        n(and_(resolved, c.resolved_at <= c.due_at)),
        n(and_(c.is_open, c.due_at < now)),
        n(or_(resolved, c.fp)),
        n(c.fp),
        n(asked),
        n(c.confirmation == "confirmed"),
        func.count(c.satisfaction),
        func.coalesce(func.sum(c.satisfaction), 0),
        *(n(c.satisfaction == k) for k in range(1, 6)),
        n(c.rr),
        n(c.is_open),
    ]


def cohort_select(now: datetime, where: Sequence[Any], state_join: Any | None = None) -> Any:
    """The cohort aggregate of the reports matching ``where``, grouped by department, category, channel and
    outcome (then ``ROLLUP_COLUMNS``)."""
    rows = cohort_rows(where, state_join)
    keys = [rows.c.department_id, rows.c.category_code, rows.c.channel, rows.c.outcome]
    return select(*keys, *count_columns(now, rows.c)).group_by(*keys)


def counts_of(values: Sequence[Any], *, not_completed: bool) -> Counts:
    """``Counts`` from a row of ``ROLLUP_COLUMNS`` values (database sums may be Decimal or None)."""
    v = [int(x or 0) for x in values]
    return Counts(
        reports=v[0], resolved=v[1], judged=v[2], on_time=v[3], open_overdue=v[4], ever_resolved=v[5],
        reopened_after_resolution=v[6], asked=v[7], confirmed=v[8], rated=v[9], rating_sum=v[10],
        ratings=v[11:16], rerouted=v[16], open=v[17], not_completed=v[0] if not_completed else 0,
    )


class Indicators:
    """The indicator queries over one session. ``now`` fixes the clock (tests, reproducible pages);
    ``rollup=False`` computes every cohort live from ``tickets`` (the reference the rollup is tested against)."""

    def __init__(self, session: Session, catalog: Catalog, *, timezone: str = "America/Monterrey",
                 now: Callable[[], datetime] | None = None, rollup: bool = True):
        self.session = session
        self.rollup = rollup
        self.catalog = catalog
        self.calendar = BusinessCalendar(catalog.business_hours, timezone)
        self.clock = BusinessClock(self.calendar)
        self._now = now or (lambda: datetime.now(UTC))
        self._dept_codes: dict[int, str] | None = None

    def now(self) -> datetime:
        return _aware(self._now())

    # --- departments ---------------------------------------------------------------------------------

    def department_codes(self) -> dict[int, str]:
        if self._dept_codes is None:
            rows = self.session.execute(select(Department.id, Department.code))
            self._dept_codes = {int(i): str(c) for i, c in rows}
        return self._dept_codes

    def department_id(self, code: str) -> int | None:
        for dept_id, dept_code in self.department_codes().items():
            if dept_code == code:
                return dept_id
        return None

    # --- the cohort report ---------------------------------------------------------------------------

    def _tune(self) -> None:
        """PostgreSQL: no JIT (it costs more than it saves on these mid-sized aggregates) and room to hash the
        groups in memory, for this transaction only."""
        bind = self.session.get_bind()
        if bind.dialect.name == "postgresql":
            self.session.execute(text("SET LOCAL jit = off"))
            self.session.execute(text("SET LOCAL work_mem = '32MB'"))
            # The pieces are small index range scans: starting parallel workers costs more than they save.
            self.session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))

    def _epoch(self, column: Any) -> Any:
        """Seconds since 1970 of a stored UTC datetime, computed by the database (no per-row Python datetimes)."""
        if self.session.get_bind().dialect.name == "sqlite":
            return (func.julianday(column) - 2440587.5) * 86400.0
        return cast(func.extract("epoch", column), Float)

    def report(self, start: datetime, end: datetime, *, department_id: int | None = None,
               durations: bool = True) -> Report:
        """Every additive figure of the reports created in ``[start, end)`` (of one department if given);
        ``durations=False`` skips the business-hour durations (pages that show no times)."""
        return self.reports(end, [start], department_id=department_id, durations=durations)[0]

    def reports(self, end: datetime, starts: Sequence[datetime], *, department_id: int | None = None,
                durations: bool = True) -> list[Report]:
        """One ``Report`` per start (``[start, end)`` each): the public page reads its last 30 and 90 days."""
        return [self._report(_aware(start), _aware(end), department_id, durations) for start in starts]

    # The cohort comes from one statement (one snapshot) that adds up disjoint pieces (``ticketing.rollup``):
    # the daily rollup's rows for the whole local days in the period whose rollup is exact (not dirty), and, live
    # from ``tickets``, everything else: the partial days at either end, the open reports (their figures depend
    # on the clock), the settled reports of days not rolled up yet (today, a day just ended, before the first
    # rolled day) and of dirty days (touched since their last roll-up).

    def whole_days(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """``[ws, we)``: the local midnights bounding the whole days inside ``[start, end)`` (``ws == we == start``
        when there is none, or the rollup is off)."""
        if not self.rollup:
            return start, start
        tz = self.calendar.tz
        local_start = start.astimezone(tz)
        first = local_start.date() if local_start.time() == datetime.min.time() else \
            local_start.date() + timedelta(days=1)
        last = end.astimezone(tz).date()
        ws = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(UTC)
        we = datetime.combine(last, datetime.min.time(), tzinfo=tz).astimezone(UTC)
        return (ws, we) if ws < we else (start, start)

    def _days(self, table: Any, ws: datetime, we: datetime) -> list[Any]:
        """The rollup rows of the local days in ``[ws, we)`` (their ``(day, department_id)`` index)."""
        tz = self.calendar.tz
        return [table.c.day >= ws.astimezone(tz).date(), table.c.day < we.astimezone(tz).date()]

    def _live_pieces(self, start: datetime, end: datetime, department_id: int | None,
                     build: Callable[[list[Any], Any | None], Any]) -> list[Any]:
        """The live pieces of the cohort ``[start, end)``: ``build(where, state_join)`` makes one select."""
        t = Ticket.__table__
        s = IndicatorDayState.__table__
        ws, we = self.whole_days(start, end)
        scope = [t.c.department_id == department_id] if department_id is not None else []
        never = literal(datetime(1970, 1, 1, tzinfo=UTC), UTCDateTime())
        rolled_from = select(func.coalesce(func.min(s.c.starts_at), never)).scalar_subquery()
        rolled_until = select(func.coalesce(func.max(s.c.ends_at), never)).scalar_subquery()
        closed = t.c.is_open.is_(False)
        pieces = []
        if start < ws:
            pieces.append(build([t.c.created_at >= start, t.c.created_at < ws, *scope], None))
        if we < end:
            pieces.append(build([t.c.created_at >= we, t.c.created_at < end, *scope], None))
        if ws < we:
            in_w = [t.c.created_at >= ws, t.c.created_at < we, *scope]
            pieces.append(build([*in_w, t.c.is_open.is_(True)], None))
            pieces.append(build([*in_w, closed, t.c.created_at >= rolled_until], None))
            pieces.append(build([*in_w, closed, t.c.created_at < rolled_from], None))
            pieces.append(build([*in_w, closed, s.c.dirty.is_(True), s.c.starts_at >= ws, s.c.ends_at <= we],
                                and_(t.c.created_at >= s.c.starts_at, t.c.created_at < s.c.ends_at)))
        return pieces

    def _report(self, start: datetime, end: datetime, department_id: int | None, durations: bool) -> Report:
        self._tune()
        now = self.now()
        s = IndicatorDayState.__table__
        d = IndicatorDay.__table__

        def build(where: list[Any], state_join: Any | None) -> Any:
            return cohort_select(now, where, state_join)

        pieces = self._live_pieces(start, end, department_id, build)
        ws, we = self.whole_days(start, end)
        if ws < we:
            rolled = [s.c.dirty.is_(False), s.c.starts_at >= ws, s.c.ends_at <= we, *self._days(d, ws, we)]
            if department_id is not None:
                rolled.append(d.c.department_id == department_id)
            dkeys = [d.c.department_id, d.c.category_code, d.c.channel, d.c.outcome]
            pieces.append(select(*dkeys, *(func.sum(d.c[name]) for name in ROLLUP_COLUMNS))
                          .select_from(d.join(s, s.c.day == d.c.day)).where(*rolled).group_by(*dkeys))
        codes = self.department_codes()
        report = Report(start=start, end=end, department=codes.get(department_id) if department_id else None,
                        groups={}, reasons={}, durations={})
        for row in self.session.execute(union_all(*pieces)):
            dept_id, cat, channel, reason, *v = row
            dept = codes.get(dept_id, str(dept_id))
            counts = counts_of(v, not_completed=reason is not None)
            report.groups.setdefault(Group(dept, cat, ChannelKind(channel).value), Counts()).add(counts)
            if reason is not None:
                report.reasons[(dept, cat, reason)] = report.reasons.get((dept, cat, reason), 0) + counts.reports
        if durations:
            report.durations = self._durations(start, end, department_id)
        return report

    def _durations(self, start: datetime, end: datetime, department_id: int | None) -> dict[tuple[str, str],
                                                                                            Durations]:
        """Time to resolve of the cohort, by (department, category): the live pieces' resolved reports (epoch
        seconds from the database, business hours here) and the rollup's histograms, in one statement."""
        t = Ticket.__table__
        s = IndicatorDayState.__table__
        h = IndicatorDayHours.__table__
        none_f = cast(null(), Float)
        none_i = cast(null(), Integer)

        def build(where: list[Any], state_join: Any | None) -> Any:
            source = t.join(s, state_join) if state_join is not None else t
            return select(t.c.department_id, t.c.category_code, self._epoch(t.c.created_at),
                          self._epoch(t.c.resolved_at), none_i, literal(1, Integer)).select_from(source).where(
                *where, t.c.resolved_at.is_not(None))

        pieces = self._live_pieces(start, end, department_id, build)
        ws, we = self.whole_days(start, end)
        if ws < we:
            rolled = [s.c.dirty.is_(False), s.c.starts_at >= ws, s.c.ends_at <= we, *self._days(h, ws, we)]
            if department_id is not None:
                rolled.append(h.c.department_id == department_id)
            hkeys = [h.c.department_id, h.c.category_code, h.c.tenths]
            pieces.append(select(h.c.department_id, h.c.category_code, none_f, none_f, h.c.tenths,
                                 cast(func.sum(h.c.n), Integer)).select_from(h.join(s, s.c.day == h.c.day))
                          .where(*rolled).group_by(*hkeys))
        rows = self.session.execute(union_all(*pieces)).all()
        live = [r for r in rows if r[4] is None]
        hours = self.clock.hours_between_epochs([(float(r[2]), float(r[3])) for r in live])
        codes = self.department_codes()
        out: dict[tuple[str, str], Durations] = {}
        for row, hour in zip(live, hours, strict=True):
            out.setdefault((codes.get(row[0], str(row[0])), row[1]), Durations()).add_hours([hour])
        for row in rows:
            if row[4] is not None:
                out.setdefault((codes.get(row[0], str(row[0])), row[1]), Durations()).add_tenths(int(row[4]),
                                                                                                 int(row[5]))
        return out

    # --- over time -----------------------------------------------------------------------------------

    def backlog(self, moments: Sequence[datetime], *, department_id: int | None = None) -> list[BacklogPoint]:
        """Pending and overdue reports at each of ``moments`` (see the module docstring).

        Two scans, both answered by indexes: the reports open now (``ix_tickets_backlog``: status, department,
        created_at, due_at — an index-only scan), and the reports out since the first moment (their last change
        ``updated_at`` is after it: ``ix_tickets_updated``), whose exit is their last outcome. Each row is put in
        the first moment it counts for (created, due, out) and the moments are summed here, so a row costs a
        few comparisons however many moments there are."""
        if not moments:
            return []
        moments = sorted(_aware(m) for m in moments)
        n = len(moments)
        self._tune()
        t = Ticket.__table__

        def first(condition: Callable[[datetime], Any]) -> Any:
            """The index of the first moment where ``condition(moment)`` holds; ``n`` when none does."""
            return case(*((condition(m), i) for i, m in enumerate(moments)), else_=n)

        exit_at = func.coalesce(t.c.resolved_at, t.c.closed_at, t.c.updated_at)
        created = first(lambda m: t.c.created_at <= m).label("created")
        due = first(lambda m: t.c.due_at < m).label("due")
        out = first(lambda m: exit_at <= m).label("out")
        scope = [t.c.department_id == department_id] if department_id is not None else []
        open_statuses = sorted(s.value for s in OPEN_STATUSES)
        pending = [0] * n
        overdue = [0] * n
        rows = self.session.execute(select(created, due, func.count()).where(
            t.c.status.in_(open_statuses), t.c.created_at <= moments[-1], *scope).group_by(created, due))
        for c, d, count in rows:
            for i in range(int(c), n):
                pending[i] += count
                if i >= int(d):
                    overdue[i] += count
        rows = self.session.execute(select(created, due, out, func.count()).where(
            t.c.status.not_in(open_statuses), t.c.updated_at > moments[0], t.c.created_at <= moments[-1],
            *scope).group_by(created, due, out))
        for c, d, o, count in rows:
            for i in range(int(c), min(int(o), n)):
                pending[i] += count
                if i >= int(d):
                    overdue[i] += count
        return [BacklogPoint(m, pending[i], overdue[i]) for i, m in enumerate(moments)]

    # --- escalations ---------------------------------------------------------------------------------

    def escalations(self, start: datetime, end: datetime) -> Escalations:
        """Handoffs requested in ``[start, end)`` and the minutes to the first staff message, from the durable
        handoff log (``handoff_log``: kept after staff hand the conversation back, see ``dialogue.handoff_log``)."""
        start, end = _aware(start), _aware(end)
        h = HandoffLog.__table__
        rows = self.session.execute(
            select(h.c.requested_at, h.c.first_reply_at).where(h.c.requested_at >= start, h.c.requested_at < end)
        ).all()
        minutes = []
        for requested, replied in rows:
            if replied is not None:
                minutes.append(max(0.0, (_as_utc(replied) - _as_utc(requested)).total_seconds() / 60))
        return Escalations(requested=len(rows), answered=len(minutes), minutes=tuple(minutes))


def _as_utc(value: datetime) -> datetime:
    """A datetime from a scalar subquery (no column type to convert it): aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
