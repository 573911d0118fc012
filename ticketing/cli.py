"""The ``reporta db``, ``reporta catalog`` and ``reporta tickets`` commands.

Exit codes: 0 success; 1 a refused request (unknown folio, invalid transition...), message on stderr
starting with ``error:``; 2 bad usage or an invalid catalog (message names the file, entry, problem).
Commands that need the catalog load and validate it first.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from reporta.settings import Settings, get_settings
from ticketing.catalog import Catalog, CatalogError, load_catalog

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
catalog_app = typer.Typer(help="The service catalog (data/catalog.yml).", no_args_is_help=True)
tickets_app = typer.Typer(help="Tickets: record, list, show and update reports.", no_args_is_help=True)


class StaffChannel(enum.StrEnum):
    PHONE = "phone"
    WALK_IN = "walk_in"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database (REPORTA_DATABASE_URL) to the newest schema."""
    from ticketing.migrate import upgrade

    upgrade(get_settings().database_url)
    typer.echo("database is up to date")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_catalog_or_exit(settings: Settings, path: str | None = None) -> Catalog:
    """The validated catalog, or exit code 2 with the problems (file, entry, problem) on stderr."""
    from pathlib import Path

    try:
        return load_catalog(Path(path) if path else settings.catalog_path)
    except CatalogError as exc:
        typer.echo(f"invalid catalog:\n{exc}", err=True)
        raise typer.Exit(2) from None


@contextmanager
def _service() -> Iterator[tuple[Any, Settings, ZoneInfo]]:
    """A TicketService in one committed-on-success unit of work; store errors become exit code 1."""
    from ticketing.db import one_off_session
    from ticketing.service import TicketError, TicketService

    settings = get_settings()
    catalog = load_catalog_or_exit(settings)
    try:
        with one_off_session(settings.database_url) as session:
            listeners = _listener_factory(settings, catalog) if _listener_factory else ()
            service = TicketService(session, catalog, timezone=settings.timezone, listeners=listeners)
            yield service, settings, ZoneInfo(settings.timezone)
    except TicketError as exc:
        raise _fail(str(exc)) from None
    except (OperationalError, ProgrammingError) as exc:
        raise _fail(f"database not ready ({exc.orig}); run `reporta db upgrade`") from None


