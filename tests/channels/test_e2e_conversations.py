"""Issue 13 end to end: whole scripted conversations through the real webhooks (signed Twilio posts for SMS and
WhatsApp, Telegram Update JSON), the real pipeline, dialogue and dispatcher, the replies read from the fake
providers. Each script ends as a citizen would expect: the right reports filed with the place they wrote.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from reporta.runtime import Runtime
from tests.channels.conftest import TW_SID, AppServer, fixture, settle, wait_until
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from ticketing.models import ChannelIdentity, Conversation, ConversationMode, Direction, InboundState, Message, Ticket

_ids = itertools.count(1)


@dataclass
class Citizen:
    """One citizen writing through a channel's real webhook; ``send`` waits for the replies the provider got."""

    app: AppServer
    runtime: Runtime
    telegram: FakeTelegram
    twilio: FakeTwilio
    channel: str
    number: int

    @property
    def external_id(self) -> str:
        return str(self.number) if self.channel == "telegram" else f"+5281{self.number:08d}"

    def _sent(self) -> list[str]:
        if self.channel == "telegram":
            return self.telegram.sent_texts(self.number)
        to = f"whatsapp:{self.external_id}" if self.channel == "whatsapp" else self.external_id
        return [p.get("Body", "") for p in self.twilio.sent(to)]

    def send(self, text: str) -> str:
        before = len(self._sent())
        n = next(_ids)
        if self.channel == "telegram":
            update = copy.deepcopy(fixture("telegram", "text"))
            update["update_id"] = 816000000 + n
            update["message"].update(message_id=5000 + n, date=int(time.time()), text=text)
            update["message"]["from"]["id"] = update["message"]["chat"]["id"] = self.number
            response = self.app.telegram(update)
        else:
            name = "whatsapp_text" if self.channel == "whatsapp" else "sms_text"
            form = fixture("twilio", name)
            sid = f"SM{n:032x}"
            form.update(AccountSid=TW_SID, Body=text, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid)
            if self.channel == "whatsapp":
                form.update(From=f"whatsapp:{self.external_id}", WaId=self.external_id.lstrip("+"))
            else:
                form["From"] = self.external_id
            response = self.app.twilio(form)
        assert response.status_code == 200
        wait_until(lambda: self._processed(), timeout=15)
        settle(self.runtime, timeout=15)
        return "\n".join(self._sent()[before:])

    def _processed(self) -> bool:
        with self.runtime.session_factory() as s:
            rows = s.scalars(select(Message).where(Message.direction == Direction.INBOUND)).all()
            return bool(rows) and all(m.state != InboundState.RECEIVED for m in rows)

    def conversation(self) -> Conversation | None:
        with self.runtime.session_factory() as s:
            identity = s.scalars(select(ChannelIdentity).where(
                ChannelIdentity.external_id == self.external_id)).one_or_none()
            if identity is None:
                return None
            return s.scalars(select(Conversation).where(Conversation.identity_id == identity.id)).one_or_none()

    def tickets(self) -> list[Ticket]:
        with self.runtime.session_factory() as s:
            identity = s.scalars(select(ChannelIdentity).where(
                ChannelIdentity.external_id == self.external_id)).one()
            return list(s.scalars(select(Ticket).where(Ticket.reporter_identity_id == identity.id)
                                  .order_by(Ticket.id)))

    def finish(self) -> str:
        """Up to the summary (no photo, no more detail), then "sí": the receipt."""
        for _ in range(5):
            conv = self.conversation()
            step = conv.step if conv else None
            if step == "confirm":
                return self.send("sí")
            if step == "photo":
                self.send("no tengo foto")
            elif step == "description":
                self.send("omitir")
            else:
                raise AssertionError(f"stuck at {step!r}")
        raise AssertionError("never reached the summary")


def _place(t: Ticket) -> str:
    return " ".join(p for p in (t.address, t.landmark) if p).lower()


Script = Callable[[Citizen], None]


def no_commas(c: Citizen) -> None:
    c.send("hay un bache")
    c.send("Hidalgo 100 col Centro")
    c.finish()
    (t,) = c.tickets()
    assert "hidalgo 100" in _place(t) and "centro" in _place(t)


def cross_streets(c: Citizen) -> None:
    c.send("lampara fundida en Morelos 40 entre Juarez y Zaragoza")
    c.finish()
    (t,) = c.tickets()
    assert t.category_code == "streetlight" and all(w in _place(t) for w in ("morelos 40", "juarez", "zaragoza"))


def misspelt_corner(c: Citizen) -> None:
    c.send("hay un bache en calle idalgo y juares")
    c.finish()
    (t,) = c.tickets()
    assert "idalgo" in _place(t) and "juares" in _place(t)


def landmark(c: Citizen) -> None:
    c.send("hay un bache")
    c.send("Escuela Primaria Benito Juárez, calle Guerrero 500")
    c.finish()
    (t,) = c.tickets()
    assert "escuela primaria benito juárez" in _place(t) and "guerrero 500" in _place(t)


def correction(c: Citizen) -> None:
    c.send("hay un bache en Morelos 12 col Centro")
    c.send("perdón, me equivoqué, no es bache, es una lámpara fundida")
    c.finish()
    (t,) = c.tickets()
    assert t.category_code == "streetlight" and "morelos 12" in _place(t)


def two_problems(c: Citizen) -> None:
    c.send("hay un bache en Hidalgo 300 col Centro y además la lámpara está fundida")
    c.finish()
    c.finish()
    assert [t.category_code for t in c.tickets()] == ["pothole", "streetlight"]


def leaving_a_handoff(c: Citizen) -> None:
    c.send("quiero hablar con una persona")
    assert c.conversation().mode == ConversationMode.HANDOFF
    c.send("menú")
    c.send("quiero reportar una lámpara fundida")
    c.send("Juárez 120 col Centro")
    c.finish()
    (t,) = c.tickets()
    assert t.category_code == "streetlight" and c.conversation().mode == ConversationMode.BOT


def ends_in_gracias(c: Citizen) -> None:
    c.send("hay un bache en Juárez 120 col Centro, gracias")
    receipt = c.finish()
    (t,) = c.tickets()
    assert t.folio in receipt and "juárez 120" in _place(t)
    assert "gusto" in c.send("gracias")


def removal_verbs(c: Citizen) -> None:
    c.send("por favor retiren el escombro tirado en Allende 77 entre Ocampo y Abasolo")
    if c.conversation().step == "photo":  # photo required on chat channels: "no tengo" twice is accepted
        c.send("no tengo foto")
    c.finish()
    (t,) = c.tickets()
    assert t.category_code == "illegal_dumping" and "allende 77" in _place(t) and "abasolo" in _place(t)


SCRIPTS = [no_commas, cross_streets, misspelt_corner, landmark, correction, two_problems, leaving_a_handoff,
           ends_in_gracias, removal_verbs]


@pytest.mark.parametrize("channel", ["sms", "whatsapp", "telegram"])
def test_scripted_conversations_end_as_a_citizen_expects(app: AppServer, runtime: Runtime,
                                                        fake_telegram: FakeTelegram, fake_twilio: FakeTwilio,
                                                        channel: str) -> None:
    failures = []
    for i, script in enumerate(SCRIPTS):
        citizen = Citizen(app, runtime, fake_telegram, fake_twilio, channel, 7100000 + 100 * i + next(_ids))
        try:
            script(citizen)
        except AssertionError as exc:
            failures.append(f"{script.__name__}: {exc}")
    assert failures == []
