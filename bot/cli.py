"""The `reporta` commands owned by `bot/`: `chat` (the terminal simulator) and `telegram set-webhook`.
`serve` and `process` run the message flow: they are `reporta/flow/cli.py`'s."""

from __future__ import annotations

from enum import StrEnum

import typer


class SimChannel(StrEnum):
    telegram = "telegram"
    whatsapp = "whatsapp"
    sms = "sms"


def _logging(level: str) -> None:
    from reporta.logs import configure_logging

    configure_logging(level)


telegram_app = typer.Typer(help="Telegram bot set-up.", no_args_is_help=True)


@telegram_app.command("set-webhook")
def telegram_set_webhook() -> None:
    """Point the bot's webhook at REPORTA_PUBLIC_URL/webhooks/telegram with REPORTA_TELEGRAM_WEBHOOK_SECRET."""
    from bot.telegram import TelegramChannel
    from reporta.settings import get_settings

    settings = get_settings()
    if not settings.telegram_token:
        typer.echo("error: REPORTA_TELEGRAM_TOKEN is not set", err=True)
        raise typer.Exit(2)
    if not settings.public_url.startswith("https://"):
        typer.echo(f"error: Telegram only calls https webhooks; REPORTA_PUBLIC_URL is {settings.public_url}", err=True)
        raise typer.Exit(2)
    if not settings.telegram_webhook_secret:
        typer.echo("error: REPORTA_TELEGRAM_WEBHOOK_SECRET is not set: without it anyone could post updates, so the "
                   "webhook refuses every update. Set it (1-256 characters A-Z a-z 0-9 _ -) or use "
                   "reporta serve --telegram-polling.", err=True)
        raise typer.Exit(2)
    url = settings.public_url.rstrip("/") + "/webhooks/telegram"
    channel = TelegramChannel(settings)
    try:
        channel.set_webhook(url)
    except Exception as exc:  # the Bot API's own words are the useful part
        typer.echo(f"error: Telegram refused the webhook: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        channel.close()
    typer.echo(f"webhook set: {url}")


def register(app: typer.Typer) -> None:
    """Add this room's commands to the root app."""
    app.add_typer(telegram_app, name="telegram")
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
