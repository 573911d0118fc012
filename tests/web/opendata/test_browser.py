"""The web report chat and /datos in a real browser (Debian's Chromium): a report made in the browser gets a
folio and later shows its status after a staff change (no reload: the long poll), a tap on the map sends the
point, the pages pass axe-core (no serious or critical violations)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from tests.web.conftest import assert_accessible, screenshot
from ticketing.models import Direction, Message, Ticket, TicketStatus

# One database is enough here: the browser checks the page; the store under it runs on both in the HTTP tests.
pytestmark = pytest.mark.sqlite_only


@pytest.mark.both_backends  # the staff change reaches the page through the dispatcher, woken by LISTEN/NOTIFY there
def test_report_in_the_browser_gets_a_folio_and_follows_its_status(od_app: Any, od_runtime: Any, page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(od_app.base_url + "/reportar")
    assert page.locator("h1").inner_text() == "Reportar un problema"
    assert_accessible(page)
    page.evaluate("window.sameDocument = true")  # gone if the page reloads: opendata.js must swap in place
    page.get_by_label("Tu mensaje").fill("Hay un bache enorme en la calle Hidalgo 100, col. Centro")
    page.get_by_role("button", name="Enviar", exact=True).click()
    page.get_by_role("button", name="No tengo foto").click()
    page.get_by_role("button", name="Sí, enviar").click()
    done = page.locator("#chat .msg.bot", has_text="Folio:")
    done.wait_for()
    folio = re.search(r"Folio: (\d{4}-\d{4})", done.inner_text()).group(1)
    assert page.get_by_label("Tu mensaje").input_value() == ""  # the form was reset, no reload
    row = page.locator(f'tr[data-folio="{folio}"]')
    assert "Recibido" in row.inner_text()
    assert_accessible(page)
    screenshot(page, "opendata-reportar", full_page=False)

    with od_runtime.session_factory() as session:
        service = od_runtime.ticket_service(session)
        ticket = session.scalars(select(Ticket).where(Ticket.folio == folio)).one()
        service.change_status(ticket, TicketStatus.IN_PROGRESS, actor="staff:ana", public_note="Cuadrilla asignada")
        session.commit()
    # the update arrives on the open page (long poll woken by the web sender), no reload
    page.locator("#chat .msg.bot", has_text="ya está en proceso").wait_for(timeout=15_000)
    assert "En proceso" in page.locator(f'tr[data-folio="{folio}"]').inner_text()
    assert page.evaluate("window.sameDocument === true")
    assert_accessible(page)


def test_a_tap_on_the_map_sends_the_point(od_app: Any, od_runtime: Any, page: Any) -> None:
    page.goto(od_app.base_url + "/reportar")
    page.evaluate("window.sameDocument = true")
    page.locator(".map-picker").click(position={"x": 75, "y": 60})
    page.locator("#chat .msg.citizen", has_text="Ubicación enviada").wait_for()
    assert "lat=" in page.locator(".map-picker").get_attribute("src")  # the marker is drawn
    assert page.evaluate("window.sameDocument === true")
    south, west, north, east = (float(v) for v in od_runtime.settings.municipality_bbox.split(","))
    with od_runtime.session_factory() as session:
        msg = session.scalars(select(Message).where(Message.direction == Direction.INBOUND)).one()
    lat, lon = msg.payload["location"]["lat"], msg.payload["location"]["lon"]
    assert abs(lat - (north - (north - south) * 0.25)) < 0.01 and abs(lon - (west + (east - west) * 0.25)) < 0.01


def test_datos_page_is_accessible(od_app: Any, page: Any) -> None:
    page.goto(od_app.base_url + "/datos")
    assert page.locator("h1").inner_text().startswith("Datos abiertos")
    assert page.locator("table.dictionary tbody tr").count() >= 17
    assert_accessible(page)
    screenshot(page, "opendata-datos", full_page=False)


def test_the_basic_path_works_with_javascript_off(od_app: Any, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False, locale="es-MX", viewport={"width": 360, "height": 740})
    try:
        pg = context.new_page()
        pg.goto(od_app.base_url + "/reportar")
        assert pg.get_by_role("button", name="Usar mi ubicación").count() == 0  # hidden: it needs JavaScript
        pg.get_by_label("Tu mensaje").fill("Hay un bache enorme en la calle Hidalgo 100, col. Centro")
        pg.get_by_role("button", name="Enviar", exact=True).click()
        pg.get_by_role("button", name="No tengo foto").click()
        pg.get_by_role("button", name="Sí, enviar").click()
        assert re.search(r"Folio: \d{4}-\d{4}", pg.locator("#chat").inner_text())
        pg.locator(".map-picker").click(position={"x": 150, "y": 120})  # <input type="image">: a plain post
        assert pg.locator("#chat .msg.citizen", has_text="Ubicación enviada").count() == 1
    finally:
        context.close()


def test_usar_mi_ubicacion_sends_the_browser_position(od_app: Any, od_runtime: Any, browser: Any) -> None:
    context = browser.new_context(locale="es-MX", geolocation={"latitude": 25.6543, "longitude": -100.3789},
                                  permissions=["geolocation"])
    try:
        pg = context.new_page()
        pg.goto(od_app.base_url + "/reportar")
        pg.get_by_role("button", name="Usar mi ubicación").click()
        pg.locator("#chat .msg.citizen", has_text="Ubicación enviada").wait_for()
        with od_runtime.session_factory() as session:
            msg = session.scalars(select(Message).where(Message.direction == Direction.INBOUND)).one()
        assert msg.payload["location"]["lat"] == 25.6543 and msg.payload["location"]["lon"] == -100.3789
    finally:
        context.close()
