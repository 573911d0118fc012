"""Issue 13 item 1: written addresses keep the street, number, cross streets, colonia and landmark — with or
without commas, "#", "No.", "entre … y …", "esquina", landmarks and misspellings — in the summary the citizen
reads and on the ticket, on SMS, WhatsApp and Telegram. Whole conversations, real NLU, real ticket service.
"""

from __future__ import annotations

import pytest

from dialogue.render import to_gsm7
from dialogue.text import fold
from tests.dialogue.conftest import Chat, World

# One database is enough here: the table exercises the NLU and the dialogue; the store runs on both elsewhere.
pytestmark = pytest.mark.sqlite_only

CHANNELS = ["sms", "whatsapp", "telegram"]

#: (what the citizen answers to "¿Dónde está?", pieces that must all survive in the summary and on the ticket)
LOCATION_ANSWERS = [
    ("Hidalgo 100 col Centro", ["Hidalgo 100", "Centro"]),
    ("hidalgo 100 col centro", ["hidalgo 100", "centro"]),
    ("Hidalgo #100, col. Centro", ["Hidalgo #100", "Centro"]),
    ("Hidalgo No. 100 Col Centro", ["Hidalgo No. 100", "Centro"]),
    ("calle idalgo y juares", ["idalgo", "juares"]),
    ("idalgo y juares", ["idalgo", "juares"]),
    ("Allende 77 entre Ocampo y Abasolo", ["Allende 77", "Ocampo", "Abasolo"]),
    ("allende 77 entre ocampo y abasolo col centro", ["allende 77", "ocampo", "abasolo", "centro"]),
    ("Hidalgo entre Morelos y Allende", ["Hidalgo", "Morelos", "Allende"]),
    ("Morelos esquina Zaragoza", ["Morelos", "Zaragoza"]),
    ("morelos esq con zaragoza", ["morelos", "zaragoza"]),
    ("Pino Suárez 230 casi esquina con Madero", ["Pino Suárez 230", "Madero"]),
    ("Escuela Primaria Benito Juárez, calle Guerrero 500", ["Escuela Primaria Benito Juárez", "Guerrero 500"]),
    ("escuela primaria benito juarez calle guerrero 500", ["escuela primaria benito juarez", "guerrero 500"]),
    ("frente a la iglesia de San José, col. Centro", ["frente a la iglesia de San José", "Centro"]),
    ("av. constitucion 1200 col. obrera, frente a la farmacia",
     ["constitucion 1200", "obrera", "frente a la farmacia"]),
    ("Rio Bravo 200 Col Las Flores", ["Rio Bravo 200", "Las Flores"]),
    ("moreloz 45 colonia centro", ["moreloz 45", "centro"]),
    ("Juarez 120 colonia Centro gracias", ["Juarez 120", "Centro"]),
    ("en la calle 5 de mayo numero 30", ["5 de mayo numero 30"]),
    ("Calle Reforma s/n col. Centro", ["Calle Reforma s/n", "Centro"]),
    ("Las Palmas 34 fracc Los Pinos", ["Las Palmas 34", "Los Pinos"]),
]

#: A whole first message with the problem and the place (no "¿Dónde está?" needed).
FIRST_MESSAGES = [
    ("se cayó un árbol en Hidalgo 12 col Centro tapando el paso", "tree", ["Hidalgo 12", "Centro"], ["tapando"]),
    ("lampara fundida en Morelos 40 entre Juarez y Zaragoza", "streetlight", ["Morelos 40", "Juarez", "Zaragoza"], []),
    ("bache en calle idalgo y juares col centro", "pothole", ["idalgo", "juares", "centro"], []),
    ("hay un bache en Hidalgo 100 gracias", "pothole", ["Hidalgo 100"], ["gracias"]),
    ("retiren el carro abandonado de Juárez 45", "abandoned_vehicle", ["Juárez 45"], []),
    ("bache Morelos 88 colonia Industrial", "pothole", ["Morelos 88", "Industrial"], ["bache"]),
    ("bache en Madero entre Pino Suárez y Zaragoza", "pothole", ["Madero entre Pino Suárez y Zaragoza"], []),
    ("coladera tapada en calle 5 de Mayo esquina con Juárez", "sewer", ["5 de Mayo esquina con Juárez"], []),
    ("hay grafiti en la barda de la Escuela Benito Juárez", "graffiti", ["Escuela Benito Juárez"], []),
    ("vengan a quitar el árbol caído de Hidalgo 20 col Centro", "tree", ["Hidalgo 20", "Centro"], []),
    ("necesito que retiren la basura de Juárez 45", "garbage_collection", ["Juárez 45"], []),
    ("quiten el grafiti de la barda de la calle Zaragoza 30", "graffiti", ["Zaragoza 30"], []),
    ("hay un bache enorme frente al oxxo de la calle morelos 120 col centro", "pothole",
     ["frente al oxxo", "morelos 120", "centro"], []),
]


