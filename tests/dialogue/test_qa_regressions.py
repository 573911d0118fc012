"""Regressions found by talking to the bot as a citizen (terminal simulator); each drives the real engine, NLU
parser and ticket service on both databases."""

from __future__ import annotations

import pytest

from tests.dialogue.conftest import World

# One database is enough here: the table exercises the NLU and the dialogue; the store runs on both elsewhere.
pytestmark = pytest.mark.sqlite_only

REPORT = "hay un bache enorme frente al oxxo de la calle morelos 120 col centro"


@pytest.mark.parametrize("decline", ["no tengo foto", "no tengo", "sin foto", "no", "ahorita no", "no puedo",
                                     "después"])
def test_photo_declines_are_accepted_at_the_photo_step(world: World, decline: str) -> None:
    # Seen: "no tengo foto" read as the NLU's `help` → the help text plus "Sigo esperando la foto".
    chat = world.chat("whatsapp")
    chat.send(REPORT)
    assert chat.conversation().step == "photo"
    replies = chat.send(decline)
    assert "Puedo hacer esto" not in chat.text and "Sigo esperando" not in chat.text
    conversation = chat.conversation()
    assert conversation.step == "confirm" and "Revisa tu reporte" in replies[-1].text
    assert conversation.slots["description"] == REPORT  # the decline is not part of the report


