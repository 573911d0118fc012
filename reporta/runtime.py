"""The composition root: ``Runtime.from_settings(settings)`` builds every long-lived part of Reporta once.

Engine and session factory (a SQLite database is migrated on start), catalog (+ departments synced), NLU
parser, renderer, ticket listeners (``notifications.updates.ticket_listeners``), the
dialogue engine, the channels that are on (credentials set; the simulator always), their senders, the
outbox dispatcher and the inbound pipeline. ``runtime.ticket_service(session)`` is how staff tools create
a ``TicketService`` that notifies citizens (it passes the listeners).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from reporta.messages import Sender
from reporta.settings import Settings

log = logging.getLogger(__name__)

#: The interpreter's thread switch interval in a serving process (seconds); see ``start_background``.
SWITCH_INTERVAL = 0.001


class Runtime:
    """Everything a process needs, built once; ``close()`` releases connections and threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine
        self.session_factory: sessionmaker[Session]
        self.catalog: Any = None
        self.parser: Any = None
        self.renderer: Any = None
        self.dialogue: Any = None
        self.listeners: Sequence[Callable[..., None]] = ()
        self.channels: dict[str, Any] = {}
        self.senders: dict[str, Sender] = {}
        self.dispatcher: Any = None
        self.pipeline: Any = None
        self.worker: Any = None
        self.wakeup: Any = None  # reporta.flow.interprocess.Wakeup: signals to the other processes
        self._wakers: list[Callable[[], None]] = []

    # --- construction -----------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate: bool | None = None, channels: bool = True,
                      simulator: Sender | None = None, senders: dict[str, Sender] | None = None,
                      handler: Any = None, pipeline_workers: int = 2,
                      dispatcher_options: dict[str, Any] | None = None, store_only: bool = False) -> Runtime:
        """Build the runtime. ``migrate`` defaults to True on SQLite (PostgreSQL is migrated by deployment);
        ``senders`` replaces the channels' senders (the terminal simulator prints everything);
        ``handler`` replaces the dialogue engine (benchmarks of the pipeline alone); ``store_only``: the web
        process of ``reporta serve`` with processing processes: webhooks are stored and the processing
        processes woken, nothing is processed here (no NLU model loaded)."""
        from bot.senders import build_senders
        from dialogue.render import Renderer
        from nlu.api import load_parser
        from notifications.dispatcher import Dispatcher
        from notifications.updates import ticket_listeners
        from reporta.flow.pipeline import Pipeline
        from ticketing.catalog import load_catalog, sync_departments
        from ticketing.db import is_sqlite, make_engine, make_session_factory, session_scope
        from ticketing.migrate import upgrade

        rt = cls(settings)
        if migrate is None:
            migrate = is_sqlite(settings.database_url)
        if migrate:
            upgrade(settings.database_url)
        rt.engine = make_engine(settings.database_url)
        rt.session_factory = make_session_factory(rt.engine)
        rt.catalog = load_catalog(settings.catalog_path)
        with session_scope(rt.session_factory) as session:
            sync_departments(session, rt.catalog)
        rt.renderer = Renderer(settings.templates_dir)
        rt.listeners = tuple(ticket_listeners(settings, rt.renderer, rt.catalog))
        if handler is None and store_only:
            handler = _NotHere()
        if handler is None:
            from dialogue.engine import DialogueEngine

            rt.parser = load_parser(settings)
            rt.dialogue = DialogueEngine(settings=settings, catalog=rt.catalog, parser=rt.parser,
                                         renderer=rt.renderer, listeners=rt.listeners)
            handler = rt.dialogue
        if channels:
            rt.channels = rt._build_channels()
        rt.senders = dict(senders) if senders is not None else build_senders(settings, rt.channels,
                                                                             simulator=simulator)
        options = {"rate_limits": settings.dispatch_rate_limits, **(dispatcher_options or {})}
        rt.dispatcher = Dispatcher(rt.session_factory, rt.senders, settings, **options)
        rt._wakers.append(rt.dispatcher.wake)
        from reporta.flow.interprocess import Wakeup

        rt.wakeup = Wakeup(settings.database_url, rt.engine)
        # A dispatcher or processor in another process: on PostgreSQL the pipeline NOTIFYs inside its own
        # transaction (``signal``); elsewhere a wake-up follows the commit.
        transactional = rt.wakeup.transactional
        if not transactional:
            rt._wakers.append(lambda: rt.wakeup.notify("outbox"))
        twilio = rt.channels.get("twilio")
        media_sources = {k: v for k, v in {"telegram": rt.channels.get("telegram"), "whatsapp": twilio,
                                           "sms": twilio, "web": rt.channels.get("web")}.items() if v is not None}
        rt.pipeline = Pipeline(rt.session_factory, handler, settings, media_sources=media_sources,
                               on_outbox=rt.wake_outbox, workers=pipeline_workers, process_here=not store_only,
                               on_stored=None if transactional else lambda: rt.wakeup.notify("inbox"),
                               signal=rt.wakeup.notify_in if transactional else None)
        return rt

    def _build_channels(self) -> dict[str, Any]:
        built: dict[str, Any] = {}
        if self.settings.telegram_enabled:
            from bot.telegram import TelegramChannel

            label = "📍 Enviar mi ubicación"
            with contextlib.suppress(Exception):  # the label is optional in the templates
                label = self.renderer.label("send_location", "telegram")
            built["telegram"] = TelegramChannel(self.settings, location_button_label=label)
        if self.settings.twilio_enabled:
            from bot.twilio import TwilioChannel

            built["twilio"] = TwilioChannel(self.settings)
        from bot.web import WebChannel

        built["web"] = WebChannel(self.settings)  # the browser chat at /reportar: needs no credentials
        return built

    # --- services for the other rooms -------------------------------------------------------------

    def ticket_service(self, session: Session, **kwargs: Any) -> Any:
        """A ``TicketService`` on ``session`` with the runtime's listeners (citizens get notified)."""
        from ticketing.service import TicketService

        kwargs.setdefault("timezone", self.settings.timezone)
        kwargs.setdefault("listeners", self.listeners)
        return TicketService(session, self.catalog, **kwargs)

    def wake_outbox(self) -> None:
        """Something was enqueued: let every dispatcher of this process start a cycle now."""
        for wake in list(self._wakers):
            try:
                wake()
            except Exception:  # pragma: no cover - a waker must never break the caller
                log.exception("outbox wake-up failed")

    # --- background work --------------------------------------------------------------------------

    def start_background(self, *, scheduler: bool | None = None) -> None:
        """Start the inbound pipeline's recovery loop and, when enabled, the scheduler + outbox dispatcher."""
        # The event loop, the inbox writer, the processing threads and the dispatcher share one GIL, and every
        # database call releases it: with the default 5 ms switch interval a thread coming back from the
        # database waits up to 5 ms for a busy thread to let go (measured: 133 → 162 msg/s on SQLite at 1 ms).
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        self.pipeline.start()
        if scheduler if scheduler is not None else self.settings.scheduler_enabled:
            from notifications.worker import Worker

            self.worker = Worker(self)
            own = self.worker.dispatcher
            if own is not None and own is not self.dispatcher:
                self._wakers.append(own.wake)
            self.worker.start()

    def stop_background(self) -> None:
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.dispatcher is not None:
            self.dispatcher.stop()

    def close(self) -> None:
        self.stop_background()
        if self.dispatcher is not None:
            self.dispatcher.close()
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()
        if self.wakeup is not None:
            self.wakeup.close()
        self.engine.dispose()


class _NotHere:
    """The handler of a store-only runtime: processing happens in the processing processes."""

    def handle(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("this process only stores inbound messages (see reporta process)")
