"""``/console/tableros``: the internal dashboards, behind the console's sign-in and scoped to the staff member's
department (admins see everything and may pick a department). Any date range (``desde``/``hasta``, local dates,
both included; default the last 90 days). Each chart has its table beside it and a CSV download
(``/console/tableros/<tabla>.csv`` with the same query)."""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ticketing.indicators import MIN_CASES, Indicators
from web.console.pages import error_page, render
from web.context import WebContext
from web.dashboards.tables import TABLE_KEYS, Table, Words, build_tables
from web.public import figures
from web.public.cache import FigureCache
from web.staff import StaffPrincipal, current_staff, login_redirect

DEFAULT_DAYS = 90
MAX_DAYS = 3 * 366 + 1  # a longer range is cut to this (the page says so)
BACKLOG_POINTS = 13


@dataclass(frozen=True)
class Query:
    """What a dashboard request asks for, after validation."""

    first: date  # local dates, both included
    last: date
    department: str | None  # a department code, or None for all (admins only)
    errors: tuple[str, ...]

    def params(self) -> str:
        out = f"desde={self.first.isoformat()}&hasta={self.last.isoformat()}"
        return out + (f"&dependencia={self.department}" if self.department else "")


class Dashboards:
    def __init__(self, ctx: WebContext, cache: FigureCache | None = None) -> None:
        self.ctx = ctx
        self.cache = cache if cache is not None else FigureCache()
        self.words = Words(ctx.pages)

    def _figures(self, staff: StaffPrincipal, query: Query) -> dict[str, Any]:
        """The view's figures, computed at most a minute ago (``web.public.cache``); the page says when."""
        key = ("dashboard", staff.sees_all, staff.department_filter, staff.department_code, query.first,
               query.last, query.department)
        return self.cache.get(key, lambda: self._compute(staff, query))

    @property
    def tz(self) -> str:
        return self.ctx.runtime().settings.timezone

    def _query(self, request: Request, staff: StaffPrincipal, today: date) -> Query:
        errors = []
        say = self.words.text

        def parse(name: str, default: date) -> date:
            raw = (request.query_params.get(name) or "").strip()
            if not raw:
                return default
            try:
                return date.fromisoformat(raw)
            except ValueError:
                errors.append(say("query_error", "bad_date", raw=raw[:20], example=today.isoformat()))
                return default

        last = parse("hasta", today)
        first = parse("desde", last - timedelta(days=DEFAULT_DAYS - 1))
        if first > last:
            errors.append(say("query_error", "swapped"))
            first, last = last, first
        if (last - first).days + 1 > MAX_DAYS:
            errors.append(say("query_error", "too_long", days=MAX_DAYS))
            first = last - timedelta(days=MAX_DAYS - 1)
        catalog = self.ctx.runtime().catalog
        if staff.sees_all:
            wanted = request.query_params.get("dependencia") or None
            if wanted is not None and wanted not in catalog.departments:
                errors.append(say("query_error", "unknown_department"))
                wanted = None
            department = wanted
        else:
            department = staff.department_code
        return Query(first, last, department, tuple(errors))

    def _compute(self, staff: StaffPrincipal, query: Query) -> dict[str, Any]:
        runtime = self.ctx.runtime()
        zone = ZoneInfo(self.tz)
        start = datetime.combine(query.first, time(0), tzinfo=zone)
        end = datetime.combine(query.last + timedelta(days=1), time(0), tzinfo=zone)
        def indicators(session: Any) -> Indicators:
            return Indicators(session, runtime.catalog, timezone=self.tz)

        with runtime.session_factory() as session:
            ind = indicators(session)
            now = ind.now()
            if staff.sees_all:
                dept_id = ind.department_id(query.department) if query.department else None
                if query.department and dept_id is None:
                    dept_id = -1  # a department without tickets yet
            else:
                dept_id = staff.department_filter
        stop = min(end, now)
        span = max(stop - start, timedelta(0))
        moments = [start + span * i / (BACKLOG_POINTS - 1) for i in range(BACKLOG_POINTS)] if span else [stop]

        def over_time() -> tuple[Any, Any]:
            with runtime.session_factory() as other:
                ind = indicators(other)
                # Escalations belong to a conversation, not to a department: only in the admins' overall view.
                return ind.backlog(moments, department_id=dept_id), (
                    ind.escalations(start, end) if staff.sees_all and not query.department else None)

        # The cohort and the backlog are independent scans: run them side by side (two connections).
        with ThreadPoolExecutor(max_workers=1) as pool:
            later = pool.submit(over_time)
            with runtime.session_factory() as session:
                report = indicators(session).report(start, end, department_id=dept_id)
            backlog, escalations = later.result()
        hours = runtime.catalog.business_hours
        day_hours = (datetime.combine(date.min, hours.closes) - datetime.combine(date.min, hours.opens)).seconds / 3600
        w = self.words
        tables = build_tables(report, backlog, escalations, runtime.catalog, w, tz=self.tz, day_hours=day_hours,
                              overall=staff.sees_all and not query.department)
        total = report.total()
        durations = report.time_to_resolve()

        def kpi(key: str, figure: str, note: str = "") -> tuple[str, str, str]:
            """(title, figure, the line under it) of one summary card."""
            return w.text("kpi", key), figure, w.text("kpi_note", key, note)

        kpis = [
            kpi("reports", f"{total.reports:,}", f"{total.open:,}"),
            kpi("on_time", w.pct(total.on_time_rate), f"{total.open_overdue:,}"),
            kpi("time_to_resolve", w.fig.duration(durations, day_hours=day_hours, always=True),
                w.fig.duration(durations, "p90", day_hours=day_hours, always=True)),
            kpi("reopened", w.pct(total.reopen_rate)),
            kpi("confirmed", w.pct(total.confirmed_rate)),
            kpi("satisfaction", w.satisfaction(total), w.pct(total.response_rate)),
            kpi("rerouted", w.pct(total.routing_rate)),
        ]
        if escalations is not None:
            kpis.append(kpi("escalations", f"{escalations.requested:,}", figures.minutes(escalations.median_minutes)))
        catalog = runtime.catalog
        if query.department in catalog.departments:
            scope_name = catalog.departments[query.department].name
        else:
            scope_name = w.text("scope", "all" if staff.sees_all else "none")
        return {"tables": tables, "kpis": kpis, "scope_name": scope_name,
                "as_of": w.fig.local_datetime(now, self.tz)}

    async def page(self, request: Request) -> Response:
        staff = current_staff(request)
        if staff is None:
            return login_redirect(request)
        today = datetime.now(ZoneInfo(self.tz)).date()
        query = self._query(request, staff, today)
        data = await run_in_threadpool(self._figures, staff, query)
        catalog = self.ctx.runtime().catalog
        departments = sorted(((code, d.name) for code, d in catalog.departments.items()), key=lambda p: p[1])
        return render(self.ctx, request, "dashboards/page.html", {
            **data, "query": query, "departments": departments, "min_cases": MIN_CASES,
            "order": [k for k in TABLE_KEYS if k in data["tables"]],
            "period": self.words.text("period", self.words.fig.date_text(query.first),
                                      self.words.fig.date_text(query.last)),
        })

    async def csv(self, request: Request) -> Response:
        staff = current_staff(request)
        if staff is None:
            return login_redirect(request)
        key = request.path_params["table"]
        if key not in TABLE_KEYS:
            return error_page(self.ctx, request)
        today = datetime.now(ZoneInfo(self.tz)).date()
        query = self._query(request, staff, today)
        data = await run_in_threadpool(self._figures, staff, query)
        table: Table | None = data["tables"].get(key)
        if table is None:  # e.g. escalations for a department-scoped member
            return error_page(self.ctx, request)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(table.raw_columns)
        for row in table.raw:
            writer.writerow(["" if v is None else v for v in row])
        scope = query.department or "todas"
        name = f"tablero-{key}-{scope}-{query.first.isoformat()}-{query.last.isoformat()}.csv"
        return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

