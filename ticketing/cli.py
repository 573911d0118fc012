"""The ``reporta db``, ``reporta catalog`` and ``reporta tickets`` commands."""

from __future__ import annotations

import typer

from reporta.settings import get_settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database (REPORTA_DATABASE_URL) to the newest schema."""
    from ticketing.migrate import upgrade

    upgrade(get_settings().database_url)
    typer.echo("database is up to date")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
