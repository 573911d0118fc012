"""The console's gate, a pure ASGI middleware around the whole app (``reporta.app``) that acts on every path
under ``/console`` (the console's own pages and every other page behind the login, e.g. ``/console/tableros``):

- reads the session cookie and, for a valid session, puts the ``StaffPrincipal`` in
  ``scope[web.staff.SCOPE_KEY]`` (pages read it with ``web.staff.current_staff``);
- enforces CSRF on every state-changing request (POST, PUT, PATCH, DELETE): the ``X-CSRF-Token`` header or the
  ``csrf_token`` form field (urlencoded or multipart) must be the token bound to the session (for the sign-in
  form: to the sign-in page's own cookie). Otherwise 403 and the request never reaches a handler, so nothing
  changes (a signed-in member reads why inside the console's layout). A state-changing request without a
  session is refused the same way, on a page that shows nothing of the console.

Pages without a session are the handlers' to redirect (``web.staff.login_redirect``), so a guessed URL still
answers the public Spanish 404 page (a signed-in member gets the console's own, ``web.console.pages.error_page``).
``csrf_token(request)`` gives a page the token for its forms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web import csrf
from web.console import sessions
from web.secrets import app_secret
from web.staff import SCOPE_KEY
from web.templating import Pages

log = logging.getLogger(__name__)

PREFIX = "/console"
#: The CSRF token of the signed-in session, for any page behind the login: ``csrf_token(request)``.
CSRF_SCOPE_KEY = "reporta.csrf_token"
LOGIN_PATH = "/console/login"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Extra room for a multipart form around an uploaded photo.
FORM_OVERHEAD = 1024 * 1024
LOGIN_SUBJECT_PREFIX = "login:"

#: The page of a refused request, with the key of its reason (texts in ``console/notices.j2``, macro ``gate``);
#: for a signed-in member, the same text inside the console's layout.
REFUSED_PAGE = "console/refused.html"
REFUSED_SIGNED_IN_PAGE = "console/refused_signed_in.html"


def covers(path: str) -> bool:
    """Whether ``path`` is behind the console's gate (``/console`` and everything under it)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def csrf_token(request: Request) -> str:
    """The token a form on any ``/console`` page must send (hidden ``csrf_token`` field or ``X-CSRF-Token``
    header; ``<meta name="csrf-token">`` makes ``web.js`` send it on htmx requests). Empty without a session."""
    return str(request.scope.get(CSRF_SCOPE_KEY) or "")


def cookies(scope: Scope) -> dict[str, str]:
    raw = Headers(scope=scope).get("cookie", "")
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return {}
    return {k: v.value for k, v in jar.items()}


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "-"


def refused(pages: Pages, key: str, status_code: int = 403, *, staff: Any = None, csrf_token: str = "",
            site_name: str = "") -> Response:
    """The Spanish page of a refused request: ``key`` is ``session_ended``, ``login_cookie_missing``,
    ``form_expired`` or ``too_large``. With ``staff`` (the signed-in member), inside the console's layout."""
    if staff is None:
        return HTMLResponse(pages.render_text(REFUSED_PAGE, key=key), status_code=status_code)
    html = pages.render_text(REFUSED_SIGNED_IN_PAGE, key=key, staff=staff, csrf_token=csrf_token,
                             site_name=site_name, flash="", page_error="")
    return HTMLResponse(html, status_code=status_code, headers={"cache-control": "no-store"})


class ConsoleGate:
    """``Middleware(ConsoleGate, runtime=callable returning the Runtime, pages=the app's Pages)``; without
    ``pages``, the default templates."""

    def __init__(self, app: ASGIApp, runtime: Callable[[], Any], pages: Pages | None = None) -> None:
        self.app = app
        self.runtime = runtime
        self.pages = pages if pages is not None else Pages()
        self._secret: bytes | None = None

    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = app_secret(self.runtime().settings)
        return self._secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not covers(path):
            await self.app(scope, receive, send)
            return
        rt = self.runtime()
        jar = cookies(scope)
        raw_id = jar.get(sessions.cookie_name(rt.settings))
        principal = None
        if raw_id:
            principal = await run_in_threadpool(self._load, rt, raw_id)
        scope[SCOPE_KEY] = principal
        scope[CSRF_SCOPE_KEY] = csrf.token_for(self.secret(), principal.session_id) if principal is not None else ""
        if scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        if path == LOGIN_PATH:
            nonce = jar.get(sessions.login_cookie_name(rt.settings))
            subject = LOGIN_SUBJECT_PREFIX + nonce if nonce else None
        else:
            subject = principal.session_id if principal is not None else None
        if subject is None:
            key = "session_ended" if path != LOGIN_PATH else "login_cookie_missing"
            await refused(self.pages, key)(scope, receive, send)
            return
        signed_in: dict[str, Any] = {"staff": principal, "csrf_token": scope[CSRF_SCOPE_KEY],
                                     "site_name": rt.settings.municipality_name}
        header_token = Headers(scope=scope).get(csrf.HEADER)
        body: bytes | None = None
        if header_token is not None:
            ok = csrf.valid(self.secret(), subject, header_token)
        else:
            limit = rt.settings.max_media_bytes + FORM_OVERHEAD
            body = await _read_body(receive, limit)
            if body is None:
                await refused(self.pages, "too_large", status_code=413, **signed_in)(scope, receive, send)
                return
            token = await _form_token(scope, body)
            ok = csrf.valid(self.secret(), subject, token)
        if not ok:
            log.warning("console: CSRF token missing or wrong on %s %s", scope["method"], path)
            await refused(self.pages, "form_expired", **signed_in)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive) if body is not None else receive, send)

    @staticmethod
    def _load(rt: Any, raw_id: str) -> Any:
        from ticketing.db import session_scope

        with session_scope(rt.session_factory) as session:
            return sessions.load(session, raw_id, datetime.now(UTC))


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = Headers(scope=scope).get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    request = Request(dict(scope), _replay(body, _never))
    try:
        form = await request.form(max_files=10, max_fields=200)
    except Exception:
        return None
    try:
        value = form.get(csrf.FIELD)
        return value if isinstance(value, str) else None
    finally:
        await form.close()


async def _never() -> Message:
    return {"type": "http.disconnect"}
