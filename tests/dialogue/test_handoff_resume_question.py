"""Back from staff (a staff close or the time-out), an unsent report's question is asked again, and the citizen's
next message answers it (walkthrough 13: the resumed question was never repeated)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from dialogue import handoff as staff_side
from tests.dialogue.conftest import World
from tests.dialogue.test_walk13_lifecycle import OPEN
from ticketing.db import session_scope
from ticketing.models import OutboxMessage

pytestmark = pytest.mark.sqlite_only

#: (channel, the report, the step it waits on when the citizen asks for a person, words of that question, an answer)
CASES = [
    (channel, "hay un bache enorme", "location", "bache", "Hidalgo 100 col Centro")
    for channel in ("sms", "whatsapp", "telegram")
] + [
    ("whatsapp", "hay un bache en Hidalgo 100 col Centro", "photo", "foto", "no tengo"),
    ("telegram", "hay un bache en Hidalgo 100 col Centro", "photo", "foto", "no tengo"),
    ("sms", "hay un bache en Hidalgo 100 col Centro", "confirm", "envio", "si"),  # no photos on SMS
]


@pytest.mark.parametrize("channel, report, step, asked, answer", CASES, ids=[f"{c}-{s}" for c, _, s, _, _ in CASES])
@pytest.mark.parametrize("how", ["staff", "timeout"])
def test_the_kept_report_asks_its_question_again(world: World, channel: str, report: str, step: str, asked: str,
                                                 answer: str, how: str) -> None:
    chat = world.chat(channel)
    chat.clock = OPEN
    chat.send(report)
    assert chat.conversation().step == step
    chat.send("quiero hablar con una persona")
    conversation = chat.conversation()
    with session_scope(world.factory) as session:
        if how == "staff":
            body = staff_side.close(session, conversation.id, "ana", renderer=world.renderer,
                                    catalog=world.catalog).body
        else:
            later = OPEN + timedelta(minutes=world.catalog.handoff_timeout_minutes + 5)
            assert staff_side.expire_handoffs(session, world.catalog, world.renderer,
                                              timezone=world.settings.timezone, now=later) == 1
            body = None
    if body is None:
        with world.factory() as session:
            body = session.scalars(select(OutboxMessage.body).where(OutboxMessage.kind == "handoff_timeout")).one()
    assert "?" in body and asked in body.lower()
    assert chat.conversation().step == step
    chat.send(answer, after=timedelta(hours=1))
    if step == "confirm":
        assert len(chat.tickets()) == 1
    else:
        assert chat.conversation().flow == "report" and chat.conversation().step != step
