"""The published rows of open data and Open311: one column query over tickets, each row through
``web.publication.public_ticket`` (the one whitelist), streamed with a server-side cursor.

``public_rows(runtime, ...)`` yields ``PublicTicket``s in batches of ``BATCH`` without ever holding the table: the
query reads only whitelisted columns (never the description, citizens, identities or photos), the latest staff
public note per ticket (scrubbed by ``public_ticket``), and the folio of the original for duplicates. Simulated
tickets (``reporta chat``) are demos, not reports, and are never published.

``record(ticket)`` is the published record with Open311 GeoReport names: the columns of the CSV, JSON and GeoJSON
exports, and (with ``open311_request``) the Open311 ``requests`` elements.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Select, String, select, type_coerce
from sqlalchemy.orm import aliased

from notifications.timing import spanish_date
from ticketing.models import ChannelKind, Department, Ticket, TicketEvent
from web.opendata.dictionary import STATUS_LABELS  # what a citizen reads for each status
from web.publication import PublicTicket, public_ticket

BATCH = 1000
_RAW_DATE = DateTime(timezone=True)


#: The published columns, in order (the data dictionary of /datos describes each).
COLUMNS: tuple[str, ...] = (
    "service_request_id", "requested_datetime", "updated_datetime", "closed_date", "status",
    "status_description", "status_notes", "reason", "source", "service_name", "service_code",
    "agency_responsible", "address", "colonia", "lat", "long", "expected_datetime",
)

_COLONIA = re.compile(r"\b(?:col(?:onia)?|fracc(?:ionamiento)?)\.?\s+([^,;]+)", re.IGNORECASE)


def colonia_of(address: str) -> str:
    """The colonia named in a published address ("Hidalgo, col. Centro" → "Centro"), or ""."""
    match = _COLONIA.search(address or "")
    return match.group(1).strip(" .") if match else ""


@dataclass(slots=True)
class _Dept:
    code: str
    name: str


@dataclass(slots=True)
class _TicketRow:
    """The columns ``public_ticket`` reads, from one row of the column query (duck-types ``Ticket``)."""

    folio: str
    category_code: str
    status: Any
    is_open: bool
    reason_code: str | None
    channel: Any
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    resolved_at: datetime | None
    due_at: datetime
    address: str | None
    lat: float | None
    lon: float | None
    department: _Dept


def latest_public_note() -> Any:
    """The ticket's newest staff public note, the one a published row carries (a correlated scalar subquery)."""
    return (select(TicketEvent.public_note)
            .where(TicketEvent.ticket_id == Ticket.id, TicketEvent.public_note.is_not(None))
            .order_by(TicketEvent.id.desc()).limit(1).correlate(Ticket).scalar_subquery())


def base_query() -> Select[Any]:
    """The column query of every published row (filters and order are the caller's)."""
    original = aliased(Ticket)
    note = latest_public_note()
    t = Ticket.__table__.c
    # Dates read as the driver gives them (aware on PostgreSQL, naive UTC on SQLite; ``Publisher.iso`` handles
    # both): the UTCDateTime conversion of seven columns is a tenth of an export's time.
    dates = [type_coerce(t[name], _RAW_DATE).label(name) for name in
             ("created_at", "updated_at", "closed_at", "resolved_at", "due_at", "revised_due_at")]
    created, updated, closed, resolved, due, revised = dates
    status, channel = (type_coerce(t[name], String()).label(name) for name in ("status", "channel"))  # the values
    return (select(Ticket.id, Ticket.folio, Ticket.category_code, status, Ticket.is_open, Ticket.reason_code,
                   channel, created, updated, closed, resolved, due, revised, Ticket.address, Ticket.lat,
                   Ticket.lon, Ticket.referred_to, Ticket.scheduled_for, Department.code, Department.name,
                   original.folio, note)
            .join(Department, Department.id == Ticket.department_id)
            .outerjoin(original, original.id == Ticket.duplicate_of_id)
            .where(Ticket.channel != ChannelKind.SIMULATOR))