def _norm(text: str) -> str:
    return fold(to_gsm7(text))


def finish(chat: Chat) -> str:
    """Answer the remaining questions (no photo, no more detail) up to the summary; its text."""
    for _ in range(4):
        step = chat.conversation().step
        if step == "confirm":
            return chat.replies[-1].text
        if step == "photo":
            chat.send("no tengo foto")
        elif step == "description":
            chat.send("omitir")
        else:
            raise AssertionError(f"stuck at step {step!r}: {chat.text}")
    raise AssertionError(chat.text)


def _check(chat: Chat, pieces: list[str], summary: str, lost: list[str] = ()) -> None:
    for piece in pieces:
        assert _norm(piece) in _norm(summary), (piece, summary)
    chat.send("sí")
    ticket = chat.tickets()[-1]
    place = " ".join(p for p in (ticket.address, ticket.landmark) if p)
    for piece in pieces:
        assert _norm(piece) in _norm(place), (piece, place)
    for word in lost:
        assert _norm(word) not in _norm(place), (word, place)
    assert ticket.folio in chat.text


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("answer, pieces", LOCATION_ANSWERS, ids=[a for a, _ in LOCATION_ANSWERS])
def test_a_written_place_keeps_every_part(world: World, channel: str, answer: str, pieces: list[str]) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache")
    assert chat.conversation().step == "location"
    chat.send(answer)
    assert chat.conversation().step in ("photo", "confirm"), chat.text  # precise enough: no second question
    _check(chat, pieces, finish(chat))


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, category, pieces, lost", FIRST_MESSAGES, ids=[t for t, *_ in FIRST_MESSAGES])
def test_a_report_in_one_message_keeps_its_place(world: World, channel: str, text: str, category: str,
                                                 pieces: list[str], lost: list[str]) -> None:
    chat = world.chat(channel)
    chat.send(text)
    summary = finish(chat)
    assert chat.conversation().slots["category"] == category
    _check(chat, pieces, summary, lost)


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_vague_place_gets_one_follow_up_and_both_answers_are_kept(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("no pasó la basura")
    chat.send("colonia Las Flores")
    assert chat.conversation().step == "location_detail"
    chat.send("Pinos esquina con Cedros")
    _check(chat, ["Las Flores", "Pinos esquina con Cedros"], finish(chat))


def test_counts_and_names_are_not_house_numbers(world: World) -> None:
    chat = world.chat("sms")
    chat.send("Reporte 2 lámparas fundidas")
    assert not (chat.conversation().slots.get("address") or "")


@pytest.mark.parametrize("answer", ["1", "2.", "#3"])
def test_a_bare_number_is_not_a_place(world: World, answer: str) -> None:
    # An answer to an older menu ("1") at "¿Dónde está?" was filed as the address ("Bache en 1").
    chat = world.chat("whatsapp")
    chat.send("hay un pozote en la calle")
    assert chat.conversation().step == "location"
    replies = chat.send(answer)
    assert chat.conversation().step == "location" and not chat.conversation().slots.get("address")
    assert "Dónde" in replies[-1].text
    chat.send("Reforma 120 col Centro")
    assert chat.conversation().slots.get("address")
