"""Open data: ``/datos`` (the data dictionary, the downloads and counts by service) and the streamed exports
``/datos/reportes.csv``, ``.json`` and ``.geojson``.

The exports stream every published record (``web.opendata.rows``) from a server-side cursor in batches: a
million rows never sit in memory. They take the same optional filters as Open311 (``service_code``, ``status``,
``start_date``, ``end_date``), without its 90-day limit. Counts on the page are suppressed under
``MIN_COUNT`` (shown as "menos de 5"), so a rare report cannot point at a person.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ticketing.models import ChannelKind, Ticket
from web.context import WebContext
from web.opendata.dictionary import DICTIONARY, dictionary, grid_size  # column → (type, meaning); /datos shows it
from web.opendata.fast import fast_rows, supported
from web.opendata.filters import FilterError, parse_filters
from web.opendata.rows import COLUMNS, base_query, stream_records

MIN_COUNT = 5
COUNTS_TTL_SECONDS = 60.0  # the counts of /datos are a GROUP BY over every ticket: computed once a minute

assert tuple(DICTIONARY) == COLUMNS, "every published column is described"


Batches = Iterator[list[tuple[Any, ...]]]  # published rows, each a tuple in COLUMNS order


def _csv_chunks(batches: Batches) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # None is written as an empty field
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(batch)
        yield buffer.getvalue()


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # what json.dumps(...) writes


def _json_chunks(batches: Batches) -> Iterator[str]:
    yield "["
    first = True
    for batch in batches:
        if not batch:
            continue
        text = ",\n".join([_encode(dict(zip(COLUMNS, row, strict=True))) for row in batch])
        yield ("\n" if first else ",\n") + text
        first = False
    yield "\n]\n"


def feature(record: dict[str, Any]) -> dict[str, Any]:
    lat, lon = record.get("lat"), record.get("long")
    geometry = {"type": "Point", "coordinates": [lon, lat]} if lat is not None and lon is not None else None
    return {"type": "Feature", "id": record["service_request_id"], "geometry": geometry, "properties": record}


def _geojson_chunks(batches: Batches) -> Iterator[str]:
    yield '{"type":"FeatureCollection","features":['
    first = True
    for batch in batches:
        if not batch:
            continue
        text = ",\n".join([_encode(feature(dict(zip(COLUMNS, row, strict=True)))) for row in batch])
        yield ("\n" if first else ",\n") + text
        first = False
    yield "\n]}\n"


EXPORTS = {
    "csv": (_csv_chunks, "text/csv; charset=utf-8"),
    "json": (_json_chunks, "application/json; charset=utf-8"),
    "geojson": (_geojson_chunks, "application/geo+json; charset=utf-8"),
}


def export_clauses(runtime: Any, params: Any) -> list[Any]:
    """The export's filters (Open311's, without the 90-day limit); ``FilterError`` when one is wrong."""
    return list(parse_filters(params, runtime.catalog, runtime.settings.timezone, default_span=False).clauses())


def export_statement(runtime: Any, params: Any) -> Any:
    """The reference query of an export (``web.opendata.rows``)."""
    return base_query().where(*export_clauses(runtime, params)).order_by(Ticket.id)


def reference_rows(runtime: Any, clauses: list[Any]) -> Batches:
    """The published rows by the reference path (``Publisher.record`` over ``public_ticket``), any database."""
    stmt = base_query().where(*clauses).order_by(Ticket.id)
    for batch in stream_records(runtime, stmt):
        yield [tuple(record.values()) for record in batch]  # records are built in COLUMNS order


def export_rows(runtime: Any, clauses: list[Any]) -> Batches:
    """The published rows of an export: the fast path on PostgreSQL (``web.opendata.fast``), the reference
    elsewhere (SQLite). Both give the same rows."""
    with runtime.session_factory() as session:
        if supported(session.connection()):
            yield from fast_rows(runtime, session, clauses)
            return
    yield from reference_rows(runtime, clauses)


def counts_by_service(runtime: Any) -> list[dict[str, Any]]:
    """Per service: open and closed counts, each suppressed (None) under ``MIN_COUNT``."""
    stmt = (select(Ticket.category_code, Ticket.is_open, func.count())
            .where(Ticket.channel != ChannelKind.SIMULATOR)
            .group_by(Ticket.category_code, Ticket.is_open))
    with runtime.session_factory() as session:
        rows = session.execute(stmt).all()
    table: dict[str, dict[str, int]] = {}
    for code, is_open, n in rows:
        table.setdefault(code, {"open": 0, "closed": 0})["open" if is_open else "closed"] += n
    out = []
    for code, category in runtime.catalog.categories.items():
        counts = table.get(code, {"open": 0, "closed": 0})
        out.append({"service_code": code, "service_name": category.name,
                    **{k: (v if v >= MIN_COUNT or v == 0 else None) for k, v in counts.items()}})
    return out


def routes(ctx: WebContext) -> list[BaseRoute]:
    counts_cache: dict[str, Any] = {"at": -COUNTS_TTL_SECONDS, "value": None}

    async def export(request: Request) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in EXPORTS:
            return PlainTextResponse("formats: reportes.csv, reportes.json, reportes.geojson", status_code=404)
        rt = ctx.runtime()
        try:
            clauses = export_clauses(rt, request.query_params)
        except FilterError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        chunks, media_type = EXPORTS[fmt]
        return StreamingResponse(chunks(export_rows(rt, clauses)), media_type=media_type, headers={
            "content-disposition": f'attachment; filename="reportes.{fmt}"',
            "access-control-allow-origin": "*", "cache-control": "public, max-age=300"})

    async def page(request: Request) -> Response:
        rt = ctx.runtime()
        now = time.monotonic()
        if counts_cache["value"] is None or now - counts_cache["at"] > COUNTS_TTL_SECONDS:
            counts_cache["value"], counts_cache["at"] = await run_in_threadpool(counts_by_service, rt), now
        services = counts_cache["value"]
        decimals = rt.settings.public_coordinate_decimals
        return ctx.pages.render(request, "opendata/datos.html", {
            "dictionary": dictionary(decimals), "services": services, "min_count": MIN_COUNT,
            "decimals": decimals, "grid": grid_size(decimals),
            "site_name": rt.settings.municipality_name})

    return [
        Route("/datos", page, methods=["GET"]),
        Route("/datos/reportes.{fmt}", export, methods=["GET"]),
    ]
