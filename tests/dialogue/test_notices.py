"""Issue 13 items 2 and 7: every notice that invites an answer is followed by a flow that takes it (reopen with the
citizen's words and photo), a citizen can ask to reopen in words, a status question after a closed-without-fix
notice finds that report; and every status × reason × channel notice says each thing once and carries the
staff's public note.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from dialogue.render import to_gsm7
from dialogue.text import fold
from notifications.updates import ticket_listeners
from tests.dialogue.conftest import Chat, World
from tests.dialogue.test_addresses import finish
from ticketing.db import session_scope
from ticketing.models import OutboxMessage, Ticket, TicketStatus
from ticketing.service import TicketService

CHANNELS = ["sms", "whatsapp", "telegram"]
NOTE = "Recorrimos la calle Hidalgo dos veces y no encontramos el bache."


def reported(world: World, channel: str, text: str = "hay un bache en Hidalgo 100 col Centro") -> tuple[Chat, str]:
    chat = world.chat(channel)
    chat.send(text)
    finish(chat)
    chat.send("sí")
    return chat, chat.tickets()[-1].folio


def staff(world: World, folio: str, change: Callable[[TicketService, Ticket], object]) -> None:
    """A staff change through the ticket service with the real status-update listener (as the CLI does)."""
    with session_scope(world.factory) as session:
        listeners = ticket_listeners(world.settings, world.renderer, world.catalog)
        svc = TicketService(session, world.catalog, timezone=world.settings.timezone, listeners=listeners)
        change(svc, svc.get(folio))


def outbox(world: World) -> list[OutboxMessage]:
    with world.factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def status_of(world: World, folio: str) -> Ticket:
    with world.factory() as session:
        return session.scalars(select(Ticket).where(Ticket.folio == folio)).one()


# --- item 7: every notice says each thing once and carries the staff's note -----------------------------------

def _to_in_progress(svc: TicketService, t: Ticket) -> None:
    svc.change_status(t, "in_progress", actor="staff:ana", public_note=NOTE)


def _closing(reason: str) -> Callable[[TicketService, Ticket], None]:
    def change(svc: TicketService, t: Ticket) -> None:
        if reason == "resolved":
            svc.change_status(t, "resolved", actor="staff:ana", public_note=NOTE)
        else:
            extra = {"referred_to": "Comisión Federal de Electricidad"} if reason == "out_of_jurisdiction" else {}
            svc.change_status(t, "not_resolved", actor="staff:ana", reason=reason, public_note=NOTE, **extra)
    return change


def _scheduled(svc: TicketService, t: Ticket) -> None:
    svc.change_status(t, "in_progress", actor="staff:ana", reason="scheduled", public_note=NOTE,
                      scheduled_for=svc.now() + timedelta(days=3))


def _reopened(svc: TicketService, t: Ticket) -> None:
    svc.change_status(t, "resolved", actor="staff:ana")
    svc.reopen(t, actor="staff:ana", public_note=NOTE)


def _duplicate(svc: TicketService, t: Ticket) -> None:
    original = svc.create(category=t.category_code, description="el mismo", channel="phone", actor="staff:ana",
                          address="Hidalgo 100")
    svc.mark_duplicate(t, original, actor="staff:ana", public_note=NOTE)


CHANGES = {
    "in_progress": _to_in_progress,
    "scheduled": _scheduled,
    "reopened": _reopened,
    **{f"not_resolved:{r}": _closing(r) for r in ("out_of_jurisdiction", "needs_budget", "could_not_locate",
                                                    "private_property", "no_problem_found")},
    "resolved": _closing("resolved"),
    "not_resolved:duplicate": _duplicate,
}
CATEGORIES = ["pothole", "water_leak"]  # a municipal category and a state utility's (referral explanation)


def sentences(text: str) -> list[str]:
    return [s for s in (fold(m).strip() for m in re.split(r"(?<=[.!?])\s+|\n+", text)) if len(s.split()) >= 4]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_notice_says_each_thing_once_with_the_staff_note(world: World, channel: str, category: str,
                                                              change: str) -> None:
    text = {"pothole": "hay un bache en Hidalgo 100 col Centro",
            "water_leak": "hay una fuga de agua en Hidalgo 100 col Centro"}[category]
    chat, folio = reported(world, channel, text)
    assert chat.tickets()[-1].category_code == category
    before = len(outbox(world))
    staff(world, folio, CHANGES[change])
    rows = [r for r in outbox(world)[before:] if r.kind != "reply"]
    assert rows, change
    body = rows[-1].body
    said = sentences(body)
    assert len(said) == len(set(said)), body
    for i, one in enumerate(said):  # nor one sentence inside another ("Ya les enviamos tu reporte.")
        assert not any(i != j and set(one.split()) <= set(other.split()) for j, other in enumerate(said)), body
    words = fold(to_gsm7(NOTE))[:20] if channel == "sms" else fold(NOTE)
    assert words in fold(body), (change, body)


def test_referral_and_budget_notices_of_the_issue_do_not_repeat(world: World) -> None:
    _chat, folio = reported(world, "whatsapp", "hay una fuga de agua en Hidalgo 100 col Centro")
    staff(world, folio, lambda svc, t: svc.change_status(t, "not_resolved", actor="staff:ana",
                                                         reason="out_of_jurisdiction"))
    body = outbox(world)[-1].body
    assert body.count("Ya les enviamos tu reporte") == 1 and "073" in body


# --- item 2: an answer to a notice reopens the report ---------------------------------------------------------

STILL_THERE = ["Sí sigue ahí la basura", "no es cierto, sigue el hoyo enorme", "sigue igual, nadie vino",
               "quiero que lo reabran", "ahí sigue, vengan a verlo"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("answer", STILL_THERE)
def test_an_answer_to_not_found_reopens_with_the_citizens_words(world: World, channel: str, answer: str) -> None:
    chat, folio = reported(world, channel)
    staff(world, folio, _closing("no_problem_found"))
    assert chat.conversation().flow == "followup"
    chat.send(answer)
    ticket = status_of(world, folio)
    assert ticket.status == TicketStatus.ASSIGNED and ticket.reopen_count == 1
    assert folio in chat.text and "Reabrimos" in chat.text
    with world.factory() as session:
        notes = [e.public_note for e in session.get(Ticket, ticket.id).events if e.kind == "reopened"]
    if len(answer.split()) >= 3:
        assert notes == [answer]


@pytest.mark.parametrize("channel", ["whatsapp", "telegram"])
def test_a_photo_in_answer_to_the_notice_is_attached(world: World, channel: str) -> None:
    chat, folio = reported(world, channel)
    staff(world, folio, _closing("private_property"))
    chat.send(None, photo=True)
    ticket = status_of(world, folio)
    assert ticket.status == TicketStatus.ASSIGNED
    with world.factory() as session:
        assert [a.kind for a in session.get(Ticket, ticket.id).attachments] == ["photo"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("answer", ["gracias", "ok", "está bien"])
def test_thanks_to_the_notice_does_not_reopen(world: World, channel: str, answer: str) -> None:
    chat, folio = reported(world, channel)
    staff(world, folio, _closing("no_problem_found"))
    chat.send(answer)
    assert status_of(world, folio).status == TicketStatus.NOT_RESOLVED and chat.conversation().flow is None


def test_a_new_problem_after_the_notice_is_a_new_report(world: World) -> None:
    chat, folio = reported(world, "whatsapp")
    staff(world, folio, _closing("no_problem_found"))
    chat.send("hay una lámpara fundida en Morelos 40")
    assert status_of(world, folio).status == TicketStatus.NOT_RESOLVED
    assert chat.conversation().flow == "report" and chat.conversation().slots["category"] == "streetlight"


@pytest.mark.parametrize("text", ["hay otro bache en Juárez 5 col Centro", "hay un bache en Morelos 40 col Centro"])
def test_another_report_of_the_same_kind_after_the_notice_is_new(world: World, text: str) -> None:
    chat, folio = reported(world, "sms")
    staff(world, folio, _closing("no_problem_found"))
    chat.send(text)
    assert status_of(world, folio).status == TicketStatus.NOT_RESOLVED
    assert chat.conversation().flow == "report"


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["quiero que lo reabran", "reabran mi reporte por favor",
                                  "vuelvan a revisar, no lo arreglaron"])
def test_asking_to_reopen_later_reopens_the_latest_closed_report(world: World, channel: str, text: str) -> None:
    chat, folio = reported(world, channel)
    staff(world, folio, _closing("resolved"))
    chat.send("hola")  # the conversation moved on (no flow waiting)
    chat.send(text)
    assert status_of(world, folio).status == TicketStatus.ASSIGNED and folio in chat.text


@pytest.mark.parametrize("channel", CHANNELS)
def test_asking_to_reopen_with_nothing_closed_says_so(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("quiero que lo reabran")
    assert "No encuentro un reporte" in chat.text


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("question", ["¿cómo va mi reporte?", "qué pasó con mi reporte"])
def test_a_status_question_after_a_needs_budget_notice_finds_the_report(world: World, channel: str,
                                                                        question: str) -> None:
    chat, folio = reported(world, channel)
    staff(world, folio, _closing("needs_budget"))
    chat.send(question)
    assert folio in chat.text and "No tienes reportes" not in chat.text and "presupuesto" in chat.text


@pytest.mark.parametrize("channel", CHANNELS)
def test_could_not_locate_shows_the_staff_note_and_takes_a_better_place(world: World, channel: str) -> None:
    chat, folio = reported(world, channel)
    staff(world, folio, _closing("could_not_locate"))
    request = outbox(world)[-1]
    assert request.kind == "location_request" and fold(to_gsm7(NOTE))[:20] in fold(request.body)
    chat.send("es en Hidalgo 100 frente a la Escuela Primaria Benito Juárez")
    assert status_of(world, folio).status == TicketStatus.ASSIGNED
