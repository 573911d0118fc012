"""The ASGI app (Starlette): provider webhooks, delivery receipts and a health check.

- ``POST /webhooks/telegram``: ``X-Telegram-Bot-Api-Secret-Token`` checked (403), Update parsed (400 when
  malformed), each message stored durably and processed off the request path; unknown update kinds → 200.
  A pressed inline button is acknowledged in the webhook response (``answerCallbackQuery``).
- ``POST /webhooks/twilio``: WhatsApp and SMS; ``X-Twilio-Signature`` checked against ``REPORTA_PUBLIC_URL``
  (403); answered at once with empty TwiML (replies go out through the REST API via the outbox).
- ``POST /webhooks/twilio/status``: delivery receipts (``MessageStatus``) moved onto the outbox row.
- ``GET /healthz``: database ping.
- Every web page and API of ``web`` (console, public site, open data, Open311), listed in ``web.routes``; every
  response carries the security headers of ``web.security``.

The lifespan starts the pipeline's recovery loop and, when ``REPORTA_SCHEDULER_ENABLED``, the scheduler and
outbox dispatcher (``notifications.worker.Worker``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channel import BadRequest, Forbidden, Unusable
from bot.edge import MAX_PROVIDER_ID, clean_str, loads
from bot.media import EXTENSIONS
from bot.media_links import resolve_link
from bot.twilio import FormPairs
from reporta.flow.store import StoreFailed
from reporta.runtime import Runtime
from reporta.settings import Settings
from web.console.middleware import ConsoleGate
from web.console.pages import error_page_for
from web.context import WebContext
from web.routes import web_routes
from web.security import SecurityHeaders
from web.templating import Pages

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_BODY_BYTES = 256 * 1024  # webhooks carry text and links, never the media itself
BODY_SECONDS = 10.0  # the whole body of a webhook must arrive within this


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


async def _read_body(request: Request) -> bytes:
    """The request body, at most ``MAX_BODY_BYTES``, read within ``BODY_SECONDS`` (a slow client is cut off)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest("payload too large")
    chunks: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BadRequest("payload too large")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), BODY_SECONDS)
    except TimeoutError as exc:
        raise BadRequest("request body too slow") from exc
    return b"".join(chunks)


def create_serving_app() -> Starlette:
    """The app of one ``reporta serve --workers N`` web process (a uvicorn factory): with
    ``REPORTA_PROCESSORS`` > 0 it only verifies and stores (processing and dispatch run in their own
    processes, started by ``serve``); with 0 it is the whole app."""
    settings = Settings()
    separate = settings.processors > 0
    return create_app(settings=settings, store_only=separate, scheduler=False if separate else None)


MEDIA_TYPES = {ext: content_type for content_type, ext in EXTENSIONS.items()}


