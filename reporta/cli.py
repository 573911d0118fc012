"""The ``reporta`` command line: a root Typer app; each room registers its own commands."""

from __future__ import annotations

import typer

import bot.cli
import dialogue.cli
import nlu.cli
import notifications.cli
import reporta.flow.cli
import reporta.init_cli
import ticketing.citizens_cli
import ticketing.cli
import web.console.cli
import web.opendata.cli

app = typer.Typer(
    name="reporta",
    help="Reporta: reportes ciudadanos de servicios públicos por chat. (Commands in English, replies in es-MX.)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def _ticket_listeners(settings, catalog):
    """Staff changes made from the CLI notify the citizens, like changes made anywhere else."""
    from notifications.updates import ticket_listeners

    return ticket_listeners(settings, None, catalog)


ticketing.cli.register(app, listeners=_ticket_listeners)
for room in (nlu.cli, dialogue.cli, reporta.flow.cli, bot.cli, notifications.cli):
    room.register(app)
ticketing.citizens_cli.register(app)  # reporta citizens requests | forget | reject
reporta.init_cli.register(app)  # reporta init DIR
web.console.cli.register(app)  # reporta staff ...
web.opendata.cli.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
