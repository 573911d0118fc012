"""The internal dashboards under ``/console/tableros``: every indicator of ``ticketing.indicators`` overall and
per department, for any date range, each chart (server-rendered SVG) beside its table and a CSV download.
Behind the console's sign-in (``web.staff.current_staff``) and scoped with ``StaffPrincipal.department_filter``.
Handlers in ``web.dashboards.pages``; tables in ``web.dashboards.tables``; chart geometry in
``web.dashboards.charts``."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from web.context import WebContext


def routes(ctx: WebContext) -> list[BaseRoute]:
    """This area's route table."""
    from web.dashboards.pages import Dashboards

    boards = Dashboards(ctx)
    return [
        Route("/console/tableros", boards.page, methods=["GET"], name="dashboards"),
        Route("/console/tableros/{table:str}.csv", boards.csv, methods=["GET"], name="dashboards_csv"),
    ]
