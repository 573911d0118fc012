"""Every web route, area by area: one table per area, in the order Starlette tries them. The webhook app
(``reporta.app``) appends ``web_routes(ctx)`` to its own routes."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from web import console, dashboards, opendata, public
from web.context import WebContext
from web.templating import STATIC_DIR


def web_routes(ctx: WebContext) -> list[BaseRoute]:
    return [
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        *dashboards.routes(ctx),  # /console/tableros...
        *console.routes(ctx),  # /console/...
        *opendata.routes(ctx),  # /reportar, /datos/..., /open311/v2/...
        *public.routes(ctx),  # /, /dependencias/..., /como-medimos, /consulta, /mapa
    ]
