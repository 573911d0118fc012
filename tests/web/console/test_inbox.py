"""The escalation inbox over HTTP, end to end through the fake Telegram and Twilio servers: scoping, replies on
the citizen's own channel, creating the report from a conversation, handing back, masked numbers."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from reporta.runtime import Runtime
from tests.channels.conftest import AppServer, wait_until
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.web.console.conftest import Console, conversation_of, handed_off, telegram_text, twilio_text
from ticketing.models import (
    Conversation,
    ConversationMode,
    OutboxMessage,
    PersonalDataAccess,
    Subscription,
    Ticket,
)

CHAT = 555000111


def test_inbox_scoping_reply_report_and_hand_back(web_app: AppServer, web_runtime: Runtime, staff: dict,
                                                  console: Any, fake_telegram: FakeTelegram) -> None:
    telegram_text(web_app, CHAT, "quiero hablar con una persona")
    cid = handed_off(web_runtime, "telegram", str(CHAT))
    beto: Console = console(staff["attention"].email)
    ana: Console = console(staff["works"].email)
    # once a person has the conversation, what the citizen writes is for them (not a new report for the bot)
    assert beto.post(f"/console/inbox/{cid}/take").status_code == 303
    telegram_text(web_app, CHAT, "hay un bache enorme en Hidalgo 100, col. Centro <script>alert(1)</script> {{7*7}}")
    listing = beto.get("/console/inbox")
    assert listing.status_code == 200 and f"/console/inbox/{cid}" in listing.text and "Lupita" in listing.text
    assert f"/console/inbox/{cid}" not in ana.get("/console/inbox").text

    page = wait_until(lambda: (p := beto.get(f"/console/inbox/{cid}")) and "bache enorme" in p.text and p, 10)
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "{{7*7}}" in page.text and ">49<" not in page.text
    assert str(CHAT) not in page.text  # the chat id is personal data: masked
    # another department: 404 for the page, the live stream and every action, and nothing changes
    for method, path in [("GET", f"/console/inbox/{cid}"), ("GET", f"/console/live?view=conversation&c={cid}"),
                         ("POST", f"/console/inbox/{cid}/reply"), ("POST", f"/console/inbox/{cid}/take"),
                         ("POST", f"/console/inbox/{cid}/report"), ("POST", f"/console/inbox/{cid}/return"),
                         ("POST", f"/console/inbox/{cid}/close"), ("POST", f"/console/inbox/{cid}/reveal")]:
        response = ana.get(path) if method == "GET" else ana.post(path, {"text": "hola", "reason": "prueba ok",
                                                                          "category": "pothole"})
        assert response.status_code == 404, path
        assert "Lupita" not in response.text and "bache" not in response.text
    with web_runtime.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "staff_reply")) == 0

    # an agent cannot assign to someone else; a supervisor can, and only within the department
    assert beto.post(f"/console/inbox/{cid}/assign", {"staff_id": str(staff["attention"].id)}
                     ).headers["location"].endswith("error=forbidden_assign")
    dora: Console = console(staff["supervisor"].email)
    assert dora.post(f"/console/inbox/{cid}/assign", {"staff_id": str(staff["works"].id)}
                     ).headers["location"].endswith("error=unknown_staff")
    assert dora.post(f"/console/inbox/{cid}/assign", {"staff_id": str(staff["attention"].id)}).status_code == 303
    with web_runtime.session_factory() as s:
        assert s.get(Conversation, cid).handoff_staff_id == staff["attention"].id

    # take it and answer: the reply reaches the fake Telegram API
    assert beto.post(f"/console/inbox/{cid}/take").status_code == 303
    assert "La atiende: Beto Ramírez" in beto.get(f"/console/inbox/{cid}").text
    assert beto.post(f"/console/inbox/{cid}/reply", {"text": "Hola Lupita, ¿en qué número está el bache?"}
                     ).status_code == 303
    wait_until(lambda: any("¿en qué número está el bache?" in t for t in fake_telegram.sent_texts(chat_id=CHAT)), 10)
    assert beto.post(f"/console/inbox/{cid}/reply", {"text": "   "}).headers["location"].endswith("error=empty_reply")

    # create the report: the citizen follows it and gets the folio; the conversation moves to public works
    created = beto.post(f"/console/inbox/{cid}/report", {
        "category": "pothole", "description": "Bache enorme", "address": "Hidalgo 100, col. Centro",
        "lat": "25.6866", "lon": "-100.3161"})
    assert created.status_code == 303
    with web_runtime.session_factory() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.channel == "telegram" and ticket.department.code == "obras_publicas"
        assert s.scalar(select(func.count()).select_from(Subscription).where(Subscription.ticket_id == ticket.id)) == 1
        folio = ticket.folio
    wait_until(lambda: any(folio in t for t in fake_telegram.sent_texts(chat_id=CHAT)), 10)
    assert ana.get(f"/console/inbox/{cid}").status_code == 200  # now it is public works' conversation
    assert beto.get(f"/console/inbox/{cid}").status_code == 404
    assert ana.get(f"/console/tickets/{folio}").status_code == 200
    assert beto.get(f"/console/tickets/{folio}").status_code == 404

    # hand it back to the bot: the citizen is told, the conversation leaves the inbox
    assert ana.post(f"/console/inbox/{cid}/return").status_code == 303
    wait_until(lambda: any("terminó la conversación" in t for t in fake_telegram.sent_texts(chat_id=CHAT)), 10)
    with web_runtime.session_factory() as s:
        assert s.get(Conversation, cid).mode == ConversationMode.BOT
    assert f"/console/inbox/{cid}\"" not in ana.get("/console/inbox").text


def test_whatsapp_and_sms_replies_masked_number_and_reveal_log(web_app: AppServer, web_runtime: Runtime,
                                                               staff: dict, console: Any,
                                                               fake_twilio: FakeTwilio) -> None:
    phone = "+5218112345679"
    twilio_text(web_app, phone, "quiero hablar con una persona")
    cid = handed_off(web_runtime, "whatsapp", phone)
    sms_phone = "+528187654321"
    twilio_text(web_app, sms_phone, "persona", channel="sms")
    sms_cid = handed_off(web_runtime, "sms", sms_phone)

    beto: Console = console(staff["attention"].email)
    page = beto.get(f"/console/inbox/{cid}")
    assert "+52 81 •••• 5679" in page.text and "8112345679" not in page.text
    assert "Ventana de 24 h de WhatsApp abierta" in page.text
    assert beto.post(f"/console/inbox/{cid}/reply", {"text": "Hola, te atiende Beto."}).status_code == 303
    sent = wait_until(lambda: [m for m in fake_twilio.sent() if "Hola, te atiende Beto." in m.get("Body", "")], 10)
    assert sent[0]["To"].startswith("whatsapp:") and sent[0]["To"].endswith("8112345679")

    sms_page = beto.get(f"/console/inbox/{sms_cid}")
    assert "El SMS ocupará 1 segmento." in sms_page.text
    long = beto.post("/console/inbox/segments", {"text": "á" * 200})
    assert long.status_code == 200 and re.search(r"ocupará [2-9] segmentos", long.text)
    assert beto.post(f"/console/inbox/{sms_cid}/reply", {"text": "Hola por SMS"}).status_code == 303
    sent = wait_until(lambda: [m for m in fake_twilio.sent() if "Hola por SMS" in m.get("Body", "")], 10)
    assert sent[0]["To"] == sms_phone

    # the full number: only with a reason, and logged
    refused = beto.post(f"/console/inbox/{cid}/reveal", {"reason": ""})
    assert refused.status_code == 303 and "error=reveal_reason" in refused.headers["location"]
    shown = beto.post(f"/console/inbox/{cid}/reveal", {"reason": "Llamar por la fuga reportada"})
    assert shown.status_code == 200 and "81 1234 5679" in shown.text
    with web_runtime.session_factory() as s:
        row = s.scalars(select(PersonalDataAccess)).one()
        assert row.staff_id == staff["attention"].id and row.reason == "Llamar por la fuga reportada"


def test_a_silent_close_keeps_the_unsent_report_with_the_citizen(web_app: AppServer, web_runtime: Runtime,
                                                                  staff: dict, console: Any) -> None:
    """Walkthrough 13: "Cerrar" (no message to the citizen) used to wipe a report the bot had kept for staff."""
    chat = CHAT + 7
    telegram_text(web_app, chat, "hay un bache enorme en Hidalgo 100 col Centro")
    wait_until(lambda: (c := conversation_of(web_runtime, "telegram", str(chat))) is not None and c.flow == "report",
               10)
    telegram_text(web_app, chat, "quiero hablar con una persona")
    cid = handed_off(web_runtime, "telegram", str(chat))
    with web_runtime.session_factory() as s:
        assert (s.get(Conversation, cid).slots or {}).get("draft", {}).get("category") == "pothole"
    closed = None
    for who in ("attention", "works"):
        agent: Console = console(staff[who].email)
        response = agent.post(f"/console/inbox/{cid}/close")
        if response.status_code == 303:
            closed = response
            break
    assert closed is not None and closed.headers["location"].endswith("aviso=cerrada")
    with web_runtime.session_factory() as s:
        conv = s.get(Conversation, cid)
        assert conv.mode == ConversationMode.BOT
        assert conv.flow == "report" and (conv.slots or {}).get("category") == "pothole"
        assert "Hidalgo 100" in " ".join(str(v) for v in (conv.slots or {}).values())
