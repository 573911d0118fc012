"""Two messages from one citizen never interleave: the conversation row is locked (PostgreSQL ``FOR UPDATE``)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select

from tests.dialogue.conftest import World
from ticketing.citizens import get_or_create_identity
from ticketing.models import Conversation, Direction, InboundState, Message, utcnow


def _handle(world: World, chat, text: str, *, hold: float = 0.0, handled: threading.Event | None = None,
            done: dict | None = None) -> None:
    from reporta.messages import InboundMessage

    session = world.factory()
    try:
        with session.begin():
            identity = get_or_create_identity(session, chat.channel, chat.external_id)
            inbound = InboundMessage(channel=chat.channel, external_id=chat.external_id,
                                     provider_message_id=f"ord-{text}", text=text,
                                     received_at=utcnow() + timedelta(seconds=1))
            message = Message(direction=Direction.INBOUND, channel=chat.channel, identity_id=identity.id,
                              provider_message_id=inbound.provider_message_id, text=text, payload={},
                              state=InboundState.RECEIVED)
            session.add(message)
            session.flush()
            world.engine.handle(session, message, inbound, identity)
            if handled is not None:
                handled.set()
            time.sleep(hold)
        if done is not None:
            done[text] = time.monotonic()
    finally:
        session.close()


def test_second_message_waits_for_the_first_and_sees_its_state(world: World) -> None:
    # PostgreSQL: the second handle blocks on the conversation's FOR UPDATE; SQLite: on BEGIN IMMEDIATE.
    chat = world.chat("whatsapp")
    chat.send("hola")
    handled = threading.Event()
    done: dict[str, float] = {}
    first = threading.Thread(target=_handle, args=(world, chat, "hay un bache enorme"),
                             kwargs={"hold": 0.6, "handled": handled, "done": done})
    first.start()
    assert handled.wait(10)
    second = threading.Thread(target=_handle, args=(world, chat, "calle Hidalgo 120, col. Centro"),
                              kwargs={"done": done})
    second.start()
    first.join(15)
    second.join(15)
    assert done["calle Hidalgo 120, col. Centro"] >= done["hay un bache enorme"]
    with world.factory() as session:
        conversation = session.scalars(select(Conversation)).one()
        # The second message was read as the answer to "¿Dónde está?", so the report moved on to the photo.
        assert conversation.flow == "report" and conversation.step == "photo"
        assert conversation.slots["address"] == "calle Hidalgo 120"
