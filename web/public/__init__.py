"""The public site: the home page, each department's live service commitments, "Cómo medimos", the folio lookup
and the map of open reports. Never any personal data (rows come from ``web.publication``; figures from
``ticketing.indicators``). Handlers live in ``web.public.pages``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Route

from web.context import WebContext

if TYPE_CHECKING:
    from web.public.cache import FigureCache


def routes(ctx: WebContext, *, cache: FigureCache | None = None) -> list[BaseRoute]:
    """This area's route table (``cache``: how long computed figures are kept; default a minute)."""
    from web.public.pages import PublicSite

    site = PublicSite(ctx, cache)
    return [
        Route("/", site.home, methods=["GET"], name="public_home"),
        Route("/dependencias/{code:str}", site.department, methods=["GET"], name="public_department"),
        Route("/como-medimos", site.how, methods=["GET"], name="public_how"),
        Route("/consulta", site.lookup, methods=["GET"], name="public_lookup"),
        Route("/mapa", site.map, methods=["GET"], name="public_map"),
    ]
