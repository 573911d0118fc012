"""The internal dashboards under ``/console/tableros``: every indicator of ``ticketing.indicators`` overall and
per department, for any date range, each chart (server-rendered SVG) beside its table and a CSV download.
Behind the console's sign-in (``web.staff.current_staff``) and scoped with ``StaffPrincipal.department_filter``.
Handlers in ``web.dashboards.pages``; tables in ``web.dashboards.tables``; chart geometry in
``web.dashboards.charts``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Route

from web.context import WebContext

if TYPE_CHECKING:
    from web.public.cache import FigureCache


def routes(ctx: WebContext, *, cache: FigureCache | None = None) -> list[BaseRoute]:
    """This area's route table (``cache``: how long computed figures are kept; default a minute)."""
    from web.dashboards.pages import Dashboards

    boards = Dashboards(ctx, cache)
    return [
        Route("/console/tableros", boards.page, methods=["GET"], name="dashboards"),
        Route("/console/tableros/{table:str}.csv", boards.csv, methods=["GET"], name="dashboards_csv"),
    ]
