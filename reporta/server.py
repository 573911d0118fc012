"""The web server configuration ``reporta serve`` runs (uvicorn), with limits against unauthenticated resource
exhaustion: anyone on the internet can open a connection to a webhook URL.

- **Header size**: uvicorn's h11 parser with ``h11_max_incomplete_event_size`` = ``REPORTA_SERVER_MAX_HEADER_BYTES``
  (16 KiB): a request line + headers beyond that is answered 400 and the connection closed, with at most that
  much buffered. (httptools, uvicorn's faster default, buffers headers without a bound: a 128 MB header blocked
  the event loop for 21 s.)
- **Header count and size**: ``HeaderLimit`` answers 431 past ``REPORTA_SERVER_MAX_HEADERS`` (100) headers or
  ``REPORTA_SERVER_MAX_HEADER_BYTES`` of them, before the app runs.
- **Incomplete requests**: ``GuardedH11Protocol`` closes a connection whose request (head and body) has not fully
  arrived ``REPORTA_SERVER_REQUEST_SECONDS`` (10 s) after its first byte, or after the connection opened — the
  half-open and slow-loris connections that uvicorn alone keeps forever.
- **Keep-alive**: idle connections close after ``REPORTA_SERVER_KEEP_ALIVE_SECONDS`` (5 s).
- **Concurrency**: past ``REPORTA_SERVER_MAX_CONNECTIONS`` open connections or tasks, requests get 503 at once.
- **Bodies**: the webhooks read at most 256 KiB within 10 s (``reporta.app._read_body``).

In production a reverse proxy sits in front (TLS, and the same limits at the edge): see docs/channels.md.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

from reporta.logs import uvicorn_log_config
from reporta.settings import Settings

_LIMITS = {"request_seconds": 10.0}  # set from the settings in each web process (``options``, ``serving_app``)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's arrival (head and body)."""

    @property
    def request_seconds(self) -> float:
        return _LIMITS["request_seconds"]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arrival: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._arrival is None:
            self._arrival = self.loop.call_later(self.request_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._arrival is not None:
            self._arrival.cancel()
            self._arrival = None

    def data_received(self, data: bytes) -> None:
        self._arm()  # a new request's first bytes (a connection kept alive starts its clock again)
        super().data_received(data)
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._disarm()  # the whole request is in: what follows is the app's time, not the client's

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # idle now: the keep-alive timeout applies

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _too_slow(self) -> None:
        self._arrival = None
        if self.transport.is_closing():
            return
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED):
            return
        self.logger.info("closed a connection whose request did not arrive within %.0f s", self.request_seconds)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()


class HeaderLimit:
    """ASGI middleware: 431 for a request with more than ``max_headers`` headers or more than ``max_bytes`` of
    them. (h11's limit bounds what it buffers of an *incomplete* head; a head that arrives in one read of up to
    64 KiB is complete at once, so the size is checked here too.)"""

    def __init__(self, app: Any, max_headers: int, max_bytes: int = 16 * 1024) -> None:
        self.app = app
        self.max_headers = max_headers
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers") or ()
            size = sum(len(k) + len(v) + 4 for k, v in headers) + len(scope.get("raw_path") or b"") + len(
                scope.get("query_string") or b"")
            if len(headers) > self.max_headers or size > self.max_bytes:
                await send({"type": "http.response.start", "status": 431,
                            "headers": [(b"content-type", b"text/plain"), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": b"request header fields too large"})
                return
        await self.app(scope, receive, send)


def options(settings: Settings) -> dict[str, Any]:
    """The uvicorn keyword arguments ``reporta serve`` passes (also for ``--workers N``)."""
    _LIMITS["request_seconds"] = settings.server_request_seconds
    return {
        "http": GuardedH11Protocol,
        "h11_max_incomplete_event_size": settings.server_max_header_bytes,
        "limit_concurrency": settings.server_max_connections,
        "timeout_keep_alive": settings.server_keep_alive_seconds,
        "backlog": 2048,
        "log_level": settings.log_level.lower(),
        "log_config": uvicorn_log_config(settings.log_level),
        "proxy_headers": True,
        "server_header": False,
    }


def config(app: Any, settings: Settings, **overrides: Any) -> Config:
    """A uvicorn ``Config`` for ``app`` (wrapped in ``HeaderLimit``) with the limits above."""
    wrapped = (HeaderLimit(app, settings.server_max_headers, settings.server_max_header_bytes)
               if not isinstance(app, str) else app)
    return Config(wrapped, **{"host": settings.host, "port": settings.port, **options(settings), **overrides})


def serving_app() -> Any:
    """The uvicorn factory of ``reporta serve --workers N``: the serving app with the header limit."""
    from reporta.app import create_serving_app

    settings = Settings()
    _LIMITS["request_seconds"] = settings.server_request_seconds
    return HeaderLimit(create_serving_app(), settings.server_max_headers, settings.server_max_header_bytes)
