"""The dashboards' tables, built once from ``ticketing.indicators`` figures and read three ways: as the HTML table
beside each chart, as the chart itself, and as the CSV download (raw numbers, no formatting)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ticketing.catalog import Catalog
from ticketing.indicators import BacklogPoint, Counts, Durations, Escalations, Rate, Report
from web.public import figures

#: Table keys, in page order (the CSV names: /console/tableros/<key>.csv).
TABLE_KEYS = ("servicios", "canales", "dependencias", "motivos", "satisfaccion", "pendientes", "escalaciones")


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


def pct_text(rate: Rate) -> str:
    if rate.value is None:
        return "sin casos"
    text = f"{rate.value * 100:.0f} % ({rate.numerator:,} de {rate.denominator:,})"
    return text if rate.enough else f"{text}, pocos casos"


def _raw_pct(rate: Rate) -> float | None:
    return None if rate.value is None else round(rate.value * 100, 1)


def _raw_hours(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def satisfaction_text(counts: Counts) -> str:
    mean = counts.satisfaction_mean
    if mean is None:
        return "sin respuestas"
    text = f"{figures.number(mean)} de 5 ({counts.rated:,} resp.)"
    return text if counts.satisfaction_enough else f"{text}, pocos casos"


FIGURE_COLUMNS = ["Reportes", "A tiempo", "Mediana", "P90", "Reabiertos tras resolver", "Arreglo confirmado",
                  "Satisfacción", "Correcciones de canalización"]
RAW_FIGURE_COLUMNS = ["reportes", "juzgados_a_tiempo", "a_tiempo", "a_tiempo_pct", "mediana_horas_habiles",
                      "p90_horas_habiles", "resueltos_alguna_vez", "reabiertos_tras_resolver", "reabiertos_pct",
                      "preguntados_ya_quedo", "confirmados", "confirmados_pct", "calificaciones",
                      "satisfaccion_promedio", "calif_1", "calif_2", "calif_3", "calif_4", "calif_5",
                      "corregidos", "corregidos_pct", "cerrados_sin_arreglo", "abiertos", "abiertos_vencidos"]


def _figure_cells(counts: Counts, durations: Durations, day_hours: float) -> list[str]:
    return [f"{counts.reports:,}", pct_text(counts.on_time_rate),
            figures.duration(durations, "median", day_hours=day_hours, always=True),
            figures.duration(durations, "p90", day_hours=day_hours, always=True),
            pct_text(counts.reopen_rate), pct_text(counts.confirmed_rate), satisfaction_text(counts),
            pct_text(counts.routing_rate)]


def _figure_raw(counts: Counts, durations: Durations) -> list[Any]:
    mean = counts.satisfaction_mean
    return [counts.reports, counts.judged, counts.on_time, _raw_pct(counts.on_time_rate),
            _raw_hours(durations.median), _raw_hours(durations.p90), counts.ever_resolved,
            counts.reopened_after_resolution, _raw_pct(counts.reopen_rate), counts.asked, counts.confirmed,
            _raw_pct(counts.confirmed_rate), counts.rated, None if mean is None else round(mean, 2),
            *counts.ratings, counts.rerouted, _raw_pct(counts.routing_rate), counts.not_completed, counts.open,
            counts.open_overdue]


def build_tables(report: Report, backlog: list[BacklogPoint], escalations: Escalations | None, catalog: Catalog,
                 *, tz: str, day_hours: float, overall: bool) -> dict[str, Table]:
    """Every table of one dashboard; ``overall``: the by-department table too (admins, no department chosen)."""
    from web.dashboards import charts

    tables: dict[str, Table] = {}

    # by service, against each one's commitment
    t = Table("servicios", "Por servicio, contra su compromiso", ["Servicio", "Compromiso", *FIGURE_COLUMNS],
              raw_columns=["servicio", "dependencia", "compromiso", *RAW_FIGURE_COLUMNS])
    by_cat = report.by_category()
    bars = []
    for code, counts in sorted(by_cat.items(), key=lambda kv: _name(catalog, kv[0])):
        cat = catalog.categories.get(code)
        commitment = cat.sla_text() if cat else "—"
        durations = report.time_to_resolve(category=code)
        t.rows.append([_name(catalog, code), commitment, *_figure_cells(counts, durations, day_hours)])
        t.raw.append([code, cat.department if cat else "", commitment, *_figure_raw(counts, durations)])
        bars.append((_name(catalog, code), counts.on_time_rate.percent, pct_text(counts.on_time_rate)))
    t.chart = charts.bar_chart(bars, maximum=100)
    t.chart_title = "Reportes resueltos a tiempo por servicio (%)"
    tables[t.key] = t

    # by channel
    t = Table("canales", "Reportes por canal", ["Canal", "Reportes", "Parte del total"],
              raw_columns=["canal", "reportes", "pct"])
    total = report.total().reports
    by_channel = sorted(report.by_channel().items(), key=lambda kv: (-kv[1].reports, kv[0]))
    for code, counts in by_channel:
        share = counts.reports / total * 100 if total else None
        t.rows.append([figures.CHANNEL_NAMES.get(code, code), f"{counts.reports:,}",
                       "—" if share is None else f"{share:.0f} %"])
        t.raw.append([code, counts.reports, None if share is None else round(share, 1)])
    t.chart = charts.bar_chart([(figures.CHANNEL_NAMES.get(c, c), float(n.reports), f"{n.reports:,}")
                                for c, n in by_channel])
    t.chart_title = "Reportes por canal"
    tables[t.key] = t

    if overall:
        t = Table("dependencias", "Por dependencia", ["Dependencia", *FIGURE_COLUMNS],
                  raw_columns=["dependencia", *RAW_FIGURE_COLUMNS])
        bars = []
        for code, counts in sorted(report.by_department().items(), key=lambda kv: _dept(catalog, kv[0])):
            durations = report.time_to_resolve(department=code)
            t.rows.append([_dept(catalog, code), *_figure_cells(counts, durations, day_hours)])
            t.raw.append([code, *_figure_raw(counts, durations)])
            bars.append((_dept(catalog, code), counts.on_time_rate.percent, pct_text(counts.on_time_rate)))
        t.chart = charts.bar_chart(bars, maximum=100)
        t.chart_title = "Reportes resueltos a tiempo por dependencia (%)"
        tables[t.key] = t

    # reasons for non-completion
    t = Table("motivos", "Motivos de cierre sin arreglo", ["Motivo", "Reportes", "Parte de los cerrados sin arreglo"],
              raw_columns=["motivo", "reportes", "pct"])
    reasons = report.reasons_total()
    closed = sum(reasons.values())
    for code, n in reasons.items():
        name = catalog.reasons[code].name if code in catalog.reasons else code
        t.rows.append([name, f"{n:,}", f"{n / closed * 100:.0f} %"])
        t.raw.append([code, n, round(n / closed * 100, 1)])
    t.chart = charts.bar_chart([(r[0], float(raw[1]), r[1]) for r, raw in zip(t.rows, t.raw, strict=True)])
    t.chart_title = "Reportes cerrados sin arreglo, por motivo"
    t.note = "" if reasons else "Ningún reporte del periodo se cerró sin arreglo."
    tables[t.key] = t

    # satisfaction distribution
    counts = report.total()
    t = Table("satisfaccion", "Calificaciones (1 a 5)", ["Calificación", "Respuestas"],
              raw_columns=["calificacion", "respuestas"])
    for score in range(5, 0, -1):
        n = counts.ratings[score - 1]
        t.rows.append([f"{score}", f"{n:,}"])
        t.raw.append([score, n])
    t.chart = charts.bar_chart([(f"{r[0]} de 5", float(raw[1]), r[1]) for r, raw in zip(t.rows, t.raw, strict=True)])
    t.chart_title = "Respuestas por calificación"
    rr = counts.response_rate
    t.note = (f"Promedio {satisfaction_text(counts)}. Contestó {pct_text(rr)} de quienes confirmaron el arreglo."
              if counts.rated else "Todavía no hay calificaciones en el periodo.")
    tables[t.key] = t

    # backlog over time
    t = Table("pendientes", "Pendientes y vencidos en el tiempo", ["Fecha", "Pendientes", "Vencidos"],
              raw_columns=["fecha", "pendientes", "vencidos"])
    for p in backlog:
        t.rows.append([figures.local_date(p.at, tz), f"{p.backlog:,}", f"{p.overdue:,}"])
        t.raw.append([p.at.isoformat(), p.backlog, p.overdue])
    if backlog:
        lines = [("line", [p.backlog for p in backlog]), ("line alt", [p.overdue for p in backlog])]
        t.chart = charts.line_chart([p.at for p in backlog], lines, lambda m: _short_date(m, tz))
    t.chart_title = "Reportes pendientes (línea continua) y vencidos (línea punteada)"
    tables[t.key] = t

    if escalations is not None:
        t = Table("escalaciones", "Atención por una persona (escalaciones)",
                  ["Escalaciones", "Con respuesta", "Primera respuesta, mediana", "Primera respuesta, p90"],
                  raw_columns=["escalaciones", "con_respuesta", "mediana_min", "p90_min"])
        t.rows.append([f"{escalations.requested:,}", pct_text(escalations.answered_rate),
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


def _short_date(moment: Any, tz: str) -> str:
    from zoneinfo import ZoneInfo

    m = moment.astimezone(ZoneInfo(tz))
    return f"{m.day} {figures.MONTHS[m.month - 1][:3]}"
