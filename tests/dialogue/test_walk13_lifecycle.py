"""Walkthrough 13, the survey / notice / handoff lifecycle: a survey never takes over a report being written, a
second survey or a handoff (F1); closing a handoff keeps the kept report (F2); the handoff time-out counts staff
hours (F3); BAJA with a report being written says it was not filed (F25); a question the bot could not place is not
"tu reporte" (F27).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dialogue import handoff as staff_side
from notifications.jobs import Jobs
from tests.dialogue.conftest import Chat, World
from ticketing.citizens import get_or_create_identity
from ticketing.db import session_scope
from ticketing.models import ConversationMode, OutboxMessage, Ticket, TicketStatus

pytestmark = pytest.mark.sqlite_only

#: Tuesday 1 December 2026, 11:00 in Monterrey (UTC-6): staff at work.
OPEN = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
#: Tuesday 1 December 2026, 18:33 in Monterrey: staff gone until Wednesday 9:00 (15:00 UTC).
EVENING = datetime(2026, 12, 2, 0, 33, tzinfo=UTC)


def _resolved(world: World, chat: Chat, category: str = "pothole", address: str = "calle Hidalgo 120") -> str:
    with world.factory() as session, session.begin():
        identity = get_or_create_identity(session, chat.channel, chat.external_id)
        svc = world.service(session)
        ticket = svc.create(category=category, description="bache", channel=chat.channel, actor="system",
                            address=address, reporter_identity=identity)
        svc.change_status(ticket, "resolved", actor="staff:ana")
        ticket.survey_due_at = chat.clock - timedelta(minutes=1)
        return ticket.folio


def _jobs(world: World, chat: Chat) -> Jobs:
    return Jobs(world.factory, world.settings, world.renderer, world.catalog, world.service, now=lambda: chat.clock)


def _surveys(world: World) -> list[OutboxMessage]:
    with world.factory() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "survey")
                                    .order_by(OutboxMessage.id)))


def _ticket(world: World, folio: str) -> Ticket:
    with world.factory() as session:
        return session.scalars(select(Ticket).where(Ticket.folio == folio)).one()


# --- F1 ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("channel", "report", "no_photo"), [
    ("whatsapp", "también hay un perro bravo suelto en la calle Allende 300 col. Reforma, ya mordió a un niño",
     "no tengo foto"),
    ("telegram", "hay una lámpara fundida en Juárez 40 col. Centro", "no"),
    ("sms", "hay basura tirada en el baldío de Pino Suárez 230 col. Centro", "sí"),  # SMS: straight to the summary
])
def test_a_survey_waits_while_a_report_is_being_written(world: World, channel: str, report: str,
                                                        no_photo: str) -> None:
    chat = world.chat(channel)
    folio = _resolved(world, chat)
    chat.send(report)
    assert chat.conversation().flow == "report"
    jobs = _jobs(world, chat)
    assert jobs.send_surveys() == 0 and _surveys(world) == []  # not now: the report is being written
    chat.send(no_photo)
    assert _ticket(world, folio).status == TicketStatus.RESOLVED  # the answer was the report's, not the survey's
    for _ in range(4):  # finish the report (answers to whatever it still asks)
        if chat.conversation().flow != "report":
            break
        chat.send("sí" if chat.conversation().step == "confirm" else "no tengo")
    assert len(chat.tickets()) == 2  # the new report was filed
    chat.clock += timedelta(minutes=11)
    assert jobs.send_surveys() == 1
    (question,) = _surveys(world)
    assert folio in question.body
    chat.send("sí ya quedó")
    assert _ticket(world, folio).status == TicketStatus.CLOSED


@pytest.mark.parametrize(("first", "second"), [
    ("el poste sí ya quedó", "no, el árbol sigue ahí"), ("sí", "no"), ("todavía no", "ya quedó, gracias")])
def test_one_survey_at_a_time(world: World, first: str, second: str) -> None:
    chat = world.chat("sms")
    folio_a = _resolved(world, chat, "streetlight", "calle Juárez 40")
    folio_b = _resolved(world, chat, "tree", "calle Morelos 12")
    jobs = _jobs(world, chat)
    assert jobs.send_surveys() == 1
    assert folio_a in _surveys(world)[0].body
    chat.send(first)
    if chat.conversation().flow == "survey":  # the rating or the photo: answered or left
        chat.send("5" if chat.conversation().step == "rating" else "menú")
    assert _ticket(world, folio_a).status != TicketStatus.RESOLVED
    chat.clock += timedelta(minutes=11)
    assert jobs.send_surveys() == 1
    assert folio_b in _surveys(world)[1].body
    chat.send(second)
    assert _ticket(world, folio_b).status != TicketStatus.RESOLVED


def test_a_survey_waits_while_staff_have_the_conversation(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.clock = OPEN
    folio = _resolved(world, chat)
    chat.send("quiero hablar con una persona")
    assert chat.conversation().mode == ConversationMode.HANDOFF
    jobs = _jobs(world, chat)
    assert jobs.send_surveys() == 0
    with session_scope(world.factory) as session:
        staff_side.close(session, chat.conversation().id, "ana", renderer=world.renderer, catalog=world.catalog)
    chat.clock += timedelta(minutes=11)
    assert jobs.send_surveys() == 1
    chat.send("sí")
    assert _ticket(world, folio).status == TicketStatus.CLOSED


# --- F2 ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("channel", "report", "word"), [
    # garbage or dumping? no category yet: still "tu reporte … aún no se envía"
    ("sms", "hay basura tirada en el baldío de la calle Pino Suárez 230 casi esquina con Madero", ""),
    ("whatsapp", "hay un bache en Hidalgo 100 col. Centro", "bache"),
    ("telegram", "hay una lámpara fundida en Juárez 40 col. Centro", "alumbrado"),
])
def test_staff_closing_a_handoff_keeps_the_kept_report(world: World, channel: str, report: str, word: str) -> None:
    chat = world.chat(channel)
    chat.clock = OPEN
    chat.send(report)
    chat.send("quiero hablar con una persona")
    conversation = chat.conversation()
    assert conversation.mode == ConversationMode.HANDOFF and conversation.slots.get("draft")
    with session_scope(world.factory) as session:
        staff_side.reply(session, conversation.id, "Hola, soy Ana. Te regreso con el asistente.", "ana",
                         renderer=world.renderer)
        row = staff_side.close(session, conversation.id, "ana", renderer=world.renderer, catalog=world.catalog)
        body = row.body
    assert "pendiente" in body.lower() or "aun no se envia" in body.lower()
    assert word in body.lower()
    conversation = chat.conversation()
    assert conversation.mode == ConversationMode.BOT and conversation.flow == "report"
    for _ in range(5):
        step = chat.conversation().step
        if chat.conversation().flow != "report":
            break
        chat.send({"confirm": "sí", "category": "1"}.get(step or "", "no tengo"))
    assert len(chat.tickets()) == 1


def test_staff_closing_a_handoff_without_a_report_says_nothing_of_one(world: World) -> None:
    chat = world.chat("sms")
    chat.clock = OPEN
    chat.send("quiero hablar con una persona")
    with session_scope(world.factory) as session:
        body = staff_side.close(session, chat.conversation().id, "ana", renderer=world.renderer,
                                catalog=world.catalog).body
    assert "reporte" not in body.lower() and chat.conversation().flow is None


# --- F3 ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("channel", ["sms", "whatsapp", "telegram"])
def test_after_hours_the_time_out_counts_from_the_next_opening(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.clock = EVENING
    chat.send("quiero hablar con una persona")
    assert "mañana a las 9:00" in chat.text
    timeout = world.catalog.handoff_timeout_minutes
    for later in (timedelta(minutes=timeout + 10), timedelta(hours=5)):  # evening and night: promise kept
        with session_scope(world.factory) as session:
            assert staff_side.expire_handoffs(session, world.catalog, world.renderer, timezone=world.settings.timezone,
                                              now=EVENING + later) == 0
    chat.send("hola? hay alguien", after=timedelta(hours=2))  # reassured with when a person answers, still waiting
    assert "mañana a las 9:00" in chat.text and chat.conversation().mode == ConversationMode.HANDOFF
    opening = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    with session_scope(world.factory) as session:
        assert staff_side.expire_handoffs(session, world.catalog, world.renderer, timezone=world.settings.timezone,
                                          now=opening + timedelta(minutes=timeout - 1)) == 0
        assert staff_side.expire_handoffs(session, world.catalog, world.renderer, timezone=world.settings.timezone,
                                          now=opening + timedelta(minutes=timeout + 1)) == 1
    assert chat.conversation().mode == ConversationMode.BOT


def test_the_time_out_that_straddles_closing_time_goes_on_next_morning(world: World) -> None:
    chat = world.chat("sms")
    chat.clock = datetime(2026, 12, 1, 22, 50, tzinfo=UTC)  # 16:50, ten minutes before closing
    chat.send("quiero hablar con una persona")
    timeout = world.catalog.handoff_timeout_minutes
    with session_scope(world.factory) as session:
        assert staff_side.expire_handoffs(session, world.catalog, world.renderer, timezone=world.settings.timezone,
                                          now=chat.clock + timedelta(minutes=timeout + 1)) == 0
        morning = datetime(2026, 12, 2, 15, 0, tzinfo=UTC) + timedelta(minutes=timeout - 10)
        assert staff_side.expire_handoffs(session, world.catalog, world.renderer, timezone=world.settings.timezone,
                                          now=morning + timedelta(minutes=1)) == 1


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize("question", ["¿Y entonces a quién le hablo? Ya les hablé a la policía y no vienen.",
                                      "Ninguna de esas. Disculpe, no entiendo."])
def test_no_empty_category_and_no_report_she_never_meant(world: World, channel: str, question: str) -> None:
    """F3/F27: words the bot could not place are not "tu reporte"; no "tu reporte de  sigue pendiente"."""
    chat = world.chat(channel)
    chat.clock = OPEN
    chat.send(question)
    chat.send("Quiero hablar con alguien, por favor.")
    conversation = chat.conversation()
    assert conversation.mode == ConversationMode.HANDOFF
    assert "tu reporte" not in chat.text.lower()
    assert not conversation.slots.get("draft")
    chat.send("Hola, ¿hay alguien?", after=timedelta(minutes=world.catalog.handoff_timeout_minutes + 1))
    assert "nadie del equipo" in chat.text.lower()
    assert "reporte de  " not in chat.text and "tu reporte" not in chat.text.lower()


def test_the_templates_never_print_an_empty_category(world: World) -> None:
    for name in ("handoff_timeout", "handoff_left", "handoff_closed"):
        for channel in ("sms", "whatsapp"):
            text = world.renderer.render(name, channel, draft=True, resumed=True, category="", hours="x",
                                         staff_name=None)
            assert "de  " not in text and "reporte de sigue" not in text and "reporte de no" not in text


# --- F25 --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize("first", ["ya no me manden mensajes porfa", "quiero darme de baja"])
def test_baja_with_a_report_being_written_says_it_was_not_filed(world: World, channel: str, first: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache en Hidalgo 100 col. Centro")
    assert chat.conversation().flow == "report"
    chat.send(first)
    offer = chat.text.lower()
    assert "bache" in offer and ("no se envia" in offer or "no se envía" in offer)
    assert "siguen" not in offer  # no filed reports to speak of
    assert chat.conversation().flow == "report"  # the offer keeps the step
    chat.send("baja")
    text = chat.text.lower()
    assert "no se envi" in text and "bache" in text and "siguen" not in text
    assert chat.tickets() == []


def test_baja_with_filed_reports_still_says_they_go_on(world: World) -> None:
    chat = world.chat("sms")
    with world.factory() as session, session.begin():
        identity = get_or_create_identity(session, chat.channel, chat.external_id)
        world.service(session).create(category="pothole", description="bache", channel="sms", actor="system",
                                      address="calle Hidalgo 120", reporter_identity=identity)
    chat.send("baja")
    assert "siguen" in chat.text.lower() and "no se envio" not in chat.text.lower()
