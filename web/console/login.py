"""Signing in and out: ``/console/login`` (GET form, POST credentials) and ``/console/logout`` (POST).

The sign-in form's CSRF token is bound to a random cookie set by the form page; a successful sign-in revokes
any session the browser already had and issues a new id (no fixation). Throttled by ``web.console.throttle``.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from web import csrf
from web.console import passwords, sessions, throttle
from web.console.middleware import LOGIN_SUBJECT_PREFIX, client_address
from web.console.pages import NOTICES, now, render, secret_for, see_other, unit_of_work
from web.context import WebContext
from web.staff import current_staff

from ticketing.models import StaffUser  # isort: skip

HOME = "/console/inbox"


def safe_next(value: str | None) -> str:
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value \
            and not value.startswith("/console/logout") and not value.startswith("/console/login"):
        return value[:500]
    return HOME


def _login_page(ctx: WebContext, request: Request, nonce: str, *, error: str = "", email: str = "",
                next_url: str = HOME, status_code: int = 200) -> Response:
    token = csrf.token_for(secret_for(ctx), LOGIN_SUBJECT_PREFIX + nonce)
    response = render(ctx, request, "console/login.html", {
        "login_token": token, "error": error, "email": email, "next_url": next_url}, status_code=status_code)
    settings = ctx.runtime().settings
    response.headers.append("set-cookie", sessions.cookie_header(settings, sessions.login_cookie_name(settings),
                                                                 nonce, max_age=3600))
    return response


def routes(ctx: WebContext) -> list[tuple[str, Any, list[str]]]:
    settings_of = lambda: ctx.runtime().settings  # noqa: E731

    async def login(request: Request) -> Response:
        settings = settings_of()
        nonce_cookie = sessions.login_cookie_name(settings)
        if request.method == "GET":
            if current_staff(request) is not None:
                return see_other(safe_next(request.query_params.get("next")))
            nonce = request.cookies.get(nonce_cookie) or secrets.token_urlsafe(24)
            return _login_page(ctx, request, nonce, next_url=safe_next(request.query_params.get("next")))
        form = await request.form()
        email = str(form.get("email") or "").strip().lower()[:200]
        password = str(form.get("password") or "")[:1000]
        next_url = safe_next(str(form.get("next") or ""))
        nonce = request.cookies.get(nonce_cookie) or secrets.token_urlsafe(24)
        address = client_address(request.scope)
        if not email or not password:
            return _login_page(ctx, request, nonce, error=ctx.pages.macro_text(NOTICES, "login", "missing"),
                               email=email, next_url=next_url, status_code=400)
        result = await run_in_threadpool(_attempt, ctx, email, password, address,
                                         request.headers.get("user-agent"), request.cookies.get(
                                             sessions.cookie_name(settings)))
        raw_id, problem = result
        if problem:
            return _login_page(ctx, request, nonce, error=problem, email=email, next_url=next_url, status_code=401)
        response = see_other(next_url)
        response.headers.append("set-cookie", sessions.cookie_header(settings, sessions.cookie_name(settings),
                                                                     raw_id, max_age=None))
        response.headers.append("set-cookie", sessions.cookie_header(settings, nonce_cookie, "", max_age=0))
        return response

    def _locked(until: datetime) -> str:
        tz = ZoneInfo(settings_of().timezone)
        return ctx.pages.macro_text(NOTICES, "login", "locked", until=until.astimezone(tz).strftime("%H:%M"))

    def _attempt(ctx_: WebContext, email: str, password: str, address: str, user_agent: str | None,
                 old_session: str | None) -> tuple[str, str]:
        """(the new raw session id, "") or ("", the Spanish message to show)."""
        moment = now()
        with unit_of_work(ctx_) as session:
            until = throttle.locked_until(session, email, address, moment)
            if until is not None:
                return "", _locked(until)
            user = session.scalars(select(StaffUser).where(func.lower(StaffUser.username) == email)).one_or_none()
            ok, new_hash = passwords.verify(user.password_hash if user is not None else None, password)
            if not ok or user is None or not user.active:
                throttle.record(session, email, address, False, moment)
                session.flush()
                until = throttle.locked_until(session, email, address, moment)
                return "", _locked(until) if until is not None else ctx_.pages.macro_text(NOTICES, "login", "bad")
            if new_hash:
                user.password_hash = new_hash
            throttle.record(session, email, address, True, moment)
            if old_session:
                sessions.revoke(session, old_session, moment)
            return sessions.create(session, user, moment, address=address, user_agent=user_agent), ""

    async def logout(request: Request) -> Response:
        settings = settings_of()
        raw = request.cookies.get(sessions.cookie_name(settings))
        if raw:
            def revoke() -> None:
                with unit_of_work(ctx) as session:
                    sessions.revoke(session, raw, now())

            await run_in_threadpool(revoke)
        response = see_other("/console/login?aviso=salida")
        response.headers.append("set-cookie", sessions.cookie_header(settings, sessions.cookie_name(settings), "",
                                                                     max_age=0))
        return response

    return [("/console/login", login, ["GET", "POST"]), ("/console/logout", logout, ["POST"])]
