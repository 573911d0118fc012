"""Walk 13 faults of the report flow, checked on what is stored: chatter and descriptions at the place question
are never the place (F8), two or three problems in one message each get their own place and words (F6, F11,
F32), a place given at "Corregir" replaces the old one (F7), casual yeses, questions and typos at the summary
(F5, F20), words after "no" at the photo step (F12), the required-photo reminder (F21) and place details (F26).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.dialogue.conftest import Chat, World
from tests.dialogue.test_addresses import finish
from ticketing.models import ConversationMode

pytestmark = pytest.mark.sqlite_only

CHANNELS = ["sms", "whatsapp", "telegram"]


def _slots(chat: Chat) -> dict:
    return chat.conversation().slots


def _place(chat: Chat) -> dict:
    slots = _slots(chat)
    return {k: slots.get(k) for k in ("address", "colonia", "landmark")}


# --- F8: descriptions and chatter at the place question --------------------------------------------------------

DESCRIPTIONS = [
    ("ay un perro muerto tirado", "desde el sabado esta ahi y ya apesta bien feo"),
    ("hay un bache", "es bien grande como de un metro y ya se han ponchado varias llantas"),
    ("hay una lampara fundida", "ya tiene mucho asi y en la noche no se ve nada"),
    ("hay basura tirada", "la gente la tira cada noche y ya huele muy feo"),
]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("first, words", DESCRIPTIONS, ids=[w for _, w in DESCRIPTIONS])
def test_a_description_at_the_place_question_joins_the_report_and_the_place_is_asked_again(
        world: World, channel: str, first: str, words: str) -> None:
    chat = world.chat(channel)
    chat.send(first)
    assert chat.conversation().step == "location"
    chat.send(words)
    conv = chat.conversation()
    assert conv.flow == "report" and conv.step == "location", chat.text
    assert _place(chat) == {"address": None, "colonia": None, "landmark": None}
    assert words in conv.slots["description"] and first in conv.slots["description"]
    chat.send("hidalgo 20 col centro")
    finish(chat)
    chat.send("sí")
    ticket = chat.tickets()[-1]
    assert "hidalgo 20" in ticket.address and words in ticket.description


CHATTER_PLACES = [
    ("ya te dije en la juarez!! frente a la tienda de don pepe, col obrera", "la juarez", "col. obrera"),
    ("como te dije, en la morelos, col centro", "la morelos", "col. centro"),
    ("ya les dije que en la allende, col reforma", "la allende", "col. reforma"),
]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, street, colonia", CHATTER_PLACES, ids=[t for t, _, _ in CHATTER_PLACES])
def test_chatter_around_a_place_is_not_the_address(world: World, channel: str, text: str, street: str,
                                                   colonia: str) -> None:
    chat = world.chat(channel)
    chat.send("hay una coladera destapada")
    chat.send(text)
    place = _place(chat)
    assert place["address"].lower() == street, place
    assert place["colonia"] == colonia
    assert "dije" not in (place["address"] + (place["landmark"] or ""))


# --- F26: place details --------------------------------------------------------------------------------------

DETAILS = [
    ("En la calle Nicolás Bravo, entre Zaragoza e Iturbide, en el barrio de San Juan.",
     ["Nicolás Bravo", "Zaragoza", "Iturbide", "barrio de San Juan"]),
    ("calle Hidalgo entre Morelos e Independencia, barrio de la Cruz",
     ["Hidalgo", "Independencia", "barrio de la Cruz"]),
    ("a 2 cuadras de la clinica del imss sobre la av. juarez", ["a 2 cuadras de la clinica del imss", "juarez"]),
    ("a una cuadra del mercado municipal sobre la calle morelos", ["a una cuadra del mercado", "morelos"]),
]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, pieces", DETAILS, ids=[t for t, _ in DETAILS])
def test_place_details_are_kept(world: World, channel: str, text: str, pieces: list[str]) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache")
    chat.send(text)
    place = " ".join(v for v in _place(chat).values() if v)
    for piece in pieces:
        assert piece.lower() in place.lower(), (piece, place)
    assert "col. de" not in place


# --- F6, F11, F32: several problems in one message -------------------------------------------------------------

def _file_all(chat: Chat, count: int) -> list:
    for _ in range(count):
        assert chat.conversation().flow == "report", chat.text
        if chat.conversation().step in ("location", "location_detail"):
            chat.send("Hidalgo 100 col Centro")
        finish(chat)
        chat.send("sí")
    assert chat.conversation().flow is None, chat.text
    return chat.tickets()[-count:]


TWO_PLACES = [
    ("hay un bache en hidalgo 10 col centro y aparte en la juarez 20 col obrera una lampara fundida",
     [("pothole", "hidalgo 10", "centro"), ("streetlight", "juarez 20", "obrera")]),
    ("hay una fuga de agua en morelos 5 col reforma y tambien un bache en allende 30 col jardines",
     [("water_leak", "morelos 5", "reforma"), ("pothole", "allende 30", "jardines")]),
]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, expected", TWO_PLACES, ids=[t for t, _ in TWO_PLACES])
def test_two_problems_at_two_places_each_get_their_own_place_and_words(world: World, channel: str, text: str,
                                                                      expected: list) -> None:
    chat = world.chat(channel)
    chat.send(text)
    tickets = _file_all(chat, 2)
    for ticket, (code, street, colonia) in zip(tickets, expected, strict=True):
        assert ticket.category_code == code
        assert street in ticket.address and colonia in ticket.address, ticket.address
        other = next(s for c, s, _ in expected if c != code)
        assert other not in ticket.address and other not in ticket.description, (ticket.address, ticket.description)


THREE = [
    ("hola buenas noches, en la calle abasolo 15 col. centro hay un bache, una lampara fundida y un perro muerto, "
     "ya tiene dias todo eso", ["pothole", "streetlight", "stray_animal"]),
    ("en la calle abasolo 15 col centro hay un bache, una fuga de agua y una lampara fundida",
     ["pothole", "water_leak", "streetlight"]),
]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, codes", THREE, ids=[t for t, _ in THREE])
def test_three_problems_in_a_list_are_all_offered_and_filed(world: World, channel: str, text: str,
                                                            codes: list[str]) -> None:
    chat = world.chat(channel)
    chat.send(text)
    assert "tres" in chat.replies[0].text.lower() or "3" in chat.replies[0].text, chat.text
    tickets = _file_all(chat, 3)
    assert [t.category_code for t in tickets] == codes
    assert all("abasolo 15" in (t.address or "") for t in tickets)
    assert "lampara" not in tickets[0].description  # each keeps its own words


FIRST_OWN_WORDS = [
    ("hay una fuga de agua en juarez 70 col centro y aparte la lampara de la esquina esta fundida", "lampara"),
    ("hay un bache en morelos 20 col centro y tambien hay una fuga de agua", "fuga"),
]


@pytest.mark.parametrize("text, other", FIRST_OWN_WORDS, ids=[t for t, _ in FIRST_OWN_WORDS])
def test_the_first_of_two_reports_keeps_only_its_own_words(world: World, text: str, other: str) -> None:
    chat = world.chat("whatsapp")
    chat.send(text)
    first, second = _file_all(chat, 2)
    assert other not in first.description and other in second.description


# --- F7: a new place at "Corregir" replaces the old one ----------------------------------------------------------

NEW_PLACES = [
    ("la ubicacion, es la barda de la secundaria tecnica 5 en la calle guerrero y aldama",
     ["guerrero", "secundaria tecnica 5"]),
    ("es en la calle guerrero y aldama", ["guerrero"]),
    ("el lugar es la barda del mercado en morelos 45 col jardines", ["morelos 45", "jardines", "mercado"]),
]


@pytest.mark.parametrize("channel", ["whatsapp", "telegram"])
@pytest.mark.parametrize("how", ["free text at the fix menu", "at the summary", "Ubicación picked"])
@pytest.mark.parametrize("text, pieces", NEW_PLACES, ids=[t for t, _ in NEW_PLACES])
def test_a_new_place_at_the_fix_menu_replaces_the_whole_old_place(world: World, channel: str, how: str, text: str,
                                                                  pieces: list[str]) -> None:
    chat = world.chat(channel)
    chat.send("en col. centro frente a la oxxo hay grafiti en la barda")
    finish(chat)
    if how != "at the summary":
        chat.send("2")  # Corregir
        assert chat.conversation().step == "fix"
    if how == "Ubicación picked":
        chat.send(payload="fix:location")
    chat.send(text)
    finish(chat)
    place = " ".join(v for v in _place(chat).values() if v).lower()
    for piece in pieces:
        assert piece in place, (piece, place)
    assert "oxxo" not in place and "centro" not in place, place
    chat.send("sí")
    ticket = chat.tickets()[-1]
    stored = " ".join(p for p in (ticket.address, ticket.landmark) if p).lower()
    assert "oxxo" not in stored and "centro" not in stored and pieces[0] in stored


# --- F5, F20: casual yeses, questions and typos at the summary ---------------------------------------------------

def _at_summary(world: World, channel: str) -> Chat:
    chat = world.chat(channel)
    chat.send("hay una coladera sin tapa en av constitucion 1200 col obrera")
    finish(chat)
    assert chat.conversation().step == "confirm"
    return chat


SENDS = ["bueno no, siempre si mandalo xfa", "ntp, mandalo", "noo q lo mandes!!", "siempre si, envialo porfa",
         "ya mandalo pues", "que si lo manden"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", SENDS)
def test_a_send_in_words_at_the_summary_sends_the_report(world: World, channel: str, text: str) -> None:
    chat = _at_summary(world, channel)
    chat.send(text)
    conv = chat.conversation()
    assert conv.flow is None and conv.mode == ConversationMode.BOT, chat.text
    ticket = chat.tickets()[-1]
    assert ticket.folio in chat.text and "constitucion 1200" in ticket.address
    assert text not in ticket.description


HELD = ["no quiero que lo mandes todavia", "mejor no lo mandes", "espera, no lo mandes"]


@pytest.mark.parametrize("text", HELD)
def test_a_send_taken_back_is_never_sent(world: World, text: str) -> None:
    chat = _at_summary(world, "whatsapp")
    chat.send(text)
    assert not chat.tickets(), chat.text


@pytest.mark.parametrize("channel", CHANNELS)
def test_second_thoughts_then_a_send_keep_the_report(world: World, channel: str) -> None:
    chat = _at_summary(world, channel)
    chat.send("mmm sabes q mejor no, ya le pusieron una tabla los vecinos")
    conv = chat.conversation()
    assert conv.flow == "report" and conv.mode == ConversationMode.BOT and "constitucion 1200" in conv.slots["address"]
    assert any(b.title == "Cancelar" for r in chat.replies for b in r.buttons), chat.replies
    chat.send("bueno no, siempre si mandalo xfa")
    assert chat.conversation().flow is None and "constitucion 1200" in chat.tickets()[-1].address


QUESTIONS = ["oye y cuanto tiempo se tardan en llevarselo?", "¿cuánto se tardan?", "y cuando vienen a verlo?",
             "cuantos dias tardan en arreglarlo"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", QUESTIONS)
def test_a_question_at_the_summary_is_answered_and_the_summary_shown_again(world: World, channel: str,
                                                                          text: str) -> None:
    chat = _at_summary(world, channel)
    sla = world.catalog.category(chat.conversation().slots["category"]).sla_text()
    chat.send(text)
    conv = chat.conversation()
    assert conv.flow == "report" and conv.step == "confirm" and conv.mode == ConversationMode.BOT
    assert sla in chat.text and "entend" not in chat.text.lower(), chat.text
    assert "constitucion 1200" in conv.slots["address"] and not chat.tickets()
    chat.send("sí")
    assert chat.tickets()[-1].description == "hay una coladera sin tapa en av constitucion 1200 col obrera"


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["canselar", "canselalo", "cancelalo porfa"])
def test_cancel_misspelt_cancels(world: World, channel: str, text: str) -> None:
    chat = _at_summary(world, channel)
    chat.send(text)
    assert chat.conversation().flow is None and not chat.tickets(), chat.text


# --- F12: words after a leading "no" at the photo step -----------------------------------------------------------

AFTER_NO = [
    "no pz no tengo foto, el arbol esta tapando el paso",
    "no, no tengo, pero el arbol esta tapando el paso",
    "no pz lo reporte por telefono, no tengo el folio. el arbol sigue ahi tirado tapando el paso",
    "nel, sin foto. ya esta tapando el paso y nadie lo quita",
]


@pytest.mark.parametrize("channel", ["whatsapp", "telegram"])
@pytest.mark.parametrize("text", AFTER_NO)
def test_words_after_no_at_the_photo_step_are_kept_and_make_it_urgent(world: World, channel: str, text: str) -> None:
    chat = world.chat(channel)
    chat.send("se cayo un arbol en la calle hidalgo 20 col centro")
    assert chat.conversation().step == "photo", chat.text
    chat.send(text)
    assert "tapando el paso" in _slots(chat)["description"], _slots(chat)
    finish(chat)
    chat.send("sí")
    ticket = chat.tickets()[-1]
    hours = world.catalog.category("tree").urgent_sla_hours
    assert "tapando el paso" in ticket.description and ticket.category_code == "tree"
    assert ticket.due_at - ticket.created_at <= timedelta(hours=hours, minutes=1)  # urgent: the shorter time


@pytest.mark.parametrize("text", ["no", "no tengo", "no tengo foto", "no tngo foto xq es de noche", "sin foto"])
def test_a_bare_no_photo_adds_nothing(world: World, text: str) -> None:
    chat = world.chat("whatsapp")
    chat.send("se cayo un arbol en la calle hidalgo 20 col centro")
    chat.send(text)
    assert _slots(chat)["description"] == "se cayo un arbol en la calle hidalgo 20 col centro"


# --- F21: the required-photo reminder after a "no tengo" -------------------------------------------------------

@pytest.mark.parametrize("channel", ["whatsapp", "telegram"])
@pytest.mark.parametrize("text", ["no tngo foto xq es de noche", "no tengo", "sin foto", "no"])
def test_the_required_photo_reminder_never_asks_for_the_no_already_given(world: World, channel: str,
                                                                         text: str) -> None:
    chat = world.chat(channel)
    chat.send("hay grafiti en la barda de hidalgo 20 col centro")
    assert chat.conversation().step == "photo"
    chat.send(text)
    assert "importante" in chat.text and '"no tengo"' not in chat.text, chat.text
    chat.send("continuar")
    finish(chat)
    chat.send("sí")
    assert chat.tickets()[-1].category_code == "graffiti"


def test_the_required_photo_reminder_after_other_words_says_how_to_go_on(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay grafiti en la barda de hidalgo 20 col centro")
    chat.send("es una pinta muy grande")
    assert '"no tengo"' in chat.text


LANDMARK_ENDS = [("en col. centro frente a la oxxo hay grafiti en la barda", "frente a la oxxo"),
                 ("hay un bache frente al oxxo de la calle morelos 120", "frente al oxxo")]


@pytest.mark.parametrize("text, landmark", LANDMARK_ENDS, ids=[t for t, _ in LANDMARK_ENDS])
def test_a_landmark_ends_where_the_landmark_ends(world: World, text: str, landmark: str) -> None:
    chat = world.chat("whatsapp")
    chat.send(text)
    assert (_slots(chat).get("landmark") or "").lower() == landmark, _slots(chat)
