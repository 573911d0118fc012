"""A simulator conversation (``sim-<user>[:<channel>]`` on channel ``simulator``) gets exactly what a citizen on
the mimicked channel gets, and its reports never mix with real ones (duplicates)."""

from __future__ import annotations

import pytest

from dialogue.simulated import dialogue_channel, simulator_external_id
from tests.dialogue.conftest import World

PIN = (25.6866, -100.3161)


def test_the_dialogue_channel_of_an_identity() -> None:
    assert dialogue_channel("simulator", "sim-ana:sms") == "sms"
    assert dialogue_channel("simulator", "sim-ana:telegram") == "telegram"
    assert dialogue_channel("simulator", "sim-ana") == "whatsapp"  # the simulator's default
    assert dialogue_channel("sms", "+528112345678") == "sms"
    assert simulator_external_id("ana", "whatsapp") == "sim-ana"
    with pytest.raises(ValueError):
        simulator_external_id("ana", "phone")


@pytest.mark.parametrize("channel", ["sms", "telegram", "whatsapp"])
def test_a_simulated_citizen_reads_what_a_real_one_reads(world: World, channel: str) -> None:
    real = world.chat(channel)
    simulated = world.chat("simulator", simulator_external_id(f"x{channel}", channel))
    script = ["hola", "hay un bache enorme frente al oxxo de la calle morelos 120 col centro", "no tengo foto",
              "cancelar"]
    for line in script:
        mine = [(r.text, r.buttons, r.request_location) for r in simulated.send(line)]
        theirs = [(r.text, r.buttons, r.request_location) for r in real.send(line)]
        assert mine == theirs, line
        assert {r.channel for r in simulated.replies} == {"simulator"}  # delivered to the simulator only
    assert simulated.conversation().step == real.conversation().step


def test_simulator_and_real_reports_are_never_offered_as_duplicates_of_each_other(world: World) -> None:
    simulated = world.chat("simulator", "sim-ana:telegram")
    simulated.send("hay un bache enorme", location=PIN)
    simulated.send("no tengo foto")
    simulated.send("no hay más")
    simulated.send("si")
    (sim_ticket,) = simulated.tickets()
    assert sim_ticket.channel == "simulator"

    real = world.chat("telegram")
    real.send("hay un bache enorme", location=PIN)
    real.send("no tengo foto")
    real.send("no hay más")
    replies = real.send("si")
    assert "Ya hay un reporte" not in real.text and real.conversation().flow is None
    assert len(real.tickets()) == 2 and sim_ticket.folio not in replies[-1].text

    again = world.chat("simulator", "sim-beto:telegram")
    again.send("hay un bache enorme", location=PIN)
    again.send("no tengo foto")
    again.send("no hay más")
    again.send("si")
    assert sim_ticket.folio in again.text  # simulated reports still find each other
