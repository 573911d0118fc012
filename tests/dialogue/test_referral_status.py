"""The status of a report another agency attends (the catalog's ``referral``: the state water utility for leaks and
drainage) says who does the work, not that "el área lo asignará a una cuadrilla" (walkthrough round 13, F33)."""

from __future__ import annotations

import pytest

from tests.dialogue.conftest import World
from tests.dialogue.test_addresses import finish


@pytest.mark.parametrize("channel", ["whatsapp", "telegram"])
@pytest.mark.parametrize("question", ["¿cómo va mi reporte?", "q paso con mi reporte"])
def test_a_referred_report_names_the_agency_in_its_status(world: World, channel: str, question: str) -> None:
    chat = world.chat(channel)
    chat.send("hay una fuga de agua potable en Juárez 70 col Centro")
    finish(chat)
    chat.send("sí")
    ticket = chat.tickets()[-1]
    assert ticket.category_code == "water_leak"
    chat.send(question)
    agency = world.catalog.categories["water_leak"].referral.agency
    assert ticket.folio in chat.text and agency in chat.text
    assert "cuadrilla" not in chat.text


def test_a_report_the_municipality_attends_keeps_its_next_step(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache enorme en Hidalgo 100 col Centro")
    finish(chat)
    chat.send("sí")
    chat.send("¿cómo va mi reporte?")
    assert "Sigue: el área lo revisará" in chat.text
