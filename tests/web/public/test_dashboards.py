"""The internal dashboards over real HTTP: the sign-in gate, department scoping, any date range, CSV downloads
with the same figures as the indicators. The signed-in staff member comes from the test-only ``AsStaff``
middleware (the console's real sign-in is tested by the console's own tests)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest

from reporta.app import create_app
from tests.channels.conftest import AppServer
from tests.web.public.conftest import Seeded
from tests.web.public.staff import AsStaff, principal


@pytest.fixture
def serve(web_runtime: Any) -> Iterator[Any]:
    servers: list[AppServer] = []

    def start(role: str | None, department: str | None = None) -> AppServer:
        who = principal(web_runtime, role, department) if role else None
        server = AppServer(AsStaff(create_app(web_runtime), who)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def rows(resp: Any) -> list[dict[str, str]]:
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(resp.text.lstrip("\ufeff"))))


def test_anonymous_visitors_are_sent_to_sign_in(serve: Any) -> None:
    app = serve(None)
    for path in ("/console/tableros?desde=2026-01-01", "/console/tableros/servicios.csv"):
        resp = app.client.get(path, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/console/login?next=%2Fconsole")


def test_department_staff_see_only_their_department(serve: Any, seeded: Seeded) -> None:
    app = serve("agent", "servicios_publicos")
    page = app.client.get("/console/tableros", params={"dependencia": "obras_publicas"})
    assert page.status_code == 200 and "Tableros: Secretaría de Servicios Públicos" in page.text
    assert "<svg" in page.text and "Escalaciones" not in page.text
    services = rows(app.client.get("/console/tableros/servicios.csv", params={"dependencia": "obras_publicas"}))
    assert {r["dependencia"] for r in services} == {"servicios_publicos"}
    light = next(r for r in services if r["servicio"] == "streetlight")
    # 12 streetlights resolved in 20 h each (2.5 business days at most): all on time; 3 confirmed of 12 asked
    assert (light["reportes"], light["a_tiempo"], light["a_tiempo_pct"]) == ("12", "12", "100.0")
    assert (light["confirmados"], light["calificaciones"], light["satisfaccion_promedio"]) == ("3", "3", "4.0")
    assert app.client.get("/console/tableros/dependencias.csv").status_code == 404  # admins only
    assert app.client.get("/console/tableros/escalaciones.csv").status_code == 404


def test_admin_sees_every_department_and_can_pick_one(serve: Any, seeded: Seeded) -> None:
    app = serve("admin")
    page = app.client.get("/console/tableros")
    assert "Por dependencia" in page.text and "Escalaciones" in page.text
    depts = {r["dependencia"]: r for r in rows(app.client.get("/console/tableros/dependencias.csv"))}
    assert depts["servicios_publicos"]["reportes"] == "12" and depts["obras_publicas"]["reportes"] == "2"
    assert depts["atencion_ciudadana"]["cerrados_sin_arreglo"] == "1"
    reasons = {r["motivo"]: r["reportes"] for r in rows(app.client.get("/console/tableros/motivos.csv"))}
    assert reasons == {"duplicate": "1", "out_of_jurisdiction": "1"}
    one = app.client.get("/console/tableros", params={"dependencia": "obras_publicas"})
    assert "Tableros: Secretaría de Obras Públicas" in one.text and "Por dependencia" not in one.text
    assert "Escalaciones" not in one.text  # conversations have no department
    channels = {r["canal"]: r["reportes"] for r in rows(app.client.get("/console/tableros/canales.csv"))}
    assert channels == {"telegram": "14", "whatsapp": "1"}


def test_any_date_range_and_bad_input(serve: Any, seeded: Seeded) -> None:
    app = serve("admin")
    old = rows(app.client.get("/console/tableros/servicios.csv", params={"desde": "2020-01-01",
                                                                         "hasta": "2020-12-31"}))
    assert old == []
    bad = app.client.get("/console/tableros", params={"desde": "ayer", "hasta": "2020-01-01",
                                                      "dependencia": "nada"})
    assert bad.status_code == 200
    assert "no es válida" in bad.text and "Esa dependencia no existe" in bad.text
    backlog = rows(app.client.get("/console/tableros/pendientes.csv"))
    assert len(backlog) == 13 and int(backlog[-1]["pendientes"]) == 1  # the open pothole
    assert app.client.get("/console/tableros/nada.csv").status_code == 404
