"""The console in a real browser (Debian's Chromium via Playwright), over the fake Telegram and Twilio servers:
sign in, out and lockout; answering escalations on Telegram and WhatsApp; new messages and escalations appearing
without a reload (Server-Sent Events); creating a report from a conversation; a status change with its preview
and the follower's message; a routing correction; an evidence upload; another department's folio typed in the
address bar (the console's own 404 page). axe-core on every console page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from reporta.runtime import Runtime
from tests.channels.conftest import AppServer, png_image, wait_until
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.web.conftest import assert_accessible, screenshot
from tests.web.console.conftest import PASSWORD, handed_off, telegram_text, twilio_text
from tests.web.console.test_desk import FOLLOWER_CHAT, make_ticket
from ticketing.models import Ticket, TicketEvent

# One database is enough here: the browser checks the page; the store under it runs on both in the HTTP tests.
pytestmark = pytest.mark.sqlite_only

CHAT = 555000222


def sign_in(page: Any, app: AppServer, email: str, password: str = PASSWORD, *, here: bool = False) -> None:
    if not here:
        page.goto(app.base_url + "/console/login")
    page.get_by_label("Correo").fill(email)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Entrar").click()


def test_sign_in_out_and_lockout(web_app: AppServer, staff: dict, page: Any) -> None:
    page.goto(web_app.base_url + "/console/tickets")
    assert "/console/login" in page.url
    assert_accessible(page)
    screenshot(page, "console-login", full_page=False)
    sign_in(page, web_app, staff["works"].email, here=True)  # back where they were going
    page.wait_for_url("**/console/tickets")
    assert page.locator("h1").inner_text().startswith("Reportes")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["__Host-reporta_console"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("reporta_console") == -1  # not readable by scripts
    page.get_by_role("button", name="Salir").click()
    page.wait_for_url("**/console/login**")
    assert "Cerraste tu sesión." in page.content()
    page.goto(web_app.base_url + "/console/inbox")
    assert "/console/login" in page.url

    for _ in range(5):
        sign_in(page, web_app, staff["attention"].email, "equivocada-123")
    alert = page.get_by_role("alert")
    assert "bloqueado 15 minutos" in alert.inner_text()
    expect(page.locator(":focus")).to_have_attribute("role", "alert")  # focus on the error
    assert_accessible(page)
    sign_in(page, web_app, staff["attention"].email)
    assert "bloqueado" in page.get_by_role("alert").inner_text()


@pytest.mark.both_backends  # the live page listens with PostgreSQL's LISTEN/NOTIFY there
def test_answering_escalations_live_on_telegram_and_whatsapp(
        web_app: AppServer, web_runtime: Runtime, staff: dict, page: Any, fake_telegram: FakeTelegram,
        fake_twilio: FakeTwilio) -> None:
    telegram_text(web_app, CHAT, "quiero hablar con una persona")
    cid = handed_off(web_runtime, "telegram", str(CHAT))
    sign_in(page, web_app, staff["attention"].email)
    page.wait_for_url("**/console/inbox")
    assert page.locator(f'a[href="/console/inbox/{cid}"]').count() == 1

    # a new escalation (WhatsApp, an emergency) appears in the open inbox without a reload, first
    phone = "+5218112345679"
    twilio_text(web_app, phone, "ayuda hay un cable tirado echando chispas y un niño cerca, es una emergencia")
    twilio_text(web_app, phone, "persona")
    wa_cid = handed_off(web_runtime, "whatsapp", phone)
    page.locator(f'a[href="/console/inbox/{wa_cid}"]').wait_for(timeout=8000)
    assert_accessible(page)
    screenshot(page, "console-inbox", full_page=False)

    page.locator(f'a[href="/console/inbox/{cid}"]').click()
    page.wait_for_url(f"**/console/inbox/{cid}")
    # a new citizen message appears in the open conversation without a reload
    telegram_text(web_app, CHAT, "Es en Hidalgo 100, frente a la farmacia")
    page.locator(".transcript").get_by_text("Es en Hidalgo 100, frente a la farmacia").wait_for(timeout=8000)
    page.get_by_role("button", name="Tomar la conversación").click()
    page.get_by_text("La atiende: Beto Ramírez (tú)").wait_for()
    page.wait_for_load_state("domcontentloaded")  # console.js (deferred) has wired the canned replies
    page.get_by_label("Respuestas guardadas").select_option(label="Pedir foto")
    expect(page.get_by_label("Tu respuesta (llega por Telegram)")).to_have_value(re.compile("foto del problema"))
    page.get_by_label("Tu respuesta (llega por Telegram)").fill("Gracias, ya lo vemos. ¿Hay personas en riesgo?")
    page.get_by_role("button", name="Enviar respuesta").click()
    wait_until(lambda: any("¿Hay personas en riesgo?" in t for t in fake_telegram.sent_texts(chat_id=CHAT)), 10)
    page.get_by_text("Gracias, ya lo vemos.").first.wait_for()
    assert_accessible(page)
    screenshot(page, "console-conversation", full_page=False)

    page.goto(web_app.base_url + f"/console/inbox/{wa_cid}")
    assert "Posible emergencia" in page.content() and "Ventana de 24 h de WhatsApp abierta" in page.content()
    page.get_by_label("Tu respuesta (llega por Whatsapp)").fill("Si hay riesgo, llama al 911 ahora.")
    page.get_by_role("button", name="Enviar respuesta").click()
    wait_until(lambda: any("llama al 911 ahora" in m.get("Body", "") for m in fake_twilio.sent()), 10)

    # the full number: a reason first, then a page that says it was logged
    assert "+52 81 •••• 5679" in page.content()
    page.get_by_text("Ver número completo").click()
    page.get_by_label("Motivo (queda registrado)").fill("Llamar por la emergencia")
    page.get_by_role("button", name="Ver número").click()
    page.get_by_text("Esta consulta quedó registrada").wait_for()
    assert "81 1234 5679" in page.locator(".big").inner_text()
    assert_accessible(page)


def test_report_from_conversation_reaches_the_citizen(web_app: AppServer, web_runtime: Runtime, staff: dict,
                                                     page: Any, fake_telegram: FakeTelegram) -> None:
    telegram_text(web_app, CHAT, "persona")
    cid = handed_off(web_runtime, "telegram", str(CHAT))
    sign_in(page, web_app, staff["attention"].email)
    page.goto(web_app.base_url + f"/console/inbox/{cid}")
    page.get_by_role("button", name="Tomar la conversación").click()  # a person has it: the citizen writes to them
    page.get_by_text("La atiende: Beto Ramírez (tú)").wait_for()
    telegram_text(web_app, CHAT, "hay un bache enorme en la calle Hidalgo")
    page.get_by_text("hay un bache enorme en la calle Hidalgo").first.wait_for()
    page.reload()
    assert "hay un bache enorme" in page.get_by_label("Descripción").input_value()
    page.get_by_label("Categoría").select_option("pothole")
    page.get_by_label("Dirección").fill("Hidalgo 100, col. Centro")
    page.get_by_role("button", name="Crear reporte y enviar folio").click()
    page.get_by_text("Se creó el reporte").wait_for()
    with web_runtime.session_factory() as s:
        folio = s.scalars(select(Ticket.folio)).one()
    wait_until(lambda: any(folio in t for t in fake_telegram.sent_texts(chat_id=CHAT)), 10)
    assert "pasó a la dependencia" in page.content()  # a pothole is public works': the conversation went too
    assert page.locator(f'a[href="/console/inbox/{cid}"]').count() == 0


def test_status_reroute_and_evidence_on_the_ticket_page(web_app: AppServer, web_runtime: Runtime, staff: dict,
                                                       page: Any, fake_telegram: FakeTelegram, tmp_path: Any) -> None:
    folio = make_ticket(web_runtime)
    other = make_ticket(web_runtime, chat="700100400", lat=25.6867, lon=-100.3162, address="Hidalgo 104")
    sign_in(page, web_app, staff["works"].email)
    page.wait_for_url("**/console/inbox")
    assert_accessible(page)
    page.get_by_role("link", name="Reportes").click()
    page.locator(f'a[href="/console/tickets/{folio}"]').wait_for()
    assert_accessible(page)
    screenshot(page, "console-tickets", full_page=False)
    page.get_by_role("link", name="Registrar reporte").click()
    assert_accessible(page)
    page.goto(web_app.base_url + f"/console/tickets/{folio}")
    assert other in page.content()  # nearby open duplicate

    # evidence photo
    photo = tmp_path / "obra.png"
    photo.write_bytes(png_image(320, 240))
    page.get_by_label("Foto (JPG, PNG, WEBP o HEIC)").set_input_files(str(photo))
    page.get_by_role("button", name="Subir evidencia").click()
    page.get_by_text("Cambio guardado.").wait_for()
    evidence = page.locator('img[alt="Evidencia de la atención"]')
    assert evidence.count() == 1
    # the stored photo is served and decodes (a broken image has naturalWidth 0)
    wait_until(lambda: evidence.evaluate("img => img.complete && img.naturalWidth") == 320, 5)

    # status change: the preview shows exactly the follower's message; the follower receives it
    page.get_by_label("Nuevo estado").select_option("not_resolved")
    page.get_by_label("Motivo (obligatorio si no se pudo atender)").select_option("private_property")
    note = "Está dentro de un estacionamiento privado; avisamos al dueño."
    page.get_by_label("Nota para la ciudadanía (obligatoria si no se pudo atender)").fill(note)
    preview = page.locator("#preview .preview-text")
    preview.wait_for(timeout=8000)
    wait_until(lambda: note in preview.inner_text(), 5)
    assert_accessible(page)
    screenshot(page, "console-ticket-status", full_page=False)
    shown = preview.inner_text()
    page.get_by_role("button", name="Guardar estado").click()
    page.get_by_text("Cambio guardado.").wait_for()
    received = wait_until(lambda: [t for t in fake_telegram.sent_texts(chat_id=FOLLOWER_CHAT) if note in t], 10)
    assert received[-1].strip() == shown.strip()

    # routing correction on the other ticket
    page.goto(web_app.base_url + f"/console/tickets/{other}")
    page.get_by_label("Categoría correcta").select_option("tree")
    page.get_by_role("button", name="Corregir categoría").click()
    page.get_by_role("alert").wait_for()
    assert "por qué" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Categoría correcta").input_value() == "tree"  # what was chosen stays
    page.get_by_label("Motivo de la corrección (obligatorio)").fill("Es una rama caída, no un bache")
    page.get_by_role("button", name="Corregir categoría").click()
    page.wait_for_url("**/console/tickets/*")
    assert "No encontramos" in page.content()  # it left public works: the page is another department's now
    with web_runtime.session_factory() as s:
        kinds = list(s.scalars(select(TicketEvent.kind).join(Ticket).where(Ticket.folio == other)))
    assert "rerouted" in kinds


def test_another_departments_folio_typed_in_the_address_bar(web_app: AppServer, web_runtime: Runtime, staff: dict,
                                                            page: Any) -> None:
    folio = make_ticket(web_runtime)  # a pothole: public works'
    sign_in(page, web_app, staff["services"].email)
    page.wait_for_url("**/console/inbox")
    response = page.goto(web_app.base_url + f"/console/tickets/{folio}")
    assert response is not None and response.status == 404
    nav = page.get_by_role("navigation", name="Consola")
    expect(nav.get_by_role("link", name="Bandeja")).to_be_visible()
    expect(nav.get_by_role("link", name="Reportes")).to_be_visible()
    expect(nav.get_by_role("button", name="Salir")).to_be_visible()
    assert page.locator("h1").inner_text() == "Página no encontrada"
    expect(page.get_by_text("No encontramos esta página o no tienes acceso a ella.")).to_be_visible()
    assert folio not in page.content()
    assert_accessible(page)
    screenshot(page, "console-not-found", full_page=False)
    page.get_by_role("link", name="Volver a la bandeja").click()
    page.wait_for_url("**/console/inbox")
    page.get_by_role("button", name="Salir").click()  # signed out, the same address is the sign-in page's
    page.wait_for_url("**/console/login**")
    page.goto(web_app.base_url + f"/console/tickets/{folio}")
    assert "/console/login" in page.url and page.get_by_role("navigation", name="Consola").count() == 0
