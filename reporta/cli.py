"""The ``reporta`` command line: a root Typer app; each room registers its own commands."""

from __future__ import annotations

import typer

import bot.cli
import dialogue.cli
import nlu.cli
import notifications.cli
import ticketing.cli

app = typer.Typer(
    name="reporta",
    help="Reporta: reportes ciudadanos de servicios públicos por chat. (Commands in English, replies in es-MX.)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for room in (ticketing.cli, nlu.cli, dialogue.cli, bot.cli, notifications.cli):
    room.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
