"""``reporta chat --channel sms|whatsapp|telegram``: the dialogue behaves like the chosen channel, while the
conversation stays a ``simulator`` one that no real sender ever delivers (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.simulator import Simulator
from dialogue.render import is_gsm7, sms_segments
from reporta.messages import InboundMessage
from reporta.runtime import Runtime
from reporta.settings import Settings
from tests.channels.conftest import JPEG
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from ticketing.models import ChannelIdentity, OutboxMessage, OutboxStatus, Ticket, utcnow

REPORT = "hay un bache enorme en Hidalgo 120 col. Centro"


@pytest.fixture
def sim_settings(settings: Settings, nlu_cache: Path) -> Settings:
    return settings.model_copy(update={"nlu_cache_dir": nlu_cache})


@pytest.fixture
def sms_sim(sim_settings: Settings) -> Iterator[tuple[Simulator, list[str]]]:
    lines: list[str] = []
    sim = Simulator(sim_settings, mimic="sms", user="ana", out=lines.append)
    yield sim, lines
    sim.close()


def step_of(sim: Simulator) -> str | None:
    from ticketing.models import Conversation

    with sim.runtime.session_factory() as s:
        identity = s.scalars(select(ChannelIdentity).where(ChannelIdentity.external_id == sim.external_id)).one()
        return s.scalars(select(Conversation).where(Conversation.identity_id == identity.id)).one().step


def test_sms_uses_the_sms_templates_skips_the_photo_and_counts_segments(sms_sim) -> None:
    sim, lines = sms_sim
    assert sim.send(REPORT)
    summary = lines[-1]
    text, counts = summary[len("bot> "):].rsplit("\n     [", 1)
    assert text.startswith("Reporte: ") and "¿Lo envio?" in text  # report_summary.sms.j2, not the WhatsApp one
    assert is_gsm7(text) and "\n1. " in text  # numbered options, GSM-7 labels
    assert counts == f"{len(text)} caracteres, {sms_segments(text)} SMS]"
    assert step_of(sim) == "confirm"  # no photo step on SMS
    assert not any("foto" in line.lower() for line in lines)
    sim.send("/foto /etc/hostname")
    assert lines[-1].startswith("!!")  # SMS takes no photos
    sim.send("/ubicacion 25.6866 -100.3161")
    assert lines[-1].startswith("!!")  # nor pins
    assert sim.send("1")
    with sim.runtime.session_factory() as s:
        ticket = s.scalars(select(Ticket)).one()
        identity = s.get(ChannelIdentity, ticket.reporter_identity_id)
        assert (identity.channel, identity.external_id) == ("simulator", "sim-ana:sms")
        assert ticket.channel == "simulator"  # never counted as a real SMS report
        assert {row.channel for row in s.scalars(select(OutboxMessage))} == {"simulator"}
    assert ticket.folio in lines[-1] and sms_segments(lines[-1]) >= 1


def test_telegram_shows_buttons_and_asks_for_the_photo(sim_settings: Settings, tmp_path: Path) -> None:
    lines: list[str] = []
    sim = Simulator(sim_settings, mimic="telegram", user="beto", out=lines.append)
    photo = tmp_path / "bache.jpg"
    photo.write_bytes(JPEG)
    try:
        sim.send("hay un bache enorme")
        assert "[📍 ubicación]" in lines[-1]  # the location-request keyboard
        sim.send("/ubicacion 25.6866 -100.3161")
        assert step_of(sim) == "photo" and "[No tengo foto]" in lines[-1] and "\n1. " not in lines[-1]
        sim.send("/boton 2")
        assert lines[-1].startswith("!!")
        sim.send("/boton 1")  # presses "No tengo foto"
        assert step_of(sim) in ("description", "confirm")
    finally:
        sim.close()


def test_the_same_user_on_two_channels_is_two_conversations(sim_settings: Settings) -> None:
    sms = Simulator(sim_settings, mimic="sms", user="ana", out=lambda _l: None)
    wa = Simulator(sim_settings, mimic="whatsapp", user="ana", out=lambda _l: None)
    try:
        sms.send(REPORT)
        wa.send(REPORT)
        assert (sms.external_id, wa.external_id) == ("sim-ana:sms", "sim-ana")
        assert step_of(sms) == "confirm" and step_of(wa) == "photo"
    finally:
        sms.close()
        wa.close()
    with pytest.raises(ValueError):
        Simulator(sim_settings, mimic="sms", user="ana:telegram")


def test_a_real_dispatcher_never_sends_a_simulator_conversation(
    channel_settings: Settings, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    # Simulated citizens on every channel leave replies in the outbox (their own dispatcher never ran) and one
    # gets a status update from staff; then the dispatcher of `reporta serve`, with Telegram and Twilio on, runs.
    for mimic in ("sms", "whatsapp", "telegram"):
        sim = Simulator(channel_settings, mimic=mimic, user="ana", out=lambda _l: None)
        try:
            inbound = sim.inbound("hay un bache enorme en Hidalgo 120 col. Centro")
            sim.runtime.pipeline.process(sim.runtime.pipeline.accept(inbound))
            if mimic == "sms":
                sim.runtime.pipeline.process(sim.runtime.pipeline.accept(sim.inbound("1")))
        finally:
            sim.close()
    rt = Runtime.from_settings(channel_settings, migrate=False, dispatcher_options={"rate_limits": False})
    try:
        with rt.session_factory.begin() as s:
            ticket = s.scalars(select(Ticket)).one()
            rt.ticket_service(s).change_status(ticket, "in_progress", actor="staff:ana")
        real = InboundMessage(channel="sms", external_id="+528112345678", provider_message_id="SMreal1",
                              text="hola", received_at=utcnow())
        rt.pipeline.process(rt.pipeline.accept(real))
        rt.dispatcher.drain()
        with rt.session_factory() as s:
            rows = list(s.scalars(select(OutboxMessage).join(ChannelIdentity)
                                  .where(ChannelIdentity.external_id.like("sim-%"))))
            assert len(rows) >= 5 and {r.channel for r in rows} == {"simulator"}
            replies = [r for r in rows if r.kind == "reply"]
            assert {r.status for r in replies} == {OutboxStatus.SENT}  # by the server's simulator sender
            assert len(rows) > len(replies)  # the status update too (it may wait out quiet hours)
        assert fake_telegram.calls("sendMessage") == []
        sent = fake_twilio.sent()
        assert sent and all("sim" not in str(m.get("To", "")) for m in sent)  # only the real citizen's reply
        assert {str(m.get("To")) for m in sent} == {"+528112345678"}
    finally:
        rt.close()