def test_help_is_a_command_only_as_an_exact_word(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send(REPORT)
    replies = chat.send("ayuda")
    assert "Puedo hacer esto" in replies[0].text and chat.conversation().step == "photo"


@pytest.mark.parametrize("yes", ["si", "sí", "ok", "1"])
def test_yes_at_the_photo_step_waits_for_the_photo_and_is_not_appended(world: World, yes: str) -> None:
    # Seen: "si" to "¿Tienes una foto?" became "…col centro si" and the flow went on without the photo.
    chat = world.chat("whatsapp")
    chat.send(REPORT)
    replies = chat.send(yes)
    conversation = chat.conversation()
    if yes == "1":  # the numbered option "No tengo foto"
        assert conversation.step == "confirm"
    else:
        assert conversation.step == "photo" and "mándame la foto" in replies[-1].text
        assert [b.payload for b in replies[-1].buttons] == ["no_photo"]
        chat.send(None, photo=True)
        assert chat.conversation().step == "confirm" and "1 foto" in chat.text
    assert chat.conversation().slots["description"] == REPORT


def test_extra_words_at_the_photo_step_are_kept_once(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send(REPORT)
    chat.send("ya se cayeron dos motos ahí")
    assert chat.conversation().slots["description"] == REPORT + " ya se cayeron dos motos ahí"


@pytest.mark.parametrize("channel", ["whatsapp", "sms"])
def test_landmark_is_kept_in_the_summary_and_on_the_ticket(world: World, channel: str) -> None:
    # Seen: "Lugar: calle morelos 120, col. centro" — "frente al oxxo" was lost.
    chat = world.chat(channel)
    chat.send(REPORT)
    if channel != "sms":
        chat.send("no tengo foto")
    assert "frente al oxxo" in chat.text and "morelos 120" in chat.text
    chat.send("si")
    (ticket,) = chat.tickets()
    assert ticket.landmark == "frente al oxxo" and ticket.address == "calle morelos 120, col. centro"


def test_status_question_at_the_confirmation_keeps_the_report(world: World) -> None:
    # Seen: "¿como va mi reporte?" at the summary silently dropped the unsent report.
    chat = world.chat("whatsapp")
    chat.send(REPORT)
    chat.send("no tengo foto")
    assert chat.conversation().step == "confirm"
    replies = chat.send("¿como va mi reporte?")
    assert "No tienes reportes abiertos" in replies[0].text
    assert "todavía no se ha enviado" in replies[-1].text and replies[-1].buttons[0].payload == "yes"
    conversation = chat.conversation()
    assert (conversation.flow, conversation.step) == ("report", "confirm")
    replies = chat.send("si")
    (ticket,) = chat.tickets()
    assert ticket.folio in replies[-1].text


def test_folio_in_the_middle_of_a_report_is_answered_and_the_report_resumes(world: World) -> None:
    chat = world.chat("sms")
    chat.send("hay basura tirada en el baldio de calle juarez 500 col centro")
    chat.send("si")
    (first,) = chat.tickets()
    chat.send("la luminaria esta fundida")
    assert chat.conversation().step == "location"
    replies = chat.send(f"folio {first.folio}")
    assert f"Folio {first.folio}" in replies[0].text
    assert "sigue pendiente" in replies[1].text and "Donde" in replies[-1].text
    assert chat.conversation().step == "location"
    chat.send("calle hidalgo 30 col centro")
    chat.send("si")
    assert [t.category_code for t in chat.tickets()] == ["illegal_dumping", "streetlight"]


def test_corrections_before_the_summary(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send(REPORT)
    chat.send("no, es en la calle Hidalgo 300")
    slots = chat.conversation().slots
    assert slots["address"] == "calle Hidalgo 300" and not slots.get("landmark")
    chat.send("me equivoqué, es una fuga")
    assert chat.conversation().slots["category"] == "water_leak"


@pytest.mark.parametrize("text", ["quiero reportar algo", "quiero hacer un reporte", "reportar", "tengo una queja",
                                  "quiero poner una queja", "I want to report something"])
def test_wanting_to_report_starts_a_report(world: World, text: str) -> None:
    # Seen: "quiero reportar algo" (NLU: out_of_scope) answered "Eso no lo puedo atender por aquí".
    # Round 5: the NLU's `report_problem` intent (no keyword list in the dialogue).
    chat = world.chat("whatsapp")
    replies = chat.send(text)
    assert "no lo puedo atender" not in chat.text
    assert chat.conversation().step == "category" and len(replies[-1].buttons) == len(world.catalog.categories)


def test_not_knowing_the_place_is_not_taken_as_the_place(world: World) -> None:
    # Seen: "no se" at "¿Dónde está?" stored as the address ("Lugar: no se, cerca de la iglesia").
    chat = world.chat("sms")
    chat.send("hay un bache aqui en la esquina")
    replies = chat.send("no se")
    assert "referencia" in replies[-1].text and chat.conversation().step == "location"
    replies = chat.send("jajaja")
    assert "no te entendi" in replies[0].text.lower() and chat.conversation().step == "location"
    chat.send("frente a la primaria benito juarez col centro")
    slots = chat.conversation().slots
    assert not slots.get("address") and slots["landmark"] == "frente a la primaria benito juarez"
    assert chat.conversation().step == "confirm"


def test_not_knowing_at_the_follow_up_keeps_what_was_said(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache en la calle")
    chat.send("por mi casa")
    assert chat.conversation().step == "location_detail"
    chat.send("no se")
    slots = chat.conversation().slots
    assert slots["address"] == "por mi casa" and chat.conversation().step == "photo"


def test_category_corrected_at_the_summary_does_not_ask_a_declined_photo_again(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("se fundio la luminaria de la calle zaragoza 45 col del valle")
    chat.send("no tengo foto")
    replies = chat.send("me equivoqué, es un semáforo")
    assert chat.conversation().step == "confirm" and "Semáforo" in replies[-1].text


def test_sms_summary_fits_one_segment_by_shortening_the_echoed_words(world: World) -> None:
    from bot.render_options import format_options
    from dialogue.render import sms_segments

    chat = world.chat("sms")
    replies = chat.send("hay un coladera sin tapa en calle 16 de septiembre col centro, ya se cayo un niño")
    assert chat.conversation().step == "confirm"
    full = format_options(replies[-1].text, replies[-1].buttons, "sms")
    assert sms_segments(full) == 1 and "16 de septiembre" in full


def test_handoff_in_the_middle_of_a_report_says_it_was_not_sent(world: World) -> None:
    # Seen: two misunderstood messages at the summary handed the conversation over and the draft vanished unsaid.
    chat = world.chat("whatsapp")
    chat.send("hay un bache en calle juarez 10 col centro")
    chat.send("no tengo")
    chat.send("asdkjh")
    replies = chat.send("qwpoe")
    assert chat.conversation().handoff_reason == "not_understood"
    assert "todavía no se envió" in replies[-1].text and chat.tickets() == []


def test_photo_at_the_category_step_is_acknowledged(world: World) -> None:
    chat = world.chat("telegram")
    chat.send(None, location=(25.68, -100.31))
    replies = chat.send(None, photo=True)
    assert "recibí la foto" in replies[0].text and chat.conversation().step == "category"


def test_folio_with_a_wrong_check_digit_says_a_number_may_be_swapped(world: World) -> None:
    chat = world.chat("sms")
    for typed in ("folio 1234 5678", "12345678"):
        replies = chat.send(typed)
        assert "no es un folio valido" in replies[-1].text and "cambiado" in replies[-1].text


@pytest.mark.parametrize("channel", ["whatsapp", "sms"])
def test_menu_in_the_middle_of_a_report_says_it_was_not_sent(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache en calle juarez 10 col centro")
    replies = chat.send("menú")
    assert "Tu reporte no se envi" in replies[-1].text and replies[-1].buttons[0].payload == "menu:report"
    assert chat.conversation().flow is None


def test_category_corrected_in_words_keeps_the_correction_in_the_description(world: World) -> None:
    # Seen: a water-leak ticket whose only description was "hay un bache".
    chat = world.chat("whatsapp")
    chat.send("hay un bache")
    chat.send("me equivoqué, es una fuga")
    slots = chat.conversation().slots
    assert slots["category"] == "water_leak" and chat.conversation().step == "location"
    assert slots["description"] == "hay un bache. me equivoqué, es una fuga"


def test_cancel_on_sms_is_one_message_with_the_menu(world: World) -> None:
    # Seen: "cancelar" on SMS cost two messages (the confirmation, then the menu).
    chat = world.chat("sms")
    chat.send(REPORT)
    replies = chat.send("cancelar")
    assert len(replies) == 1 and "no se guardo nada" in replies[0].text
    assert [b.payload for b in replies[0].buttons] == ["menu:report", "menu:status", "menu:handoff"]
    assert chat.conversation().flow is None and chat.tickets() == []
    replies = chat.send("1")  # the numbered menu option of that one message
    assert chat.conversation().flow == "report"


def test_cancel_elsewhere_still_shows_the_menu_after_the_confirmation(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send(REPORT)
    replies = chat.send("cancelar")
    assert len(replies) == 2 and "no se guardó nada" in replies[0].text and replies[1].buttons


def test_a_button_from_an_older_message_reoffers_the_step_and_is_not_misunderstood(world: World) -> None:
    # Seen: tapping an old menu button at the summary counted as "misunderstood"; twice went to a person.
    chat = world.chat("telegram")
    chat.send(REPORT)
    chat.send(None, payload="no_photo")
    assert chat.conversation().step == "confirm"
    for _ in range(3):
        replies = chat.send("Reportar un problema", payload="menu:report")  # from the first menu
        conversation = chat.conversation()
        assert "mensaje anterior" in replies[0].text and "no te entend" not in chat.text.lower()
        assert conversation.mode == "bot" and conversation.misunderstood_count == 0
        assert conversation.step == "confirm" and replies[-1].buttons[0].payload == "yes"
    chat.send("Sí, enviar", payload="yes")
    assert len(chat.tickets()) == 1


def test_hola_at_the_summary_is_greeted_and_the_confirmation_asked_briefly(world: World) -> None:
    # Seen: "hola" at the summary got "no te entendí" plus the whole summary again.
    chat = world.chat("whatsapp")
    chat.send(REPORT)
    chat.send("no tengo foto")
    assert chat.conversation().step == "confirm"
    replies = chat.send("hola")
    assert len(replies) == 1 and replies[0].text.startswith("¡Hola!") and "¿Lo envío?" in replies[0].text
    assert "no te entend" not in replies[0].text.lower() and "Revisa tu reporte" not in replies[0].text
    assert [b.payload for b in replies[0].buttons] == ["yes", "fix", "cancel"]
    conversation = chat.conversation()
    assert conversation.step == "confirm" and conversation.misunderstood_count == 0
    chat.send("1")
    assert len(chat.tickets()) == 1


def test_keyboard_mash_counts_as_not_understood(world: World) -> None:
    # Seen: "asdf qwer" read as out_of_scope (0.93): "Eso no lo puedo atender" and never a handoff.
    chat = world.chat("telegram")
    replies = chat.send("asdf qwer")
    assert "no te entendí" in replies[-1].text and chat.conversation().misunderstood_count == 1
    chat.send("qwerty")
    assert chat.conversation().handoff_reason == "not_understood"


def test_a_landmark_only_the_citizen_can_find_is_not_a_place(world: World) -> None:
    # Walk-through: "frente a mi casa" was taken as the place and the report summarised without an address.
    chat = world.chat("whatsapp")
    chat.send("hay un bache enorme frente a mi casa, gracias")
    assert chat.conversation().step in ("location", "location_detail")
    chat.send("Calle Morelos 45, colonia Centro")
    slots = chat.conversation().slots
    assert slots["address"].startswith("Calle Morelos 45") and slots["location_ok"]
    assert chat.conversation().step == "photo"


def test_a_landmark_others_can_find_is_still_a_place(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache enorme frente al oxxo de la colonia Centro")
    assert chat.conversation().slots["location_ok"] and chat.conversation().step == "photo"
