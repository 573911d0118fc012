"""The web report chat at ``/reportar``: the same dialogue as WhatsApp, Telegram and SMS, in a browser.

The page is a plain form (works without JavaScript, on a cheap phone): every POST is parsed by the ``web``
channel (``bot.web.WebChannel``) into an ``InboundMessage`` and goes through the same inbox, pipeline, dialogue
engine, outbox and templates as the other channels; the answer is a redirect back to the page (303), which shows
the transcript (the citizen's inbound messages and the outbox rows the ``web`` sender delivered) and "Tus
reportes" with each report's current public status. ``opendata.js`` only enhances: htmx posts, a map point
without reloading, "usar mi ubicación", and a long poll that shows status updates as they are sent.

Routes: ``GET /reportar``; ``POST /reportar`` (text, an option, a map point); ``POST /reportar/foto`` (one
photo, capped at ``REPORTA_MAX_MEDIA_BYTES`` while reading); ``GET /reportar/chat`` (the transcript fragment,
``?after=N`` waits up to ``LONG_POLL_SECONDS`` for a new message); ``GET /reportar/mapa.svg`` (the municipality's
bounding box, no external tiles).

The citizen is a random opaque cookie (HttpOnly, SameSite=Lax; personal data, like a chat id); every POST
carries a CSRF token bound to it (``web.csrf``); POSTs are rate-limited per client address.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from html import escape
from typing import Any

from sqlalchemy import or_, select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.media import MediaRejected
from bot.web import COOKIE, MAX_TEXT, FormRefused, WebChannel, WebIdentity, new_nonce
from reporta.messages import InboundMessage
from ticketing.models import (
    ChannelIdentity,
    ChannelKind,
    Direction,
    InboundState,
    Message,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    Ticket,
)
from web import csrf
from web.context import WebContext
from web.opendata.body import BodyTooLarge, capped
from web.opendata.rows import base_query, fetch_records
from web.secrets import app_secret
from web.templating import Pages

log = logging.getLogger(__name__)

#: What the chat says when it refuses a message, and its labels (macros ``refusal``, ``sent``, ``map_label``).
NOTICES = "opendata/notices.j2"

MAP_SIZE = (300, 240)
COOKIE_MAX_AGE = 180 * 86400
REPLY_WAIT_SECONDS = 5.0
LONG_POLL_SECONDS = 20.0
TRANSCRIPT_LIMIT = 60
MAX_FORM_BYTES = 64 * 1024  # a chat form (text ≤ 1,000 characters); a photo form adds the media cap
SHOWN = (OutboxStatus.SENT, OutboxStatus.DELIVERED, OutboxStatus.READ)


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (a client address), in this process."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(key, collections.deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            if len(self._events) > 50_000:  # forget idle clients
                for k in [k for k, v in self._events.items() if not v][:10_000]:
                    del self._events[k]
            return True


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    south, west, north, east = (float(v) for v in text.split(","))
    if not (south < north and west < east):
        raise ValueError("REPORTA_MUNICIPALITY_BBOX must be south,west,north,east with south < north, west < east")
    return south, west, north, east


def map_svg(bbox: tuple[float, float, float, float], point: tuple[float, float] | None = None, *,
            label: str) -> str:
    """The municipality's bounding box as an SVG grid (no tiles): click-to-place, optionally a marker;
    ``label`` is the image's accessible name (XML-escaped here)."""
    width, height = MAP_SIZE
    south, west, north, east = bbox
    lines = []
    for i in range(1, 6):
        x, y = width * i / 6, height * i / 6
        lines.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}"/>')
        lines.append(f'<line x1="0" y1="{y:.1f}" x2="{width}" y2="{y:.1f}"/>')
    marker = ""
    if point is not None:
        px = (point[1] - west) / (east - west) * width
        py = (north - point[0]) / (north - south) * height
        marker = f'<circle cx="{px:.1f}" cy="{py:.1f}" r="7" fill="#b3261e" stroke="#fff" stroke-width="2"/>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        f'<rect width="{width}" height="{height}" fill="#eef3ea" stroke="#4b5b45" stroke-width="2"/>'
        f'<g stroke="#b9c7b0" stroke-width="1">{"".join(lines)}</g>'
        f'<text x="{width - 14}" y="20" font-family="sans-serif" font-size="14" fill="#2b3a27">N</text>'
        f'<path d="M{width - 10} 24 l-4 10 h8 z" fill="#2b3a27"/>'
        f'<text x="6" y="{height - 8}" font-family="sans-serif" font-size="10" fill="#2b3a27">'
        f'{south:.3f}, {west:.3f}</text>'
        f'<text x="{width - 100}" y="{height - 8}" font-family="sans-serif" font-size="10" fill="#2b3a27">'
        f'{north:.3f}, {east:.3f}</text>{marker}</svg>'
    )


