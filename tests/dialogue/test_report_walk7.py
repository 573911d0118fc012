"""Walk 7 faults of the report flow, checked on what is stored: a question or a complaint is never the place (A2),
"en el mismo lugar de la otra vez" is the latest report's place (A3), "mejor no, olvídalo" cancels (A5), "sí, pero
es el 45, no el 54" corrects before sending (A6), the place said again never changes the category (B1), and a
request for a person or "no tengo foto" / "ya lo había reportado" at the summary get a sensible answer (D3, D4).
"""

from __future__ import annotations

import pytest

from tests.dialogue.conftest import Chat, World
from tests.dialogue.test_addresses import finish
from ticketing.models import ConversationMode

# One database is enough here: the table exercises the NLU and the dialogue; the store runs on both elsewhere.
pytestmark = pytest.mark.sqlite_only

CHANNELS = ["sms", "whatsapp", "telegram"]


def _place(chat: Chat) -> dict:
    slots = chat.conversation().slots
    return {k: slots.get(k) for k in ("address", "colonia", "landmark")}


def _report(chat: Chat, text: str) -> None:
    """A report filed from one message and the remaining questions."""
    chat.send(text)
    finish(chat)
    chat.send("sí")
    assert chat.conversation().flow is None, chat.text


# --- A2: questions and chatter at the place question ---------------------------------------------------------

CHATTER = ["y cuanto se tardan en venir?", "ya van 3 dias, que poca", "nadie ha venido y ya paso una semana",
           "no tengo foto", "5", "oiga y eso cuanto cuesta"]


@pytest.mark.parametrize("channel", CHANNELS)
def test_questions_and_chatter_are_never_the_place_and_a_colonia_completes_the_landmark(world: World,
                                                                                      channel: str) -> None:
    chat = world.chat(channel)
    chat.send("hay una lampara fundida")
    assert chat.conversation().step == "location"
    for text in CHATTER:
        chat.send(text)
        conv = chat.conversation()
        assert conv.flow == "report" and conv.step == "location", (text, chat.text)
        assert _place(chat) == {"address": None, "colonia": None, "landmark": None}, text
        assert conv.slots["category"] == "streetlight"  # the draft is kept
        assert conv.mode == ConversationMode.BOT, text
    assert "fecha comprometida" in chat.send("y cuanto se tardan en venir?")[0].text.lower()
    assert "3 dias" in chat.conversation().slots["description"]  # the complaint is kept for staff
    chat.send("no se la direccion exacta, es por la escuela primaria benito juarez")
    place = _place(chat)
    assert "escuela primaria benito juarez" in place["landmark"] and place["address"] is None
    chat.send("en la colonia centro")
    place = _place(chat)
    assert "escuela primaria benito juarez" in place["landmark"] and place["colonia"] == "col. centro"
    finish(chat)
    chat.send("sí")
    (ticket,) = chat.tickets()
    assert "escuela primaria benito juarez" in ticket.landmark and "centro" in ticket.address
    assert "cuanto" not in (ticket.address or "") and "foto" not in (ticket.address or "")


# --- A3: the place of an earlier report ----------------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["en el mismo lugar de la otra vez", "la misma que ya les habia reportado",
                                  "ahi mismo, donde el arbol", "donde mismo"])
def test_the_same_place_as_before_is_the_latest_reports_place(world: World, channel: str, text: str) -> None:
    chat = world.chat(channel)
    _report(chat, "hay una lampara fundida en calle pino 14 col bosques")
    (first,) = chat.tickets()
    chat.send("oiga otra vez se fundio la lampara, duro 2 dias")
    assert chat.conversation().step == "location"
    chat.send(text)
    slots = chat.conversation().slots
    assert slots["address"] == first.address and slots["same_place_folio"] == first.folio
    assert first.folio in finish(chat)  # the summary says whose place it is
    chat.send("sí")
    # The first lamp report is still open at that place: it is offered first (the written-place duplicate check).
    assert chat.conversation().step == "duplicate" and first.folio in chat.text
    chat.send("2")  # "No, es otro"
    second = chat.tickets()[-1]
    assert second.id != first.id and second.address == first.address


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_place_detail_question_takes_neither_no_photo_nor_a_stray_number(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache en la colonia centro")
    assert chat.conversation().step == "location_detail"
    for text in ("no tengo foto", "5", "y cuanto se tardan en venir?"):
        chat.send(text)
        conv = chat.conversation()
        assert conv.step == "location_detail", (text, chat.text)
        assert conv.slots.get("address") is None and conv.slots["colonia"] == "col. centro", text
    if channel != "sms":
        assert chat.conversation().slots["photo_state"] == "declined"  # "no tengo foto" is not asked again
    chat.send("en la misma que ya les habia reportado")  # no earlier report: the draft's place is kept
    assert chat.conversation().step in ("description", "confirm") and _place(chat)["colonia"] == "col. centro"


# --- A5: dropping the report -----------------------------------------------------------------------------------

DROPS = ["mejor no, olvidalo", "ya no, olvídalo", "mejor no lo mandes", "ya no quiero reportarlo"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", DROPS)
@pytest.mark.parametrize("first", ["hay un bache enorme", "hay un bache en hidalgo 40 col centro"])
def test_drop_words_cancel_at_any_step(world: World, channel: str, text: str, first: str) -> None:
    chat = world.chat(channel)
    chat.send(first)
    chat.send(text)
    conv = chat.conversation()
    assert conv.flow is None and not chat.tickets(), chat.text
    assert "cancel" in chat.replies[0].text.lower()


@pytest.mark.parametrize("text", DROPS)
def test_drop_words_at_the_summary_cancel(world: World, text: str) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache en hidalgo 40 col centro")
    finish(chat)
    chat.send(text)
    assert chat.conversation().flow is None and not chat.tickets()


# --- A6: a yes with a correction -------------------------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["si pero es el 45 no el 54, me equivoque", "sí, pero no es el 54, es el 45",
                                  "si nada mas que el numero es 45", "no es el 54 sino el 45"])
