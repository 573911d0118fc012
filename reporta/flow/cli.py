"""The `reporta` commands that run the message flow: `serve` (the web process, with its processing and worker
processes as children) and `process` (one processing process)."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import typer


def _logging(level: str) -> None:
    from reporta.logs import configure_logging

    configure_logging(level)


def register(app: typer.Typer) -> None:
    """Add the flow's commands to the root app."""

    @app.command("serve")
    def serve(
        host: str = typer.Option(None, "--host", help="Interface to listen on (default REPORTA_HOST)."),
        port: int = typer.Option(None, "--port", help="Port (default REPORTA_PORT)."),
        telegram_polling: bool = typer.Option(False, "--telegram-polling",
                                              help="Development: fetch Telegram updates with getUpdates."),
        workers: int = typer.Option(1, "--workers", min=1,
                                    help="Web processes (PostgreSQL only); they verify and store webhooks."),
        processors: int = typer.Option(None, "--processors", min=0,
                                       help="Processing processes (NLU + dialogue) next to the web process "
                                            "(default REPORTA_PROCESSORS=1; 0: process in the web process)."),
    ) -> None:
        """Serve the provider webhooks; processing runs in its own process(es), and the scheduler + outbox
        dispatcher in another one, unless disabled."""
        import os

        import uvicorn

        from nlu.api import ensure_model
        from reporta.runtime import Runtime
        from reporta.settings import get_settings
        from ticketing.db import is_sqlite
        from ticketing.migrate import upgrade

        settings = get_settings()
        _logging(settings.log_level)
        if is_sqlite(settings.database_url):
            upgrade(settings.database_url)
        ensure_model(settings)
        n_proc = settings.processors if processors is None else processors
        host, port = host or settings.host, port or settings.port
        if workers > 1:
            if is_sqlite(settings.database_url):
                raise typer.BadParameter("--workers > 1 needs PostgreSQL (SQLite has a single writer)")
            if telegram_polling:
                raise typer.BadParameter("--telegram-polling runs in one process: use --workers 1")
        children = None
        if n_proc > 0:
            from reporta.flow.supervisor import Children

            children = Children.for_serve(settings, n_proc)
            children.start()
        try:
            if workers > 1:
                # Every web process stores any message; processing processes (or, with --processors 0, the web
                # processes themselves) claim identities, conversations and outbox rows with row locks.
                os.environ["REPORTA_PROCESSORS"] = str(n_proc)
                typer.echo(f"reporta serve: {workers} web processes, {n_proc} processing; http://{host}:{port}")
                from reporta import server

                uvicorn.run("reporta.server:serving_app", factory=True, workers=workers, host=host, port=port,
                            **server.options(settings))
                return
            runtime = Runtime.from_settings(settings, migrate=False, store_only=n_proc > 0)
            _serve_one(runtime, host, port, settings, telegram_polling, separate=n_proc > 0)
        finally:
            if children is not None:
                children.stop()

    @app.command("process")
    def process(
        index: int = typer.Option(0, "--index", min=0, help="This processor's number, 0 … count-1."),
        count: int = typer.Option(1, "--count", min=1, help="How many processing processes share the work."),
        parent_pid: int = typer.Option(None, "--parent-pid", hidden=True,
                                       help="Stop when this process is gone (set by reporta serve)."),
    ) -> None:
        """Process stored inbound messages (NLU, dialogue, outbox) for the citizens routed to this process."""
        import signal

        from reporta.flow.processor import Processor
        from reporta.runtime import SWITCH_INTERVAL, Runtime
        from reporta.settings import get_settings

        settings = get_settings()
        _logging(settings.log_level)
        sys.setswitchinterval(SWITCH_INTERVAL)
        runtime = Runtime.from_settings(settings, migrate=False)
        proc = Processor(runtime, index, count, wakeup=runtime.wakeup)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: proc.stop())
        try:
            proc.run(parent_pid=parent_pid)
        finally:
            runtime.close()


def _serve_one(runtime: Any, host: str, port: int, settings: Any, telegram_polling: bool, *, separate: bool) -> None:
    """One web process (uvicorn) over ``runtime``; ``separate``: processing and dispatch run in child processes."""
    import uvicorn

    from reporta import server
    from reporta.app import create_app

    on = ", ".join(sorted(runtime.senders))
    layout = "processing and dispatch in their own processes" if separate else "all in this process"
    typer.echo(f"reporta serve: channels on: {on}; {layout}; http://{host}:{port}")
    stop = threading.Event()
    if telegram_polling:
        channel = runtime.channels.get("telegram")
        if channel is None:
            raise typer.BadParameter("--telegram-polling needs REPORTA_TELEGRAM_TOKEN")

        def on_update(update: dict) -> None:
            from bot.channel import BadRequest
            from reporta.flow.store import StoreFailed

            try:
                for inbound in channel.parse(update):
                    runtime.pipeline.receive(inbound)
            except BadRequest as exc:  # Unusable too: dropped with a line, as the webhook answers 200
                logging.getLogger("bot.polling").warning("telegram update dropped: %s", exc)
            except StoreFailed:  # logged once by the inbox writer; polled again from this update
                raise

        threading.Thread(target=channel.poll, args=(on_update, stop), name="telegram-polling", daemon=True).start()
    try:
        # The limits of reporta.server: header size and count, request arrival time, keep-alive, concurrency.
        uvicorn.Server(server.config(create_app(runtime, scheduler=not separate), settings, host=host,
                                     port=port)).run()
    finally:
        stop.set()
        runtime.close()
