"""The ticket desk over HTTP: scoping (404 for another department on every route), CSRF (403, nothing changed),
the queue's filters and order, status changes with their preview and the follower's message, routing
corrections, duplicates, evidence uploads and reports taken by phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from reporta.runtime import Runtime
from tests.channels.conftest import JPEG, PDF, AppServer, wait_until
from tests.fakes.telegram_api import FakeTelegram
from tests.web.console.conftest import Console
from ticketing.citizens import get_or_create_identity
from ticketing.models import Attachment, Subscription, Ticket, TicketEvent, TicketStatus

FOLLOWER_CHAT = "700100200"


def make_ticket(rt: Runtime, category: str = "pothole", *, address: str = "Hidalgo 100, col. Centro",
                chat: str | None = FOLLOWER_CHAT, lat: float | None = 25.6866, lon: float | None = -100.3161,
                description: str = "Bache en el carril derecho") -> str:
    with rt.session_factory() as session:
        identity = get_or_create_identity(session, "telegram", chat) if chat else None
        ticket = rt.ticket_service(session).create(category=category, description=description, channel="telegram",
                                                   actor="citizen:1", lat=lat, lon=lon, address=address,
                                                   reporter_identity=identity)
        session.commit()
        return ticket.folio


def events(rt: Runtime, folio: str) -> list[str]:
    with rt.session_factory() as session:
        return list(session.scalars(select(TicketEvent.kind).join(Ticket).where(Ticket.folio == folio)
                                    .order_by(TicketEvent.id)))


def test_every_ticket_route_of_another_department_is_404_and_csrf_is_enforced(
        web_app: AppServer, web_runtime: Runtime, staff: dict, console: Any) -> None:
    folio = make_ticket(web_runtime, description="Descripción secreta <script>alert(1)</script> {{7*7}}")
    ana: Console = console(staff["works"].email)
    ceci: Console = console(staff["services"].email)
    admin: Console = console(staff["admin"].email)
    page = ana.get(f"/console/tickets/{folio}")
    assert page.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)</script>" not in page.text and "{{7*7}}" in page.text
    assert admin.get(f"/console/tickets/{folio}").status_code == 200
    assert folio not in ceci.get("/console/tickets?status=all").text
    for suffix in ("", "/preview", "/status", "/note", "/reopen", "/assign", "/reroute", "/duplicate",
                   "/evidence"):
        path = f"/console/tickets/{folio}{suffix}"
        response = ceci.get(path) if suffix == "" else ceci.post(path, {
            "status": "in_progress", "note": "x", "staff_id": str(staff["services"].id), "category": "tree",
            "reroute_reason": "x", "original": folio})
        assert response.status_code == 404, path
        assert "secreta" not in response.text and "Hidalgo" not in response.text
    assert ceci.get("/console/tickets/0000-0000").status_code == 404
    assert ceci.get("/console/tickets/no-es-folio").status_code == 404
    assert ceci.get("/console/media/1").status_code == 404
    # missing or wrong CSRF token: 403 and nothing changed, header or form field
    before = events(web_runtime, folio)
    for token in ("", "0" * 64, ceci.token):
        response = ana.post(f"/console/tickets/{folio}/note", {"note": "sin token"}, token=token)
        assert response.status_code == 403
    assert ana.request("POST", f"/console/tickets/{folio}/note", data={"note": "x"},
                       headers={"X-CSRF-Token": "f" * 64}).status_code == 403
    assert ana.request("POST", f"/console/tickets/{folio}/evidence", files={"photo": ("a.jpg", JPEG, "image/jpeg")},
                       data={"csrf_token": "bad"}).status_code == 403
    assert ana.post("/console/logout", token="").status_code == 403
    assert events(web_runtime, folio) == before
    assert ana.post(f"/console/tickets/{folio}/note", {"note": "con token"}).status_code == 303
    assert events(web_runtime, folio) == [*before, "note"]
    # an htmx request carries the token in the header
    assert ana.request("POST", f"/console/tickets/{folio}/note", data={"note": "por htmx"},
                       headers={"X-CSRF-Token": ana.token}).status_code == 303


def test_status_change_with_preview_reason_and_follower_message(
        web_app: AppServer, web_runtime: Runtime, staff: dict, console: Any, fake_telegram: FakeTelegram) -> None:
    folio = make_ticket(web_runtime)
    ana: Console = console(staff["works"].email)
    page = ana.get(f"/console/tickets/{folio}")
    assert 'value="closed"' not in page.text and 'value="not_resolved"' in page.text  # only allowed transitions
    # not resolved needs a reason and a public note; the typed values stay
    refused = ana.post(f"/console/tickets/{folio}/status", {"status": "not_resolved", "public_note": ""})
    assert refused.status_code == 400 and "Elige el motivo" in refused.text
    refused = ana.post(f"/console/tickets/{folio}/status", {"status": "not_resolved", "reason": "private_property"})
    assert refused.status_code == 400 and "Escribe una nota" in refused.text
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    past = ana.post(f"/console/tickets/{folio}/status", {"status": "in_progress", "scheduled_for": yesterday})
    assert past.status_code == 400 and "no puede estar en el pasado" in past.text
    assert events(web_runtime, folio) == ["created", "subscribed"] or events(web_runtime, folio)[0] == "created"
    note = "El bache está dentro de un estacionamiento privado."
    form = {"status": "not_resolved", "reason": "private_property", "public_note": note}
    preview = ana.post(f"/console/tickets/{folio}/preview", form)
    assert preview.status_code == 200 and "Telegram" in preview.text and note in preview.text
    with web_runtime.session_factory() as s:  # the preview changed nothing
        assert s.scalars(select(Ticket).where(Ticket.folio == folio)).one().status == TicketStatus.RECEIVED
    sent_before = len(fake_telegram.sent_texts(chat_id=FOLLOWER_CHAT))
    assert ana.post(f"/console/tickets/{folio}/status", form).status_code == 303
    texts = wait_until(lambda: fake_telegram.sent_texts(chat_id=FOLLOWER_CHAT)[sent_before:], 10)
    assert note in texts[-1] and folio in texts[-1]
    preview_text = preview.text.split('<pre class="preview-text">')[1].split("</pre>")[0]
    assert preview_text.replace("&#39;", "'").replace("&quot;", '"').strip() == texts[-1].strip()
    page = ana.get(f"/console/tickets/{folio}")
    assert "Cerrado sin resolver" in page.text and "por Ana López" in page.text


def test_staff_reopen_a_resolved_report_with_a_reason_and_the_follower_is_told(
        web_app: AppServer, web_runtime: Runtime, staff: dict, console: Any, fake_telegram: FakeTelegram) -> None:
    folio = make_ticket(web_runtime)
    ana: Console = console(staff["works"].email)
    assert 'action="/console/tickets/' + folio + '/reopen"' not in ana.get(f"/console/tickets/{folio}").text
    still_open = ana.post(f"/console/tickets/{folio}/reopen", {"reopen_reason": "x"})
    assert still_open.status_code == 400 and "No se pudo reabrir: el reporte cambió" in still_open.text
    assert "can be reopened" not in still_open.text  # the service's English reason is for the logs only
    assert ana.post(f"/console/tickets/{folio}/status", {"status": "resolved"}).status_code == 303
    assert f'action="/console/tickets/{folio}/reopen"' in ana.get(f"/console/tickets/{folio}").text
    refused = ana.post(f"/console/tickets/{folio}/reopen", {"reopen_note": "Volvemos a revisarlo."})
    assert refused.status_code == 400 and "Escribe por qué se reabre" in refused.text
    assert "Volvemos a revisarlo." in refused.text  # what was typed stays
    wait_until(lambda: any("atendido" in t.lower() or "quedó" in t for t in
                           fake_telegram.sent_texts(chat_id=FOLLOWER_CHAT)), 10)
    sent_before = len(fake_telegram.sent_texts(chat_id=FOLLOWER_CHAT))
    done = ana.post(f"/console/tickets/{folio}/reopen", {"reopen_reason": "La supervisión vio que sigue el bache",
                                                       "reopen_note": "Volvemos a revisarlo."})
    assert done.status_code == 303
    with web_runtime.session_factory() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.folio == folio)).one()
        assert ticket.status == TicketStatus.ASSIGNED and ticket.reopen_count == 1
        assert ticket.revised_due_at is not None and ticket.due_at is not None
    assert events(web_runtime, folio)[-1] == "reopened"
    texts = wait_until(lambda: fake_telegram.sent_texts(chat_id=FOLLOWER_CHAT)[sent_before:], 10)
    assert folio in texts[-1] and "Volvemos a revisarlo." in texts[-1]
    page = ana.get(f"/console/tickets/{folio}").text
    assert "Reabierto" in page and "La supervisión vio que sigue el bache" in page


def test_queue_filters_order_and_paging(web_app: AppServer, web_runtime: Runtime, staff: dict, console: Any) -> None:
    late = make_ticket(web_runtime, address="Calle Morelos 5, col. Obrera", chat=None)
    fresh = make_ticket(web_runtime, address="Av. Juárez 10, col. Centro", chat=None)
    tree = make_ticket(web_runtime, category="tree", address="Calle Roble 3", chat=None)  # another department
    with web_runtime.session_factory() as s:
        t = s.scalars(select(Ticket).where(Ticket.folio == late)).one()
        t.due_at = datetime.now(UTC) - timedelta(days=3)
        s.commit()
    ana: Console = console(staff["works"].email)
    listing = ana.get("/console/tickets").text
    assert listing.index(late) < listing.index(fresh) and tree not in listing
    assert "Vencido hace 3 d" in listing
    overdue = ana.get("/console/tickets?overdue=1").text
    assert late in overdue and fresh not in overdue
    search = ana.get("/console/tickets?q=obrera").text
    assert late in search and fresh not in search
    assert fresh not in ana.get("/console/tickets?channel=sms").text
    assert late not in ana.get("/console/tickets?reopened=1").text
    assert late not in ana.get("/console/tickets?assignee=me").text
    assert ana.get("/console/tickets?page=50&status=bogus&channel=fax").status_code == 200


def test_reroute_duplicate_assign_and_evidence(web_app: AppServer, web_runtime: Runtime, staff: dict,
                                              console: Any, fake_telegram: FakeTelegram) -> None:
    folio = make_ticket(web_runtime)
    original = make_ticket(web_runtime, chat="700100300", lat=25.6867, lon=-100.3162)
    ana: Console = console(staff["works"].email)
    ceci: Console = console(staff["services"].email)
    page = ana.get(f"/console/tickets/{folio}")
    assert original in page.text  # a nearby open duplicate

    assert ana.post(f"/console/tickets/{folio}/assign", {"staff_id": str(staff["works"].id)}).status_code == 303
    wrong = ana.post(f"/console/tickets/{folio}/assign", {"staff_id": str(staff["services"].id)})
    assert wrong.status_code == 400

    bad = ana.request(
        "POST", f"/console/tickets/{folio}/evidence", data={"csrf_token": ana.token},
        files={"photo": ("nota.pdf", PDF, "image/jpeg")})
    assert bad.status_code == 400 and "no es una foto" in bad.text
    huge = ana.request("POST", f"/console/tickets/{folio}/evidence", data={"csrf_token": ana.token},
                       files={"photo": ("grande.jpg", JPEG + b"0" * (10 * 1024 * 1024), "image/jpeg")})
    assert huge.status_code == 400 and "pesa demasiado" in huge.text
    ok = ana.request("POST", f"/console/tickets/{folio}/evidence", data={"csrf_token": ana.token},
                     files={"photo": ("obra.jpg", JPEG, "image/jpeg")})
    assert ok.status_code == 303
    with web_runtime.session_factory() as s:
        attachment = s.scalars(select(Attachment).where(Attachment.kind == "evidence")).one()
    image = ana.get(f"/console/media/{attachment.id}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg" and image.content == JPEG
    assert ceci.get(f"/console/media/{attachment.id}").status_code == 404

    # mark duplicate: the follower moves to the original
    assert ana.post(f"/console/tickets/{folio}/duplicate", {"original": original}).status_code == 303
    with web_runtime.session_factory() as s:
        orig = s.scalars(select(Ticket).where(Ticket.folio == original)).one()
        assert s.scalar(select(func.count()).select_from(Subscription).where(Subscription.ticket_id == orig.id)) == 2

    # routing correction: required reason, new department, event "rerouted"
    refused = ana.post(f"/console/tickets/{original}/reroute", {"category": "tree", "reroute_reason": ""})
    assert refused.status_code == 400 and "por qué" in refused.text
    assert ana.post(f"/console/tickets/{original}/reroute", {"category": "tree",
                                                             "reroute_reason": "Es un árbol caído, no un bache"}
                    ).status_code == 303
    with web_runtime.session_factory() as s:
        moved = s.scalars(select(Ticket).where(Ticket.folio == original)).one()
        assert moved.category_code == "tree" and moved.department.code == "servicios_publicos"
        event = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == moved.id,
                                                    TicketEvent.kind == "rerouted")).one()
        assert event.data == {"from_category": "pothole", "to_category": "tree", "from_department": "obras_publicas",
                              "to_department": "servicios_publicos"}
        assert event.internal_note == "Es un árbol caído, no un bache" and event.actor == "staff:ana@municipio.gob.mx"
    assert ana.get(f"/console/tickets/{original}").status_code == 404
    assert ceci.get(f"/console/tickets/{original}").status_code == 200
    wait_until(lambda: any("pasó a" in t for t in fake_telegram.sent_texts(chat_id="700100300")), 10)


def test_report_taken_by_phone(web_app: AppServer, web_runtime: Runtime, staff: dict, console: Any) -> None:
    ana: Console = console(staff["works"].email)
    assert ana.get("/console/tickets/new").status_code == 200
    missing = ana.post("/console/tickets/new", {"channel": "phone", "category": "pothole", "description": "Bache"})
    assert missing.status_code == 400 and "dirección" in missing.text and "Bache" in missing.text
    bad_phone = ana.post("/console/tickets/new", {"channel": "phone", "category": "pothole", "description": "Bache",
                                                  "address": "Zaragoza 5", "phone": "123"})
    assert bad_phone.status_code == 400 and "teléfono" in bad_phone.text
    made = ana.post("/console/tickets/new", {"channel": "phone", "category": "pothole", "description": "Bache",
                                             "address": "Zaragoza 5", "phone": "81 2222 3333", "name": "Don Luis"})
    assert made.status_code == 303 and "/console/tickets/" in made.headers["location"]
    with web_runtime.session_factory() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.channel == "phone" and ticket.reporter_identity_id is not None
    elsewhere = ana.post("/console/tickets/new", {"channel": "walk_in", "category": "tree", "description": "Árbol",
                                                  "address": "Roble 3"})
    assert elsewhere.status_code == 303 and "registrado_otra" in elsewhere.headers["location"]


def test_every_form_error_of_the_desk_has_its_spanish_text() -> None:
    import re
    from pathlib import Path

    from web.console import desk
    from web.templating import Pages

    source = Path(desk.__file__).read_text(encoding="utf-8")
    keys = set(re.findall(r'FormError\("\w+", "(\w+)"', source)) | {"ticket_changed", "ticket_error"}
    assert len(keys) > 20
    pages = Pages()
    fallback = pages.macro_text(desk.FORM_ERRORS, "text", "no-such-key")
    for key in keys:
        text = pages.macro_text(desk.FORM_ERRORS, "text", key, max_mb=10, action="status")
        assert text and text != fallback, key
