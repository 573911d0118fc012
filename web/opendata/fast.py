"""The PostgreSQL fast path of the open data exports: the same published rows as ``web.opendata.rows``
(``Publisher.record`` over ``public_ticket``, the reference), produced with far less work per row.

- **One query, plain tuples.** The rows are read from a server-side cursor (``stream_results``) straight from the
  driver (``fetchmany`` on the DBAPI cursor): no SQLAlchemy ``Row``, no ORM object, no dataclass per ticket.
- **Dates formatted by PostgreSQL.** ``to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM')`` with the transaction's
  ``TimeZone`` set to the municipality's is what ``datetime.astimezone(tz).isoformat(timespec="seconds")`` writes,
  for any date whose offset is whole minutes (every offset since the zones left local mean time, before 1930). A
  ticket with a date before 1970 is published by the reference path instead (a guard column of the query), so
  no row depends on that.
- **Status, open/closed, the closing and the committed date** are ``CASE``/``coalesce`` in SQL, exactly the
  reference's ``bool(is_open)``, ``closed_at or resolved_at`` and ``revised or due``.
- **PostgreSQL works while Python writes**: a thread fetches the next batch of the server-side cursor while the
  current one is converted and written (``_Prefetch``).
- **What stays in Python is the whitelist's own code**: ``scrub`` of the latest public note and of the reason's
  explanation, ``public_address``/``colonia_of`` of the address, ``snap`` of the coordinates. Each is memoised
  per export on its inputs (service names, department names, explanations, notes repeat across a million rows).

``fast_rows`` yields batches of tuples in ``COLUMNS`` order; ``tests/web/opendata/test_fast_path.py`` checks
they equal the reference record for record on tricky tickets.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Select, String, case, func, literal, select, type_coerce
from sqlalchemy.orm import aliased

from ticketing.models import ChannelKind, Department, Ticket
from web.opendata.rows import STATUS_LABELS, Publisher, base_query, colonia_of, latest_public_note, publisher_for
from web.publication import ADDRESS_RULES, public_address, scrub, snap

#: Rows per FETCH of the server-side cursor (and per chunk written).
FAST_BATCH = 5000
#: What ``to_char`` writes for ``isoformat(timespec="seconds")`` of an aware local datetime.
ISO_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM'
#: Dates before this are published by the reference path (offsets of local mean time carry seconds).
MODERN = datetime(1970, 1, 1, tzinfo=UTC)
#: Memo sizes: bounded, so memory stays flat however many distinct values an export meets.
_MEMO_LIMIT = 50_000


def supported(connection: Any) -> bool:
    return connection.dialect.name == "postgresql"


def _iso(column: Any) -> Any:
    return func.to_char(column, ISO_FORMAT)


def fast_query() -> Select[Any]:
    """The columns of ``base_query`` with the dates already formatted (filters and order are the caller's)."""
    original = aliased(Ticket)
    note = latest_public_note()
    t = Ticket.__table__.c
    is_open = t.is_open.is_(True)
    dates = [t.created_at, t.updated_at, t.closed_at, t.resolved_at, t.due_at, t.revised_due_at]
    # the public address kept with the ticket, only while its key is that of this address under these rules
    kept_address = case((t.public_address_key == func.md5(literal(f"{ADDRESS_RULES}:") + t.address),
                         t.public_address), else_=None)
    modern = type_coerce(func.least(*dates) >= literal(MODERN, DateTime(timezone=True)), Boolean())
    return (select(
        t.id, t.folio,
        _iso(t.created_at), _iso(t.updated_at),
        case((is_open, None), else_=_iso(func.coalesce(t.closed_at, t.resolved_at))),
        case((is_open, "open"), else_="closed"),
        type_coerce(t.status, String()), t.reason_code, type_coerce(t.channel, String()), t.category_code,
        Department.name, t.address, kept_address, t.lat, t.lon,
        _iso(func.coalesce(t.revised_due_at, t.due_at)),
        t.referred_to, t.scheduled_for, original.folio, note, modern)
        .join(Department, Department.id == Ticket.department_id)
        .outerjoin(original, original.id == Ticket.duplicate_of_id)
        .where(Ticket.channel != ChannelKind.SIMULATOR))


class _Memo(dict[Any, Any]):
    """A dict that stops growing at ``_MEMO_LIMIT`` entries (later values are computed, not kept)."""

    def put(self, key: Any, value: Any) -> Any:
        if len(self) < _MEMO_LIMIT:
            self[key] = value
        return value


class FastRows:
    """Query tuples → published rows (tuples in ``COLUMNS`` order), with the reference's rules."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.decimals = publisher.decimals
        self.services = _Memo()
        self.notes = _Memo()
        self.explanations = _Memo()
        self.addresses = _Memo()

    def service_name(self, code: str) -> str:
        try:
            return self.publisher.catalog.category(code).name  # type: ignore[no-any-return]
        except Exception:  # the reference: an unknown category publishes its code
            return code

    def rows(self, batch: list[tuple[Any, ...]], connection: Any) -> list[tuple[Any, ...]]:
        services, notes, explanations, addresses = self.services, self.notes, self.explanations, self.addresses
        labels, decimals, publisher = STATUS_LABELS, self.decimals, self.publisher
        out = []
        append = out.append
        for (ticket_id, folio, requested, updated, closed, open_closed, status, reason, channel, code, dept_name,
             address, kept, lat, lon, expected, referred_to, scheduled_for, original, note, modern) in batch:
            if not modern:
                append(self.reference(ticket_id, connection))
                continue
            service = services.get(code)
            if service is None:
                service = services.put(code, self.service_name(code))
            if note:
                note_text = notes.get(note)
                if note_text is None:
                    note_text = notes.put(note, scrub(note).replace("\n", " "))
            else:
                note_text = ""
            if reason:
                key = (reason, code, referred_to, scheduled_for, original)
                explanation = explanations.get(key)
                if explanation is None:
                    explanation = explanations.put(key, scrub(
                        publisher.explanation(reason, code, referred_to, scheduled_for, original) or ""))
            else:
                explanation = ""
            status_notes = f"{explanation} {note_text}" if explanation and note_text else explanation or note_text
            if kept is not None:
                clean, colonia = kept, colonia_of(kept)
            elif address:
                published = addresses.get(address)
                if published is None:
                    clean = public_address(address)
                    published = addresses.put(address, (clean, colonia_of(clean)))
                clean, colonia = published
            else:
                clean, colonia = "", ""
            append((folio, requested, updated, closed, open_closed, labels.get(status, status), status_notes,
                    reason or "", channel, service, code, dept_name, clean, colonia,
                    snap(lat, decimals), snap(lon, decimals), expected))
        return out

    def reference(self, ticket_id: int, connection: Any) -> tuple[Any, ...]:
        """One ticket through the reference path (a date the fast path does not format)."""
        row = connection.execute(base_query().where(Ticket.id == ticket_id)).one()
        return tuple(self.publisher.record(*self.publisher.ticket(row)).values())


def fast_rows(runtime: Any, session: Any, clauses: list[Any]) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of published rows (tuples in ``COLUMNS`` order) of every ticket matching ``clauses``, by id.
    ``session`` must be on PostgreSQL (``supported``)."""
    converter = FastRows(publisher_for(runtime))
    connection = session.connection()
    connection.execute(select(func.set_config("TimeZone", runtime.settings.timezone, True)))
    stmt = fast_query().where(*clauses).order_by(Ticket.id)
    result = connection.execution_options(stream_results=True, max_row_buffer=FAST_BATCH).execute(stmt)
    cursor = result.cursor  # the driver's server-side cursor: plain tuples, no Row objects
    # SQLAlchemy has already read the first row(s) of the cursor into its buffer (raw driver tuples): they come
    # first. The row-for-row test against the reference would miss none but notice any lost.
    buffered = result.cursor_strategy._rowbuffer  # type: ignore[attr-defined]
    pending = list(buffered)
    buffered.clear()
    reader = _Prefetch(cursor.fetchmany, pending)
    try:
        for batch in reader:
            yield converter.rows(batch, connection)
    finally:
        reader.stop()
        result.close()


class _Prefetch:
    """The cursor's batches, fetched by a thread of their own one batch ahead: PostgreSQL computes the next
    ``FAST_BATCH`` rows while this process converts and writes the current ones (the driver waits on the socket
    without the GIL), so the export's wall time is about the larger of the two, not their sum. Only this thread
    touches the server-side cursor; ``stop`` ends it (a client that goes away) before the cursor is closed."""

    def __init__(self, fetchmany: Any, first: list[tuple[Any, ...]]) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fetchmany, first), name="export-prefetch",
                                        daemon=True)
        self._thread.start()

    def _run(self, fetchmany: Any, first: list[tuple[Any, ...]]) -> None:
        try:
            batch = first + fetchmany(FAST_BATCH - len(first))
            while batch and not self._stopped.is_set():
                self._put(batch)
                batch = fetchmany(FAST_BATCH)
            self._put(_END)
        except BaseException as exc:  # handed to the reader, raised there
            self._put(exc)

    def _put(self, item: Any) -> None:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[list[tuple[Any, ...]]]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


_END = object()
