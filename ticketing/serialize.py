"""Plain-data views of tickets for the CLI's ``--json`` and other read-only consumers.

Datetimes are ISO 8601 with the municipality's UTC offset (they are stored in UTC).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ticketing.models import Ticket, TicketEvent


def local_iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat() if value is not None else None


def event_to_dict(event: TicketEvent, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "reason": event.reason_code,
        "actor": event.actor,
        "public_note": event.public_note,
        "internal_note": event.internal_note,
        "data": dict(event.data or {}),
        "created_at": local_iso(event.created_at, tz),
    }


def ticket_to_dict(ticket: Ticket, tz: ZoneInfo, *, events: bool = True) -> dict[str, Any]:
    """The stable JSON shape of a ticket (keys are a public contract of ``reporta tickets ... --json``)."""
    out: dict[str, Any] = {
        "folio": ticket.folio,
        "category": ticket.category_code,
        "department": ticket.department.code if ticket.department else None,
        "status": ticket.status.value if hasattr(ticket.status, "value") else ticket.status,
        "is_open": ticket.is_open,
        "reason": ticket.reason_code,
        "description": ticket.description,
        "address": ticket.address,
        "landmark": ticket.landmark,
        "lat": ticket.lat,
        "lon": ticket.lon,
        "channel": ticket.channel.value if hasattr(ticket.channel, "value") else ticket.channel,
        "created_at": local_iso(ticket.created_at, tz),
        "due_at": local_iso(ticket.due_at, tz),
        "revised_due_at": local_iso(ticket.revised_due_at, tz),
        "scheduled_for": local_iso(ticket.scheduled_for, tz),
        "resolved_at": local_iso(ticket.resolved_at, tz),
        "closed_at": local_iso(ticket.closed_at, tz),
        "referred_to": ticket.referred_to,
        "reopen_count": ticket.reopen_count,
        "confirmation": ticket.confirmation,
        "satisfaction": ticket.satisfaction,
    }
    if events:
        out["events"] = [event_to_dict(e, tz) for e in ticket.events]
    return out
