"""Open311 GeoReport v2: every response validated against the GeoReport v2 JSON schemas of this project, the XML
parsed and compared, the server read by the ``georeport`` client from PyPI, POST through the ticket service with
API keys, filters and errors."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pytest
from georeport import GeoReport
from sqlalchemy import select

from tests.web.opendata.conftest import SCHEMAS
from ticketing.models import ChannelKind, Ticket, TicketEvent, TicketStatus
from web.opendata.keys import add_key, revoke_key

OFFSET_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def valid(data: Any, name: str) -> Any:
    jsonschema.Draft202012Validator.check_schema(schema(name))
    jsonschema.validate(data, schema(name), cls=jsonschema.Draft202012Validator,
                        format_checker=jsonschema.FormatChecker())
    return data


def xml(resp: httpx.Response) -> ET.Element:
    assert resp.headers["content-type"].startswith("text/xml")
    assert resp.content.startswith(b"<?xml")
    return ET.fromstring(resp.content)


@pytest.fixture
def tickets(od_runtime: Any) -> list[str]:
    """Three tickets: an open pothole, a streetlight in progress with a public note, a closed one (referred)."""
    with od_runtime.session_factory() as session:
        service = od_runtime.ticket_service(session)
        a = service.create(category="pothole", description="bache", channel="whatsapp", actor="system",
                           lat=25.6866142, lon=-100.3161234, address="Hidalgo 100, col. Centro")
        b = service.create(category="streetlight", description="lampara", channel="telegram", actor="system",
                           address="Av. Juárez 45, col. Obrera")
        service.change_status(b, TicketStatus.IN_PROGRESS, actor="staff:ana", public_note="Cambiamos la lámpara")
        c = service.create(category="water_leak", description="fuga", channel="sms", actor="system",
                           lat=25.7, lon=-100.3)
        service.change_status(c, TicketStatus.NOT_RESOLVED, actor="staff:ana", reason="out_of_jurisdiction")
        folios = [a.folio, b.folio, c.folio]
        session.commit()
    return folios


def test_discovery_services_and_definitions_in_json_and_xml(od_app: Any, od_runtime: Any) -> None:
    base = od_app.base_url + "/open311/v2"
    discovery = valid(httpx.get(base + "/discovery.json").json(), "discovery")
    assert discovery["endpoints"][0]["url"].endswith("/open311/v2")
    root = xml(httpx.get(base + "/discovery.xml"))
    assert root.tag == "discovery" and [f.text for f in root.iter("format")] == ["text/xml", "application/json"]

    services = valid(httpx.get(base + "/services.json").json(), "services")
    assert [s["service_code"] for s in services] == list(od_runtime.catalog.categories)
    root = xml(httpx.get(base + "/services.xml"))
    assert root.tag == "services"
    assert [s.findtext("service_code") for s in root.findall("service")] == [s["service_code"] for s in services]
    assert root.find("service/metadata").text == "false"
    assert httpx.get(base + "/services").json() == services  # no suffix: JSON

    for code in ("pothole", "water_leak"):
        definition = valid(httpx.get(f"{base}/services/{code}.json").json(), "service_definition")
        assert definition == {"service_code": code, "attributes": []}
        assert xml(httpx.get(f"{base}/services/{code}.xml")).findtext("service_code") == code
    missing = httpx.get(base + "/services/nada.json")
    assert missing.status_code == 404 and valid(missing.json(), "errors")[0]["code"] == 404
    assert xml(httpx.get(base + "/services/nada.xml")).find("error/code").text == "404"


def test_requests_json_and_xml_agree_and_carry_status_reason_and_dates(od_app: Any, tickets: list[str]) -> None:
    base = od_app.base_url + "/open311/v2"
    data = valid(httpx.get(base + "/requests.json").json(), "requests")
    assert [r["service_request_id"] for r in data] == tickets[::-1]  # newest first
    by_id = {r["service_request_id"]: r for r in data}
    pothole, light, leak = (by_id[f] for f in tickets)
    assert pothole["status"] == "open" and pothole["lat"] == 25.687 and pothole["long"] == -100.316
    assert pothole["address"] == "Hidalgo, col. Centro" and pothole["description"] == ""
    assert light["status_notes"] == "Cambiamos la lámpara" and light["agency_responsible"]
    assert leak["status"] == "closed" and "no lo atiende el municipio" in leak["status_notes"]
    for r in data:
        for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
            assert OFFSET_DATE.match(r[key]), r[key]
    root = xml(httpx.get(base + "/requests.xml"))
    assert root.tag == "service_requests"
    items = root.findall("request")
    assert [i.findtext("service_request_id") for i in items] == [r["service_request_id"] for r in data]
    for item, r in zip(items, data, strict=True):
        for key in ("status", "service_code", "status_notes", "requested_datetime", "expected_datetime", "address"):
            assert (item.findtext(key) or "") == (r[key] or ""), key
        assert (float(item.findtext("lat")) if item.findtext("lat") else None) == r["lat"]

    one = valid(httpx.get(f"{base}/requests/{tickets[1]}.json").json(), "requests")
    assert len(one) == 1 and one[0] == light
    assert xml(httpx.get(f"{base}/requests/{tickets[1]}.xml")).find("request/status").text == "open"
    tokens = valid(httpx.get(f"{base}/tokens/{tickets[0]}.json").json(), "tokens")
    assert tokens == [{"service_request_id": tickets[0], "token": tickets[0]}]
    for path in ("/requests/1234-5678.json", "/requests/nada.json", "/tokens/9999-9999.json"):
        resp = httpx.get(base + path)
        assert resp.status_code == 404 and valid(resp.json(), "errors")


def test_request_filters_paging_and_their_errors(od_app: Any, tickets: list[str]) -> None:
    base = od_app.base_url + "/open311/v2/requests.json"

    def ids(**params: Any) -> list[str]:
        resp = httpx.get(base, params=params)
        assert resp.status_code == 200, resp.text
        return [r["service_request_id"] for r in valid(resp.json(), "requests")]

    assert ids(status="closed") == [tickets[2]]
    assert ids(status="open") == [tickets[1], tickets[0]]
    assert ids(status="open,closed") == tickets[::-1]
    assert ids(service_code="pothole,water_leak") == [tickets[2], tickets[0]]
    assert ids(service_request_id=f"{tickets[0]},{tickets[2].replace('-', '')}") == [tickets[2], tickets[0]]
    now = datetime.now(UTC)
    assert ids(start_date=(now - timedelta(hours=1)).isoformat(), end_date=(now + timedelta(hours=1)).isoformat())
    assert ids(start_date=(now - timedelta(days=200)).isoformat(), end_date=(now - timedelta(days=150)).isoformat()) \
        == []
    assert ids(page_size=2) == [tickets[2], tickets[1]] and ids(page_size=2, page=2) == [tickets[0]]
    for params, words in [
        ({"status": "pending"}, "status must be open or closed"),
        ({"service_code": "nada"}, "unknown service_code"),
        ({"start_date": "ayer"}, "W3C date-time"),
        ({"start_date": (now - timedelta(days=100)).isoformat(), "end_date": now.isoformat()}, "90 days"),
        ({"page_size": "5000"}, "page_size"),
        ({"page": "0"}, "page must be"),
        ({"service_request_id": "12"}, "not a folio"),
    ]:
        resp = httpx.get(base, params=params)
        assert resp.status_code == 400 and words in valid(resp.json(), "errors")[0]["description"], params
    assert httpx.get(od_app.base_url + "/open311/v2/requests.yaml").status_code == 404


def test_the_georeport_client_reads_the_server(od_app: Any, tickets: list[str], od_runtime: Any) -> None:
    for fmt in ("json", "xml"):
        # jurisdiction_id is sent by the client on every call and accepted (one jurisdiction per server)
        client = GeoReport(od_app.base_url + "/open311/v2", jurisdiction="sanreporta.gob.mx", output_format=fmt)
        services = client.get_service_list()
        assert [s["service_code"] for s in services] == list(od_runtime.catalog.categories)
        assert client.get_service_definition("pothole")["service_code"] == "pothole"
        requests_ = client.get_service_requests(status="open")
        assert {r["service_request_id"] for r in requests_} == set(tickets[:2])
        one = client.get_service_request(tickets[2])
        assert one["service_request_id"] == tickets[2] and one["status"] == "closed"
        assert client.get_service_requests(service_code="pothole")  # xml: one element comes back as a dict


def test_post_creates_the_ticket_through_the_service_with_an_api_key(od_app: Any, od_runtime: Any) -> None:
    with od_runtime.session_factory() as session:
        _, key = add_key(session, "app-estatal")
        _, old = add_key(session, "app-vieja")
        revoke_key(session, "app-vieja")
        session.commit()
    base = od_app.base_url + "/open311/v2/requests"
    form = {"service_code": "pothole", "lat": "25.68", "long": "-100.31", "description": "Bache frente a la escuela",
            "email": "vecina@example.com", "first_name": "Rosa", "last_name": "Martínez", "phone": "8112345678"}
    for api_key in (None, "nada", old):
        resp = httpx.post(base + ".json", data=form | ({"api_key": api_key} if api_key else {}))
        assert resp.status_code == 403 and valid(resp.json(), "errors")[0]["code"] == 403
    for change, code, words in [({"service_code": ""}, 400, "service_code is required"),
                                ({"service_code": "nada"}, 404, "no service"),
                                ({"lat": "", "long": ""}, 400, "a location is required"),
                                ({"lat": "norte"}, 400, "decimal degrees"),
                                ({"lat": "95"}, 400, "out of range"),
                                ({"description": "x" * 5000}, 400, "longer than")]:
        resp = httpx.post(base + ".json", data=form | {"api_key": key} | change)
        assert resp.status_code == code and words in valid(resp.json(), "errors")[0]["description"], change

    resp = httpx.post(base + ".json", data=form | {"api_key": key})
    assert resp.status_code == 201, resp.text
    created = valid(resp.json(), "post_request")[0]
    folio = created["service_request_id"]
    resp = httpx.post(base + ".xml", data=form | {"api_key": key, "lat": "", "long": "",
                                                  "address_string": "Morelos 12, col. Centro"})
    assert resp.status_code == 201 and xml(resp).find("request/service_request_id").text
    with od_runtime.session_factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.folio == folio)).one()
        assert ticket.channel == ChannelKind.OPEN311 and ticket.reporter_id is None
        event = session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).one()
        assert event.kind == "created" and event.actor == "open311:app-estatal"
        stored = json.dumps([ticket.description, ticket.address, event.data], ensure_ascii=False)
        for personal in ("vecina@example.com", "Rosa", "Martínez", "8112345678"):
            assert personal not in stored  # the reporter's personal fields are not kept
    fetched = valid(httpx.get(f"{base}/{folio}.json").json(), "requests")[0]
    assert fetched["source"] == "open311" and fetched["description"] == "" and fetched["lat"] == 25.68


def test_keys_cli_add_list_revoke(od_runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from reporta.cli import app
    from reporta.settings import get_settings

    monkeypatch.setenv("REPORTA_DATABASE_URL", od_runtime.settings.database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        added = runner.invoke(app, ["open311", "keys", "add", "observatorio"])
        assert added.exit_code == 0, added.output
        key = added.output.strip().splitlines()[-1]
        assert key.startswith("r311_") and len(key) > 30
        assert runner.invoke(app, ["open311", "keys", "add", "observatorio"]).exit_code == 1
        listed = runner.invoke(app, ["open311", "keys", "list"])
        assert "observatorio" in listed.output and "active" in listed.output and key not in listed.output
        assert runner.invoke(app, ["open311", "keys", "revoke", "observatorio"]).exit_code == 0
        assert "revoked" in runner.invoke(app, ["open311", "keys", "list"]).output
        assert runner.invoke(app, ["open311", "keys", "revoke", "nadie"]).exit_code == 1
    finally:
        get_settings.cache_clear()


def test_xml_stays_well_formed_with_control_characters(od_app: Any, od_runtime: Any) -> None:
    with od_runtime.session_factory() as session:
        service = od_runtime.ticket_service(session)
        ticket = service.create(category="pothole", description="x", channel="whatsapp", actor="system",
                                address="Hidalgo, col. Centro")
        service.change_status(ticket, TicketStatus.IN_PROGRESS, actor="staff:ana", public_note="Listo\x07 <ya> & \x1b")
        folio = ticket.folio
        session.commit()
    root = xml(httpx.get(f"{od_app.base_url}/open311/v2/requests/{folio}.xml"))
    assert root.find("request/status_notes").text == "Listo <ya> & "
    assert httpx.get(od_app.base_url + "/open311/v2/requests.json",
                     params={"service_code": "pothole"}).json()[0]["status_notes"] == "Listo\x07 <ya> & \x1b"


def test_the_examples_in_the_docs_match_the_schemas() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "open-data.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", doc, re.S)]
    assert len(blocks) == 2
    valid(blocks[0], "requests")
    valid(blocks[1], "errors")
