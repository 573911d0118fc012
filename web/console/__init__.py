"""The staff console under ``/console``: login, sessions, CSRF, department scoping, the escalation inbox,
the ticket desk and the internal dashboards."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.context import WebContext


def routes(ctx: WebContext) -> list[BaseRoute]:
    """This area's route table."""
    return []
