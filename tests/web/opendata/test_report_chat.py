"""The web report chat without JavaScript (plain form posts, redirects): the same dialogue as the other channels,
a folio, the report's status after a staff change, a map point, photos, and bad input answered clearly."""

from __future__ import annotations

import re
import time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select

from bot.web import COOKIE
from tests.channels.conftest import png_image
from tests.web.opendata.conftest import WebCitizen
from ticketing.models import Attachment, ChannelIdentity, ChannelKind, Direction, Message, Ticket, TicketStatus

REPORT = "Hay un bache enorme en la calle Hidalgo 100, col. Centro"


def report(citizen: WebCitizen) -> str:
    """Make a report through the dialogue; its folio."""
    assert citizen.say(REPORT).status_code == 200
    citizen.press("no_photo")
    assert "Revisa tu reporte" in citizen.html
    citizen.press("yes")
    match = re.search(r"Folio: (\d{4}-\d{4})", citizen.html)
    assert match, citizen.html[-2000:]
    return match.group(1)


def wait_for(citizen: WebCitizen, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        html = citizen.client.get("/reportar").text
        if text in html:
            return html
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared on /reportar")


def test_report_without_javascript_gets_a_folio_and_shows_its_status(web_citizen: WebCitizen, od_runtime: Any,
                                                                      od_app: Any) -> None:
    folio = report(web_citizen)
    with od_runtime.session_factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.folio == folio)).one()
        assert ticket.channel == ChannelKind.WEB and ticket.category_code == "pothole"
        identity = session.get(ChannelIdentity, ticket.reporter_identity_id)
        assert identity.channel == ChannelKind.WEB
        cookie = web_citizen.client.cookies[COOKIE]
        assert cookie not in identity.external_id  # the cookie itself is never stored
        service = od_runtime.ticket_service(session)
        service.change_status(ticket, TicketStatus.IN_PROGRESS, actor="staff:ana", public_note="Cuadrilla en camino")
        session.commit()
    html = wait_for(web_citizen, "ya está en proceso")
    row = re.search(rf'<tr data-folio="{folio}">.*?</tr>', html, re.S)
    assert row and "En proceso" in row.group(0) and "Cuadrilla en camino" in row.group(0)
    due = ticket.due_at.astimezone(ZoneInfo(od_runtime.settings.timezone)).date()  # as people write dates
    assert f'<time datetime="{due.isoformat()}">{due:%d/%m/%Y}</time>' in row.group(0)


def test_the_cookie_is_opaque_httponly_and_samesite(od_app: Any) -> None:
    resp = httpx.get(od_app.base_url + "/reportar")
    header = resp.headers["set-cookie"]
    assert header.startswith(f"{COOKIE}=") and "HttpOnly" in header and "SameSite=lax" in header.replace("Lax", "lax")
    assert resp.headers["cache-control"] == "no-store"
    value = resp.cookies[COOKIE]
    assert len(value) >= 40 and re.fullmatch(r"[A-Za-z0-9_-]+", value)


def test_a_click_on_the_map_image_sends_that_point(web_citizen: WebCitizen, od_runtime: Any) -> None:
    # <input type="image" name="mapa">: the browser posts mapa.x / mapa.y, no JavaScript needed
    web_citizen.post(**{"mapa.x": "150", "mapa.y": "120"})
    assert "Ubicación enviada" in web_citizen.html
    south, west, north, east = (float(v) for v in od_runtime.settings.municipality_bbox.split(","))
    with od_runtime.session_factory() as session:
        msg = session.scalars(select(Message).where(Message.channel == ChannelKind.WEB,
                                                    Message.direction == Direction.INBOUND)).one()
        location = msg.payload["location"]
    assert abs(location["lat"] - (south + north) / 2) < 1e-9 and abs(location["lon"] - (west + east) / 2) < 1e-9
    web_citizen.post(**{"mapa.x": "900", "mapa.y": "10"})
    assert "fuera del mapa" in web_citizen.html


def test_photos_same_checks_as_the_other_channels(web_citizen: WebCitizen, od_runtime: Any) -> None:
    web_citizen.say(REPORT)
    assert web_citizen.photo(png_image(), "bache.png", "image/png").status_code == 200
    assert "Foto enviada" in web_citizen.html
    with od_runtime.session_factory() as session:
        attachment = session.scalars(select(Attachment)).one()
        assert attachment.content_type == "image/png"  # sniffed from the bytes
    staged = od_runtime.settings.var_dir / "web-uploads"
    assert not any(staged.iterdir())  # the staged upload is gone once stored
    # a file that claims to be a JPEG but is not an image: refused by the pipeline, the dialogue explains
    web_citizen.photo(b"MZ\x90\x00 not an image at all" * 10, "virus.jpg", "image/jpeg")
    assert "No pude usar esa foto" in web_citizen.html
    with od_runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Attachment)) == 1


