"""The one whitelist of what Reporta publishes, and the scrubbing that goes with it.

Every public page, export and API (public site, folio lookup, map, open data, Open311) builds its rows with
``public_ticket`` and nothing else, so what is public is decided here once:

- fields: folio, service (category code and name), responsible department, status, reason and its plain
  explanation, staff's *public* notes (scrubbed), the channel it came in by, dates (requested, updated, closed,
  committed due date), the address without house numbers, and coordinates snapped to a grid;
- never: citizens (names, phone numbers, chat ids), the citizen's own words (description), photos, internal
  notes, staff names.

``scrub`` removes phone numbers (the ``phonenumbers`` matcher, Mexican and international), e-mail addresses,
CURP, RFC and long digit runs (chat ids, account numbers) from free text written by staff; it and
``public_address`` are pure text rules kept in ``ticketing.anonymise`` (tickets keep their public address computed
with them), applied here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ticketing.anonymise import ADDRESS_RULES, address_key, cached_address, public_address, scrub

__all__ = ["ADDRESS_RULES", "DEFAULT_COORDINATE_DECIMALS", "PUBLIC_FIELDS", "PublicTicket", "address_key",
           "cached_address", "public_address", "public_ticket", "scrub", "snap"]

#: Decimal places kept of a published coordinate: 3 places is a grid of about 110 m (a setting overrides it).
DEFAULT_COORDINATE_DECIMALS = 3

def snap(value: float | None, decimals: int = DEFAULT_COORDINATE_DECIMALS) -> float | None:
    """A coordinate rounded to ``decimals`` places (3: ~110 m); None for a missing or non-finite value."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, decimals)


@dataclass(frozen=True, slots=True)
class PublicTicket:
    """A ticket as anyone may see it. Adding a field here publishes it everywhere: think twice."""

    folio: str
    service_code: str
    service_name: str
    department_code: str
    department_name: str
    status: str  # the ticket status code (received, assigned, in_progress, resolved, not_resolved, closed)
    is_open: bool
    reason_code: str | None
    reason_explanation: str  # the plain-language explanation of the reason, scrubbed
    public_notes: str  # staff's public notes, scrubbed, newest last
    channel: str
    requested_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    due_at: datetime  # the original committed date (on time is measured against it)
    revised_due_at: datetime | None  # the date committed after a reopen, now in force (None: never revised)
    address: str  # without house numbers
    lat: float | None
    lon: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The fields of ``PublicTicket`` in order: the whitelist itself, for tests and data dictionaries.
PUBLIC_FIELDS: tuple[str, ...] = tuple(PublicTicket.__dataclass_fields__)


def public_ticket(ticket: Any, catalog: Any, *, public_notes: list[str] | None = None,
                  decimals: int = DEFAULT_COORDINATE_DECIMALS, explanation: str | None = None) -> PublicTicket:
    """The public view of ``ticket`` (a ``ticketing.models.Ticket``). ``public_notes`` are the staff's public
    notes from its events (the caller loads them); ``explanation`` overrides the reason's catalog text (already
    rendered with its placeholders). The citizen's description, photos and identity are never read here."""
    try:
        category = catalog.category(ticket.category_code)
        service_name = category.name
    except Exception:
        service_name = ticket.category_code
    department = ticket.department
    reason_text = explanation
    if reason_text is None and ticket.reason_code:
        try:
            reason_text = catalog.reason(ticket.reason_code).explain()
        except Exception:
            reason_text = ""
    closed = ticket.closed_at or ticket.resolved_at
    return PublicTicket(
        folio=ticket.folio,
        service_code=ticket.category_code,
        service_name=service_name,
        department_code=department.code if department is not None else "",
        department_name=department.name if department is not None else "",
        status=str(ticket.status),
        is_open=bool(ticket.is_open),
        reason_code=ticket.reason_code,
        reason_explanation=scrub(reason_text or ""),
        public_notes="\n".join(scrub(n) for n in (public_notes or []) if n),
        channel=str(ticket.channel),
        requested_at=ticket.created_at,
        updated_at=ticket.updated_at,
        closed_at=None if ticket.is_open else closed,
        due_at=ticket.due_at,
        # duck-typed rows (the open-data export's column query) may not carry it: never revised, then
        revised_due_at=getattr(ticket, "revised_due_at", None),
        address=public_address(ticket.address),
        lat=snap(ticket.lat, decimals),
        lon=snap(ticket.lon, decimals),
    )