def _identity_row(session: Any, identity: WebIdentity) -> ChannelIdentity | None:
    return session.scalars(select(ChannelIdentity).where(ChannelIdentity.channel == ChannelKind.WEB,
                                                         ChannelIdentity.external_id == identity.external_id)).first()


def transcript(runtime: Any, identity: WebIdentity, pages: Pages) -> dict[str, Any]:
    """The citizen's conversation (newest last), the pending state and their reports (a location or a photo is
    shown by its label in ``pages``)."""
    with runtime.session_factory() as session:
        row = _identity_row(session, identity)
        if row is None:
            return {"items": [], "pending": False, "last_id": 0, "reports": []}
        inbound = session.execute(
            select(Message.id, Message.created_at, Message.kind, Message.text, Message.state)
            .where(Message.identity_id == row.id, Message.direction == Direction.INBOUND)
            .order_by(Message.id.desc()).limit(TRANSCRIPT_LIMIT)).all()
        outbound = session.execute(
            select(OutboxMessage.id, OutboxMessage.created_at, OutboxMessage.body, OutboxMessage.payload,
                   OutboxMessage.status)
            .where(OutboxMessage.identity_id == row.id)
            .order_by(OutboxMessage.id.desc()).limit(TRANSCRIPT_LIMIT)).all()
        identity_id = row.id
    ticket_ids = select(Subscription.ticket_id).where(Subscription.identity_id == identity_id,
                                                      Subscription.active.is_(True))
    reports = fetch_records(runtime, base_query().where(
        or_(Ticket.reporter_identity_id == identity_id, Ticket.id.in_(ticket_ids)))
        .order_by(Ticket.created_at.desc()).limit(20))
    items: list[dict[str, Any]] = []
    pending = False
    for m in inbound:
        if m.state == InboundState.RECEIVED:
            pending = True
        label = pages.macro_text(NOTICES, "sent", m.kind)  # "" for text
        items.append({"who": "citizen", "at": m.created_at, "key": (m.created_at, 0, m.id),
                      "text": label or m.text or "", "buttons": []})
    last_id = 0
    for o in outbound:
        if o.status not in SHOWN:
            if o.status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
                pending = True
            continue
        last_id = max(last_id, o.id)
        buttons = [b for b in (o.payload or {}).get("buttons", []) if b.get("payload")]
        items.append({"who": "bot", "at": o.created_at, "key": (o.created_at, 1, o.id), "text": o.body or "",
                      "buttons": buttons})
    items.sort(key=lambda i: i["key"])
    for i, item in enumerate(items):  # only the newest message's options can be answered
        if i != len(items) - 1:
            item["buttons"] = []
    return {"items": items, "pending": pending, "last_id": last_id, "reports": reports}


def newest_shown(runtime: Any, identity: WebIdentity) -> int:
    """The id of the newest outbox row delivered to this citizen (0: none)."""
    with runtime.session_factory() as session:
        row = _identity_row(session, identity)
        if row is None:
            return 0
        return session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.identity_id == row.id, OutboxMessage.status.in_(SHOWN))
            .order_by(OutboxMessage.id.desc()).limit(1)) or 0