def test_a_photo_over_the_cap_is_refused_while_reading(od_settings: Any, tmp_path: Any) -> None:
    from reporta.app import create_app
    from reporta.runtime import Runtime
    from tests.channels.conftest import AppServer

    settings = od_settings.model_copy(update={"max_media_bytes": 100_000})
    rt = Runtime.from_settings(settings, migrate=False, dispatcher_options={"rate_limits": False})
    try:
        with AppServer(create_app(rt)) as app:
            citizen = WebCitizen(app.base_url)
            resp = citizen.photo(b"\x89PNG\r\n\x1a\n" + b"0" * 300_000, "grande.png", "image/png")
            assert resp.status_code == 200 and "La foto es muy grande: el máximo es 1 MB" in resp.text
            citizen.close()
        with rt.session_factory() as session:
            assert session.scalar(select(func.count()).select_from(Message)) == 0
            assert session.scalar(select(func.count()).select_from(Attachment)) == 0
    finally:
        rt.close()


def test_forged_and_bad_forms_get_clear_answers_and_store_nothing(web_citizen: WebCitizen, od_app: Any,
                                                                  od_runtime: Any) -> None:
    fields = web_citizen.fields()
    # no CSRF token, a wrong one, a token of another session
    for token in (None, "0" * 64, WebCitizen(od_app.base_url).fields()["csrf_token"]):
        data = {"nonce": fields["nonce"], "text": "hola"} | ({"csrf_token": token} if token else {})
        resp = web_citizen.client.post("/reportar", data=data)
        assert resp.status_code == 403 and "El formulario caducó" in resp.text
    # no cookie at all (another site posting, a browser without cookies)
    resp = httpx.post(od_app.base_url + "/reportar", data={**fields, "text": "hola"})
    assert resp.status_code == 403 and "cookies" in resp.text
    # 5,000 characters: refused with the limit, what was typed kept in the box
    long_text = "bache " * 834
    resp = web_citizen.post(text=long_text)
    assert resp.status_code == 200 and "el máximo es 1000" in resp.text and "bache bache" in resp.text
    # empty, a bad nonce
    assert "Escribe un mensaje" in web_citizen.post(text="   ").text
    assert "recarga la página" in web_citizen.post(text="hola", nonce="nada").text
    with od_runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_double_submitted_form_is_one_message(web_citizen: WebCitizen, od_runtime: Any) -> None:
    fields = web_citizen.fields()
    for _ in range(3):  # the same form posted three times (double tap, a retry)
        web_citizen.client.post("/reportar", data={**fields, "text": REPORT})
    with od_runtime.session_factory() as session:
        inbound = session.scalars(select(Message).where(Message.direction == Direction.INBOUND)).all()
    assert len(inbound) == 1


def test_posts_are_rate_limited_per_client_address(od_settings: Any) -> None:
    from reporta.app import create_app
    from reporta.runtime import Runtime
    from tests.channels.conftest import AppServer

    rt = Runtime.from_settings(od_settings.model_copy(update={"web_report_posts_per_minute": 3}), migrate=False)
    try:
        with AppServer(create_app(rt)) as app:
            citizen = WebCitizen(app.base_url)
            codes = [citizen.say(f"hola {i}").status_code for i in range(4)]
            citizen.close()
        assert codes == [200, 200, 200, 429]
    finally:
        rt.close()


def test_an_oversized_form_is_refused_while_reading(web_citizen: WebCitizen, od_runtime: Any) -> None:
    fields = web_citizen.fields()
    resp = web_citizen.client.post("/reportar", data={**fields, "text": "x" * 100_000})
    assert resp.status_code == 413 and "demasiado grande" in resp.text

    def chunks():  # no Content-Length: the cap counts what arrives
        yield f"csrf_token={fields['csrf_token']}&nonce={fields['nonce']}&text=".encode()
        for _ in range(200):
            yield b"y" * 1000

    resp = web_citizen.client.post("/reportar", content=chunks(),
                                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 413
    with od_runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_the_long_poll_answers_at_once_when_a_message_is_already_there(web_citizen: WebCitizen) -> None:
    web_citizen.say(REPORT)
    started = time.monotonic()
    resp = web_citizen.client.get("/reportar/chat", params={"after": "0"})
    assert resp.status_code == 200 and time.monotonic() - started < 5
    assert "<section id=\"chat\"" in resp.text
    assert "<html" not in resp.text  # a fragment, not the page
    assert httpx.get(str(web_citizen.client.base_url) + "/reportar/chat").status_code == 403  # no cookie
