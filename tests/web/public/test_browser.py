"""The public pages and a dashboard in a real browser (Debian's Chromium): keyboard use, what a visitor reads,
and axe-core with no serious or critical violation on every public page. Screenshots for docs/accountability.md
(with REPORTA_DOCS_SCREENSHOTS=1)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import assert_accessible, screenshot
from tests.web.console.conftest import PASSWORD, add_staff
from tests.web.public.conftest import PERSONAL, Seeded

# One database is enough here: the browser checks the page; the store under it runs on both in the HTTP tests.
pytestmark = [pytest.mark.sqlite_only, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def no_personal_data(page: Any) -> None:
    text = page.content().lower()
    assert not [p for p in PERSONAL if p.lower() in text]


def test_every_public_page_is_accessible(web_app: Any, seeded: Seeded, page: Any) -> None:
    for path, shot in (("/", "public-home"), ("/como-medimos", None), ("/dependencias/obras_publicas", None),
                       ("/consulta", None)):
        page.goto(web_app.base_url + path)
        assert page.evaluate("document.documentElement.lang") == "es-MX"
        assert_accessible(page)
        no_personal_data(page)
        if shot:
            screenshot(page, shot, full_page=False)


def test_department_page(web_app: Any, seeded: Seeded, page: Any) -> None:
    page.goto(web_app.base_url + "/")
    page.get_by_role("link", name="Secretaría de Servicios Públicos").click()
    assert page.locator("h1").inner_text() == "Secretaría de Servicios Públicos"
    row = page.locator("#periodo-30 ~ .table-scroll tbody tr", has_text="Alumbrado público").first
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "5 días hábiles" and cells[2].startswith("100 %") and "pocos datos todavía" in cells[4]
    assert_accessible(page)
    no_personal_data(page)
    screenshot(page, "public-department", full_page=False)


def test_folio_lookup_with_the_keyboard(web_app: Any, seeded: Seeded, page: Any) -> None:
    page.goto(web_app.base_url + "/consulta")
    page.get_by_label("Número de folio").fill("1234")
    page.keyboard.press("Enter")
    page.wait_for_url("**/consulta?folio=1234")
    assert "no es válido" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Número de folio").get_attribute("aria-invalid") == "true"
    assert_accessible(page)
    page.get_by_label("Número de folio").fill(seeded.folios["leak"].replace("-", " "))
    page.get_by_role("button", name="Consultar").click()
    heading = page.locator("#resultado").inner_text()
    assert heading == f"Folio {seeded.folios['leak']}: Cerrado sin resolver"
    facts = page.locator(".facts").inner_text()
    assert "Dirección de Atención Ciudadana" in facts and "No le corresponde al municipio" in facts
    assert "Teléfono 073" in facts  # the agency's public contact survives the scrubbing
    assert_accessible(page)
    no_personal_data(page)
    screenshot(page, "public-lookup", full_page=False)


def test_map_of_open_reports(web_app: Any, seeded: Seeded, page: Any) -> None:
    page.goto(web_app.base_url + "/mapa")
    assert page.locator("svg.map circle").count() == 1
    table = page.locator("table").inner_text()
    assert seeded.folios["pothole"] in table and "25.687, -100.316" in table and "Juárez, Centro" in table
    page.get_by_label("Servicio").select_option("streetlight")
    page.get_by_role("button", name="Mostrar").click()
    page.wait_for_url("**servicio=streetlight")
    assert "No hay reportes abiertos" in page.locator("main").inner_text()
    page.goto(web_app.base_url + "/mapa")
    assert_accessible(page)
    no_personal_data(page)
    screenshot(page, "public-map", full_page=False)


def test_a_dashboard(web_app: Any, web_runtime: Any, seeded: Seeded, page: Any) -> None:
    add_staff(web_runtime, "admin@municipio.gob.mx", "Admin General", None, "admin")
    page.goto(web_app.base_url + "/console/tableros")  # not signed in: the sign-in page, then back here
    assert "/console/login" in page.url
    page.get_by_label("Correo").fill("admin@municipio.gob.mx")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    page.wait_for_url("**/console/tableros**")
    assert page.locator("h1").inner_text() == "Tableros: Todas las dependencias"
    assert page.locator("svg.chart").count() >= 5
    # every chart has its table: the on-time chart and the table beside it say the same
    services = page.locator("#t-servicios ~ div table, section:has(#t-servicios) table").first
    assert "100 % (12 de 12)" in services.inner_text()
    page.get_by_label("Dependencia", exact=True).select_option("servicios_publicos")
    page.get_by_role("button", name="Ver").click()
    page.wait_for_url("**dependencia=servicios_publicos**")
    assert page.locator("h1").inner_text() == "Tableros: Secretaría de Servicios Públicos"
    screenshot(page, "dashboard", full_page=False)
    with page.expect_download() as info:
        page.get_by_role("link", name="Descargar «Reportes por canal» (CSV)").click()
    assert info.value.suggested_filename.startswith("tablero-canales-servicios_publicos-")
    assert_accessible(page)
