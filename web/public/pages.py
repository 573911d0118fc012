"""The public site's pages: home, a department's live service commitments ("carta compromiso"), "Cómo medimos",
the folio lookup and the map of open reports.

Never any personal data: ticket rows are built only with ``web.publication.public_ticket`` (and of those only
the fields a page needs); figures come only from ``ticketing.indicators``. No rate is shown on fewer than
``MIN_CASES`` reports, and departments are listed by name, never ranked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ticketing.catalog import Catalog
from ticketing.folio import normalise_folio
from ticketing.indicators import MIN_CASES, Counts, Durations, Indicators, Report
from ticketing.models import Ticket
from web.context import WebContext
from web.public import figures
from web.public.cache import FigureCache
from web.public.figures import Figures
from web.public.ratelimit import SlidingWindowLimit
from web.publication import PublicTicket, public_ticket

#: Folio lookups allowed per client address per minute.
LOOKUP_LIMIT = 10
LOOKUP_WINDOW_SECONDS = 60.0
#: What the folio lookup says when it cannot show a folio (macro ``lookup_error``).
NOTICES = "public/notices.j2"
#: The map shows at most this many open reports (the newest).
MAP_LIMIT = 500
PERIODS = (30, 90)


@dataclass(frozen=True)
class CommitmentRow:
    """One line of a department's "carta compromiso": a service, its commitment and how it was kept."""

    code: str
    name: str
    commitment: str
    periods: dict[int, dict[str, str]]  # days -> figure name -> text


def _figures(fig: Figures, counts: Counts, durations: Durations, day_hours: float) -> dict[str, str]:
    sat = counts.satisfaction_mean
    return {
        "reports": f"{counts.reports:,}",
        "on_time": fig.percent(counts.on_time_rate),
        "on_time_n": f"{counts.judged:,}",
        "median": fig.duration(durations, day_hours=day_hours),
        "satisfaction": (fig.text("out_of_five", figures.number(sat)) if counts.satisfaction_enough and sat is not None
                         else fig.few if counts.rated else fig.text("missing", "no_answers")),
        "rated": f"{counts.rated:,}",
        "reopen": fig.percent(counts.reopen_rate),
        "reopen_n": f"{counts.ever_resolved:,}",
    }


