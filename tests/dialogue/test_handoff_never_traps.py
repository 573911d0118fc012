"""Issue 13 item 3: a handoff is never a trap. Staff hours and an honest "when", menú / cancelar / a new report
always reach the bot, a time-out hands the conversation back with a message (and resumes the draft, which staff
could read meanwhile), frustration is not abuse, and the emergency advice comes first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dialogue import handoff as staff_side
from tests.dialogue.conftest import Chat, World
from ticketing.db import session_scope
from ticketing.models import Conversation, ConversationMode, OutboxMessage, StaffUser

# One database is enough here: the table exercises the NLU and the dialogue; the store runs on both elsewhere.
pytestmark = pytest.mark.sqlite_only

CHANNELS = ["sms", "whatsapp", "telegram"]
#: Tuesday 1 December 2026, 11:00 in Monterrey (UTC-6): staff at work.
OPEN = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
#: Sunday 29 November 2026, 01:00 in Monterrey: nobody at work until Monday 9:00.
NIGHT = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)


def handed_off(world: World, channel: str, *, at: datetime = OPEN, draft: bool = False) -> Chat:
    chat = world.chat(channel)
    chat.clock = at
    if draft:
        chat.send("hay un bache en Hidalgo 100 col Centro")
    chat.send("quiero hablar con una persona")
    assert chat.conversation().mode == ConversationMode.HANDOFF
    return chat


@pytest.mark.parametrize("channel", CHANNELS)
def test_outside_staff_hours_the_citizen_is_told_when_a_person_answers(world: World, channel: str) -> None:
    chat = handed_off(world, channel, at=NIGHT)
    assert "mañana a las 9:00" in chat.text and "en cuanto pueda" not in chat.text  # Sunday 1 a.m.: Monday 9:00
    chat = handed_off(world, channel, at=OPEN)
    assert "9:00" not in chat.text


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("word", ["menú", "MENU", "cancelar", "salir", "inicio", "ya no"])
def test_menu_and_cancel_always_reach_the_bot(world: World, channel: str, word: str) -> None:
    chat = handed_off(world, channel, at=NIGHT)
    replies = chat.send(word)
    assert chat.conversation().mode == ConversationMode.BOT
    assert replies and replies[-1].buttons[0].payload == "menu:report"


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["quiero reportar una lámpara fundida", "hay un bache enorme en Morelos 20",
                                  "no pasó la basura"])
def test_a_new_report_reaches_the_bot(world: World, channel: str, text: str) -> None:
    chat = handed_off(world, channel, at=NIGHT)
    chat.send(text)
    conversation = chat.conversation()
    assert conversation.mode == ConversationMode.BOT and conversation.flow == "report"


@pytest.mark.parametrize("channel", CHANNELS)
def test_other_messages_wait_silently_for_staff(world: World, channel: str) -> None:
    chat = handed_off(world, channel)
    assert chat.send("hola? sigue ahí alguien") == []
    assert chat.conversation().mode == ConversationMode.HANDOFF


@pytest.mark.parametrize("channel", CHANNELS)
def test_nobody_answers_the_bot_takes_back_and_resumes_the_draft(world: World, channel: str) -> None:
    chat = handed_off(world, channel, draft=True)
    timeout = world.catalog.handoff_timeout_minutes
    with world.factory() as session:  # staff can read the unsent report meanwhile
        (item,) = staff_side.list_queue(session)
        assert item.draft["category"] == "pothole" and "Hidalgo 100" in item.draft["address"]
    chat.send("hola?", after=timedelta(minutes=timeout + 1))
    conversation = chat.conversation()
    assert conversation.mode == ConversationMode.BOT and conversation.flow == "report"
    assert "nadie del equipo" in chat.replies[0].text.lower() and "bache" in chat.replies[0].text
    assert conversation.slots["address"].startswith("Hidalgo 100")
    if conversation.step != "confirm":
        chat.send("no tengo foto")
    chat.send("sí")
    assert chat.tickets()[-1].category_code == "pothole"


def test_the_time_out_is_also_sent_by_the_scheduler(world: World) -> None:
    chat = handed_off(world, "whatsapp", draft=True)
    later = chat.clock + timedelta(minutes=world.catalog.handoff_timeout_minutes + 1)
    with session_scope(world.factory) as session:
        assert staff_side.expire_handoffs(session, world.catalog, world.renderer, timezone=world.settings.timezone,
                                          now=chat.clock + timedelta(minutes=5)) == 0  # not yet
        assert staff_side.expire_handoffs(session, world.catalog, world.renderer, timezone=world.settings.timezone,
                                          now=later) == 1
    with world.factory() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "handoff_timeout")).one()
        assert "bache" in row.body
    conversation = chat.conversation()
    assert conversation.mode == ConversationMode.BOT and conversation.flow == "report"


def test_a_staff_reply_stops_the_time_out(world: World) -> None:
    chat = handed_off(world, "sms")
    with session_scope(world.factory) as session:
        staff_side.reply(session, chat.conversation().id, "Hola, soy Ana. ¿En qué calle?", "ana",
                         renderer=world.renderer)
    assert chat.send("en Hidalgo", after=timedelta(hours=3)) == []
    assert chat.conversation().mode == ConversationMode.HANDOFF


FRUSTRATION = ["son unos inútiles", "no sirven para nada", "nunca hacen nada, qué mal servicio", "ya me cansé",
               "estoy harta de reportar"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", FRUSTRATION)
def test_frustration_gets_a_calm_answer_not_an_abusive_label(world: World, channel: str, text: str) -> None:
    chat = world.chat(channel)
    chat.send(text)
    conversation = chat.conversation()
    assert conversation.mode == ConversationMode.BOT and conversation.handoff_reason is None
    assert "molestia" in chat.text and "molesto" not in chat.text  # gender-neutral


@pytest.mark.parametrize("channel", CHANNELS)
def test_frustration_with_a_report_goes_on_with_the_report(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("son unos inútiles, el bache de Hidalgo 100 sigue ahí")
    assert chat.conversation().flow == "report" and chat.conversation().slots["category"] == "pothole"


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["hay un herido, se cayó un árbol en la calle Juárez 10", "auxilio, hay un incendio",
                                  "emergencia, un cable le cayó a un señor",
                                  # round 12 walkthrough: a crime, and live wires (were a report menu / a plain report)
                                  "me acaban de asaltar en la parada del camión, manden una patrulla",
                                  "hay cables de luz colgando y echando chispas en la calle Sauce"])
def test_the_emergency_advice_comes_first_even_before_the_privacy_notice(world: World, channel: str,
                                                                         text: str) -> None:
    chat = world.chat(channel, consented=False)
    replies = chat.send(text)
    assert "911" in replies[0].text
    assert world.settings.privacy_notice_url in replies[1].text  # the notice still comes, after
    assert chat.conversation().handoff_reason == "anguished"


def test_an_emergency_report_is_kept_for_staff(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un herido, se cayó un árbol en la calle Juárez 10")
    with world.factory() as session:
        (item,) = staff_side.list_queue(session)
    assert item.draft["category"] == "tree" and "Juárez 10" in item.draft["address"]


def test_abuse_still_goes_to_a_person_with_neutral_words(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("eres un idiota")
    assert chat.conversation().handoff_reason == "abusive" and "Entiendo tu molestia" in chat.text


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["mejor no, envía mi reporte", "ya no quiero esperar", "regresar", "mejor no"])
def test_going_back_to_the_bot_resumes_the_unsent_report(world: World, channel: str, text: str) -> None:
    chat = handed_off(world, channel, draft=True)
    chat.send(text)
    conversation = chat.conversation()
    assert conversation.mode == ConversationMode.BOT and conversation.flow == "report"
    assert "pendiente" in chat.text
    if conversation.step != "confirm":
        chat.send("no tengo foto")
    chat.send("sí")
    assert chat.tickets()[-1].category_code == "pothole"


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_menu_from_a_handoff_says_the_unsent_report_was_dropped(world: World, channel: str) -> None:
    chat = handed_off(world, channel, draft=True)
    replies = chat.send("menú")
    assert "no se envi" in chat.text and replies[-1].buttons[0].payload == "menu:report"
    assert chat.conversation().flow is None and chat.tickets() == []


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["hay un bache enorme en Morelos 20", "no pasó la basura"])
def test_once_a_person_attends_what_the_citizen_writes_is_for_them(world: World, channel: str, text: str) -> None:
    """Taken (or answered) by staff, a problem described is part of that conversation, not a new bot report;
    menú still takes the citizen back to the bot."""
    chat = handed_off(world, channel)
    conversation_id = chat.conversation().id
    with session_scope(world.factory) as session:
        staff = StaffUser(username=f"ana-{channel}@example.gob.mx", display_name="Ana", role="agent")
        session.add(staff)
        session.flush()
        session.get(Conversation, conversation_id).handoff_staff_id = staff.id
    assert chat.send(text) == []
    assert chat.conversation().mode == ConversationMode.HANDOFF
    chat.send("menú")
    assert chat.conversation().mode == ConversationMode.BOT
