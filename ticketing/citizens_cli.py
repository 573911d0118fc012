"""The ``reporta citizens`` commands: staff's side of citizens' privacy requests (``ticketing.privacy``).

``reporta citizens requests [--all] [--json]`` lists deletion requests (pending by default; no phone numbers or
names: the citizen id identifies the person); ``reporta citizens forget ID|R<REQUEST> --staff USERNAME [--yes]``
approves one — or forgets a citizen who asked the Unidad de Transparencia directly — and removes their personal
data, keeping their tickets anonymised; ``reporta citizens reject REQUEST --staff USERNAME --reason "..."``
declines one with its reason. Exit codes: 0 success; 1 a refused request (unknown citizen or request, already
decided, not confirmed); 2 bad usage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from reporta.settings import Settings

citizens_app = typer.Typer(help="Citizens' personal data: deletion requests and forgetting (derechos ARCO).",
                           no_args_is_help=True)


@contextmanager
def _unit_of_work() -> Iterator[tuple[Settings, Session]]:
    from reporta.settings import get_settings
    from ticketing.db import one_off_session
    from ticketing.privacy import PrivacyError

    settings = get_settings()
    try:
        with one_off_session(settings.database_url) as session:
            yield settings, session
    except PrivacyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _actor(staff: str) -> str:
    staff = (staff or "").strip()
    if not staff:
        typer.echo("error: --staff USERNAME is required (who approves it is recorded)", err=True)
        raise typer.Exit(2)
    return staff if ":" in staff else f"staff:{staff}"


def parse_target(target: str | None, request: int | None) -> tuple[int | None, int | None]:
    """(citizen id, request id) from ``ID`` / ``R12`` / ``request:12`` and ``--request``."""
    if request is not None:
        if target:
            raise typer.BadParameter("give a citizen ID or --request, not both")
        return None, request
    text = (target or "").strip().lower()
    for prefix in ("request:", "solicitud:", "r"):
        if text.startswith(prefix) and text[len(prefix):].isdigit():
            return None, int(text[len(prefix):])
    if text.isdigit():
        return int(text), None
    raise typer.BadParameter(f"{target!r}: give a citizen id (12) or a request (R5, or --request 5)")


@citizens_app.command("requests")
def requests_command(
    show_all: bool = typer.Option(False, "--all", help="Every request (access, decided ones), not only pending "
                                  "deletion requests."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Deletion requests waiting for staff, oldest first."""
    from ticketing.privacy import list_requests

    with _unit_of_work() as (settings, session):
        tz = ZoneInfo(settings.timezone)
        rows = list_requests(session, status=None if show_all else "pending", kind=None if show_all else "erasure")
        if as_json:
            typer.echo(json.dumps([{
                "id": r.id, "kind": r.kind, "status": r.status, "citizen_id": r.citizen_id, "channel": r.channel,
                "requested_at": r.requested_at.isoformat(),
                "decided_at": r.decided_at.isoformat() if r.decided_at else None, "decided_by": r.decided_by,
                "tickets": r.tickets, "open_tickets": r.open_tickets, "result": r.result,
            } for r in rows], ensure_ascii=False, indent=2))
            return
        if not rows:
            typer.echo("no pending deletion requests" if not show_all else "no privacy requests")
            return
        for r in rows:
            who = f"citizen {r.citizen_id}" if r.citizen_id is not None else "citizen (forgotten)"
            line = (f"R{r.id}  {r.kind:<8} {r.status:<9} {who}  {r.channel or '-':<9} "
                    f"{r.requested_at.astimezone(tz):%Y-%m-%d %H:%M}")
            if r.citizen_id is not None:
                line += f"  tickets: {r.tickets} ({r.open_tickets} open)"
            if r.decided_by:
                line += f"  by {r.decided_by}"
            typer.echo(line)
        if not show_all:
            typer.echo("approve with: reporta citizens forget R<id> --staff USERNAME")


@citizens_app.command("forget")
def forget_command(
    target: str = typer.Argument(None, metavar="ID|R<REQUEST>", help="Citizen id, or a request id as R5."),
    request: int = typer.Option(None, "--request", help="The deletion request to approve."),
    staff: str = typer.Option(..., "--staff", help="Your staff username (recorded as the approver)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Remove a citizen's personal data (phone, names, chat ids, messages, photos); tickets stay anonymised."""
    from ticketing.models import Citizen
    from ticketing.privacy import PrivacyError, access_summary, forget_citizen, get_request, remove_files

    citizen_id, request_id = parse_target(target, request)
    actor = _actor(staff)
    with _unit_of_work() as (settings, session):
        if request_id is not None:
            row = get_request(session, request_id)
            if row.citizen_id is None or row.kind != "erasure" or row.status != "pending":
                raise PrivacyError(f"request R{request_id} is {row.kind}/{row.status}, not a pending deletion "
                                   "request")
            citizen_id = row.citizen_id
        citizen = session.get(Citizen, citizen_id)
        if citizen is None:
            raise PrivacyError(f"no citizen {citizen_id}")
        summary = access_summary(session, citizen, max_tickets=0)
        typer.echo(f"citizen {citizen_id}: {', '.join(summary.channels) or 'no channels'}; "
                   f"{summary.messages} messages, {summary.photos} photos; {summary.ticket_count} tickets "
                   f"({summary.open_count} open) will be kept anonymised")
        if not yes and not typer.confirm("Remove this citizen's personal data? This cannot be undone"):
            raise PrivacyError("not confirmed; nothing changed")
        result = forget_citizen(session, citizen_id, actor=actor, request_id=request_id)
    if result.files:
        with _unit_of_work() as (settings, session):
            removed = remove_files(session, result.files, settings.media_path)
        result.counts["files_deleted"] = removed
    typer.echo(f"citizen {citizen_id} forgotten: " + ", ".join(f"{k}={v}" for k, v in result.counts.items()))


@citizens_app.command("reject")
def reject_command(
    request: str = typer.Argument(..., metavar="R<REQUEST>", help="The request id (R5 or 5)."),
    staff: str = typer.Option(..., "--staff", help="Your staff username."),
    reason: str = typer.Option(..., "--reason", help="Why (kept with the request; tell the citizen too)."),
) -> None:
    """Decline a deletion request, with its reason (for example, a legal duty to keep the record)."""
    from ticketing.privacy import reject_request

    _citizen, request_id = parse_target(request if request.lower().startswith("r") else f"r{request}", None)
    actor = _actor(staff)
    if not reason.strip():
        typer.echo("error: --reason must say why", err=True)
        raise typer.Exit(2)
    with _unit_of_work() as (_settings, session):
        reject_request(session, request_id, actor=actor, note=reason.strip())
    typer.echo(f"request R{request_id} rejected")


def register(app: typer.Typer) -> None:
    """Add ``reporta citizens``."""
    app.add_typer(citizens_app, name="citizens")
