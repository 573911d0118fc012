"""``reporta chat``: the terminal simulator goes through the same pipeline, dialogue engine and store."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.simulator import Simulator
from reporta.settings import Settings
from tests.channels.conftest import JPEG
from ticketing.models import Attachment, ChannelIdentity, Ticket


def test_a_report_from_the_terminal(settings: Settings, nlu_cache: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    photo = tmp_path / "bache.jpg"
    photo.write_bytes(JPEG)
    sim = Simulator(settings.model_copy(update={"nlu_cache_dir": nlu_cache}), mimic="whatsapp", user="ana",
                    out=lines.append)
    try:
        assert sim.send("hay un bache enorme en Hidalgo 120 col. Centro")
        assert sim.send(f"/foto {photo}")
        assert sim.send("/ubicacion norte sur") and lines[-1].startswith("!!")  # a clear answer, nothing sent
        assert sim.send("1")  # "1. Sí, enviar": numbered options typed back
        assert not sim.send("/salir")
        with sim.runtime.session_factory() as s:
            ticket = s.scalars(select(Ticket)).one()
            identity = s.get(ChannelIdentity, ticket.reporter_identity_id)
            assert identity.channel == "simulator" and identity.external_id == "sim-ana"
            assert s.scalars(select(Attachment)).one().ticket_id == ticket.id
        assert any(ticket.folio in line for line in lines)
        assert any("\n1. " in line for line in lines)
    finally:
        sim.close()
