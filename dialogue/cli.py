"""The ``reporta handoff`` commands (owned by ``dialogue/``): the staff queue until the web console exists.

``reporta handoff list`` shows the conversations waiting for a person (no phone numbers or chat ids),
``reporta handoff reply ID "texto" [--staff USERNAME]`` sends a staff reply to the citizen's channel through the
outbox, ``reporta handoff close ID`` hands the conversation back to the bot.
Exit codes: 0 success; 1 a refused request (unknown conversation, not in the queue, empty text).
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

handoff_app = typer.Typer(help="Human handoff: conversations waiting for staff.", no_args_is_help=True)


@contextmanager
def _unit_of_work() -> Iterator[tuple[Settings, Session]]:
    """Settings and a session committed on success; a refused request (``HandoffError``) exits with code 1."""
    from dialogue.handoff import HandoffError
    from reporta.settings import get_settings
    from ticketing.db import one_off_session

    settings = get_settings()
    try:
        with one_off_session(settings.database_url) as session:
            yield settings, session
    except HandoffError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@handoff_app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text.")) -> None:
    """Conversations waiting for a person, oldest first, with their last messages."""
    from dialogue.handoff import list_queue

    with _unit_of_work() as (settings, session):
        tz = ZoneInfo(settings.timezone)
        items = list_queue(session)
        if as_json:
            typer.echo(json.dumps([
                {"id": i.conversation_id, "channel": i.channel, "citizen_id": i.citizen_id,
                 "name": i.display_name, "reason": i.reason,
                 "requested_at": i.requested_at.isoformat() if i.requested_at else None, "staff": i.staff,
                 "messages": [{"at": at.isoformat(), "direction": d, "text": t} for at, d, t in i.last_messages],
                 "draft": i.draft}
                for i in items], ensure_ascii=False, indent=2))
            return
        if not items:
            typer.echo("no conversations waiting for staff")
            return
        for i in items:
            since = i.requested_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if i.requested_at else "?"
            who = i.display_name or f"citizen {i.citizen_id}"
            typer.echo(f"#{i.conversation_id}  {i.channel:<9} {who}  since {since}  reason: {i.reason}"
                       + (f"  staff: {i.staff}" if i.staff else ""))
            if i.draft:
                place = ", ".join(str(i.draft[k]) for k in ("address", "colonia", "landmark") if i.draft.get(k))
                typer.echo(f"    unsent report: {i.draft.get('category') or '?'} at {place or 'no place yet'}: "
                           f"{(i.draft.get('description') or '')[:120]}")
            for at, direction, text in i.last_messages:
                arrow = "<-" if direction == "in" else "->"
                typer.echo(f"    {at.astimezone(tz):%H:%M} {arrow} {text[:200]}")


@handoff_app.command("reply")
def reply_command(
    conversation_id: int = typer.Argument(..., help="Conversation id from `reporta handoff list`."),
    text: str = typer.Argument(..., help="What the citizen will read."),
    staff: str = typer.Option(None, "--staff", help="Your staff username (shown by name to the citizen)."),
) -> None:
    """Send a reply to the citizen on their own channel (through the outbox)."""
    from dialogue.handoff import reply

    with _unit_of_work() as (_settings, session):
        row = reply(session, conversation_id, text, staff)
        typer.echo(f"queued reply {row.id} for conversation {conversation_id}")


@handoff_app.command("close")
def close_command(
    conversation_id: int = typer.Argument(..., help="Conversation id from `reporta handoff list`."),
    staff: str = typer.Option(None, "--staff", help="Your staff username."),
) -> None:
    """Hand the conversation back to the bot and tell the citizen."""
    from dialogue.handoff import close
    from ticketing.catalog import load_catalog

    with _unit_of_work() as (settings, session):
        close(session, conversation_id, staff, catalog=load_catalog(settings.catalog_path))
        typer.echo(f"conversation {conversation_id} is back with the bot")


def register(app: typer.Typer) -> None:
    """Add this room's commands to the root app."""
    app.add_typer(handoff_app, name="handoff")
