"""The internal dashboards over real HTTP: the sign-in gate, department scoping, any date range, CSV downloads
with the same figures as the indicators. Staff sign in through the console's real sign-in (accounts, session
cookie), as they would in a browser."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.channels.conftest import AppServer
from tests.web.console.conftest import Console, add_staff
from tests.web.public.conftest import Seeded


@pytest.fixture
def serve(web_app: AppServer, web_runtime: Any) -> Iterator[Any]:
    """``serve(role, department)``: a client signed in as a new staff member of that role (None: anonymous)."""
    clients: list[Console] = []

    def start(role: str | None, department: str | None = None) -> SimpleNamespace:
        client = Console(web_app)
        clients.append(client)
        if role:
            email = f"{role}-{department or 'todas'}-{len(clients)}@municipio.gob.mx"
            add_staff(web_runtime, email, f"Prueba {role}", department, role)
            assert client.login(email).status_code == 303
        return SimpleNamespace(client=client)

    yield start
    for client in clients:
        client.close()


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
    # the console's own navigation, with the way out (the page was a dead end without "Salir")
    assert '<a href="/console/tableros" aria-current="page">Tableros</a>' in page.text
    assert 'href="/console/inbox"' in page.text and 'action="/console/logout"' in page.text
    assert re.search(r'name="csrf_token" value="[0-9a-f]{64}"', page.text)
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
