"""Open311 GeoReport v2 under ``/open311/v2``: how other apps, researchers and a state government read and file
the municipality's reports.

Endpoints (each as ``.json`` or ``.xml``; without a suffix, JSON):

- ``GET discovery``; ``GET services`` (the catalog's categories); ``GET services/{service_code}`` (definition:
  no extra attributes);
- ``GET requests`` with ``service_request_id``, ``service_code``, ``start_date``, ``end_date`` (default: the
  last 90 days, at most 90 days), ``status`` (open, closed), ``page`` / ``page_size`` (≤ 1000), newest first;
- ``POST requests`` (form fields; ``api_key`` required, see ``reporta open311 keys``): the ticket is created by
  ``TicketService`` (channel ``open311``), like any other report; the reporter's personal fields (email, name,
  phone, device and account ids) are not stored;
- ``GET requests/{service_request_id}`` (a one-element list); ``GET tokens/{token}`` (the token of a POST is
  the folio itself: tickets are created at once).

Requests are published records (``web.opendata.rows``): the whitelist of ``web.publication``. Errors are
``[{"code": <HTTP status>, "description": …}]`` with 400, 403 or 404. Dates carry the municipality's offset.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ticketing.errors import TicketError
from ticketing.folio import normalise_folio
from ticketing.models import ChannelKind, Ticket
from web.context import WebContext
from web.opendata.body import BodyTooLarge, capped
from web.opendata.filters import FilterError, parse_filters, parse_page
from web.opendata.keys import verify_key
from web.opendata.rows import base_query, fetch_records

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-01T00:00:00-06:00"
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
MAX_DESCRIPTION = 4000
MAX_BODY = 64 * 1024
#: The Spanish text of the answers: discovery's contact and key service, a POST's service notice.
TEXTS = "opendata/open311.j2"

#: The record fields an Open311 request element carries, in the specification's order.
REQUEST_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url")


class Open311Error(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def open311_request(record: dict[str, Any]) -> dict[str, Any]:
    """An Open311 ``request`` element from a published record. ``description`` is the citizen's own words and
    is never published (empty); so are photos (``media_url`` empty)."""
    out = {name: record.get(name) for name in REQUEST_FIELDS}
    out.update(description="", service_notice="", address_id="", zipcode="", media_url="",
               status_notes=record.get("status_notes") or "", status_description=record.get("status_description"),
               colonia=record.get("colonia"), reason=record.get("reason") or "", source=record.get("source"),
               closed_date=record.get("closed_date"))
    return out


# --- XML ------------------------------------------------------------------------------------------------

def _singular(tag: str) -> str:
    return {"endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value",
            "errors": "error"}.get(tag, tag[:-1] if tag.endswith("s") else tag + "_item")


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))  # characters XML 1.0 cannot carry


def _fill(parent: ET.Element, data: dict[str, Any]) -> None:
    for key, value in data.items():
        child = ET.SubElement(parent, key)
        if isinstance(value, dict):
            _fill(child, value)
        elif isinstance(value, list):
            for item in value:
                sub = ET.SubElement(child, _singular(key))
                if isinstance(item, dict):
                    _fill(sub, item)
                else:
                    sub.text = _xml_value(item)
        else:
            child.text = _xml_value(value)


def to_xml(root: str, item: str | None, data: Any) -> bytes:
    """``data`` (a list of dicts under ``<root><item>``, or one dict under ``<root>``) as XML."""
    element = ET.Element(root)
    if item is None:
        _fill(element, data)
    else:
        for entry in data:
            _fill(ET.SubElement(element, item), entry)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def respond(fmt: str, data: Any, root: str, item: str | None, status_code: int = 200) -> Response:
    if fmt == "xml":
        return Response(to_xml(root, item, data), status_code=status_code, media_type=FORMATS["xml"])
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status_code=status_code, media_type=FORMATS["json"],
                    headers={"access-control-allow-origin": "*"})


def error(fmt: str, code: int, description: str) -> Response:
    return respond(fmt, [{"code": code, "description": description}], "errors", "error", status_code=code)


# --- endpoints --------------------------------------------------------------------------------------------

def routes(ctx: WebContext) -> list[BaseRoute]:
    def runtime() -> Any:
        return ctx.runtime()

    def endpoint(handler: Callable[..., Any]) -> Callable[[Request], Any]:
        async def wrapped(request: Request) -> Response:
            fmt = request.path_params.get("fmt", "json")
            if fmt not in FORMATS:
                return error("json", 404, f"unknown format {fmt!r}: use .json or .xml")
            try:
                return await handler(request, fmt)
            except Open311Error as exc:
                return error(fmt, exc.code, exc.description)
            except FilterError as exc:
                return error(fmt, 400, str(exc))
        return wrapped

    async def discovery(request: Request, fmt: str) -> Response:
        settings = runtime().settings
        base = settings.public_url.rstrip("/") + PREFIX
        data = {
            "changeset": CHANGESET,
            "contact": ctx.pages.macro_text(TEXTS, "contact", settings.municipality_name, settings.public_url),
            "key_service": ctx.pages.macro_text(TEXTS, "key_service"),
            "endpoints": [{"specification": SPECIFICATION, "url": base, "changeset": CHANGESET, "type": "production",
                           "formats": ["text/xml", "application/json"]}],
        }
        return respond(fmt, data, "discovery", None)

    def _service(code: str) -> dict[str, Any]:
        catalog = runtime().catalog
        category = catalog.categories[code]
        department = catalog.departments.get(category.department)
        return {"service_code": code, "service_name": category.name, "description": category.description,
                "metadata": False, "type": "realtime", "keywords": "",
                "group": department.name if department is not None else ""}

    async def services(request: Request, fmt: str) -> Response:
        return respond(fmt, [_service(code) for code in runtime().catalog.categories], "services", "service")

    async def service_definition(request: Request, fmt: str) -> Response:
        code = request.path_params["code"]
        if code not in runtime().catalog.categories:
            raise Open311Error(404, f"no service with service_code {code!r}")
        return respond(fmt, {"service_code": code, "attributes": []}, "service_definition", None)

    async def requests_get(request: Request, fmt: str) -> Response:
        rt = runtime()
        params = request.query_params
        filters = parse_filters(params, rt.catalog, rt.settings.timezone, default_span=True)
        page, size = parse_page(params)
        stmt = (base_query().where(*filters.clauses())
                .order_by(Ticket.created_at.desc(), Ticket.id.desc()).offset((page - 1) * size).limit(size))
        records = await run_in_threadpool(fetch_records, rt, stmt)
        return respond(fmt, [open311_request(r) for r in records], "service_requests", "request")

    async def request_one(request: Request, fmt: str) -> Response:
        rt = runtime()
        folio = normalise_folio(request.path_params["id"])
        if folio is None:
            raise Open311Error(404, "service_request_id is not a folio (8 digits, e.g. 1234-5678)")
        records = await run_in_threadpool(fetch_records, rt, base_query().where(Ticket.folio == folio))
        if not records:
            raise Open311Error(404, f"no service request {folio}")
        return respond(fmt, [open311_request(records[0])], "service_requests", "request")

    async def token(request: Request, fmt: str) -> Response:
        rt = runtime()
        folio = normalise_folio(request.path_params["token"])
        if folio is None:
            raise Open311Error(404, f"no token {request.path_params['token']!r}")
        records = await run_in_threadpool(fetch_records, rt, base_query().where(Ticket.folio == folio))
        if not records:
            raise Open311Error(404, f"no token {folio}")
        return respond(fmt, [{"service_request_id": folio, "token": folio}], "service_requests", "request")

    async def requests_post(request: Request, fmt: str) -> Response:
        try:
            form = await capped(request, MAX_BODY).form(max_files=0, max_fields=100)
        except BodyTooLarge:
            raise Open311Error(400, f"request body larger than {MAX_BODY} bytes") from None
        except Exception:
            raise Open311Error(400, "send the fields as application/x-www-form-urlencoded") from None
        values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        return await run_in_threadpool(_create, values, fmt)

    def _create(values: dict[str, str], fmt: str) -> Response:
        rt = runtime()
        code = values.get("service_code", "").strip()
        lat_raw, lon_raw = values.get("lat", "").strip(), values.get("long", "").strip()
        address = values.get("address_string", "").strip()[:500]
        description = values.get("description", "").strip()
        with rt.session_factory() as session:
            key = verify_key(session, values.get("api_key"))
            if key is None:
                raise Open311Error(403, "api_key is missing, unknown or revoked")
            if not code:
                raise Open311Error(400, "service_code is required")
            if code not in rt.catalog.categories:
                raise Open311Error(404, f"no service with service_code {code!r}")
            lat = lon = None
            if lat_raw or lon_raw:
                try:
                    lat, lon = float(lat_raw), float(lon_raw)
                except ValueError:
                    raise Open311Error(400, "lat and long must both be decimal degrees") from None
            if lat is None and not address:
                raise Open311Error(400, "a location is required: lat and long, or address_string")
            if len(description) > MAX_DESCRIPTION:
                raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
            service = rt.ticket_service(session)
            try:
                ticket = service.create(category=code, description=description, channel=ChannelKind.OPEN311,
                                        actor=f"open311:{key.name}"[:120], lat=lat, lon=lon, address=address or None)
            except TicketError as exc:
                session.rollback()
                raise Open311Error(400, str(exc)) from None
            folio = ticket.folio
            due = ticket.due_at
            session.commit()
        log.info("open311: request %s created by key %s", folio, key.name)
        local_due = due.astimezone(ZoneInfo(rt.settings.timezone)).date().isoformat()
        notice = ctx.pages.macro_text(TEXTS, "service_notice", folio, local_due)
        return respond(fmt, [{"service_request_id": folio, "token": folio, "service_notice": notice,
                              "account_id": None}], "service_requests", "request", status_code=201)

    requests_any = endpoint(lambda r, f: requests_post(r, f) if r.method == "POST" else requests_get(r, f))

    table: list[BaseRoute] = []
    for suffix in (".{fmt}", ""):
        table += [
            Route(f"{PREFIX}/discovery{suffix}", endpoint(discovery), methods=["GET"]),
            Route(f"{PREFIX}/services{suffix}", endpoint(services), methods=["GET"]),
            Route(f"{PREFIX}/services/{{code}}{suffix}", endpoint(service_definition), methods=["GET"]),
            Route(f"{PREFIX}/requests{suffix}", requests_any, methods=["GET", "POST"]),
            Route(f"{PREFIX}/requests/{{id}}{suffix}", endpoint(request_one), methods=["GET"]),
            Route(f"{PREFIX}/tokens/{{token}}{suffix}", endpoint(token), methods=["GET"]),
        ]
    return table
