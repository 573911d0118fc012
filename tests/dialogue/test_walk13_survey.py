"""Walkthrough 13, the survey's answers: "sí, pero … (a defect)" is not fixed (F14); the 1–5 rating read from the
words around it (F18)."""

from __future__ import annotations

import pytest

from dialogue.flows.survey import read_rating
from dialogue.survey import begin_survey
from tests.dialogue.conftest import Chat, World
from ticketing.citizens import get_or_create_identity
from ticketing.models import Ticket, TicketStatus

pytestmark = pytest.mark.sqlite_only


def _asked(world: World, chat: Chat) -> str:
    with world.factory() as session, session.begin():
        identity = get_or_create_identity(session, chat.channel, chat.external_id)
        svc = world.service(session)
        ticket = svc.create(category="pothole", description="bache", channel=chat.channel, actor="system",
                            address="calle Madero 80", reporter_identity=identity)
        svc.change_status(ticket, "resolved", actor="staff:ana")
        assert begin_survey(session, identity, ticket, world.renderer, catalog=world.catalog) is not None
        return ticket.folio


def _ticket(world: World, folio: str) -> Ticket:
    with world.factory() as session:
        return world.service(session).get(folio)


# --- F14 --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    "si ya lo taparon pero quedo todo disparejo, parece tope",
    "sí ya vinieron pero quedó chueco",
    "ya lo arreglaron pero se hunde cuando pasan los carros",
    "si, pero le faltó tapar la mitad",
    "ya quedó pero está todo desnivelado",
    "sí, pero quedó bien mal",
])
def test_yes_but_a_defect_reopens_with_the_words(world: World, answer: str) -> None:
    chat = world.chat("whatsapp")
    folio = _asked(world, chat)
    chat.send(answer)
    ticket = _ticket(world, folio)
    assert ticket.status != TicketStatus.CLOSED and ticket.confirmation != "confirmed"
    assert ticket.reopen_count == 1 and "Reabrimos" in chat.text


@pytest.mark.parametrize("answer", ["sí ya quedó, pero tardaron mucho", "quedó bien pero se tardaron", "sí"])
def test_yes_with_a_complaint_about_time_still_closes(world: World, answer: str) -> None:
    chat = world.chat("whatsapp")
    folio = _asked(world, chat)
    chat.send(answer)
    assert _ticket(world, folio).confirmation == "confirmed"


# --- F18 --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "score"), [
    ("un 5 jeje muy rapidos", 5), ("2, xq quedo mal", 2), ("cinco", 5), ("le pongo un 4", 4), ("5/5", 5),
    ("un 3 de 5", 3), ("le doy un 10 jaja", 10), ("muy bien gracias", None), ("3 o 4", None),
])
def test_read_rating(text: str, score: int | None) -> None:
    from dialogue.text import fold

    assert read_rating(fold(text)) == score


@pytest.mark.parametrize("channel", ["sms", "whatsapp", "telegram"])
@pytest.mark.parametrize(("text", "score"), [
    ("un 5 jeje muy rapidos", 5), ("2, xq quedo mal", 2), ("cinco", 5), ("Le doy un 4, tardaron", 4),
])
def test_the_rating_is_read_from_words_around_it(world: World, channel: str, text: str, score: int) -> None:
    chat = world.chat(channel)
    folio = _asked(world, chat)
    chat.send("sí")
    chat.send(text)
    assert _ticket(world, folio).satisfaction == score
    assert "Gracias" in chat.text and chat.conversation().flow is None


@pytest.mark.parametrize("text", ["le doy un 10 jaja", "10", "un diez"])
def test_a_ten_is_the_top_of_the_scale_and_said_so(world: World, text: str) -> None:
    chat = world.chat("whatsapp")
    folio = _asked(world, chat)
    chat.send("sí")
    chat.send(text)
    assert _ticket(world, folio).satisfaction == 5
    assert "del 1 al 5" in chat.text


def test_an_eight_asks_the_scale_once(world: World) -> None:
    chat = world.chat("sms")
    folio = _asked(world, chat)
    chat.send("sí")
    chat.send("un 8")
    assert "1 al 5" in chat.text and _ticket(world, folio).satisfaction is None
    chat.send("4")
    assert _ticket(world, folio).satisfaction == 4
