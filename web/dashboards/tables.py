"""The dashboards' tables, built once from ``ticketing.indicators`` figures and read three ways: as the HTML table
beside each chart, as the chart itself, and as the CSV download (raw numbers, no formatting)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ticketing.catalog import Catalog
from ticketing.indicators import BacklogPoint, Counts, Durations, Escalations, Rate, Report
from web.public import figures
from web.templating import Pages

#: Table keys, in page order (the CSV names: /console/tableros/<key>.csv).
TABLE_KEYS = ("servicios", "canales", "dependencias", "motivos", "satisfaccion", "pendientes", "escalaciones")
#: The dashboards' words: titles, column headers, notes, rates (macros ``table``, ``chart``, ``column``...).
LABELS = "dashboards/labels.j2"


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)  # as shown
    raw: list[list[Any]] = field(default_factory=list)  # for the CSV
    raw_columns: list[str] = field(default_factory=list)
    chart: Any = None  # charts.BarChart | charts.LineChart | None
    chart_title: str = ""
    note: str = ""


class Words:
    """The dashboards' wording (``LABELS``) and the public figures' (``web.public.figures``) in the app's pages."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.fig = figures.Figures(pages)

    def text(self, macro: str, *args: Any, **kwargs: Any) -> str:
        return self.pages.macro_text(LABELS, macro, *args, **kwargs)

    def columns(self, *keys: str) -> list[str]:
        return [self.text("column", key) for key in keys]

    def pct(self, rate: Rate) -> str:
        """``"72 % (18 de 25)"``, with ", pocos casos" under the minimum; "sin casos" without any."""
        if rate.value is None:
            return self.text("rate", None)
        return self.text("rate", f"{rate.value * 100:.0f}", f"{rate.numerator:,}", f"{rate.denominator:,}",
                         rate.enough)

    def satisfaction(self, counts: Counts) -> str:
        mean = counts.satisfaction_mean
        if mean is None:
            return self.text("satisfaction", None)
        return self.text("satisfaction", figures.number(mean), f"{counts.rated:,}", counts.satisfaction_enough)


def _raw_pct(rate: Rate) -> float | None:
    return None if rate.value is None else round(rate.value * 100, 1)


