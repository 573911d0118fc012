"""The personal-data scan: tickets whose citizens, texts and notes hold phone numbers, e-mail addresses, names,
CURP and chat ids; then every public response of open data and Open311 (pages, exports, JSON and XML, each
request) and the web chat as another visitor sees it: zero hits."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from tests.web.opendata.conftest import WebCitizen, add_identity
from tests.web.opendata.test_report_chat import report
from ticketing.models import ChannelKind, Ticket, TicketStatus

NAMES = ("Rosa María", "Martínez Gómez", "Pedro Ramírez", "Guadalupe Treviño")
EMAILS = ("rosa.mtz@gmail.com", "vecina@correo.mx", "lupita_t@hotmail.com")
PHONES = ("8112345678", "5512345678", "8187654321", "3398765432")
CHAT_IDS = ("987654321", "123456789012")
CURPS = ("GOPJ800101HNLRRN09",)


def digits_pattern(digits: str) -> re.Pattern[str]:
    """The digits however they are written: 81 1234 5678, (81) 1234-5678, +52 81…"""
    return re.compile(r"[\s().+-]*".join(digits))


def scan(text: str) -> list[str]:
    hits = [v for v in (*NAMES, *EMAILS, *CURPS) if v.lower() in text.lower()]
    hits += [d for d in (*PHONES, *CHAT_IDS) if digits_pattern(d).search(text)]
    return hits


def plant(runtime: Any) -> list[str]:
    with runtime.session_factory() as session:
        telegram = add_identity(session, ChannelKind.TELEGRAM, CHAT_IDS[0], name="Rosa María Martínez Gómez")
        whatsapp = add_identity(session, ChannelKind.WHATSAPP, "+52" + PHONES[2], name="Guadalupe Treviño",
                                phone="+52" + PHONES[2])
        sms = add_identity(session, ChannelKind.SMS, "+52" + PHONES[3], phone="+52" + PHONES[3])
        service = runtime.ticket_service(session)
        folios = []
        for identity, category in ((telegram, "pothole"), (whatsapp, "streetlight"), (sms, "water_leak")):
            ticket = service.create(
                category=category, channel=identity.channel, actor=f"citizen:{identity.citizen_id}",
                reporter_identity=identity, lat=25.6866142, lon=-100.3161234,
                description=f"Soy Rosa María Martínez Gómez, llámame al 81 1234 5678 o a {EMAILS[0]}; "
                            f"mi chat es {CHAT_IDS[1]}",
                address=f"Calle Roble 77 int 3, col. Las Flores, C.P. 66220, tel {PHONES[1]}",
                landmark="frente a la casa de Don Pedro Ramírez")
            service.change_status(
                ticket, TicketStatus.IN_PROGRESS, actor="staff:ana",
                public_note=f"Hablamos a la vecina al (55) 1234-5678 y a {EMAILS[1]}; CURP {CURPS[0]}; "
                            f"Telegram {CHAT_IDS[0]}",
                internal_note=f"Guadalupe Treviño ({PHONES[2]}) insiste; Pedro Ramírez {EMAILS[2]}")
            folios.append(ticket.folio)
        service.change_status(service.get(folios[2]), TicketStatus.NOT_RESOLVED, actor="staff:ana",
                              reason="could_not_locate", public_note=f"Escribir a {EMAILS[2]}")
        session.commit()
    return folios


def test_no_public_response_carries_personal_data(od_app: Any, od_runtime: Any) -> None:
    folios = plant(od_runtime)
    # a report made in the browser chat with personal data in its words
    reporter = WebCitizen(od_app.base_url)
    reporter.say(f"Me llamo Pedro Ramírez, mi cel es {PHONES[0]}, correo {EMAILS[2]}")
    folios.append(report(reporter))
    reporter.close()
    with od_runtime.session_factory() as session:
        assert len(session.scalars(select(Ticket)).all()) == 4
        stored = " ".join(t.description for t in session.scalars(select(Ticket)))
    assert scan(stored), "the planted data is in the database (the scan can find it)"

    base = od_app.base_url
    paths = ["/datos", "/datos/reportes.csv", "/datos/reportes.json", "/datos/reportes.geojson",
             "/datos/reportes.json?status=open", "/reportar", "/reportar/chat"]
    for fmt in ("json", "xml"):
        paths += [f"/open311/v2/discovery.{fmt}", f"/open311/v2/services.{fmt}", f"/open311/v2/requests.{fmt}",
                  f"/open311/v2/requests.{fmt}?status=closed", f"/open311/v2/services/pothole.{fmt}"]
        paths += [f"/open311/v2/requests/{f}.{fmt}" for f in folios] + [f"/open311/v2/tokens/{folios[0]}.{fmt}"]
    visitor = httpx.Client(base_url=base, timeout=20)  # another person's browser
    visitor.get("/reportar")
    checked = 0
    for path in paths:
        resp = visitor.get(path)
        assert resp.status_code == 200, path
        assert scan(resp.text) == [], f"personal data in {path}: {scan(resp.text)}"
        checked += 1
    visitor.close()
    requests_json = httpx.get(base + "/open311/v2/requests.json").json()
    assert {r["service_request_id"] for r in requests_json} == set(folios)  # the tickets were there to leak
    notes = next(r for r in requests_json if r["service_request_id"] == folios[0])["status_notes"]
    assert "[teléfono]" in notes and "[correo]" in notes and "[CURP]" in notes
    assert checked == len(paths)