def create_app(runtime: Runtime | None = None, settings: Settings | None = None, *,
               background: bool = True, store_only: bool = False, scheduler: bool | None = None) -> Starlette:
    """The webhook app over ``runtime`` (built from ``settings`` when not given, and then closed at shutdown).

    ``background=False`` leaves the pipeline and dispatcher loops to the caller (tests drive them).
    ``store_only`` (a runtime built here): webhooks are stored and the processing processes woken.
    ``scheduler``: run the scheduler + dispatcher here (default ``REPORTA_SCHEDULER_ENABLED``).
    """
    owns = runtime is None
    # read once: the runtime built at start-up and the pages' site name use the same settings
    app_settings = runtime.settings if runtime is not None else settings or Settings()
    state: dict[str, Runtime] = {}

    def rt() -> Runtime:
        return state["runtime"]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["runtime"] = runtime if runtime is not None else await run_in_threadpool(
            lambda: Runtime.from_settings(app_settings, store_only=store_only))
        if background:
            rt().start_background(scheduler=scheduler)
        try:
            yield
        finally:
            if background:
                await run_in_threadpool(rt().stop_background)
            if owns:
                await run_in_threadpool(rt().close)

    if runtime is not None:
        state["runtime"] = runtime

    async def telegram_webhook(request: Request) -> Response:
        channel = rt().channels.get("telegram")
        if channel is None:
            return Response("telegram channel is off", status_code=404)
        if not channel.secret:
            log.warning("telegram webhook refused: REPORTA_TELEGRAM_WEBHOOK_SECRET is not set "
                        "(set it, then run reporta telegram set-webhook; or use --telegram-polling)")
            return Response("webhook secret not configured", status_code=403)
        try:
            channel.check_secret(request.headers.get("x-telegram-bot-api-secret-token"))
        except Forbidden:
            log.warning("telegram webhook: bad secret token")
            return Response("forbidden", status_code=403)
        try:
            payload = loads(await _read_body(request))
            messages = channel.parse(payload)
        except Unusable as exc:  # an Update we cannot use: 200, or Telegram redelivers it for hours
            log.warning("telegram webhook: %s; answered 200 and dropped", exc)
            return Response(status_code=200)
        except BadRequest as exc:
            log.warning("telegram webhook: malformed update (%s)", exc)
            return Response("malformed update", status_code=400)
        for inbound in messages:
            try:
                message_id = await rt().pipeline.receive_async(inbound)
            except StoreFailed:  # logged once by the inbox writer; Telegram retries the update
                return Response("temporarily unavailable", status_code=503)
            log.info("telegram update %s %s", inbound.provider_message_id,
                     f"stored as message {message_id}" if message_id else "was a redelivery")
        callback = payload.get("callback_query") if isinstance(payload, dict) else None
        if isinstance(callback, dict) and isinstance(callback.get("id"), str) and messages:
            return JSONResponse({"method": "answerCallbackQuery", "callback_query_id": callback["id"][:64]})
        return Response(status_code=200)

    async def _twilio_form(request: Request) -> tuple[FormPairs, str]:
        body = await _read_body(request)
        try:
            text_body = body.decode("utf-8")
            pairs = parse_qsl(text_body, keep_blank_values=True, strict_parsing=False, max_num_fields=200)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest("not a form post") from exc
        return FormPairs(pairs), text_body

    async def _verified_twilio_form(request: Request, channel: Any, what: str) -> dict[str, str] | Response:
        """The posted form when the Twilio channel is on and the signature is right; else the answer to give."""
        if channel is None:
            return Response("twilio channel is off", status_code=404)
        try:
            pairs, body = await _twilio_form(request)
        except BadRequest as exc:
            log.warning("%s: %s", what, exc)
            return Response("malformed request", status_code=400)
        try:
            channel.check_signature(request.url.path, request.url.query, pairs,
                                    request.headers.get("x-twilio-signature"), body=body,
                                    settings_header=request.headers.get("x-twilio-webhooks-signature-settings"))
        except Forbidden:
            log.warning("%s: bad signature", what)
            return Response("forbidden", status_code=403)
        return pairs.first()

    async def twilio_webhook(request: Request) -> Response:
        channel = rt().channels.get("twilio")
        form = await _verified_twilio_form(request, channel, "twilio webhook")
        if isinstance(form, Response):
            return form
        try:
            messages = channel.parse(form)
        except BadRequest as exc:
            log.warning("twilio webhook: malformed message (%s)", exc)
            return Response("malformed message", status_code=400)
        for inbound in messages:
            try:
                message_id = await rt().pipeline.receive_async(inbound)
            except StoreFailed:  # logged once by the inbox writer; Twilio may retry
                return Response("temporarily unavailable", status_code=503)
            log.info("twilio %s %s %s", inbound.channel, inbound.provider_message_id,
                     f"stored as message {message_id}" if message_id else "was a redelivery")
        return _twiml()

    async def twilio_status(request: Request) -> Response:
        channel = rt().channels.get("twilio")
        form = await _verified_twilio_form(request, channel, "twilio status callback")
        if isinstance(form, Response):
            return form
        # cleaned like every webhook field (bot.edge): a NUL or an over-long id must not reach the database
        sid = clean_str(form.get("MessageSid") or form.get("SmsSid"), MAX_PROVIDER_ID + 1)
        status = clean_str(form.get("MessageStatus") or form.get("SmsStatus"), 32)
        if not sid or not status or len(sid) > MAX_PROVIDER_ID:
            return Response("MessageSid and MessageStatus are required", status_code=400)
        moved = await run_in_threadpool(rt().dispatcher.status_callback, sid, status,
                                        error_code=clean_str(form.get("ErrorCode"), 32) or None)
        log.info("twilio status %s for %s (%s)", status, sid, "applied" if moved else "no change")
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        def ping() -> Any:
            with rt().engine.connect() as conn:
                return conn.execute(text("SELECT 1")).scalar()

        try:
            await run_in_threadpool(ping)
        except Exception as exc:
            log.warning("health check: database unreachable (%s)", type(exc).__name__)
            return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok", "channels": sorted(rt().senders)})

    async def media(request: Request) -> Response:
        """A stored media file behind a signed, expiring link (Twilio fetches WhatsApp photos this way)."""
        path = resolve_link(rt().settings, request.path_params["name"], request.query_params.get("exp", ""),
                            request.query_params.get("sig", ""))
        if path is None:
            return Response("invalid or expired link", status_code=403)
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"))

    routes: list[BaseRoute] = [
        Route("/webhooks/telegram", telegram_webhook, methods=["POST"]),
        Route("/media/{name:path}", media, methods=["GET", "HEAD"]),
        Route("/webhooks/twilio", twilio_webhook, methods=["POST"]),
        Route("/webhooks/twilio/status", twilio_status, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    # A municipality's own page templates (<data_dir>/web_templates, when it exists) first, then the defaults.
    pages = Pages(extra_dirs=[app_settings.web_templates_dir])
    # Every page's <title> names the municipality ("Consultar un folio · Municipio de San Reporta").
    pages.env.globals["site_name"] = app_settings.municipality_name
    ctx = WebContext(runtime=rt, pages=pages)
    routes += web_routes(ctx)

    async def not_found(request: Request, exc: Exception) -> Response:
        """A page for people (in Spanish: the console's own for a signed-in staff member); plain text for
        webhooks and APIs."""
        console_page = error_page_for(ctx, request, 404)
        if console_page is not None:
            return console_page
        detail = getattr(exc, "detail", "not found")
        path = request.url.path
        if path.startswith(("/webhooks", "/media", "/healthz", "/open311", "/datos/")) or request.method != "GET":
            return PlainTextResponse(str(detail), status_code=404)
        return pages.render(request, "errors/404.html", status_code=404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        """A method a route does not take (e.g. a staff member opening a form's POST address): the console's
        page for a signed-in member; Starlette's plain text for anyone else. Both keep the ``Allow`` header."""
        headers = dict(getattr(exc, "headers", None) or {})
        console_page = error_page_for(ctx, request, 405, headers)
        if console_page is not None:
            return console_page
        return PlainTextResponse(str(getattr(exc, "detail", "Method Not Allowed")), status_code=405, headers=headers)

    return Starlette(routes=routes, lifespan=lifespan,
                     middleware=[Middleware(SecurityHeaders), Middleware(ConsoleGate, runtime=rt, pages=pages)],
                     exception_handlers={404: not_found, 405: not_allowed})
