"""A status question or news of a fix about a problem, in words, with no flow waiting (round 12 of the NLU,
``Parse.about``): answered with the citizen's own report of that kind, never filed again as a new report."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.dialogue.conftest import World
from tests.dialogue.test_notices import CHANNELS, _closing, reported, staff, status_of
from ticketing.models import Ticket, TicketEvent, TicketStatus


def _events(world: World, folio: str) -> list[TicketEvent]:
    with world.factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.folio == folio)).one()
        return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                    .order_by(TicketEvent.id)))


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["¿ya taparon el bache?", "ya taparon el bache o todavía no?",
                                  "¿cuándo van a venir a tapar el bache?", "qué pasó con lo del bache"])
def test_a_status_question_about_the_problem_shows_the_report(world: World, channel: str, text: str) -> None:
    chat, folio = reported(world, channel)
    chat.send("hola")  # the conversation moved on
    chat.send(text)
    assert folio in chat.text and chat.conversation().flow is None
    assert len(chat.tickets()) == 1  # not filed again


def test_when_it_will_be_fixed_somewhere_else_is_a_new_report(world: World) -> None:
    chat, folio = reported(world, "whatsapp")
    chat.send("¿cuándo van a venir a tapar el bache de la calle Juárez 45?")
    assert folio not in chat.text
    assert chat.conversation().flow == "report" and chat.conversation().slots["category"] == "pothole"


def test_a_status_question_of_another_kind_is_not_this_report(world: World) -> None:
    chat, folio = reported(world, "whatsapp")
    chat.send("¿ya arreglaron la lámpara?")
    assert folio not in chat.text and "No encuentro un reporte tuyo de" in chat.text
    assert chat.conversation().flow == "report" and chat.conversation().slots["category"] == "streetlight"


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_status_question_with_no_report_of_that_kind_is_filed_after_saying_so(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("¿ya taparon el bache?")
    assert "No encuentro un reporte tuyo de bache" in chat.text
    conversation = chat.conversation()
    assert conversation.flow == "report" and conversation.slots["category"] == "pothole"
    assert chat.tickets() == []  # nothing filed until the citizen confirms


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["ya quedó el bache", "ya taparon el bache, gracias",
                                  "ya vinieron y taparon el bache"])
def test_news_of_the_fix_is_noted_on_the_open_report(world: World, channel: str, text: str) -> None:
    chat, folio = reported(world, channel)
    chat.send("hola")
    chat.send(text)
    assert folio in chat.text and chat.conversation().flow is None
    assert status_of(world, folio).is_open  # the department checks and closes it
    notes = [e for e in _events(world, folio) if e.kind == "note"]
    assert [(n.internal_note, n.actor.startswith("citizen:")) for n in notes] == [(text, True)]
    assert len(chat.tickets()) == 1


def test_news_of_a_fix_with_no_report_is_thanked_and_files_nothing(world: World) -> None:
    chat = world.chat("sms")
    chat.send("ya prendió la lámpara")
    assert "Gracias por avisar" in chat.text and chat.conversation().flow is None and chat.tickets() == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_news_of_the_fix_after_a_not_found_notice_does_not_reopen(world: World, channel: str) -> None:
    chat, folio = reported(world, channel)
    staff(world, folio, _closing("no_problem_found"))
    assert chat.conversation().flow == "followup"
    chat.send("ya quedó el bache")
    assert status_of(world, folio).status == TicketStatus.NOT_RESOLVED and chat.conversation().flow is None


def test_a_report_that_only_mentions_an_earlier_report_elsewhere_is_filed(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("el árbol que reporté sigue tirado en la calle Morelos 40 col Centro")
    assert chat.conversation().flow == "report" and chat.conversation().slots["category"] == "tree"


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_complaint_that_it_is_still_not_fixed_is_noted_on_the_report(world: World, channel: str) -> None:
    chat, folio = reported(world, channel)
    chat.send("hola")
    text = "siguen sin tapar el bache, ya se cayó otro señor en bici"
    chat.send(text)
    assert folio in chat.text and chat.conversation().flow is None and len(chat.tickets()) == 1
    assert [e.internal_note for e in _events(world, folio) if e.kind == "note"] == [text]


def test_a_short_question_about_that_thing_shows_the_report(world: World) -> None:
    chat, folio = reported(world, "whatsapp")
    chat.send("oiga y lo del bache??")
    assert folio in chat.text and chat.conversation().flow is None and len(chat.tickets()) == 1


def test_a_question_read_as_a_neighbouring_category_finds_the_report(world: World) -> None:
    """ "¿y lo de la basura?" reads as street cleaning (0.78); the citizen's report is garbage collection."""
    chat, folio = reported(world, "sms", "no pasó la basura en Juárez 45 col Centro")
    assert chat.tickets()[0].category_code == "garbage_collection"
    chat.send("oigan y lo de la basura??")
    assert folio in chat.text and chat.conversation().flow is None and len(chat.tickets()) == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_complaint_right_after_the_report_was_shown_is_noted_on_it(world: World, channel: str) -> None:
    """Walkthrough: "oiga y lo del bache??" showed the report, then "nadie ha venido y ya pasó una semana" got "no te
    entendí"."""
    chat, folio = reported(world, channel)
    chat.send("oiga y lo del bache??")
    assert folio in chat.text
    chat.send("nadie ha venido y ya pasó una semana")
    assert folio in chat.text and "no te entend" not in chat.text.lower()
    assert [e.internal_note for e in _events(world, folio) if e.kind == "note"] == [
        "nadie ha venido y ya pasó una semana"]
    chat.send("nadie ha venido")  # once: the next message is read afresh
    assert [e.kind for e in _events(world, folio)].count("note") == 1


def test_a_new_problem_after_the_report_was_shown_is_a_new_report(world: World) -> None:
    chat, folio = reported(world, "whatsapp")
    chat.send("¿ya taparon el bache?")
    chat.send("todavía hay una lámpara fundida en la esquina")
    assert chat.conversation().flow == "report" and chat.conversation().slots["category"] == "streetlight"
    assert not [e for e in _events(world, folio) if e.kind == "note"]
