"""What every console page handler shares: the signed-in staff member, the unit of work, the page context
(CSRF token, staff, flash message), the console's error page and the helpers other pages behind the login may
call (``csrf_token(request)``, ``require_staff(request)``)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ticketing.db import session_scope
from web import csrf
from web.console.middleware import covers
from web.context import WebContext
from web.secrets import app_secret
from web.staff import StaffPrincipal, current_staff, login_redirect

_SECRETS: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()
#: The Spanish texts of the console's notices and page errors (macros ``notice`` and ``error``; also ``login``,
#: ``gate``, ``closed_plan``, ``sms_segments``). A page shows the notice of ``?aviso=<code>`` and the error of
#: ``?error=<code>``: fixed texts (an unknown code shows nothing), so a link cannot make a console page say
#: something else.
NOTICES = "console/notices.j2"
#: The console's page for a URL that does not exist or is not the staff member's (one page for both: it never
#: tells whether another department's ticket exists), inside the console's layout.
NOT_FOUND_PAGE = "console/not_found.html"
#: The console's labels for codes (statuses, timeline events, channels, actors, missing values).
LABELS = "console/labels.j2"


def secret_for(ctx: WebContext) -> bytes:
    rt = ctx.runtime()
    if rt not in _SECRETS:
        _SECRETS[rt] = app_secret(rt.settings)
    return _SECRETS[rt]


def csrf_token(ctx: WebContext, request: Request) -> str:
    """The CSRF token for forms on this page (bound to the console session)."""
    staff = current_staff(request)
    return csrf.token_for(secret_for(ctx), staff.session_id) if staff is not None else ""


def now() -> datetime:
    return datetime.now(UTC)


def unit_of_work(ctx: WebContext) -> AbstractContextManager[Session]:
    """A session committed when the block succeeds, rolled back otherwise (``ticketing.db.session_scope``)."""
    return session_scope(ctx.runtime().session_factory)


def local(ctx: WebContext, value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(ctx.runtime().settings.timezone)).strftime(fmt)


def waited(since: datetime | None, moment: datetime) -> str:
    """A short Spanish duration: "5 min", "2 h 10 min", "3 d"."""
    if since is None:
        return "—"
    minutes = max(0, int((moment - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} d"


def render(ctx: WebContext, request: Request, name: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    staff = current_staff(request)
    settings = ctx.runtime().settings
    base = {"staff": staff, "csrf_token": csrf_token(ctx, request), "site_name": settings.municipality_name,
            "flash": ctx.pages.macro_text(NOTICES, "notice", request.query_params.get("aviso", "")),
            "page_error": ctx.pages.macro_text(NOTICES, "error", request.query_params.get("error", "")),
            "fmt": lambda v, f="%d/%m/%Y %H:%M": local(ctx, v, f)}
    return ctx.pages.render(request, name, {**base, **(context or {})}, status_code=status_code,
                            headers={"cache-control": "no-store"})


def error_page(ctx: WebContext, request: Request, status_code: int = 404,
               headers: dict[str, str] | None = None) -> HTMLResponse:
    """The console's error page for a signed-in member: the staff navigation, a short message and the way back
    to the inbox; ``status_code`` 404 (or 405 for a method the page does not take, with its ``Allow`` header)."""
    response = render(ctx, request, NOT_FOUND_PAGE, {"flash": "", "page_error": ""}, status_code=status_code)
    response.headers.update(headers or {})
    return response


def error_page_for(ctx: WebContext, request: Request, status_code: int,
                   headers: dict[str, str] | None = None) -> HTMLResponse | None:
    """The console's error page when a signed-in member asks for a page (GET) under ``/console``; None for
    anyone else (the app answers them as before: the public 404 page or plain text), so the console's layout
    never reaches someone without a session."""
    if request.method != "GET" or not covers(request.url.path) or current_staff(request) is None:
        return None
    return error_page(ctx, request, status_code, headers)


def staff_page(handler: Callable[[Request, StaffPrincipal], Any]) -> Callable[[Request], Any]:
    """Wrap a handler that needs a signed-in staff member: without one, GET goes to the sign-in page."""

    async def endpoint(request: Request) -> Response:
        staff = current_staff(request)
        if staff is None:
            if request.method in ("GET", "HEAD"):
                return login_redirect(request)
            return Response("sign in first", status_code=403)
        return await handler(request, staff)

    return endpoint


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def actor(staff: StaffPrincipal) -> str:
    return f"staff:{staff.email}"
