"""Open by default: the open data exports (``/datos``), Open311 GeoReport v2 (``/open311/v2``) and the web
report channel (``/reportar``). Rows come from ``web.publication``."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.context import WebContext


def routes(ctx: WebContext) -> list[BaseRoute]:
    """This area's route table."""
    return []
