"""The public site: the home page, each department's live service commitments, "Cómo medimos", the folio lookup
and the map of open reports. Never any personal data (rows come from ``web.publication``)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.context import WebContext


def routes(ctx: WebContext) -> list[BaseRoute]:
    """This area's route table."""
    return []
