"""``reporta open311 keys add NAME | list | revoke NAME``: the API keys of Open311 ``POST requests``."""

from __future__ import annotations

import typer

open311_app = typer.Typer(help="Open311 GeoReport v2 (/open311/v2).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for POST /open311/v2/requests.", no_args_is_help=True)
open311_app.add_typer(keys_app, name="keys")


def _session():
    from reporta.settings import get_settings
    from ticketing.db import make_engine, make_session_factory

    engine = make_engine(get_settings().database_url)
    return engine, make_session_factory(engine)()


@keys_app.command("add")
def add(name: str = typer.Argument(..., help="Who uses the key (an application or agency).")) -> None:
    """Make a key; it is printed once and only its hash is kept."""
    from web.opendata.keys import ApiKeyError, add_key

    engine, session = _session()
    try:
        try:
            row, key = add_key(session, name)
        except ApiKeyError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        session.commit()
        typer.echo(f"key {row.name!r} created; give it to its user now, it is not shown again:\n{key}")
    finally:
        session.close()
        engine.dispose()


@keys_app.command("list")
def list_() -> None:
    """Every key: name, prefix, created, last used, revoked."""
    from web.opendata.keys import list_keys

    engine, session = _session()
    try:
        rows = list_keys(session)
        if not rows:
            typer.echo("no keys (reporta open311 keys add NAME)")
        for row in rows:
            state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
            used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
            typer.echo(f"{row.name}\t{row.prefix}…\tcreated {row.created_at:%Y-%m-%d}\tlast used {used}\t{state}")
    finally:
        session.close()
        engine.dispose()


@keys_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Revoke a key: it stops working at once."""
    from web.opendata.keys import ApiKeyError, revoke_key

    engine, session = _session()
    try:
        try:
            revoke_key(session, name)
        except ApiKeyError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        session.commit()
        typer.echo(f"key {name!r} revoked")
    finally:
        session.close()
        engine.dispose()


opendata_app = typer.Typer(help="Open data (/datos).", no_args_is_help=True)


@opendata_app.command("keep-addresses")
def keep_addresses_command() -> None:
    """Store the published address of every ticket whose kept one is missing or stale (after an upgrade, an
    import, or a change of the address rules): the exports then need not compute it. Safe to run at any time."""
    from reporta.settings import get_settings
    from ticketing.db import make_engine, make_session_factory
    from web.opendata.addresses import keep_addresses

    def progress(seen: int, written: int) -> None:
        typer.echo(f"{seen:,} tickets read, {written:,} addresses kept", err=True)

    engine = make_engine(get_settings().database_url)
    try:
        written = keep_addresses(make_session_factory(engine), progress=progress)
        typer.echo(f"{written:,} public addresses kept")
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(open311_app, name="open311")
    app.add_typer(opendata_app, name="opendata")
