"""The shared web parts: security headers on every response, bundled static files, the Spanish 404 page, the
public whitelist and its scrubbing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import assert_accessible
from web.publication import PUBLIC_FIELDS, public_address, scrub, snap


def test_security_headers_on_pages_and_webhooks(web_app: Any) -> None:
    for path in ("/no-existe", "/healthz", "/static/web.css"):
        resp = web_app.client.get(path)
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "same-origin"


def test_static_files_are_bundled(web_app: Any) -> None:
    resp = web_app.client.get("/static/vendor/htmx-2.0.11.min.js")
    assert resp.status_code == 200 and "htmx" in resp.text
    assert web_app.client.get("/static/../reporta/settings.py").status_code == 404


def test_guessed_url_gets_a_spanish_page_and_webhooks_plain_text(web_app: Any) -> None:
    resp = web_app.client.get("/console/no-existe-esta-pagina")
    assert resp.status_code == 404 and "No encontramos esta página" in resp.text
    assert web_app.client.get("/webhooks/nada").headers["content-type"].startswith("text/plain")


def test_404_page_in_a_real_browser(web_app: Any, page: Any) -> None:
    page.goto(web_app.base_url + "/una-pagina-que-no-existe")
    assert page.locator("h1").inner_text() == "No encontramos esta página"
    assert page.evaluate("document.documentElement.lang") == "es-MX"
    assert page.evaluate("typeof htmx") == "object"  # the bundled script loaded under the CSP
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Saltar al contenido"
    assert_accessible(page)


@pytest.mark.parametrize("text, leaked", [
    ("Llamar al 81 1234 5678 o escribir a juan.perez@gmail.com", ["1234 5678", "juan.perez@gmail.com"]),
    ("Tel +52 (81) 8123-4567; WhatsApp 5215512345678", ["8123-4567", "5215512345678"]),
    ("CURP GOPJ800101HNLRRN09, RFC GOPJ800101AB1", ["GOPJ800101HNLRRN09", "GOPJ800101AB1"]),
    ("chat 123456789 pidió informes", ["123456789"]),
])
def test_scrub_removes_personal_data(text: str, leaked: list[str]) -> None:
    out = scrub(text)
    for item in leaked:
        assert item not in out
    assert scrub("Se reparó el 12 de mayo con 3 cuadrillas") == "Se reparó el 12 de mayo con 3 cuadrillas"


@pytest.mark.parametrize("address, public", [
    ("Hidalgo 100 col Centro", "Hidalgo col Centro"),
    ("Av. 5 de Mayo #23, Col. Obrera, C.P. 66220", "Av. 5 de Mayo, Col. Obrera"),
    ("Calle Allende No. 77 entre Ocampo y Abasolo", "Calle Allende entre Ocampo y Abasolo"),
    ("Av. 16 de Septiembre 1200-B, Tlaquepaque", "Av. 16 de Septiembre, Tlaquepaque"),
    ("Juárez 45 Int. 3, Centro", "Juárez, Centro"),
])
def test_public_address_drops_house_numbers(address: str, public: str) -> None:
    assert public_address(address) == public


def test_snap_and_whitelist() -> None:
    assert snap(25.6866142) == 25.687 and snap(float("nan")) is None and snap(None) is None
    for field in ("description", "reporter_id", "phone", "display_name", "attachments", "internal_note"):
        assert field not in PUBLIC_FIELDS
