"""The staff console under ``/console``: login, sessions, CSRF, department scoping, the escalation inbox,
the ticket desk and the internal dashboards.

Modules: ``middleware`` (the gate around every ``/console`` path: session → ``StaffPrincipal`` in the scope,
CSRF on every state-changing request), ``sessions``, ``passwords``, ``throttle``, ``login`` (sign in and out),
``scoping`` (department scoping inside every query), ``masking``, ``pages`` (shared page helpers), ``inbox``,
``live`` (Server-Sent Events), ``desk`` and ``queue`` (the ticket desk), ``canned``, ``cli``
(``reporta staff``).
"""

from __future__ import annotations

from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Route

from web.context import WebContext


def routes(ctx: WebContext) -> list[BaseRoute]:
    """This area's route table."""
    from web.console import desk, inbox, live, login

    table: list[BaseRoute] = [Route("/console", lambda request: RedirectResponse("/console/inbox", 303))]
    for module in (login, inbox, live, desk):
        table += [Route(path, endpoint, methods=methods) for path, endpoint, methods in module.routes(ctx)]
    return table
