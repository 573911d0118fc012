"""Live inbox pages: Server-Sent Events at ``/console/live`` tell an open page that its conversations changed,
and the page (``web/static/console.js``) fetches the changed fragment; without EventSource it polls.

One ``LiveHub`` per process listens on the cross-process ``Wakeup`` topics (``inbox``: a citizen's message was
stored; ``outbox``: a reply or a handoff notice was enqueued) in one thread per topic and wakes every open
stream. Each stream then reads a small fingerprint of what its page shows (scoped to the staff member's
department) and sends ``refresh`` only when it changed. Wake-ups only cut latency: a stream also looks every
``CHECK_SECONDS`` (the server-side fallback for a single-process server, where the in-process pipeline sends no
cross-process signal), and the stream ends after ``STREAM_SECONDS`` (EventSource reconnects by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ticketing.db import session_scope
from ticketing.models import Conversation, ConversationMode, Message, OutboxMessage
from web.console import sessions
from web.console.scoping import attention_department_id, conversation_or_404, scope_conversations
from web.context import WebContext
from web.staff import StaffPrincipal

log = logging.getLogger(__name__)

TOPICS = ("inbox", "outbox")
CHECK_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 300.0
SESSION_CHECK_SECONDS = 30.0


class LiveHub:
    """Fans the process's wake-ups out to the open streams (asyncio events set from the listener threads).

    The listener threads (one per topic, each holding a socket or a PostgreSQL ``LISTEN`` connection) run only
    while at least one stream is open: the last stream to close stops them, the next one starts them again."""

    def __init__(self, wakeup: Any) -> None:
        self.wakeup = wakeup
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None

    def _start(self) -> None:
        """Start the listener threads (under ``_lock``) unless they run."""
        if self._stop is not None or self.wakeup is None:
            return
        stop = self._stop = threading.Event()
        for topic in TOPICS:
            try:
                listener = self.wakeup.listener(topic)
            except Exception:
                log.warning("live pages: cannot listen for %s wake-ups; streams poll", topic, exc_info=True)
                continue
            threading.Thread(target=self._run, args=(listener, stop), name=f"console-live-{topic}",
                             daemon=True).start()

    def _run(self, listener: Any, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    woken = listener.wait(1.0)
                except Exception:
                    log.debug("live pages: listener failed", exc_info=True)
                    time.sleep(1.0)
                    continue
                if woken:
                    self.poke()
        finally:
            with contextlib.suppress(Exception):
                listener.close()

    def poke(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(event.set)

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._waiters.add((asyncio.get_running_loop(), event))
            self._start()
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters = {w for w in self._waiters if w[1] is not event}
            if not self._waiters and self._stop is not None:
                self._stop.set()  # the threads close their listeners within a second
                self._stop = None

    def close(self) -> None:
        with self._lock:
            self._waiters.clear()
            if self._stop is not None:
                self._stop.set()
                self._stop = None


_HUBS: weakref.WeakKeyDictionary[Any, LiveHub] = weakref.WeakKeyDictionary()


def hub_for(rt: Any) -> LiveHub:
    hub = _HUBS.get(rt)
    if hub is None:
        hub = _HUBS[rt] = LiveHub(rt.wakeup)
    return hub


def fingerprint(rt: Any, staff: StaffPrincipal, view: str, conversation_id: str | None) -> str:
    """What the page shows, in a few numbers (hashed): a change means the page should refresh."""
    with session_scope(rt.session_factory) as session:
        return page_fingerprint(session, rt, staff, view, conversation_id)


def page_fingerprint(session: Any, rt: Any, staff: StaffPrincipal, view: str, conversation_id: Any) -> str:
    """The fingerprint in the caller's session (a page embeds the one it was rendered with, so a change between
    the render and the stream's start is not missed)."""
    return hashlib.sha256(repr(_numbers(session, rt, staff, view, conversation_id)).encode()).hexdigest()[:16]


def _numbers(session: Any, rt: Any, staff: StaffPrincipal, view: str, conversation_id: Any) -> tuple[Any, ...]:
    if view == "conversation" and conversation_id:
        conv = conversation_or_404(session, staff, rt.catalog, conversation_id)
        last_in = session.scalar(select(func.max(Message.id)).where(Message.identity_id == conv.identity_id))
        last_out = session.execute(select(func.max(OutboxMessage.id), func.count())
                                   .where(OutboxMessage.identity_id == conv.identity_id,
                                          OutboxMessage.status.in_(["sent", "delivered", "read"]))).one()
        conv_state = (str(conv.mode), conv.handoff_staff_id)
        return (last_in, tuple(last_out), conv_state, _inbox_fingerprint(session, rt, staff))
    return _inbox_fingerprint(session, rt, staff)


def _inbox_fingerprint(session: Any, rt: Any, staff: StaffPrincipal) -> tuple[Any, ...]:
    attention = attention_department_id(session, rt.catalog)
    waiting = scope_conversations(
        select(Conversation.identity_id).where(Conversation.mode == ConversationMode.HANDOFF), staff, attention)
    row = session.execute(select(func.count(), func.max(Conversation.handoff_requested_at),
                                 func.sum(Conversation.handoff_staff_id))
                          .where(Conversation.identity_id.in_(waiting.scalar_subquery()))).one()
    last = session.scalar(select(func.max(Message.id)).where(Message.identity_id.in_(waiting.scalar_subquery())))
    return (row[0], str(row[1]), row[2], last)


def routes(ctx: WebContext) -> list[tuple[str, Any, list[str]]]:
    from web.console.pages import staff_page

    async def live(request: Request, staff: StaffPrincipal) -> Response:
        rt = ctx.runtime()
        view = request.query_params.get("view", "inbox")
        conversation_id = request.query_params.get("c")
        first = await run_in_threadpool(fingerprint, rt, staff, view, conversation_id)  # 404 when not theirs
        rendered = request.query_params.get("seen", "")

        async def stream() -> AsyncIterator[str]:
            hub = hub_for(rt)
            event = hub.subscribe()
            seen = first
            started = last_beat = last_session = time.monotonic()
            try:
                yield "retry: 2000\n\n"
                if rendered and rendered != first:  # it changed between the page's render and this stream
                    yield f"event: refresh\ndata: {view}\n\n"
                while time.monotonic() - started < STREAM_SECONDS:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(event.wait(), timeout=CHECK_SECONDS)
                    event.clear()
                    moment = time.monotonic()
                    if moment - last_session >= SESSION_CHECK_SECONDS:
                        last_session = moment
                        if not await run_in_threadpool(_still_signed_in, rt, staff):
                            yield "event: ended\ndata: session\n\n"
                            return
                    try:
                        current = await run_in_threadpool(fingerprint, rt, staff, view, conversation_id)
                    except Exception:
                        log.debug("live pages: fingerprint failed", exc_info=True)
                        continue
                    if current != seen:
                        seen = current
                        last_beat = moment
                        yield f"event: refresh\ndata: {view}\n\n"
                    elif moment - last_beat >= HEARTBEAT_SECONDS:
                        last_beat = moment
                        yield ": keep-alive\n\n"
            finally:
                hub.unsubscribe(event)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    return [("/console/live", staff_page(live), ["GET"])]


def _still_signed_in(rt: Any, staff: StaffPrincipal) -> bool:
    with session_scope(rt.session_factory) as session:
        return sessions.load(session, staff.session_id, datetime.now(UTC)) is not None