def _local(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "-"


def _parse_moment(text: str | None, tz: ZoneInfo, option: str) -> datetime | None:
    """``YYYY-MM-DD`` (local midnight) or ``YYYY-MM-DDTHH:MM[±HH:MM]`` (local when no offset)."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0, 0), tzinfo=tz)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option}: {text!r} is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)", 2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _print_ticket(ticket: Any, catalog: Catalog, tz: ZoneInfo) -> None:
    cat = catalog.categories.get(ticket.category_code)
    typer.echo(f"Folio {ticket.folio}")
    typer.echo(f"  category:   {ticket.category_code}" + (f" ({cat.name})" if cat else ""))
    typer.echo(f"  department: {ticket.department.code} ({ticket.department.name})")
    reason = f" ({ticket.reason_code})" if ticket.reason_code else ""
    typer.echo(f"  status:     {ticket.status.value}{reason}")
    where = ticket.address or ticket.landmark or ""
    if ticket.lat is not None:
        where = f"{where} ({ticket.lat:.6f}, {ticket.lon:.6f})".strip()
    typer.echo(f"  location:   {where}")
    typer.echo(f"  channel:    {ticket.channel.value}")
    typer.echo(f"  created:    {_local(ticket.created_at, tz)}")
    typer.echo(f"  due:        {_local(ticket.due_at, tz)}" + (f" (revised {_local(ticket.revised_due_at, tz)})"
                                                              if ticket.revised_due_at else ""))
    if ticket.referred_to:
        typer.echo(f"  referred:   {ticket.referred_to}")
    typer.echo(f"  report:     {ticket.description}")


@catalog_app.command("check")
def catalog_check(
    path: str = typer.Option(None, "--path", help="Catalog file (default: <REPORTA_DATA_DIR>/catalog.yml)."),
) -> None:
    """Validate the catalog; exit code 2 and one line per problem (file: entry: problem) if invalid."""
    settings = get_settings()
    catalog = load_catalog_or_exit(settings, path)
    typer.echo(
        f"catalog OK: {catalog.source}: {len(catalog.departments)} departments, "
        f"{len(catalog.categories)} categories, {len(catalog.reasons)} reasons"
    )


@tickets_app.command("create")
def tickets_create(
    category: str = typer.Option(..., "--category", help="Category code, e.g. pothole."),
    description: str = typer.Option(..., "--description", help="What the citizen reported (es-MX)."),
    lat: float = typer.Option(None, "--lat", help="Latitude (with --lon)."),
    lon: float = typer.Option(None, "--lon", help="Longitude (with --lat)."),
    address: str = typer.Option(None, "--address", help="Street address (instead of, or with, --lat/--lon)."),
    landmark: str = typer.Option(None, "--landmark", help="A reference: 'frente a la primaria'."),
    channel: StaffChannel = typer.Option(StaffChannel.PHONE, "--channel", help="How the report was taken."),
    actor: str = typer.Option("cli", "--actor", help="Who records it, e.g. staff:ana."),
    as_json: bool = typer.Option(False, "--json", help="Print the ticket as JSON."),
) -> None:
    """Record a report taken by phone or in person; prints its folio and due date."""
    from ticketing.serialize import ticket_to_dict

    if (lat is None) != (lon is None):
        raise _fail("give both --lat and --lon", 2)
    if lat is None and not address:
        raise _fail("give a location: --lat and --lon, or --address", 2)
    with _service() as (service, _settings, tz):
        ticket = service.create(category=category, description=description, channel=channel.value, actor=actor,
                                lat=lat, lon=lon, address=address, landmark=landmark)
        if as_json:
            _print_json(ticket_to_dict(ticket, tz))
        else:
            cat = service.catalog.category(category)
            typer.echo(f"Folio {ticket.folio}: {cat.name} -> {ticket.department.name}; "
                       f"due {_local(ticket.due_at, tz)} ({cat.sla_text()})")


@tickets_app.command("list")
def tickets_list(
    status: str = typer.Option(None, "--status", help="A status, or 'open' (received, assigned, in_progress)."),
    category: str = typer.Option(None, "--category", help="Category code."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array (each ticket with its events)."),
) -> None:
    """List tickets, newest first."""
    from ticketing.serialize import ticket_to_dict

    with _service() as (service, _settings, tz):
        tickets = service.list_tickets(status=status, category=category, limit=limit, with_events=as_json)
        if as_json:
            _print_json([ticket_to_dict(t, tz) for t in tickets])
            return
        header = f"{'FOLIO':<10} {'STATUS':<12} {'CATEGORY':<18} {'DEPARTMENT':<18} {'CREATED':<16} {'DUE':<16} WHERE"
        typer.echo(header)
        for t in tickets:
            where = t.address or t.landmark or (f"{t.lat:.5f},{t.lon:.5f}" if t.lat is not None else "")
            typer.echo(f"{t.folio:<10} {t.status.value:<12} {t.category_code:<18} {t.department.code:<18} "
                       f"{_local(t.created_at, tz):<16} {_local(t.due_at, tz):<16} {where}")


@tickets_app.command("show")
def tickets_show(
    folio: str = typer.Argument(..., help="The folio, e.g. 1234-5678 or 12345678."),
    as_json: bool = typer.Option(False, "--json", help="Print the ticket and its events as JSON."),
) -> None:
    """Show one ticket with its history."""
    from ticketing.serialize import ticket_to_dict

    with _service() as (service, _settings, tz):
        ticket = service.get(folio)
        if as_json:
            _print_json(ticket_to_dict(ticket, tz))
            return
        _print_ticket(ticket, service.catalog, tz)
        typer.echo("Events:")
        for e in ticket.events:
            move = f"{e.from_status or ''} -> {e.to_status}" if e.to_status else ""
            reason = f" [{e.reason_code}]" if e.reason_code else ""
            typer.echo(f"  {_local(e.created_at, tz)}  {e.kind:<11} {move}{reason}  by {e.actor}")
            if e.public_note:
                typer.echo(f"      public:   {e.public_note}")
            if e.internal_note:
                typer.echo(f"      internal: {e.internal_note}")


def _update_options_ok(reason: str | None, duplicate_of: str | None) -> None:
    if duplicate_of and reason not in (None, "duplicate"):
        raise _fail("--duplicate-of goes with --reason duplicate", 2)


@tickets_app.command("update")
def tickets_update(
    folio: str = typer.Argument(..., help="The folio."),
    status: str = typer.Option(..., "--status", help="New status: assigned, in_progress, resolved, not_resolved, "
                               "closed."),
    reason: str = typer.Option(None, "--reason", help="Reason code (needed for not_resolved)."),
    note: str = typer.Option(None, "--note", help="Public note: what the citizen will read (es-MX)."),
    internal_note: str = typer.Option(None, "--internal-note", help="Note for staff only."),
    scheduled_for: str = typer.Option(None, "--scheduled-for", help="With --reason scheduled: YYYY-MM-DD[THH:MM]."),
    referred_to: str = typer.Option(None, "--referred-to", help="With --reason out_of_jurisdiction: the agency."),
    duplicate_of: str = typer.Option(None, "--duplicate-of", help="With --reason duplicate: the original's folio."),
    actor: str = typer.Option("cli", "--actor", help="Who makes the change, e.g. staff:ana."),
    as_json: bool = typer.Option(False, "--json", help="Print the updated ticket as JSON."),
) -> None:
    """Change a ticket's status (with reason and notes); an invalid transition changes nothing (exit 1)."""
    from ticketing.serialize import ticket_to_dict

    _update_options_ok(reason, duplicate_of)
    with _service() as (service, _settings, tz):
        ticket = service.get(folio)
        if reason == "duplicate":
            if not duplicate_of:
                raise _fail("--reason duplicate needs --duplicate-of FOLIO", 2)
            if status != "not_resolved":
                raise _fail("--reason duplicate goes with --status not_resolved", 2)
            service.mark_duplicate(ticket, service.get(duplicate_of), actor=actor, public_note=note)
        else:
            service.change_status(
                ticket, status, actor=actor, reason=reason, public_note=note, internal_note=internal_note,
                scheduled_for=_parse_moment(scheduled_for, tz, "--scheduled-for"), referred_to=referred_to,
            )
        if as_json:
            _print_json(ticket_to_dict(ticket, tz))
        else:
            typer.echo(f"Folio {ticket.folio}: {ticket.status.value}"
                       + (f" ({ticket.reason_code})" if ticket.reason_code else ""))


@tickets_app.command("reopen")
def tickets_reopen(
    folio: str = typer.Argument(..., help="The folio."),
    note: str = typer.Option(None, "--note", help="Public note (es-MX)."),
    internal_note: str = typer.Option(None, "--internal-note", help="Note for staff only."),
    actor: str = typer.Option("cli", "--actor", help="Who reopens it."),
) -> None:
    """Reopen a resolved, not-resolved or closed ticket (back to assigned, with a fresh commitment)."""
    with _service() as (service, _settings, tz):
        ticket = service.get(folio)
        service.reopen(ticket, actor=actor, public_note=note, internal_note=internal_note)
        typer.echo(f"Folio {ticket.folio}: reopened ({ticket.reopen_count}), due {_local(ticket.revised_due_at, tz)}")


@tickets_app.command("assign")
def tickets_assign(
    folio: str = typer.Argument(..., help="The folio."),
    department: str = typer.Option(None, "--department", help="Department code (a change is a reassignment)."),
    staff_id: int = typer.Option(None, "--staff-id", help="Staff user id."),
    actor: str = typer.Option("cli", "--actor", help="Who assigns it."),
) -> None:
    """Assign a ticket to a department and/or staff member."""
    with _service() as (service, _settings, _tz):
        ticket = service.get(folio)
        event = service.assign(ticket, actor=actor, department=department, staff_id=staff_id)
        typer.echo(f"Folio {ticket.folio}: {event.kind} to {ticket.department.code} ({ticket.status.value})")


ListenerFactory = Callable[[Settings, Any], Sequence[Callable[..., None]]]
_listener_factory: ListenerFactory | None = None


def register(app: typer.Typer, *, listeners: ListenerFactory | None = None) -> None:
    """Add ``db``, ``catalog`` and ``tickets``; ``listeners(settings, catalog)`` gives the ticket listeners
    (the composition root passes the notifications' ones, so a change made here reaches the citizens)."""
    global _listener_factory
    if listeners is not None:
        _listener_factory = listeners
    app.add_typer(db_app, name="db")
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(tickets_app, name="tickets")