def test_a_yes_with_a_corrected_number_shows_the_summary_again(world: World, channel: str, text: str) -> None:
    chat = world.chat(channel)
    chat.send("fuga de agua en calle roble 54 col. jardines")
    finish(chat)
    chat.send(text)
    conv = chat.conversation()
    assert conv.step == "confirm" and not chat.tickets(), chat.text
    assert conv.slots["address"] == "calle roble 45"
    assert "roble 45" in chat.replies[-1].text
    chat.send("sí")
    (ticket,) = chat.tickets()
    assert "roble 45" in ticket.address and "54" not in ticket.address


@pytest.mark.parametrize("text", ["si pero la foto la mando luego", "ok pero falta algo"])
def test_a_yes_with_an_unread_correction_is_not_sent(world: World, text: str) -> None:
    chat = world.chat("whatsapp")
    chat.send("fuga de agua en calle roble 54 col. jardines")
    finish(chat)
    chat.send(text)
    assert not chat.tickets() and chat.conversation().step == "fix"
    assert chat.conversation().slots["category"] == "water_leak"


def test_a_number_the_address_does_not_hold_changes_nothing_but_the_detail(world: World) -> None:
    chat = world.chat("sms")
    chat.send("hay un bache en hidalgo 40 col centro")
    finish(chat)
    chat.send("si pero no es el 54, es el 45")
    slots = chat.conversation().slots
    assert slots["category"] == "pothole" and slots["address"] == "hidalgo 40" and "54" in slots["description"]
    assert not chat.tickets() and chat.conversation().step == "fix"


# --- B1: the place again at the summary -----------------------------------------------------------------------

LEAK = ("si bueno mire le hablo porque aqui en la colonia el refugio pues hay una fuga de agua potable que ya lleva "
        "como dos semanas tirando agua limpia en la calle y pues nosotros aqui sin agua en las casas y ya le hablamos "
        "al sistema de agua y nada entonces quisiera saber si ustedes me pueden ayudar es en la calle nogal casi "
        "esquina con fresno")


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["nogal y fresno", "en nogal y fresno", "nogal esquina con fresno"])
def test_the_place_said_again_never_changes_the_category(world: World, channel: str, text: str) -> None:
    chat = world.chat(channel)
    chat.send(LEAK)
    finish(chat)
    assert chat.conversation().slots["category"] == "water_leak"
    chat.send(text)
    conv = chat.conversation()
    assert conv.step == "confirm" and conv.slots["category"] == "water_leak", chat.text
    assert "nogal" in conv.slots["address"]
    chat.send("sí")
    (ticket,) = chat.tickets()
    assert ticket.category_code == "water_leak" and "nogal" in ticket.address


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_new_category_at_the_summary_is_said(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache en hidalgo 40 col centro")
    finish(chat)
    chat.send("perdon me equivoque, es una fuga de agua")
    assert chat.conversation().slots["category"] == "water_leak"
    assert "corregi" in chat.text.lower().replace("í", "i")


# --- D3, D4: a person, no photo and "ya lo había reportado" ----------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["ya me canse quiero hablar con alguien",
                                  "ya me harté, quiero hablar con una persona"])
def test_a_frustrated_request_for_a_person_is_handed_over(world: World, channel: str, text: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache en hidalgo 40 col centro")
    chat.send(text)
    assert chat.conversation().mode == ConversationMode.HANDOFF, chat.text
    assert "Hablar con una persona" not in chat.text


@pytest.mark.parametrize("channel", ["whatsapp", "telegram"])
@pytest.mark.parametrize("text", ["no tengo foto", "no tengo fotos", "sin foto"])
def test_no_photo_at_the_summary_asks_to_send_again(world: World, channel: str, text: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache en hidalgo 40 col centro")
    finish(chat)
    chat.send(text)
    conv = chat.conversation()
    assert conv.step == "confirm" and conv.slots["photo_state"] == "declined" and not chat.tickets()
    assert [b.payload for b in chat.replies[-1].buttons] == ["yes", "fix", "cancel"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["no eso no es, ya lo habia reportado", "ya lo reporte antes"])
def test_already_reported_at_the_summary_shows_the_report_and_can_drop_the_draft(world: World, channel: str,
                                                                                  text: str) -> None:
    chat = world.chat(channel)
    _report(chat, "hay un bache en hidalgo 40 col centro")
    (first,) = chat.tickets()
    chat.send("hay un bache en juarez 12 col centro")
    finish(chat)
    chat.send(text)
    assert first.folio in chat.text and chat.conversation().step == "confirm"
    chat.send("1")  # Cancelar este
    assert chat.conversation().flow is None and len(chat.tickets()) == 1