def routes(ctx: WebContext) -> list[BaseRoute]:
    limiters: dict[int, RateLimiter] = {}

    def runtime() -> Any:
        return ctx.runtime()

    def channel() -> WebChannel:
        rt = runtime()
        found = rt.channels.get("web")
        if found is None:  # a runtime built without channels (tests, tools): the form still works
            found = rt.channels["web"] = WebChannel(rt.settings)
            rt.senders.setdefault("web", found.sender)
        return found

    def limiter() -> RateLimiter:
        limit = runtime().settings.web_report_posts_per_minute
        if limit not in limiters:
            limiters[limit] = RateLimiter(limit)
        return limiters[limit]

    def bbox() -> tuple[float, float, float, float]:
        return parse_bbox(runtime().settings.municipality_bbox)

    def secret() -> bytes:
        return app_secret(runtime().settings)

    def set_cookie(response: Response, identity: WebIdentity) -> None:
        response.set_cookie(COOKIE, identity.cookie, max_age=COOKIE_MAX_AGE, path="/reportar", httponly=True,
                            samesite="lax", secure=runtime().settings.public_url.startswith("https://"))

    async def render(request: Request, identity: WebIdentity, *, error: str | None = None, typed: str = "",
                     status_code: int = 200, fragment: bool = False) -> Response:
        rt = runtime()
        chat = await run_in_threadpool(transcript, rt, identity, ctx.pages)
        south, west, north, east = bbox()
        context = {"chat": chat, "error": error, "typed": typed, "nonce": new_nonce(),
                   "csrf_token": csrf.token_for(secret(), identity.cookie), "max_text": MAX_TEXT,
                   "map_width": MAP_SIZE[0], "map_height": MAP_SIZE[1], "bbox": f"{south},{west},{north},{east}",
                   "max_mb": max(1, rt.settings.max_media_bytes // (1024 * 1024)),
                   "site_name": rt.settings.municipality_name, "privacy_url": rt.settings.privacy_notice_url}
        name = "opendata/chat.html" if fragment else "opendata/reportar.html"
        response = ctx.pages.render(request, name, context, status_code=status_code,
                                    headers={"cache-control": "no-store"})
        set_cookie(response, identity)
        return response

    async def page(request: Request) -> Response:
        identity = WebIdentity.from_cookie(request.cookies.get(COOKIE)) or WebIdentity.new()
        return await render(request, identity)

    async def chat_fragment(request: Request) -> Response:
        identity = WebIdentity.from_cookie(request.cookies.get(COOKIE))
        if identity is None:
            return Response(ctx.pages.macro_text(NOTICES, "chat_without_session"), status_code=403)
        after = request.query_params.get("after", "")
        if after.isdigit():  # long poll: wait for this citizen's next delivered message (a wake-up, not a query)
            sender = channel().sender
            mark = sender.mark(identity.external_id)
            if await run_in_threadpool(newest_shown, runtime(), identity) > int(after):
                return await render(request, identity, fragment=True)  # delivered while the page loaded
            deadline = time.monotonic() + LONG_POLL_SECONDS
            while time.monotonic() < deadline and sender.mark(identity.external_id) == mark:
                if await request.is_disconnected():
                    return Response(status_code=204)
                await asyncio.sleep(0.25)
        return await render(request, identity, fragment=True)

    async def map_image(request: Request) -> Response:
        point = None
        lat, lon = request.query_params.get("lat"), request.query_params.get("lon")
        if lat and lon:
            try:
                point = (float(lat), float(lon))
            except ValueError:
                point = None
        return Response(map_svg(bbox(), point, label=ctx.pages.macro_text(NOTICES, "map_label")),
                        media_type="image/svg+xml",
                        headers={"cache-control": "public, max-age=3600"})

    def refusal(key: str, **values: Any) -> str:
        return ctx.pages.macro_text(NOTICES, "refusal", key, **values)

    def form_error(exc: FormRefused) -> str:
        """Why the channel did not take the form (``bot.web.FormRefused``), in the chat's words."""
        return ctx.pages.macro_text(NOTICES, "form_error", exc.key, **exc.values)

    def refuse(request: Request, status: int, key: str, **values: Any) -> Response:
        """The page that says why the message was not taken (``key`` of macro ``refusal``)."""
        return ctx.pages.render(request, "opendata/refused.html", {"message": refusal(key, **values), "site_name":
                                runtime().settings.municipality_name}, status_code=status)

    def checked(request: Request, form: Any) -> WebIdentity | Response:
        identity = WebIdentity.from_cookie(request.cookies.get(COOKIE))
        if identity is None:
            return refuse(request, 403, "no_session")
        token = form.get(csrf.FIELD) or request.headers.get(csrf.HEADER)
        if not csrf.valid(secret(), identity.cookie, str(token or "")):
            return refuse(request, 403, "form_expired")
        return identity

    def rate_limited(request: Request) -> Response | None:
        client = request.client.host if request.client else "unknown"
        if limiter().allow(client):
            return None
        log.warning("web report chat: rate limit for a client address")
        return refuse(request, 429, "rate_limited")

    async def deliver(request: Request, identity: WebIdentity, inbound: InboundMessage) -> Response:
        rt = runtime()
        sender = channel().sender
        mark = sender.mark(identity.external_id)
        message_id = await rt.pipeline.receive_async(inbound)
        if message_id is not None:
            await wait_for_reply(message_id, identity, mark)
        response = RedirectResponse("/reportar#ultimo", status_code=303)
        set_cookie(response, identity)
        return response

    async def wait_for_reply(message_id: int, identity: WebIdentity, mark: int) -> None:
        """Until the message is processed and its replies are delivered (woken by the web sender; bounded)."""
        rt = runtime()
        sender = channel().sender

        def done() -> bool:
            with rt.session_factory() as session:
                state = session.scalar(select(Message.state).where(Message.id == message_id))
                if state == InboundState.RECEIVED:
                    return False
                waiting = session.scalar(select(OutboxMessage.id).where(
                    OutboxMessage.in_reply_to_id == message_id,
                    OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING))).limit(1))
                return waiting is None

        deadline = time.monotonic() + REPLY_WAIT_SECONDS
        checks = 0
        while time.monotonic() < deadline:
            # the web sender wakes us when it delivers here; another process may be the dispatcher, so look
            # at the database now and then too
            if (sender.mark(identity.external_id) != mark or checks % 5 == 0) and await run_in_threadpool(done):
                return
            checks += 1
            await asyncio.sleep(0.1)

    async def post(request: Request) -> Response:
        limited = rate_limited(request)
        if limited is not None:
            return limited
        try:
            form = await capped(request, MAX_FORM_BYTES).form(max_files=0, max_fields=20, max_part_size=16 * 1024)
        except (BodyTooLarge, HTTPException):  # the body, or one field (max_part_size), too large
            return refuse(request, 413, "text_too_large")
        except Exception:
            return refuse(request, 400, "bad_form")
        identity = checked(request, form)
        if isinstance(identity, Response):
            return identity
        values = {k: str(v) for k, v in form.items()}
        try:
            inbound = channel().parse(values, identity, bbox=bbox(), map_size=MAP_SIZE)
        except FormRefused as exc:
            return await render(request, identity, error=form_error(exc), typed=values.get("text", "")[:MAX_TEXT])
        return await deliver(request, identity, inbound)

    async def post_photo(request: Request) -> Response:
        limited = rate_limited(request)
        if limited is not None:
            return limited
        rt = runtime()
        limit = rt.settings.max_media_bytes
        identity = WebIdentity.from_cookie(request.cookies.get(COOKIE))
        max_mb = max(1, limit // (1024 * 1024))
        too_large = refusal("photo_too_large", max_mb=max_mb)
        try:
            form = await capped(request, limit + MAX_FORM_BYTES).form(max_files=1, max_fields=10,
                                                                      max_part_size=16 * 1024)
        except BodyTooLarge:
            if identity is None:
                return refuse(request, 413, "photo_too_large", max_mb=max_mb)
            return await render(request, identity, error=too_large)
        except Exception:
            return refuse(request, 400, "bad_form")
        try:
            identity = checked(request, form)
            if isinstance(identity, Response):
                return identity
            upload = form.get("foto")
            if upload is None or isinstance(upload, str) or not upload.filename:
                return await render(request, identity, error=refusal("photo_missing"))

            def stage() -> str:
                upload.file.seek(0)
                return channel().stage_upload(iter(lambda: upload.file.read(64 * 1024), b""))

            try:
                staged = await run_in_threadpool(stage)
            except MediaRejected:
                return await render(request, identity, error=too_large)
            except FormRefused as exc:
                return await render(request, identity, error=form_error(exc))
            values = {"nonce": str(form.get("nonce") or ""), "foto": staged}
            try:
                inbound = channel().parse(values, identity, bbox=bbox(), map_size=MAP_SIZE)
            except FormRefused as exc:
                return await render(request, identity, error=form_error(exc))
            return await deliver(request, identity, inbound)
        finally:
            await form.close()

    return [
        Route("/reportar", page, methods=["GET"]),
        Route("/reportar", post, methods=["POST"]),
        Route("/reportar/foto", post_photo, methods=["POST"]),
        Route("/reportar/chat", chat_fragment, methods=["GET"]),
        Route("/reportar/mapa.svg", map_image, methods=["GET"]),
    ]