class Publisher:
    """Turns query rows into ``PublicTicket``s with the runtime's catalog, time zone and coordinate grid."""

    def __init__(self, catalog: Any, *, timezone: str, decimals: int) -> None:
        self.catalog = catalog
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)
        self.decimals = decimals
        self._explained: dict[tuple[Any, ...], str] = {}
        self._last_value: datetime | None = None
        self._last_iso: str | None = None

    def explanation(self, reason_code: str | None, category_code: str, referred_to: str | None,
                    scheduled_for: datetime | None, duplicate_of: str | None) -> str:
        if not reason_code or reason_code not in self.catalog.reasons:
            return ""
        key = (reason_code, category_code, referred_to, scheduled_for, duplicate_of)
        text = self._explained.get(key)
        if text is None:
            text = self._explain(*key)
            if len(self._explained) < 100_000:
                self._explained[key] = text
        return text

    def _explain(self, reason_code: str, category_code: str, referred_to: str | None,
                 scheduled_for: datetime | None, duplicate_of: str | None) -> str:
        category = self.catalog.categories.get(category_code)
        referral = category.referral if category is not None else None
        return self.catalog.reasons[reason_code].explain(
            referred_to=referred_to or (referral.agency if referral else None),
            agency_contact=referral.contact if referral else None,
            scheduled_for=spanish_date(scheduled_for, self.timezone) if scheduled_for else None,
            duplicate_of=duplicate_of)

    def ticket(self, row: Sequence[Any]) -> tuple[PublicTicket, datetime]:
        """(the public ticket, the committed date: the revised one when staff moved it)."""
        (_id, folio, code, status, is_open, reason, channel, created, updated, closed, resolved, due, revised,
         address, lat, lon, referred_to, scheduled_for, dept_code, dept_name, original, note) = row
        t = _TicketRow(folio, code, status, is_open, reason, channel, created, updated, closed, resolved, due,
                       address, lat, lon, _Dept(dept_code, dept_name))
        public = public_ticket(t, self.catalog, public_notes=[note] if note else None, decimals=self.decimals,
                               explanation=self.explanation(reason, code, referred_to, scheduled_for, original))
        return public, revised or due

    def iso(self, value: datetime | None) -> str | None:
        """W3C date-time with the municipality's offset (Open311 wants the time zone)."""
        if value is None:
            return None
        if value == self._last_value:
            return self._last_iso
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite: naive UTC
        self._last_value, self._last_iso = value, aware.astimezone(self.tz).isoformat(timespec="seconds")
        return self._last_iso

    def record(self, public: PublicTicket, expected: datetime | None) -> dict[str, Any]:
        """The published record (``COLUMNS``) of one ticket."""
        notes = " ".join(p for p in (public.reason_explanation, public.public_notes.replace("\n", " ")) if p)
        return {
            "service_request_id": public.folio,
            "requested_datetime": self.iso(public.requested_at),
            "updated_datetime": self.iso(public.updated_at),
            "closed_date": self.iso(public.closed_at),
            "status": "open" if public.is_open else "closed",
            "status_description": STATUS_LABELS.get(public.status, public.status),
            "status_notes": notes,
            "reason": public.reason_code or "",
            "source": public.channel,
            "service_name": public.service_name,
            "service_code": public.service_code,
            "agency_responsible": public.department_name,
            "address": public.address,
            "colonia": colonia_of(public.address),
            "lat": public.lat,
            "long": public.lon,
            "expected_datetime": self.iso(expected),
        }


def publisher_for(runtime: Any) -> Publisher:
    settings = runtime.settings
    return Publisher(runtime.catalog, timezone=settings.timezone,
                     decimals=getattr(settings, "public_coordinate_decimals", 3))


def stream_records(runtime: Any, stmt: Select[Any] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Batches of published records over ``stmt`` (default: every ticket by id), read with a server-side
    cursor (``yield_per``): memory stays flat however many tickets there are."""
    publisher = publisher_for(runtime)
    stmt = stmt if stmt is not None else base_query().order_by(Ticket.id)
    with runtime.session_factory() as session:
        # Core execution on the session's connection: a server-side cursor (stream_results) without the ORM's
        # row loading
        result = session.connection().execution_options(stream_results=True, max_row_buffer=BATCH).execute(stmt)
        for partition in result.partitions(BATCH):
            yield [publisher.record(*publisher.ticket(row)) for row in partition]


def fetch_records(runtime: Any, stmt: Select[Any]) -> list[dict[str, Any]]:
    """Every record of a small, bounded query (Open311 pages)."""
    publisher = publisher_for(runtime)
    with runtime.session_factory() as session:
        return [publisher.record(*publisher.ticket(row)) for row in session.execute(stmt)]
