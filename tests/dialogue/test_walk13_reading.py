"""Walkthrough 13, reading the message: whole conversations for the faults of nlu/ and the dialogue's reading
(F9 a place clause taken as a category correction, F10 one garbage problem split in two, F16 "se volvió a abrir",
F17 news of a fix with thanks, F19/F4 asking for a person or for the question again, F15 replies to notices,
F29 messages with no words)."""

from __future__ import annotations

import pytest

from tests.dialogue.conftest import Chat, World
from tests.dialogue.test_notices import CHANNELS, _closing, _duplicate, reported, staff, status_of
from ticketing.models import ConversationMode, Ticket
from ticketing.service import TicketService

pytestmark = pytest.mark.sqlite_only


def _resolved(svc: TicketService, t: Ticket) -> None:
    svc.change_status(t, "resolved", actor="staff:ana")


# --- F9: a correction needs a category named -------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "es en toda la colonia no es una sola calle",
    "no es una sola casa, es toda la cuadra",
    "no es nomas mi calle, es en toda la colonia",
])
def test_a_place_clause_is_no_category_correction(world: World, text: str) -> None:
    chat = world.chat("whatsapp")
    chat.send("no tenemos agua desde antier en toda la colonia las palmas")
    assert chat.conversation().slots["category"] == "water_leak"
    chat.send(text)
    assert "corregí el tipo" not in chat.text.lower()
    assert chat.conversation().slots["category"] == "water_leak"


@pytest.mark.parametrize("text, category", [
    ("ah no perdon no es bache, es una coladera sin tapa", "sewer"),
    ("me equivoqué, no es un bache, es la luminaria que no prende", "streetlight"),
])
def test_a_correction_naming_a_category_still_corrects(world: World, text: str, category: str) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache en Hidalgo 100 col Centro")
    chat.send(text)
    assert chat.conversation().slots["category"] == category


# --- F10: the garbage and why it is there are one report -------------------------------------------------------

@pytest.mark.parametrize("text", [
    "buenas, en la calle 5 de mayo numero 30 hay basura acumulada, no paso el camion",
    "hay basura acumulada y no paso el camion en hidalgo 20 col centro",
    "en hidalgo 20 col centro hay basura acumulada, el camion no ha pasado",
])
def test_garbage_left_because_the_truck_did_not_come_is_one_report(world: World, text: str) -> None:
    chat = world.chat("telegram")
    chat.send(text)
    slots = chat.conversation().slots
    assert "dos problemas" not in chat.text.lower()
    assert slots["category"] == "garbage_collection" and not slots.get("queued")


def test_two_different_problems_are_still_two(world: World) -> None:
    chat = world.chat("telegram")
    chat.send("hay un bache y la lampara esta fundida en hidalgo 20 col centro")
    slots = chat.conversation().slots
    assert slots["category"] == "pothole" and slots.get("queued")


# --- F16: the problem came back ---------------------------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", [
    "oye el bache q taparon ya se volvio a abrir con la lluvia, esta peor q antes",
    "ya se volvió a hacer el hoyo",
    "otra vez está igual",
])
def test_the_problem_back_again_reopens_the_report(world: World, channel: str, text: str) -> None:
    chat, folio = reported(world, channel)
    staff(world, folio, _resolved)
    chat.send(text)
    assert "Reabrimos el folio" in chat.text and folio in chat.text
    assert status_of(world, folio).status == "assigned"
    assert len(chat.tickets()) == 1 and chat.conversation().flow != "report"


def test_back_again_somewhere_else_is_a_new_report(world: World) -> None:
    chat, folio = reported(world, "whatsapp")
    staff(world, folio, _resolved)
    chat.send("se volvió a hacer un hoyo en otra calle, en juarez 8 col obrera")
    assert status_of(world, folio).status == "resolved"
    assert chat.conversation().flow == "report"


@pytest.mark.parametrize("words", ["quiero que reabran el folio {folio}", "reabran el {folio} porfa"])
def test_a_reopen_request_in_the_middle_of_a_report_reopens_and_keeps_the_report(world: World, words: str) -> None:
    chat, folio = reported(world, "sms")
    staff(world, folio, _resolved)
    chat.send("hay una lampara fundida en juarez 5 col centro")
    assert chat.conversation().flow == "report"
    chat.send(words.format(folio=folio))
    assert "Reabrimos el folio" in chat.text
    assert status_of(world, folio).status == "assigned"
    conversation = chat.conversation()
    assert conversation.flow == "report" and conversation.slots["category"] == "streetlight"


# --- F17: news of a fix with thanks ----------------------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["oigan ya prendio la lampara, gracias!!", "ya quedó la luz, gracias",
                                  "ya prendió el foco, muchas gracias"])
def test_news_of_the_fix_with_thanks_is_noted_not_reported(world: World, channel: str, text: str) -> None:
    chat, folio = reported(world, channel, "hay una lampara fundida en juarez 40 col centro")
    chat.send(text)
    assert folio in chat.text and chat.conversation().flow is None
    assert len(chat.tickets()) == 1


def test_denying_another_report_does_not_loop(world: World) -> None:
    chat, _folio = reported(world, "whatsapp", "hay una lampara fundida en juarez 40 col centro")
    chat.send("no no, ya se arreglo la q reporte, no es otra")
    assert "en qué calle" not in chat.text and chat.conversation().flow is None


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["no no, ya se arreglo la q reporte, no es otra", "es la misma que ya reporte",
                                  "la que les reporte ya quedo, no es otra"])
