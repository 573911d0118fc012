"""The `reporta` commands owned by `bot/`: `reporta serve` (webhooks + background work) and `reporta chat`."""

from __future__ import annotations

import logging
import threading
from enum import StrEnum

import typer


class SimChannel(StrEnum):
    telegram = "telegram"
    whatsapp = "whatsapp"
    sms = "sms"


def _logging(level: str) -> None:
    from reporta.logs import configure_logging

    configure_logging(level)


def register(app: typer.Typer) -> None:
    """Add this room's commands to the root app."""

    @app.command("serve")
    def serve(
        host: str = typer.Option(None, "--host", help="Interface to listen on (default REPORTA_HOST)."),
        port: int = typer.Option(None, "--port", help="Port (default REPORTA_PORT)."),
        telegram_polling: bool = typer.Option(False, "--telegram-polling",
                                              help="Development: fetch Telegram updates with getUpdates."),
        workers: int = typer.Option(1, "--workers", min=1,
                                    help="Server processes (PostgreSQL only); each runs the whole app."),
    ) -> None:
        """Serve the provider webhooks; runs the scheduler and outbox dispatcher unless disabled."""
        import uvicorn

        from nlu.api import ensure_model
        from reporta.app import create_app
        from reporta.runtime import Runtime
        from reporta.settings import get_settings
        from ticketing.db import is_sqlite
        from ticketing.migrate import upgrade

        settings = get_settings()
        _logging(settings.log_level)
        if is_sqlite(settings.database_url):
            upgrade(settings.database_url)
        ensure_model(settings)
        if workers > 1:
            # Every process takes any message: the inbox, conversations and outbox are claimed with row locks.
            if is_sqlite(settings.database_url):
                raise typer.BadParameter("--workers > 1 needs PostgreSQL (SQLite has a single writer)")
            if telegram_polling:
                raise typer.BadParameter("--telegram-polling runs in one process: use --workers 1")
            typer.echo(f"reporta serve: {workers} processes; http://{host or settings.host}:{port or settings.port}")
            uvicorn.run("reporta.app:create_app", factory=True, workers=workers, host=host or settings.host,
                        port=port or settings.port, log_level=settings.log_level.lower(), proxy_headers=True)
            return
        runtime = Runtime.from_settings(settings, migrate=False)
        on = ", ".join(sorted(runtime.senders))
        typer.echo(f"reporta serve: channels on: {on}; http://{host or settings.host}:{port or settings.port}")
        stop = threading.Event()
        poller: threading.Thread | None = None
        if telegram_polling:
            channel = runtime.channels.get("telegram")
            if channel is None:
                raise typer.BadParameter("--telegram-polling needs REPORTA_TELEGRAM_TOKEN")

            def on_update(update: dict) -> None:
                try:
                    for inbound in channel.parse(update):
                        runtime.pipeline.receive(inbound)
                except Exception:
                    logging.getLogger("bot.polling").exception("telegram update could not be stored")

            poller = threading.Thread(target=channel.poll, args=(on_update, stop), name="telegram-polling",
                                      daemon=True)
            poller.start()
        try:
            uvicorn.run(create_app(runtime), host=host or settings.host, port=port or settings.port,
                        log_level=settings.log_level.lower(), proxy_headers=True)
        finally:
            stop.set()
            runtime.close()

    @app.command("chat")
    def chat(
        channel: SimChannel = typer.Option(SimChannel.whatsapp, "--channel",
                                           help="Which channel the simulator looks like."),
        user: str = typer.Option("local", "--user", help="Simulated citizen (each user is its own conversation)."),
    ) -> None:
        """Chat with Reporta in the terminal, through the same pipeline, dialogue engine and store."""
        from bot.simulator import run
        from reporta.settings import get_settings

        settings = get_settings()
        _logging("WARNING")
        run(settings, channel.value, user)
