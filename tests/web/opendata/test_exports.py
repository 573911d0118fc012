"""Open data: the CSV, JSON and GeoJSON exports (columns, snapping, filters, streaming in batches), the /datos
page (dictionary, counts suppressed under 5) and the published record."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pytest

from reporta.app import create_app
from reporta.runtime import Runtime
from tests.channels.conftest import AppServer
from ticketing.models import TicketStatus
from web.opendata import rows
from web.opendata.exports import DICTIONARY
from web.opendata.rows import COLUMNS, colonia_of, stream_records


def make_tickets(runtime: Any, n: int, **overrides: Any) -> list[str]:
    with runtime.session_factory() as session:
        service = runtime.ticket_service(session)
        folios = []
        for i in range(n):
            fields = {"category": "pothole", "description": f"bache {i}", "channel": "whatsapp", "actor": "system",
                      "lat": 25.6866142, "lon": -100.3161234, "address": f"Hidalgo {100 + i}, col. Centro"}
            folios.append(service.create(**(fields | overrides)).folio)
        session.commit()
    return folios


def test_csv_json_geojson_carry_the_same_published_records(od_app: Any, od_runtime: Any) -> None:
    folios = make_tickets(od_runtime, 3)
    make_tickets(od_runtime, 1, channel="simulator")  # a demo from `reporta chat`: never published
    with od_runtime.session_factory() as session:
        service = od_runtime.ticket_service(session)
        service.change_status(service.get(folios[0]), TicketStatus.RESOLVED, actor="staff:ana",
                              public_note="Bacheo terminado")
        session.commit()
    base = od_app.base_url + "/datos/reportes"
    resp = httpx.get(base + ".csv")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert 'filename="reportes.csv"' in resp.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(resp.text)))
    assert tuple(table[0]) == COLUMNS and [r["service_request_id"] for r in table] == folios
    first = table[0]
    assert first["status"] == "closed" and first["status_description"] == "Atendido" and first["reason"] == "resolved"
    assert "Bacheo terminado" in first["status_notes"] and first["closed_date"]
    assert first["lat"] == "25.687" and first["long"] == "-100.316"
    assert first["address"] == "Hidalgo, col. Centro" and first["colonia"] == "Centro"
    assert first["source"] == "whatsapp" and first["service_code"] == "pothole" and first["expected_datetime"]

    records = json.loads(httpx.get(base + ".json").text)
    assert [r["service_request_id"] for r in records] == folios
    assert records[1]["closed_date"] is None and records[1]["lat"] == 25.687
    assert {k: ("" if v is None else str(v)) for k, v in records[0].items()} == first

    geo = httpx.get(base + ".geojson")
    assert geo.headers["content-type"].startswith("application/geo+json")
    collection = geo.json()
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 3
    feature = collection["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [-100.316, 25.687]}
    assert feature["properties"] == records[0]


def test_export_filters_and_bad_filters(od_app: Any, od_runtime: Any) -> None:
    potholes = make_tickets(od_runtime, 2)
    lights = make_tickets(od_runtime, 1, category="streetlight")
    base = od_app.base_url + "/datos/reportes.json"
    assert [r["service_request_id"] for r in httpx.get(base, params={"service_code": "streetlight"}).json()] == lights
    assert len(httpx.get(base, params={"status": "open"}).json()) == 3
    assert httpx.get(base, params={"status": "closed"}).json() == []
    assert [r["service_request_id"] for r in httpx.get(base, params={"service_request_id": potholes[1]}).json()] \
        == potholes[1:]
    bad = httpx.get(base, params={"start_date": "ayer"})
    assert bad.status_code == 400 and "W3C" in bad.text
    assert httpx.get(od_app.base_url + "/datos/reportes.xlsx").status_code == 404


def test_coordinate_decimals_setting(od_settings: Any) -> None:
    rt = Runtime.from_settings(od_settings.model_copy(update={"public_coordinate_decimals": 2}), migrate=False)
    try:
        make_tickets(rt, 1)
        with AppServer(create_app(rt)) as app:
            record = httpx.get(app.base_url + "/datos/reportes.json").json()[0]
            html = httpx.get(app.base_url + "/datos").text
        assert record["lat"] == 25.69 and record["long"] == -100.32
        # the published description follows the setting, and so does the grid it makes
        assert "Latitud redondeada (2 decimales: una cuadrícula de unos 1.1 km)." in html
        assert "Longitud redondeada (2 decimales)." in html and "110 m" not in html
        assert "se redondean a 2 decimales (una cuadrícula de unos 1.1 km)" in html
    finally:
        rt.close()


def test_exports_stream_in_batches_from_a_cursor(od_runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rows, "BATCH", 7)
    make_tickets(od_runtime, 20)
    batches = list(stream_records(od_runtime))
    assert [len(b) for b in batches] == [7, 7, 6]


def test_datos_page_dictionary_and_suppressed_counts(od_app: Any, od_runtime: Any) -> None:
    make_tickets(od_runtime, 6)
    make_tickets(od_runtime, 2, category="streetlight")
    html = httpx.get(od_app.base_url + "/datos").text
    for column in DICTIONARY:
        assert f"<code>{column}</code>" in html
    assert "Latitud redondeada (3 decimales: una cuadrícula de unos 110 m)." in html
    assert "se redondean a 3 decimales (una cuadrícula de unos 110 m)" in html
    pothole = html[html.index("(pothole)"):][:300]
    assert '<td class="num">6</td>' in pothole
    light = html[html.index("(streetlight)"):][:300]
    assert "menos de 5" in light and "<td class=\"num\">2</td>" not in light
    for link in ("/datos/reportes.csv", "/datos/reportes.json", "/datos/reportes.geojson"):
        assert f'href="{link}"' in html


@pytest.mark.parametrize("address, colonia", [
    ("Hidalgo, col. Centro", "Centro"), ("Av. Juárez, Colonia Obrera, Monterrey", "Obrera"),
    ("Fracc. Los Pinos", "Los Pinos"), ("Morelos y Allende", ""), ("", ""),
])
def test_colonia_from_the_published_address(address: str, colonia: str) -> None:
    assert colonia_of(address) == colonia


def test_empty_exports_are_valid_documents(od_app: Any) -> None:
    base = od_app.base_url + "/datos/reportes"
    assert httpx.get(base + ".json").json() == []
    assert httpx.get(base + ".geojson").json() == {"type": "FeatureCollection", "features": []}
    assert httpx.get(base + ".csv").text.strip() == ",".join(COLUMNS)