def test_not_another_report_in_the_middle_of_one_drops_it(world: World, channel: str, text: str) -> None:
    chat, folio = reported(world, channel, "hay una lampara fundida en juarez 40 col centro")
    chat.send("hay una lampara fundida")
    assert chat.conversation().flow == "report"
    chat.send(text)
    assert folio in chat.text and chat.conversation().flow is None
    assert len(chat.tickets()) == 1


# --- F19 / F4: a person asked for in a sentence, the question asked again, leaving a handoff ------------------

@pytest.mark.parametrize("text", ["no me pasas con un asesor porfa, es q tengo otra duda",
                                  "¿me pasas con una persona?", "quiero hablar con un asesor por favor"])
def test_a_person_asked_for_in_a_sentence_is_a_handoff(world: World, text: str) -> None:
    chat = world.chat("sms")
    chat.send("hay basura tirada en el baldio de la calle pino suarez 230 casi esquina con madero")
    chat.send(text)
    assert chat.conversation().mode == ConversationMode.HANDOFF


@pytest.mark.parametrize("text", ["el semaforo de hidalgo y juarez no sirve y ni pasa un agente de transito",
                                  "no quiero que venga una persona a tocar, solo que tapen el bache de hidalgo 5"])
def test_a_person_named_in_a_report_is_no_handoff(world: World, text: str) -> None:
    chat = world.chat("whatsapp")
    chat.send(text)
    assert chat.conversation().mode == ConversationMode.BOT and chat.conversation().flow == "report"


@pytest.mark.parametrize("text", ["perdon me distraje, q me preguntabas?", "¿qué me dijiste?",
                                  "perdón, ¿me repites la pregunta?"])
def test_asking_for_the_question_again_repeats_it(world: World, text: str) -> None:
    chat = world.chat("telegram")
    chat.send("hay grafiti en la barda del mercado")
    step = chat.conversation().step
    chat.send(text)
    conversation = chat.conversation()
    assert conversation.mode == ConversationMode.BOT and conversation.step == step
    assert "te lo repito" in chat.text


def _handed_off(world: World, channel: str = "telegram") -> Chat:
    chat = world.chat(channel)
    chat.send("quiero hablar con una persona")
    assert chat.conversation().mode == ConversationMode.HANDOFF
    return chat


@pytest.mark.parametrize("text", ["no no, no quiero persona, solo dime q me preguntaste",
                                  "no quiero hablar con nadie", "no necesito un asesor"])
def test_not_wanting_a_person_leaves_the_handoff(world: World, text: str) -> None:
    chat = _handed_off(world)
    chat.send(text)
    assert chat.replies and chat.conversation().mode == ConversationMode.BOT


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["holaaa?? sigues ahi?", "¿hay alguien?", "bueno??"])
def test_are_you_there_while_waiting_gets_a_reply(world: World, channel: str, text: str) -> None:
    chat = _handed_off(world, channel)
    chat.send(text)
    assert chat.replies and chat.conversation().mode == ConversationMode.HANDOFF


# --- F15: a reply to a notice -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["ni idea, yo nomas pase en el camion", "no se, solo iba pasando"])
def test_not_knowing_the_place_after_a_relocation_request_is_no_report(world: World, text: str) -> None:
    chat, folio = reported(world, "whatsapp")
    staff(world, folio, _closing("could_not_locate"))
    chat.send(text)
    assert folio in chat.text and chat.conversation().flow is None
    assert len(chat.tickets()) == 1 and chat.conversation().mode == ConversationMode.BOT


@pytest.mark.parametrize("change, text", [
    ("duplicate", "como q duplicado? la mia es en av juarez cerca del imss, no es la misma"),
    ("out_of_jurisdiction", "¿Y entonces a quién le hablo? Ya les hablé a la policía y no vienen."),
    ("out_of_jurisdiction", "y ahora que hago"),
])
def test_a_question_about_a_notice_goes_to_a_person(world: World, change: str, text: str) -> None:
    chat, folio = reported(world, "sms")
    staff(world, folio, _duplicate if change == "duplicate" else _closing(change))
    chat.send(text)
    assert folio in chat.text and len(chat.tickets()) == (2 if change == "duplicate" else 1)
    assert chat.conversation().mode == ConversationMode.HANDOFF


@pytest.mark.parametrize("change", ["out_of_jurisdiction", "duplicate"])
def test_a_new_report_naming_its_problem_after_a_notice_is_a_report(world: World, change: str) -> None:
    chat, folio = reported(world, "whatsapp")
    staff(world, folio, _duplicate if change == "duplicate" else _closing(change))
    chat.send("hay una lampara fundida en juarez 5 col centro")
    assert chat.conversation().flow == "report" and chat.conversation().slots["category"] == "streetlight"


# --- F29: no words -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("junk", ["...", "\u200b", "…", "??"])
def test_messages_without_words_never_hand_off(world: World, junk: str) -> None:
    chat = world.chat("whatsapp")
    chat.send("hola")
    for _ in range(3):
        chat.send(junk)
        assert chat.replies
    assert chat.conversation().mode == ConversationMode.BOT