class PublicSite:
    """The handlers; one per app (the lookup limit lives here)."""

    def __init__(self, ctx: WebContext, cache: FigureCache | None = None) -> None:
        self.ctx = ctx
        self.lookups = SlidingWindowLimit(LOOKUP_LIMIT, LOOKUP_WINDOW_SECONDS)
        self.cache = cache if cache is not None else FigureCache()
        self.fig = Figures(ctx.pages)

    # --- helpers -------------------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        return self.ctx.runtime().catalog

    @property
    def tz(self) -> str:
        return self.ctx.runtime().settings.timezone

    def _day_hours(self) -> float:
        hours = self.catalog.business_hours
        return (hours.closes.hour * 60 + hours.closes.minute - hours.opens.hour * 60 - hours.opens.minute) / 60

    def _session(self) -> Session:
        return self.ctx.runtime().session_factory()

    def _indicators(self, session: Session) -> Indicators:
        return Indicators(session, self.catalog, timezone=self.tz)

    def _render(self, request: Request, name: str, context: dict[str, Any], status_code: int = 200,
                headers: dict[str, str] | None = None) -> Response:
        return self.ctx.pages.render(request, name, {"min_cases": MIN_CASES, **context}, status_code=status_code,
                                     headers=headers)

    # --- home ----------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        def load() -> dict[str, Any]:
            with self._session() as session:
                ind = self._indicators(session)
                now = ind.now()
                report = ind.report(now - timedelta(days=90), now, durations=False)
                by_dept = report.by_department()
                rows = []
                for code, dept in sorted(self.catalog.departments.items(), key=lambda kv: kv[1].name):
                    counts = by_dept.get(code, Counts())
                    rows.append({"code": code, "name": dept.name, "reports": f"{counts.reports:,}",
                                 "on_time": self.fig.percent(counts.on_time_rate),
                                 "services": sum(1 for c in self.catalog.categories.values() if c.department == code)})
                return {"departments": rows, "as_of": self.fig.local_datetime(now, self.tz)}

        data = await run_in_threadpool(self.cache.get, ("home",), load)
        return self._render(request, "public/home.html", data)

    # --- a department's commitments ------------------------------------------------------------------

    async def department(self, request: Request) -> Response:
        code = request.path_params["code"]
        dept = self.catalog.departments.get(code)
        if dept is None:
            return self.ctx.pages.render(request, "errors/404.html", status_code=404)

        def load() -> dict[str, Any]:
            with self._session() as session:
                ind = self._indicators(session)
                now = ind.now()
                dept_id = ind.department_id(code)
                if dept_id is not None:
                    found = ind.reports(now, [now - timedelta(days=d) for d in PERIODS], department_id=dept_id)
                else:  # no report has reached this department yet
                    found = [Report(now, now, code, {}, {}, {}) for _ in PERIODS]
                reports: dict[int, Report] = dict(zip(PERIODS, found, strict=True))
                day_hours = self._day_hours()
                rows = []
                for cat in sorted((c for c in self.catalog.categories.values() if c.department == code),
                                  key=lambda c: c.name):
                    periods = {}
                    for days, report in reports.items():
                        counts = report.by_category().get(cat.code, Counts())
                        periods[days] = _figures(self.fig, counts, report.time_to_resolve(category=cat.code),
                                                 day_hours)
                    rows.append(CommitmentRow(cat.code, cat.name, cat.sla_text(), periods))
                totals = {days: _figures(self.fig, r.total(), r.time_to_resolve(), day_hours)
                          for days, r in reports.items()}
                return {"dept": dept, "code": code, "rows": rows, "totals": totals, "periods": PERIODS,
                        "as_of": self.fig.local_datetime(now, self.tz)}

        data = await run_in_threadpool(self.cache.get, ("department", code), load)
        return self._render(request, "public/department.html", data)

    # --- how we measure ------------------------------------------------------------------------------

    async def how(self, request: Request) -> Response:
        hours = self.catalog.business_hours
        return self._render(request, "public/how.html", {
            "opens": hours.opens.strftime("%H:%M"), "closes": hours.closes.strftime("%H:%M"),
        })

    # --- folio lookup --------------------------------------------------------------------------------

    async def lookup(self, request: Request) -> Response:
        typed = (request.query_params.get("folio") or "").strip()[:40]
        if not typed:
            return self._render(request, "public/lookup.html", {"typed": "", "error": None, "ticket": None})
        client = request.client.host if request.client else "unknown"
        wait = self.lookups.hit(client)
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            return self._render(request, "public/lookup.html",
                                {"typed": typed, "ticket": None, "limited": True, "wait": seconds,
                                 "error": self.ctx.pages.macro_text(NOTICES, "lookup_error", "rate_limited")},
                                status_code=429, headers={"Retry-After": str(seconds)})
        folio = normalise_folio(typed)
        if folio is None:
            return self._render(request, "public/lookup.html", {
                "typed": typed, "ticket": None,
                "error": self.ctx.pages.macro_text(NOTICES, "lookup_error", "invalid"),
            }, status_code=400)

        def load() -> dict[str, Any] | None:
            with self._session() as session:
                ticket = session.scalars(
                    select(Ticket).where(Ticket.folio == folio).options(selectinload(Ticket.department))
                ).one_or_none()
                if ticket is None:
                    return None
                explanation, restore = self._explanation(session, ticket)
                row = public_ticket(ticket, self.catalog, explanation=explanation)
                return self._lookup_view(row, restore)

        view = await run_in_threadpool(load)
        if view is None:
            return self._render(request, "public/lookup.html", {
                "typed": typed, "ticket": None,
                "error": self.ctx.pages.macro_text(NOTICES, "lookup_error", "not_found", folio=folio),
            }, status_code=404)
        return self._render(request, "public/lookup.html", {"typed": folio, "error": None, "ticket": view})

    def _explanation(self, session: Session, ticket: Ticket) -> tuple[str | None, dict[str, str]]:
        """The reason's explanation with its placeholders, and the public values to put back after scrubbing.

        The original's folio and the agency's contact are public (a whitelisted field, the catalog), but the
        scrubbing of ``public_ticket`` would take them for a digit run or a phone number: they travel as
        letter-only markers through it and are put back afterwards."""
        if not ticket.reason_code:
            return None, {}
        try:
            reason = self.catalog.reason(ticket.reason_code)
            category = self.catalog.category(ticket.category_code)
        except Exception:
            return None, {}
        restore: dict[str, str] = {}
        duplicate_of = None
        if ticket.duplicate_of_id is not None:
            original = session.get(Ticket, ticket.duplicate_of_id)
            if original is not None:
                duplicate_of = "ZZFOLIOZZ"
                restore[duplicate_of] = original.folio
        contact = None
        if category.referral:
            contact = "ZZCONTACTZZ"
            restore[contact] = category.referral.contact
        text = reason.explain(
            referred_to=ticket.referred_to or (category.referral.agency if category.referral else None),
            agency_contact=contact,
            scheduled_for=self.fig.local_date(ticket.scheduled_for, self.tz) if ticket.scheduled_for else None,
            duplicate_of=duplicate_of,
        )
        return text, restore

    def _lookup_view(self, row: PublicTicket, restore: dict[str, str]) -> dict[str, Any]:
        reason_name = None
        if row.reason_code:
            try:
                reason_name = self.catalog.reason(row.reason_code).name
            except Exception:
                reason_name = None
        return {
            "folio": row.folio,
            "service": row.service_name,
            "department": row.department_name,
            "department_code": row.department_code,
            "status": self.fig.status(row.status),
            "status_explanation": self.fig.status_explanation(row.status),
            "reason": reason_name,
            "reason_explanation": _restore(row.reason_explanation, restore),
            "requested": self.fig.local_date(row.requested_at, self.tz),
            # The commitment now in force: the revised one after a reopen (the original is still said: on time
            # is measured against it).
            "due": self.fig.local_datetime(row.revised_due_at or row.due_at, self.tz),
            "original_due": self.fig.local_datetime(row.due_at, self.tz) if row.revised_due_at else None,
            "closed": self.fig.local_date(row.closed_at, self.tz) if row.closed_at else None,
            "is_open": row.is_open,
        }

    # --- map -----------------------------------------------------------------------------------------

    async def map(self, request: Request) -> Response:
        wanted = request.query_params.get("servicio") or ""
        category = wanted if wanted in self.catalog.categories else None

        def load() -> dict[str, Any]:
            with self._session() as session:
                stmt = (select(Ticket).options(selectinload(Ticket.department))
                        .where(Ticket.is_open.is_(True), Ticket.lat.is_not(None), Ticket.lon.is_not(None))
                        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(MAP_LIMIT))
                if category is not None:
                    stmt = stmt.where(Ticket.category_code == category)
                rows = [public_ticket(t, self.catalog) for t in session.scalars(stmt)]
            return {"points": _map_points(rows), "rows": [self._map_row(r) for r in rows],
                    "services": sorted(((c.code, c.name) for c in self.catalog.categories.values()),
                                       key=lambda p: p[1]),
                    "selected": category or "", "limit": MAP_LIMIT}

        data = await run_in_threadpool(load)
        return self._render(request, "public/map.html", data)

    def _map_row(self, row: PublicTicket) -> dict[str, Any]:
        return {"folio": row.folio, "service": row.service_name, "department": row.department_name,
                "status": self.fig.status(row.status), "address": row.address or "—",
                "requested": self.fig.local_date(row.requested_at, self.tz), "lat": row.lat, "lon": row.lon}