def _raw_hours(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


#: The columns of the figures every table by service and by department has (their headers: macro ``column``).
FIGURE_COLUMNS = ("reports", "on_time", "median", "p90", "reopened", "confirmed", "satisfaction", "rerouted")
RAW_FIGURE_COLUMNS = ["reportes", "juzgados_a_tiempo", "a_tiempo", "a_tiempo_pct", "mediana_horas_habiles",
                      "p90_horas_habiles", "resueltos_alguna_vez", "reabiertos_tras_resolver", "reabiertos_pct",
                      "preguntados_ya_quedo", "confirmados", "confirmados_pct", "calificaciones",
                      "satisfaccion_promedio", "calif_1", "calif_2", "calif_3", "calif_4", "calif_5",
                      "corregidos", "corregidos_pct", "cerrados_sin_arreglo", "abiertos", "abiertos_vencidos"]


def _figure_cells(w: Words, counts: Counts, durations: Durations, day_hours: float) -> list[str]:
    return [f"{counts.reports:,}", w.pct(counts.on_time_rate),
            w.fig.duration(durations, "median", day_hours=day_hours, always=True),
            w.fig.duration(durations, "p90", day_hours=day_hours, always=True),
            w.pct(counts.reopen_rate), w.pct(counts.confirmed_rate), w.satisfaction(counts),
            w.pct(counts.routing_rate)]


def _figure_raw(counts: Counts, durations: Durations) -> list[Any]:
    mean = counts.satisfaction_mean
    return [counts.reports, counts.judged, counts.on_time, _raw_pct(counts.on_time_rate),
            _raw_hours(durations.median), _raw_hours(durations.p90), counts.ever_resolved,
            counts.reopened_after_resolution, _raw_pct(counts.reopen_rate), counts.asked, counts.confirmed,
            _raw_pct(counts.confirmed_rate), counts.rated, None if mean is None else round(mean, 2),
            *counts.ratings, counts.rerouted, _raw_pct(counts.routing_rate), counts.not_completed, counts.open,
            counts.open_overdue]


def build_tables(report: Report, backlog: list[BacklogPoint], escalations: Escalations | None, catalog: Catalog,
                 w: Words, *, tz: str, day_hours: float, overall: bool) -> dict[str, Table]:
    """Every table of one dashboard; ``overall``: the by-department table too (admins, no department chosen)."""
    from web.dashboards import charts

    tables: dict[str, Table] = {}

    def table(key: str, *columns: str, raw_columns: list[str]) -> Table:
        return Table(key, w.text("table", key), w.columns(*columns), raw_columns=raw_columns,
                     chart_title=w.text("chart", key))

    # by service, against each one's commitment
    t = table("servicios", "service", "commitment", *FIGURE_COLUMNS,
              raw_columns=["servicio", "dependencia", "compromiso", *RAW_FIGURE_COLUMNS])
    by_cat = report.by_category()
    bars = []
    for code, counts in sorted(by_cat.items(), key=lambda kv: _name(catalog, kv[0])):
        cat = catalog.categories.get(code)
        commitment = cat.sla_text() if cat else "—"
        durations = report.time_to_resolve(category=code)
        t.rows.append([_name(catalog, code), commitment, *_figure_cells(w, counts, durations, day_hours)])
        t.raw.append([code, cat.department if cat else "", commitment, *_figure_raw(counts, durations)])
        bars.append((_name(catalog, code), counts.on_time_rate.percent, w.pct(counts.on_time_rate)))
    t.chart = charts.bar_chart(bars, maximum=100)
    tables[t.key] = t

    # by channel
    t = table("canales", "channel", "reports", "share",
              raw_columns=["canal", "reportes", "pct"])
    total = report.total().reports
    by_channel = sorted(report.by_channel().items(), key=lambda kv: (-kv[1].reports, kv[0]))
    for code, counts in by_channel:
        share = counts.reports / total * 100 if total else None
        t.rows.append([w.fig.channel(code), f"{counts.reports:,}",
                       "—" if share is None else f"{share:.0f} %"])
        t.raw.append([code, counts.reports, None if share is None else round(share, 1)])
    t.chart = charts.bar_chart([(w.fig.channel(c), float(n.reports), f"{n.reports:,}") for c, n in by_channel])
    tables[t.key] = t

    if overall:
        t = table("dependencias", "department", *FIGURE_COLUMNS,
                  raw_columns=["dependencia", *RAW_FIGURE_COLUMNS])
        bars = []
        for code, counts in sorted(report.by_department().items(), key=lambda kv: _dept(catalog, kv[0])):
            durations = report.time_to_resolve(department=code)
            t.rows.append([_dept(catalog, code), *_figure_cells(w, counts, durations, day_hours)])
            t.raw.append([code, *_figure_raw(counts, durations)])
            bars.append((_dept(catalog, code), counts.on_time_rate.percent, w.pct(counts.on_time_rate)))
        t.chart = charts.bar_chart(bars, maximum=100)
        tables[t.key] = t

    # reasons for non-completion
    t = table("motivos", "reason", "reports", "share_not_resolved",
              raw_columns=["motivo", "reportes", "pct"])
    reasons = report.reasons_total()
    closed = sum(reasons.values())
    for code, n in reasons.items():
        name = catalog.reasons[code].name if code in catalog.reasons else code
        t.rows.append([name, f"{n:,}", f"{n / closed * 100:.0f} %"])
        t.raw.append([code, n, round(n / closed * 100, 1)])
    t.chart = charts.bar_chart([(r[0], float(raw[1]), r[1]) for r, raw in zip(t.rows, t.raw, strict=True)])
    t.note = "" if reasons else w.text("note", "no_reasons")
    tables[t.key] = t

    # satisfaction distribution
    counts = report.total()
    t = table("satisfaccion", "rating", "answers",
              raw_columns=["calificacion", "respuestas"])
    for score in range(5, 0, -1):
        n = counts.ratings[score - 1]
        t.rows.append([f"{score}", f"{n:,}"])
        t.raw.append([score, n])
    t.chart = charts.bar_chart([(w.text("score", r[0]), float(raw[1]), r[1])
                                for r, raw in zip(t.rows, t.raw, strict=True)])
    t.note = (w.text("note", "ratings", mean=w.satisfaction(counts), rate=w.pct(counts.response_rate))
              if counts.rated else w.text("note", "no_ratings"))
    tables[t.key] = t

    # backlog over time
    t = table("pendientes", "date", "backlog", "overdue",
              raw_columns=["fecha", "pendientes", "vencidos"])
    for p in backlog:
        t.rows.append([w.fig.local_date(p.at, tz), f"{p.backlog:,}", f"{p.overdue:,}"])
        t.raw.append([p.at.isoformat(), p.backlog, p.overdue])
    if backlog:
        lines = [("line", [p.backlog for p in backlog]), ("line alt", [p.overdue for p in backlog])]
        t.chart = charts.line_chart([p.at for p in backlog], lines, lambda m: w.fig.short_date(m, tz))
    tables[t.key] = t

    if escalations is not None:
        t = table("escalaciones", "escalations", "answered", "first_median", "first_p90",
                  raw_columns=["escalaciones", "con_respuesta", "mediana_min", "p90_min"])
        t.rows.append([f"{escalations.requested:,}", w.pct(escalations.answered_rate),
                       figures.minutes(escalations.median_minutes), figures.minutes(escalations.p90_minutes)])
        t.raw.append([escalations.requested, escalations.answered,
                      _raw_hours(escalations.median_minutes), _raw_hours(escalations.p90_minutes)])
        tables[t.key] = t
    return tables


def _name(catalog: Catalog, code: str) -> str:
    cat = catalog.categories.get(code)
    return cat.name if cat else code


def _dept(catalog: Catalog, code: str) -> str:
    dept = catalog.departments.get(code)
    return dept.name if dept else code
