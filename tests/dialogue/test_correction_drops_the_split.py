"""A message read as two problems, then the first corrected into the second: it was one problem, so the queued
one of that category is not filed again (walkthrough 13, F10's other half). Two of the same kind at two places stay
two reports."""

from __future__ import annotations

import pytest

from tests.dialogue.conftest import World
from tests.dialogue.test_addresses import finish

pytestmark = pytest.mark.sqlite_only

SPLIT_THEN_CORRECTED = [
    ("hay un bache y una coladera tapada en Hidalgo 10 col Centro",
     "ah no perdon, no es bache, es la coladera nada mas", "sewer"),
    ("hay un bache enorme y también una fuga de agua en Juárez 40 col Centro",
     "me equivoqué, no es bache, es solo la fuga de agua", "water_leak"),
]


@pytest.mark.parametrize("channel", ["whatsapp", "telegram", "sms"])
@pytest.mark.parametrize("first, correction, category", SPLIT_THEN_CORRECTED,
                         ids=[c for _, c, _ in SPLIT_THEN_CORRECTED])
def test_a_correction_into_the_queued_problem_files_it_once(world: World, channel: str, first: str,
                                                            correction: str, category: str) -> None:
    chat = world.chat(channel)
    chat.send(first)
    assert len(chat.conversation().slots.get("queued") or []) == 1
    chat.send(correction)
    assert chat.conversation().slots["category"] == category
    finish(chat)
    chat.send("sí")
    assert [t.category_code for t in chat.tickets()] == [category]
    assert "otro problema" not in chat.text.lower()


def test_two_of_the_same_kind_at_two_places_stay_two(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache en Hidalgo 10 col Centro y una coladera tapada en Allende 55 col Obrera")
    assert len(chat.conversation().slots.get("queued") or []) == 1
    chat.send("no es bache, es otra coladera tapada")
    assert chat.conversation().slots["category"] == "sewer"
    assert chat.conversation().slots.get("queued")  # the one in Allende 55 is still to be filed
