"""The exports' fast path (``web.opendata.fast``, PostgreSQL) publishes exactly what the reference path
(``Publisher.record`` over ``web.publication.public_ticket``) publishes: row for row, and byte for byte over HTTP
in CSV, JSON and GeoJSON, on tickets made to trip it (notes with phone numbers, e-mails, CURP and RFC; addresses
with house numbers, postcodes, quotes, commas and newlines; coordinates on the snapping boundaries; nulls; dates
across daylight-saving changes and before 1970). On SQLite both sides are the reference path: the exports must
still equal it."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from reporta.app import create_app
from tests.channels.conftest import AppServer
from ticketing.models import Ticket, TicketStatus
from web.opendata import fast
from web.opendata.addresses import keep_addresses
from web.opendata.exports import EXPORTS, export_clauses, export_rows, reference_rows
from web.publication import address_key, public_address

ADDRESSES = [
    "Hidalgo 100, col. Centro",
    "Av. Juárez #45 Int. 3, Colonia Obrera, C.P. 64000",
    'Calle "La Loma" 12, 5 de Mayo\nfrente al parque, col. Roma',
    "Tel 81 8130 6565, col. Independencia",
    "Morelos y Allende; esquina, Fracc. Los Pinos",
    None,
    "",
    "ana.perez@example.com, lote 7 mz. 3, col. Del Valle",
    "Km 12 carretera nacional, 16 de Septiembre 300-B",
]
NOTES = [
    "Llame al 81 1234 5678 o escriba a ana.perez@example.com",
    "CURP GOMA800101HNLRRN09 y RFC GOMA800101AB1",
    'Con "comillas", comas, y\nsaltos de línea',
    "Cuadrilla en camino",
    "+52 1 81 2345 6789; expediente 123456789012",
]
COORDINATES = [
    (25.6865, -100.3165), (25.6875, -100.3155), (0.0005, -0.0005), (-0.0004999, 0.0015),
    (25.6866142, -100.3161234), (None, None), (1e-7, 89.9995), (25.68650000000001, -100.31649999999999),
    (-33.4445, 151.2225), (25.7, -100.0),
]


def build(runtime: Any, n: int = 30) -> list[str]:
    """``n`` tickets covering the tricky values above, in every status and several reasons."""
    with runtime.session_factory() as session:
        service = runtime.ticket_service(session)
        tickets = []
        for i in range(n):
            lat, lon = COORDINATES[i % len(COORDINATES)]
            fields: dict[str, Any] = {
                "category": ("pothole", "streetlight", "water_leak", "sewer")[i % 4], "description": f"caso {i}",
                "channel": ("whatsapp", "telegram", "web", "sms")[i % 4], "actor": "system", "lat": lat, "lon": lon,
                "address": ADDRESSES[i % len(ADDRESSES)], "landmark": "junto a la tienda"}
            tickets.append(service.create(**fields))
        session.flush()
        note = NOTES.__getitem__
        service.change_status(tickets[0], TicketStatus.RESOLVED, actor="staff:ana", public_note=note(0))
        service.change_status(tickets[1], TicketStatus.IN_PROGRESS, actor="staff:ana", public_note=note(1))
        service.change_status(tickets[2], TicketStatus.NOT_RESOLVED, actor="staff:ana", reason="needs_budget",
                              public_note=note(2))
        service.change_status(tickets[3], TicketStatus.NOT_RESOLVED, actor="staff:ana",
                              reason="out_of_jurisdiction", public_note=note(4))
        service.change_status(tickets[4], TicketStatus.NOT_RESOLVED, actor="staff:ana", reason="scheduled",
                              scheduled_for=datetime(2026, 12, 24, 16, 0, tzinfo=UTC))
        service.mark_duplicate(tickets[5], tickets[1], actor="staff:ana", public_note=note(3))
        service.change_status(tickets[6], TicketStatus.ASSIGNED, actor="staff:ana", public_note=note(3))
        service.change_status(tickets[6], TicketStatus.IN_PROGRESS, actor="staff:ana")  # latest note stays
        service.change_status(tickets[7], TicketStatus.RESOLVED, actor="staff:ana",
                              revised_due_at=datetime(2027, 1, 15, 18, 30, tzinfo=UTC))
        session.commit()
        ids = [t.id for t in tickets]
        # dates across Mexico's daylight-saving changes, with microseconds, and before 1970 (reference path)
        special = {
            ids[8]: {"created_at": datetime(2010, 4, 4, 7, 59, 59, 999999, tzinfo=UTC),
                     "updated_at": datetime(2010, 4, 4, 8, 0, 0, 1, tzinfo=UTC)},
            ids[9]: {"created_at": datetime(2022, 10, 30, 6, 30, tzinfo=UTC),
                     "updated_at": datetime(2022, 10, 30, 7, 30, tzinfo=UTC)},
            ids[10]: {"created_at": datetime(1921, 12, 31, 12, 0, tzinfo=UTC),
                      "updated_at": datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)},
            ids[11]: {"due_at": datetime(1950, 6, 1, tzinfo=UTC)},
            ids[12]: {"referred_to": "CFE, tel. 071", "reason_code": "out_of_jurisdiction"},
            ids[13]: {"category_code": "retired_category"},
            ids[14]: {"reason_code": "not_in_the_catalog"},
            # written outside the ORM: the kept public address is stale (its key no longer matches)
            ids[17]: {"address": "Llámame al 81 1111 2222, Juárez 50, col. Roma"},
            # a kept value under other rules (another key) is never used
            ids[18]: {"public_address": "NO PUBLICAR", "public_address_key": "0" * 32},
            ids[19]: {"address": None},
        }
        for ticket_id, values in special.items():
            session.execute(update(Ticket).where(Ticket.id == ticket_id).values(**values))
        session.execute(update(Ticket).where(Ticket.id == ids[16]).values(lat=25.7, lon=None))  # half a point
        if session.get_bind().dialect.name == "postgresql":  # SQLite keeps no NaN or infinity in a REAL
            session.execute(update(Ticket).where(Ticket.id == ids[15]).values(lat=math.nan, lon=math.inf))
        session.commit()
        return [t.folio for t in tickets]


def flat(batches: Any) -> list[tuple[Any, ...]]:
    return list(chain.from_iterable(batches))


def test_fast_rows_equal_the_reference_row_for_row(od_runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    folios = build(od_runtime)
    reference = flat(reference_rows(od_runtime, []))
    assert [r[0] for r in reference] == folios
    fallbacks: list[int] = []
    reference_of = fast.FastRows.reference
    monkeypatch.setattr(fast.FastRows, "reference",
                        lambda self, ticket_id, c: fallbacks.append(ticket_id) or reference_of(self, ticket_id, c))
    monkeypatch.setattr(fast, "FAST_BATCH", 4)  # many batches, and the rows SQLAlchemy buffers first
    assert flat(export_rows(od_runtime, [])) == reference
    with od_runtime.session_factory() as session:
        on_postgres = fast.supported(session.connection())
    assert len(fallbacks) == (2 if on_postgres else 0)  # the two tickets with dates before 1970
    monkeypatch.setattr(fast, "FAST_BATCH", 5000)
    assert flat(export_rows(od_runtime, [])) == reference
    # the tricky values did reach the output, scrubbed
    text = repr(reference)
    assert "8130" not in text and "example.com" not in text and "GOMA800101" not in text and "1234 5678" not in text
    assert '"comillas", comas, y saltos' in text and "Hidalgo, col. Centro" in text
    assert "NO PUBLICAR" not in text and "1111" not in text


def test_an_export_left_half_way_stops_its_prefetching_thread(od_runtime: Any, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    build(od_runtime)
    with od_runtime.session_factory() as session:
        on_postgres = fast.supported(session.connection())
    monkeypatch.setattr(fast, "FAST_BATCH", 3)
    rows = export_rows(od_runtime, [])
    assert len(next(rows)) == (3 if on_postgres else 30)  # the client reads a little, then goes away
    rows.close()
    assert not [t for t in threading.enumerate() if t.name == "export-prefetch"]


def test_the_prefetching_reader_hands_over_a_failure_and_every_batch_in_order() -> None:
    batches = iter([[(1,), (2,)], [(3,)], []])
    assert list(fast._Prefetch(lambda size: next(batches), [(0,)])) == [[(0,), (1,), (2,)], [(3,)]]

    def broken(size: int) -> list[tuple[Any, ...]]:
        raise OSError("the database went away")

    reader = fast._Prefetch(broken, [])
    with pytest.raises(OSError, match="went away"):
        list(reader)
    reader.stop()


def test_kept_public_addresses(od_runtime: Any) -> None:
    """The ORM keeps each ticket's public address; ``keep_addresses`` fills the missing and stale ones without
    touching updated_at; with or without them the exports equal the reference."""
    build(od_runtime)
    with od_runtime.session_factory() as session:
        kept = session.execute(select(Ticket.address, Ticket.public_address, Ticket.public_address_key)
                               .where(Ticket.address.is_not(None))).all()
        updated = dict(session.execute(select(Ticket.id, Ticket.updated_at)).all())
    fresh = [(a, p) for a, p, k in kept if k == address_key(a)]
    assert len(fresh) >= len(kept) - 2 and all(p == public_address(a) for a, p in fresh)
    reference = flat(reference_rows(od_runtime, []))
    assert keep_addresses(od_runtime.session_factory, batch=7) == 3  # stale, other rules, address removed
    assert keep_addresses(od_runtime.session_factory) == 0
    with od_runtime.session_factory() as session:
        assert dict(session.execute(select(Ticket.id, Ticket.updated_at)).all()) == updated
        kept = session.execute(select(Ticket.address, Ticket.public_address, Ticket.public_address_key)).all()
    assert all(p == (public_address(a) if a else None) and k == address_key(a) for a, p, k in kept)
    assert flat(reference_rows(od_runtime, [])) == reference
    assert flat(export_rows(od_runtime, [])) == reference


def test_exports_over_http_equal_the_reference_bytes(od_runtime: Any) -> None:
    build(od_runtime)
    # no background jobs: the SLA warnings would touch updated_at between the reference and the download
    with AppServer(create_app(od_runtime, background=False)) as app:
        base = app.base_url + "/datos/reportes"
        for params in [{}, {"status": "closed"}, {"service_code": "pothole"}]:
            reference = flat(reference_rows(od_runtime, export_clauses(od_runtime, params)))
            assert reference
            for fmt, (chunks, _media) in EXPORTS.items():
                expected = "".join(chunks(iter([reference])))
                got = httpx.get(f"{base}.{fmt}", params=params, timeout=30)
                assert got.status_code == 200
                assert got.text == expected, (fmt, params)


def test_fast_path_dates_match_python_across_the_years(od_runtime: Any) -> None:
    """PostgreSQL's ``to_char`` in the municipality's zone writes what ``isoformat`` writes, hour by hour over
    the daylight-saving years and the switch-over days."""
    with od_runtime.session_factory() as session:
        connection = session.connection()
        if not fast.supported(connection):
            pytest.skip("the fast path is PostgreSQL's")
        from sqlalchemy import func, literal, select
        from sqlalchemy.types import DateTime

        from web.opendata.rows import publisher_for

        publisher = publisher_for(od_runtime)
        connection.execute(select(func.set_config("TimeZone", od_runtime.settings.timezone, True)))
        moments = [datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=h, seconds=s)
                   for h in range(0, 24 * 365 * 60, 997) for s in (0, 59)]
        for day in ("2010-04-04", "2010-10-31", "2022-04-03", "2022-10-30", "2026-03-08", "2026-11-01"):
            start = datetime.fromisoformat(day).replace(tzinfo=UTC)
            moments += [start + timedelta(minutes=m, microseconds=999999) for m in range(0, 24 * 60, 30)]
        for chunk in range(0, len(moments), 500):
            part = moments[chunk:chunk + 500]
            got = connection.execute(select(*[func.to_char(literal(m, DateTime(timezone=True)), fast.ISO_FORMAT)
                                             for m in part])).one()
            assert list(got) == [publisher.iso(m) for m in part]
