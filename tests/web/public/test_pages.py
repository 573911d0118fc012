"""The public pages over real HTTP: the "carta compromiso" per department, the folio lookup (and its limit),
the map, "Cómo medimos"; and the personal-data scan of every public response."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from reporta.app import create_app
from reporta.runtime import Runtime
from reporta.settings import DEFAULT_DATA_DIR
from tests.channels.conftest import AppServer
from tests.web.public.conftest import PERSONAL, Seeded, seed
from web.public.pages import LOOKUP_LIMIT
from web.templating import TEMPLATES_DIR


def public_paths(web_app: Any, seeded: Seeded) -> list[str]:
    from reporta.settings import REPO_ROOT
    from ticketing.catalog import load_catalog

    catalog = load_catalog(REPO_ROOT / "data" / "catalog.yml")
    paths = ["/", "/como-medimos", "/mapa", "/consulta"]
    paths += [f"/dependencias/{code}" for code in catalog.departments]
    paths += [f"/mapa?servicio={code}" for code in ("pothole", "streetlight")]
    return paths


def test_no_personal_data_on_any_public_page_or_lookup(web_app: Any, web_runtime: Any, seeded: Seeded) -> None:
    lookups = [seeded.folios[name] for name in ("streetlight1", "streetlight3", "pothole", "leak", "duplicate")]
    responses = [web_app.client.get(path) for path in public_paths(web_app, seeded)]
    responses += [web_app.client.get("/consulta", params={"folio": folio}) for folio in lookups]
    for resp in responses:
        assert resp.status_code == 200, resp.url
        text = resp.text
        hits = [item for item in PERSONAL if item.lower() in text.lower()]
        assert not hits, f"{resp.url} shows personal data: {hits}"
        assert "Hidalgo 10" not in text and "Int. 3" not in text  # no house numbers
        assert "25.6866142" not in text and "-100.3161126" not in text  # coordinates only snapped
        name = web_runtime.settings.municipality_name
        assert re.search(rf"<title>[^<]+ · {re.escape(name)}</title>", text), resp.url  # the municipality's site


def test_department_page_shows_commitments_and_hides_small_numbers(web_app: Any, seeded: Seeded) -> None:
    resp = web_app.client.get("/dependencias/servicios_publicos")
    assert resp.status_code == 200
    page = resp.text
    row = re.search(r"<th scope=\"row\">Alumbrado público</th>(.*?)</tr>", page, re.S).group(1)
    # 12 streetlights, all resolved in 20 h, well within 5 business days: 100 % on time, of 12
    assert "5 días hábiles" in row and "100 %" in row and "de 12" in row
    # 3 ratings (5, 4, 3) are fewer than 10: no average, "pocos datos todavía"
    assert "pocos datos todavía" in row and "(3 respuestas)" in row
    tree = re.search(r"<th scope=\"row\">Árbol</th>(.*?)</tr>", page, re.S).group(1)
    assert "sin casos" in tree
    assert web_app.client.get("/dependencias/no_existe").status_code == 404


def test_home_lists_departments_by_name(web_app: Any, seeded: Seeded) -> None:
    page = web_app.client.get("/").text
    names = re.findall(r'<a href="/dependencias/[a-z_]+">([^<]+)</a>', page)
    assert names == sorted(names) and len(names) == 6


def test_lookup_explains_status_reason_and_commitment(web_app: Any, seeded: Seeded) -> None:
    leak = web_app.client.get("/consulta", params={"folio": seeded.folios["leak"].replace("-", "")})
    assert leak.status_code == 200
    assert "Cerrado sin resolver" in leak.text and "No le corresponde al municipio" in leak.text
    assert "Servicios de Agua y Drenaje" in leak.text or "Agua y Drenaje" in leak.text
    assert "Fecha compromiso" in leak.text and "Dirección de Atención Ciudadana" in leak.text
    dup = web_app.client.get("/consulta", params={"folio": seeded.folios["duplicate"]})
    assert seeded.folios["pothole"] in dup.text  # "Lo atendemos en ese folio"
    bad = web_app.client.get("/consulta", params={"folio": "1234-5679"})
    assert bad.status_code in (400, 404) and "folio" in bad.text
    assert web_app.client.get("/consulta", params={"folio": "hola"}).status_code == 400


def test_lookup_of_a_scheduled_and_a_reopened_report(web_app: Any, web_runtime: Any) -> None:
    from datetime import UTC, datetime, timedelta

    moment = [datetime.now(UTC) - timedelta(days=20)]
    with web_runtime.session_factory() as session:
        svc = web_runtime.ticket_service(session, now=lambda: moment[0])
        tree = svc.create(category="tree", description="Soy Juana Pérez Gómez", address="Morelos 12",
                          channel="phone", actor="staff:ana")
        svc.change_status(tree, "in_progress", reason="scheduled", actor="staff:ana",
                          scheduled_for=datetime(2031, 3, 5, 18, tzinfo=UTC))
        light = svc.create(category="streetlight", description="Juana", lat=25.7, lon=-100.3, channel="phone",
                           actor="staff:ana")
        svc.change_status(light, "resolved", actor="staff:ana")
        moment[0] = datetime.now(UTC)  # reopened today: a fresh commitment (revised_due_at), the original stays
        svc.reopen(light, actor="citizen:1", public_note="Sigue apagada, Juana Pérez Gómez 81 1234 5678")
        original_due, revised_due = light.due_at, light.revised_due_at
        session.commit()
        folios = tree.folio, light.folio
    scheduled = web_app.client.get("/consulta", params={"folio": folios[0]}).text
    assert "En proceso" in scheduled
    assert "Programado: El trabajo ya está programado para el 5 de marzo de 2031" in scheduled
    reopened = web_app.client.get("/consulta", params={"folio": folios[1]}).text
    assert "Asignado al área responsable" in reopened and "Motivo" not in reopened
    from web.public.figures import local_datetime

    # The commitment in force is the revised one (a fresh commitment after the reopen), said to be revised; the
    # original is still named (on time is measured against it).
    assert revised_due > original_due + timedelta(days=10)
    due = re.search(r"<dt>Fecha compromiso</dt>\s*<dd>(.*?)</dd>", reopened, re.S).group(1)
    revised_text = local_datetime(revised_due, "America/Monterrey")
    original_text = local_datetime(original_due, "America/Monterrey")
    assert due.startswith(revised_text) and "fecha revisada" in due and f"la original era\n      {original_text}" in due
    assert "fecha revisada" not in scheduled
    for personal in ("Juana", "1234 5678", "Morelos 12", "Sigue apagada"):
        assert personal not in scheduled + reopened


def test_lookup_is_rate_limited_per_client(web_app: Any, seeded: Seeded) -> None:
    folio = seeded.folios["pothole"]
    codes = [web_app.client.get("/consulta", params={"folio": folio}).status_code for _ in range(LOOKUP_LIMIT)]
    assert codes == [200] * LOOKUP_LIMIT
    limited = web_app.client.get("/consulta", params={"folio": folio})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "Espera un minuto" in limited.text and folio not in limited.text.split("<form")[0]
    assert web_app.client.get("/consulta").status_code == 200  # the empty form is not a lookup


def test_map_shows_open_reports_snapped(web_app: Any, seeded: Seeded) -> None:
    page = web_app.client.get("/mapa").text
    assert seeded.folios["pothole"] in page and "<svg" in page and "<table" in page
    assert seeded.folios["streetlight1"] not in page  # resolved: not on the map
    assert "25.687, -100.316" in page
    only = web_app.client.get("/mapa", params={"servicio": "streetlight"}).text
    assert seeded.folios["pothole"] not in only and "No hay reportes abiertos" in only


def test_how_we_measure_explains_every_indicator(web_app: Any) -> None:
    page = web_app.client.get("/como-medimos").text
    for words in ("fecha <strong>original</strong>", "reabrir", "¿ya quedó?", "del 1 al 5", "horas\nhábiles",
                  "percentil 90", "canalización", "primer mensaje", "menos de 10 reportes"):
        assert words in page, words


def test_a_municipalitys_own_page_templates_are_used_from_its_data_dir(channel_settings: Any, tmp_path: Path) -> None:
    """``<data_dir>/web_templates`` (same paths as web/templates) comes before the defaults, through the app: a
    page template and the shared statuses; the published open data words stay the contract's."""
    data = tmp_path / "data"
    data.mkdir()
    for entry in DEFAULT_DATA_DIR.iterdir():  # the municipality's data dir: the defaults plus its own pages
        (data / entry.name).symlink_to(entry)
    own = data / "web_templates"
    (own / "errors").mkdir(parents=True)
    (own / "errors" / "404.html").write_text(
        (TEMPLATES_DIR / "errors" / "404.html").read_text(encoding="utf-8").replace(
            "{% block content %}", "{% block content %}<p>Página propia de San Reporta.</p>", 1), encoding="utf-8")
    (own / "statuses.j2").write_text((TEMPLATES_DIR / "statuses.j2").read_text(encoding="utf-8").replace(
        '"resolved": "Atendido"', '"resolved": "Arreglado"'), encoding="utf-8")
    settings = channel_settings.model_copy(update={"data_dir": data})
    assert settings.web_templates_dir == own
    rt = Runtime.from_settings(settings, migrate=False, dispatcher_options={"rate_limits": False})
    try:
        folio = seed(rt).folios["streetlight5"]  # resolved, not closed
        with AppServer(create_app(rt)) as app:
            missing = app.client.get("/no-existe")
            lookup = app.client.get("/consulta", params={"folio": folio})
            published = httpx.get(app.base_url + "/datos/reportes.json").json()
        assert missing.status_code == 404 and "Página propia de San Reporta." in missing.text
        assert f"Folio {folio}: Arreglado" in lookup.text and "Atendido" not in lookup.text
        record = next(r for r in published if r["service_request_id"] == folio)
        assert record["status_description"] == "Atendido"  # the open data's words are the same everywhere
    finally:
        rt.close()
