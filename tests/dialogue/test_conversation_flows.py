"""Status, cancel / menu / help, idle restart, opt-out, human handoff, media kinds and odd input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from dialogue import handoff
from tests.dialogue.conftest import World
from ticketing.models import Citizen, ConversationMode, OutboxMessage, Ticket


def _ticket(world: World, chat, **kw) -> str:
    from ticketing.citizens import get_or_create_identity

    with world.factory() as session, session.begin():
        identity = get_or_create_identity(session, chat.channel, chat.external_id)
        ticket = world.service(session).create(
            category=kw.get("category", "pothole"), description="bache", channel=chat.channel, actor="system",
            address=kw.get("address", "calle Hidalgo 120"), reporter_identity=identity if kw.get("mine", True)
            else None)
        return ticket.folio


def test_status_by_question_by_folio_and_from_a_list(world: World) -> None:
    chat = world.chat("whatsapp")
    replies = chat.send("¿cómo va mi reporte?")
    assert "No tienes reportes abiertos" in replies[-1].text
    assert chat.conversation().flow == "status"

    first = _ticket(world, chat)
    replies = chat.send(first)  # the folio alone, while we wait for it
    assert f"Folio {first}" in replies[-1].text and "recibido" in replies[-1].text
    assert "Fecha comprometida" in replies[-1].text and "Sigue:" in replies[-1].text
    assert chat.conversation().flow is None

    second = _ticket(world, chat, category="streetlight")
    replies = chat.send("¿cómo va mi reporte?")
    assert "Tienes 2 reportes abiertos" in replies[-1].text
    assert {b.payload for b in replies[-1].buttons} == {f"folio:{first}", f"folio:{second}"}
    replies = chat.send("2")  # newest first: the second is the first ticket
    assert f"Folio {first}" in replies[-1].text

    # A folio typed in a sentence, someone else's ticket (folios are public, no personal data in the answer).
    other = world.chat("telegram")
    replies = other.send(f"quiero saber del folio {second}")
    assert f"Folio {second}" in replies[-1].text and "Alumbrado" in replies[-1].text


def test_status_of_unknown_folio_and_reason_in_plain_words(world: World) -> None:
    chat = world.chat("sms")
    replies = chat.send("folio 1000-0001")
    assert "1000-0001" in replies[-1].text or "folio" in replies[-1].text.lower()
    folio = _ticket(world, chat, category="water_leak")
    with world.factory() as session, session.begin():
        svc = world.service(session)
        ticket = svc.get(folio)
        svc.change_status(ticket, "not_resolved", actor="staff:ana", reason="out_of_jurisdiction",
                          referred_to="Servicios de Agua y Drenaje")
    replies = chat.send(folio)
    assert "cerrado sin resolver" in replies[-1].text
    assert "Servicios de Agua y Drenaje" in replies[-1].text


def test_unknown_valid_folio_is_not_found(world: World) -> None:
    from ticketing.folio import new_folio

    chat = world.chat("whatsapp")
    folio = new_folio()
    replies = chat.send(f"folio {folio}")
    assert f"No encontré el folio {folio}" in replies[-1].text


def test_cancel_menu_and_help_work_in_the_middle_of_a_report(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache enorme")
    assert chat.conversation().step == "location"
    replies = chat.send("ayuda")
    assert "cancelar" in replies[0].text and chat.conversation().step == "location"
    assert "Dónde" in replies[-1].text  # the pending question again
    replies = chat.send("cancelar")
    assert "cancelé el reporte" in replies[0].text and replies[-1].buttons
    assert chat.conversation().flow is None and chat.tickets() == []
    chat.send("hay basura tirada en el baldío")
    replies = chat.send("menú")
    assert chat.conversation().flow is None and replies[-1].buttons[0].payload == "menu:report"
    replies = chat.send("1")  # "Reportar un problema"
    assert chat.conversation().step == "category"


def test_idle_conversation_restarts_politely(world: World) -> None:
    chat = world.chat("telegram")
    chat.send("hay un bache enorme")
    assert chat.conversation().flow == "report"
    replies = chat.send("hola", after=timedelta(hours=25))
    assert "empezamos otra vez" in replies[0].text
    assert chat.conversation().flow is None
    # Within the idle window, the flow continues.
    chat.send("hay un bache enorme")
    chat.send("calle Juárez 100, col. Centro", after=timedelta(hours=5))
    assert chat.conversation().step != "location"


def test_stop_and_back_with_alta(world: World) -> None:
    chat = world.chat("sms")
    replies = chat.send("BAJA")
    assert "ALTA" in replies[0].text
    with world.factory() as session:
        assert session.scalars(select(Citizen.opted_out_at)).one() is not None
    assert chat.send("hay un bache en calle Juarez 1") == []  # silent while opted out
    replies = chat.send("ALTA")
    assert "avisos" in replies[0].text
    with world.factory() as session:
        assert session.scalars(select(Citizen.opted_out_at)).one() is None
    assert chat.send("hola")


def test_handoff_on_request_bot_stays_silent_staff_reply_and_close(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache enorme")
    replies = chat.send("quiero hablar con una persona")
    assert "persona" in replies[-1].text
    conversation = chat.conversation()
    assert conversation.mode == ConversationMode.HANDOFF and conversation.handoff_reason == "requested"
    assert chat.send("¿hola? ¿alguien?") == []

    with world.factory() as session, session.begin():
        (item,) = handoff.list_queue(session)
        assert item.conversation_id == conversation.id and item.reason == "requested"
        assert any("alguien" in text for _at, _d, text in item.last_messages)
        assert chat.external_id not in repr(item)  # no phone numbers in the queue
        row = handoff.reply(session, conversation.id, "Hola, soy Ana. ¿En qué calle está el bache?", "ana",
                            renderer=world.renderer)
        assert row.kind == "staff_reply" and "¿En qué calle" in row.body and row.channel.value == "whatsapp"
    with world.factory() as session, session.begin():
        handoff.close(session, conversation.id, "ana", renderer=world.renderer)
        with pytest.raises(handoff.HandoffError):
            handoff.close(session, conversation.id, "ana", renderer=world.renderer)
        kinds = session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
        assert kinds == ["staff_reply", "handoff_closed"]
    assert chat.conversation().mode == ConversationMode.BOT
    assert chat.send("hola")  # the bot answers again


def test_two_messages_not_understood_go_to_a_person(world: World) -> None:
    chat = world.chat("telegram")
    replies = chat.send("asdkjh qwe")
    assert "no te entendí" in replies[-1].text and chat.conversation().misunderstood_count == 1
    chat.send("zxcv bnm")
    conversation = chat.conversation()
    assert conversation.mode == ConversationMode.HANDOFF and conversation.handoff_reason == "not_understood"


def test_understood_message_resets_the_misunderstanding_count(world: World) -> None:
    chat = world.chat("telegram")
    chat.send("asdkjh qwe")
    chat.send("gracias")
    chat.send("zxcv bnm")
    assert chat.conversation().mode == ConversationMode.BOT


def test_abusive_and_anguished_messages_escalate(world: World) -> None:
    rude = world.chat("whatsapp")
    rude.send("eres un bot inútil, idiota")
    assert rude.conversation().handoff_reason == "abusive"
    scared = world.chat("sms")
    replies = scared.send("ayúdenme por favor, se está quemando un poste y hay un herido")
    assert "911" in replies[0].text and scared.conversation().handoff_reason == "anguished"  # danger first


def test_voice_notes_stickers_and_unusable_photos_get_a_kind_answer(world: World) -> None:
    chat = world.chat("telegram")
    replies = chat.send(None, media_kind="voice")
    assert "notas de voz" in replies[0].text and "fotos" in replies[0].text
    chat.send("hay grafiti en la barda de calle Zaragoza 10")
    assert chat.conversation().step == "photo"
    replies = chat.send(None, media_kind="sticker")
    assert "sticker" in replies[0].text and chat.conversation().step == "photo"
    replies = chat.send(None, bad_photo=True)
    assert "No pude usar esa foto" in replies[0].text and "MB" in replies[0].text
    assert chat.conversation().step == "photo" and chat.conversation().slots.get("photos") == []
    chat.send(None, photo=True)
    assert chat.conversation().step == "confirm"
    replies = chat.send(None, media_kind="document")  # a PDF the pipeline did not store
    assert "documentos" in replies[0].text and chat.conversation().step == "confirm"


@pytest.mark.parametrize("text", ["", "   ", "x" * 5000, "🙂🙂🙂", "\x00\x01", "1" * 300])
def test_odd_input_never_raises(world: World, text: str) -> None:
    chat = world.chat("whatsapp")
    replies = chat.send(text)
    assert replies and all(r.text for r in replies)


def test_a_bug_in_a_step_answers_error_generic_and_keeps_the_state(world: World, monkeypatch) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache enorme")
    before = chat.conversation()

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(world.engine, "_report_step", broken)
    replies = chat.send("calle Hidalgo 120")
    assert len(replies) == 1 and "algo salió mal" in replies[0].text
    after = chat.conversation()
    assert (after.flow, after.step, after.slots.get("category")) == (before.flow, before.step, "pothole")
    monkeypatch.undo()
    chat.send("calle Hidalgo 120")
    assert chat.conversation().step != "location"


def test_long_description_is_kept_and_report_still_created(world: World) -> None:
    chat = world.chat("whatsapp")
    rant = "Hay un bache enorme en calle Hidalgo 120 col. Centro. " + "Nadie hace nada. " * 250
    chat.send(rant, photo=True)
    assert chat.conversation().step == "confirm"
    chat.send("si")
    with world.factory() as session:
        description = session.scalars(select(Ticket.description)).one()
    assert description.startswith("Hay un bache enorme") and len(description) >= 3000


def test_control_characters_do_not_reach_the_database(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache\x00 enorme en calle Hidalgo 120\x07", photo=True)
    chat.send("sí")
    (ticket,) = chat.tickets()
    assert ticket.description == "hay un bache enorme en calle Hidalgo 120"
