"""The report flow end to end: real Message rows, real NLU parser, real ticket service, both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from nlu.api import Parse
from tests.dialogue.conftest import World
from ticketing.models import Attachment, Citizen, ConversationMode, Subscription, Ticket


def test_first_contact_shows_privacy_notice_records_consent_and_offers_the_menu(world: World) -> None:
    chat = world.chat("whatsapp", consented=False)
    replies = chat.send("Hola")
    assert len(replies) == 2
    assert world.settings.privacy_notice_url in replies[0].text
    assert "BAJA" in replies[0].text
    assert [b.payload for b in replies[1].buttons] == ["menu:report", "menu:status", "menu:handoff"]
    with world.factory() as session:
        citizen = session.scalars(select(Citizen)).one()
        assert citizen.consent_at is not None and citizen.opted_out_at is None
    # The notice is shown once.
    assert world.settings.privacy_notice_url not in chat.send("hola").__repr__()


def test_first_message_with_category_address_and_photo_goes_straight_to_the_summary(world: World) -> None:
    chat = world.chat("whatsapp", consented=False)
    replies = chat.send("Hay un bache enorme en calle Hidalgo 120 col. Centro, ya se cayó una moto", photo=True)
    assert world.settings.privacy_notice_url in replies[0].text  # first contact: notice first, then the report
    summary = replies[-1]
    assert "Bache" in summary.text and "calle Hidalgo 120, col. Centro" in summary.text
    assert "1 foto" in summary.text
    assert summary.buttons[0].payload == "yes"
    assert chat.conversation().step == "confirm"

    replies = chat.send("sí")
    text = replies[-1].text
    (ticket,) = chat.tickets()
    assert ticket.folio in text
    assert "Secretaría de Obras Públicas" in text and "Fecha comprometida" in text
    assert ticket.category_code == "pothole"
    assert ticket.address == "calle Hidalgo 120, col. Centro"
    assert "se cayó una moto" in ticket.description  # the citizen's own words are kept
    with world.factory() as session:
        assert session.scalars(select(Attachment.ticket_id)).one() == ticket.id
        assert session.scalars(select(Subscription)).one().ticket_id == ticket.id
    conversation = chat.conversation()
    assert conversation.flow is None and conversation.step is None


def test_step_by_step_on_telegram_with_vague_place_follow_up_and_correction(world: World) -> None:
    chat = world.chat("telegram")
    replies = chat.send("la lámpara de la esquina no prende")
    assert replies[-1].request_location is True  # Telegram's "send my location" button
    assert chat.conversation().step == "location"

    replies = chat.send("por mi casa")
    assert chat.conversation().step == "location_detail"
    assert "calle" in replies[-1].text and "colonia" in replies[-1].text

    replies = chat.send("calle Morelos 45, colonia Las Flores")
    assert chat.conversation().step == "photo"  # streetlight: photo optional, asked once
    assert [b.payload for b in replies[-1].buttons] == ["no_photo"]

    replies = chat.send("no tengo")
    assert chat.conversation().step == "confirm"
    assert "Alumbrado público" in replies[-1].text and "Morelos 45" in replies[-1].text

    replies = chat.send("no, es en la calle Hidalgo 300")
    assert chat.conversation().step == "confirm"
    assert "Hidalgo 300" in replies[-1].text and "Morelos" not in replies[-1].text

    replies = chat.send(None, payload="yes")  # the Telegram button
    (ticket,) = chat.tickets()
    assert ticket.category_code == "streetlight" and "Hidalgo 300" in (ticket.address or "")
    assert ticket.description == "la lámpara de la esquina no prende"
    assert ticket.folio in replies[-1].text


def test_pin_and_photo_then_category_from_numbered_options(world: World) -> None:
    chat = world.chat("whatsapp")
    replies = chat.send(None, location=(25.6866, -100.3161), photo=True)
    assert chat.conversation().step == "category"
    assert len(replies[-1].buttons) == len(world.catalog.categories)
    second = list(world.catalog.categories)[1]
    replies = chat.send("2")
    assert chat.conversation().slots["category"] == second
    # Pin and photo were kept: next is the description (there were no words), then the summary.
    assert chat.conversation().step == "description"
    replies = chat.send("Está apagada desde el lunes")
    assert "ubicación" in replies[-1].text
    chat.send("1")  # "Sí, enviar" is option 1
    (ticket,) = chat.tickets()
    assert (ticket.lat, ticket.lon) == (25.6866, -100.3161) and ticket.description == "Está apagada desde el lunes"


def test_required_photo_accepts_no_tengo_after_one_reminder(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay grafiti en la barda del puente de calle Zaragoza 10")
    assert chat.conversation().step == "photo"
    replies = chat.send("no tengo")
    assert "importante" in replies[-1].text and chat.conversation().step == "photo"
    replies = chat.send("no tengo")
    assert chat.conversation().step == "confirm"
    assert "sin foto" in replies[-1].text


def test_sms_never_asks_for_a_photo(world: World) -> None:
    chat = world.chat("sms")
    replies = chat.send("tiraron escombro en el baldio de calle Juarez 500 col. Centro")
    assert chat.conversation().step == "confirm"
    assert all(r.text == r.text.encode("ascii", "ignore").decode() or "ñ" in r.text or "¿" in r.text
               for r in replies)  # folded to GSM-7 (no á í ó ú)
    chat.send("si")
    (ticket,) = chat.tickets()
    assert ticket.category_code == "illegal_dumping" and ticket.channel.value == "sms"


def test_duplicate_nearby_offers_to_follow_it(world: World) -> None:
    with world.factory() as session, session.begin():
        existing = world.service(session).create(category="pothole", description="bache", channel="telegram",
                                                 actor="system", lat=25.68660, lon=-100.31610)
        folio = existing.folio
    chat = world.chat("telegram")
    chat.send("hay un bache enorme", location=(25.68668, -100.31610))  # ~9 m north
    assert chat.conversation().step in ("photo", "description", "confirm")
    while chat.conversation().step != "confirm":
        chat.send("no")
    replies = chat.send("sí")
    assert f"folio {folio}" in replies[-1].text and "Ya hay un reporte igual a 10 m" in replies[-1].text
    replies = chat.send("sí")
    assert folio in replies[-1].text
    tickets = chat.tickets()
    assert len(tickets) == 1
    with world.factory() as session:
        subs = session.scalars(select(Subscription).where(Subscription.ticket_id == tickets[0].id)).all()
        assert len(subs) == 1  # the citizen follows the existing report


def test_duplicate_declined_creates_a_new_ticket(world: World) -> None:
    with world.factory() as session, session.begin():
        world.service(session).create(category="pothole", description="bache", channel="telegram",
                                      actor="system", lat=25.68660, lon=-100.31610)
    chat = world.chat("whatsapp")
    chat.send("bache frente a mi casa", location=(25.68661, -100.31611), photo=True)
    assert chat.conversation().step == "confirm"
    chat.send("si")
    assert chat.conversation().step == "duplicate"
    replies = chat.send("2")  # "No, es otro"
    assert len(chat.tickets()) == 2 and chat.tickets()[1].folio in replies[-1].text


@pytest.mark.parametrize("channel", ["sms", "whatsapp", "telegram"])
def test_the_same_written_place_offers_to_follow_the_open_report(world: World, channel: str) -> None:
    """Round 12 walkthrough: three neighbours wrote "frente a la tiendita de don Pepe" and got three folios (only a
    pin was compared)."""
    first = world.chat(channel)
    first.send("hay un bache enorme en calle Morelos frente a la tiendita de don Pepe col. Las Flores")
    while first.conversation().step != "confirm":
        first.send("no tengo foto" if first.conversation().step == "photo" else "omitir")
    first.send("sí")
    (ticket,) = first.tickets()
    second = world.chat(channel)
    second.send("hay un hoyo bien grande en la Morelos, frente a la tienda de don Pepe, colonia Las Flores")
    while second.conversation().step != "confirm":
        second.send("no tengo foto" if second.conversation().step == "photo" else "omitir")
    replies = second.send("sí")
    assert second.conversation().step == "duplicate" and ticket.folio in replies[-1].text
    assert "en el mismo lugar" in replies[-1].text
    second.send("sí")
    assert len(second.tickets()) == 1
    with world.factory() as session:
        subs = session.scalars(select(Subscription).where(Subscription.ticket_id == ticket.id)).all()
        assert len(subs) == 2  # the reporter and the neighbour who follows it


def test_correction_menu_changes_the_category(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache en calle Hidalgo 120", photo=True)
    assert chat.conversation().step == "confirm"
    chat.send("no")
    assert chat.conversation().step == "fix"
    chat.send("1")  # Tipo de problema
    assert chat.conversation().step == "category"
    chat.send("se está cayendo la banqueta")
    conversation = chat.conversation()
    assert conversation.slots["category"] == "sidewalk"
    assert conversation.slots["address"] == "calle Hidalgo 120"


def test_referral_category_explains_who_attends_it(world: World) -> None:
    chat = world.chat("sms")
    chat.send("hay una fuga de agua en calle Juarez 22")
    replies = chat.send("si")
    (ticket,) = chat.tickets()
    assert ticket.category_code == "water_leak" and ticket.folio in replies[-1].text
    assert chat.conversation().mode == ConversationMode.BOT
    with world.factory() as session:
        assert session.scalars(select(Ticket.due_at)).one() is not None


class UnsureParser:
    """The real parser, except that one phrase reads as an unsure category (the NLU's numbers move as it learns)."""

    def __init__(self, real, phrase: str) -> None:
        self.real, self.phrase = real, phrase

    def parse(self, text: str, *, pending: str | None = None) -> Parse:
        parsed = self.real.parse(text, pending=pending)
        if text != self.phrase:
            return parsed
        ranking = [("street_cleaning", 0.45), ("pothole", 0.25), ("sidewalk", 0.13), ("deny", 0.05)]
        return Parse(text=text, intent="street_cleaning", confidence=0.45, ranking=ranking, entities=[],
                     understood=True)


def test_unsure_category_offers_the_top_candidates_and_otro(world: World) -> None:
    phrase = "se ve muy mal la calle"
    world.engine.parser = UnsureParser(world.engine.parser, phrase)
    chat = world.chat("whatsapp")
    replies = chat.send(phrase)
    offered = [b.payload for b in replies[-1].buttons]
    assert chat.conversation().step == "category"
    assert offered == ["cat:street_cleaning", "cat:pothole", "cat:sidewalk", "cat:other"]
    replies = chat.send("4")  # "Otro": the whole catalog
    assert len(replies[-1].buttons) == len(world.catalog.categories)
    chat.send("el primero")
    conversation = chat.conversation()
    assert conversation.slots["category"] == next(iter(world.catalog.categories))
    assert conversation.slots["description"] == phrase and conversation.step == "location"


def test_category_corrected_in_words_at_the_summary(world: World) -> None:
    chat = world.chat("sms")
    chat.send("hay un bache en calle Hidalgo 120")
    assert chat.conversation().step == "confirm"
    replies = chat.send("el camion de la basura no paso")
    assert "Recoleccion de basura" in replies[-1].text and chat.conversation().step == "confirm"
    chat.send("si")
    assert chat.tickets()[0].category_code == "garbage_collection"