def _restore(text: str, values: dict[str, str]) -> str:
    for marker, value in values.items():
        text = text.replace(marker, value)
    return text


#: The map's drawing area (SVG user units).
MAP_WIDTH, MAP_HEIGHT, MAP_PAD = 800, 520, 20


def _map_points(rows: list[PublicTicket]) -> list[dict[str, Any]]:
    """Reports grouped by their snapped cell, projected (equirectangular, good enough for one city) into the
    drawing area; the circle grows with the number of reports in the cell."""
    cells: dict[tuple[float, float], int] = {}
    for r in rows:
        if r.lat is not None and r.lon is not None:
            cells[(r.lat, r.lon)] = cells.get((r.lat, r.lon), 0) + 1
    if not cells:
        return []
    lats = [k[0] for k in cells]
    lons = [k[1] for k in cells]
    lat0, lat1 = min(lats), max(lats)
    lon0, lon1 = min(lons), max(lons)
    span = max(lat1 - lat0, (lon1 - lon0) * MAP_HEIGHT / MAP_WIDTH, 0.01)
    scale = (MAP_HEIGHT - 2 * MAP_PAD) / span
    cx = (lon0 + lon1) / 2
    cy = (lat0 + lat1) / 2
    out = []
    for (lat, lon), n in sorted(cells.items()):
        out.append({"x": round(MAP_WIDTH / 2 + (lon - cx) * scale, 1),
                    "y": round(MAP_HEIGHT / 2 - (lat - cy) * scale, 1),
                    "r": min(22, 8 + 2 * (n - 1)), "n": n, "lat": lat, "lon": lon})
    return out
