"""Open by default: the web report channel (``/reportar``), the open data exports (``/datos``) and Open311
GeoReport v2 (``/open311/v2``). Published rows come from ``web.publication`` through ``web.opendata.rows``.

Modules: ``report`` (the browser chat, channel ``web``), ``exports`` (``/datos`` and the streamed CSV, JSON,
GeoJSON), ``open311`` (GeoReport v2 in JSON and XML), ``rows`` (the published record), ``filters`` (query
parameters), ``keys`` and ``cli`` (Open311 API keys). JSON schemas of the Open311 responses are in ``schemas/``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.context import WebContext


def routes(ctx: WebContext) -> list[BaseRoute]:
    """This area's route table: /reportar..., /datos..., /open311/v2/..."""
    from web.opendata import exports, open311, report

    return [*report.routes(ctx), *exports.routes(ctx), *open311.routes(ctx)]
