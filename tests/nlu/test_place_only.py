"""Issue 12 item 4: a message that gives a place and nothing else names no problem, however confident the
classifier is about a street's words; a report that names its problem beside the place is still understood."""

from __future__ import annotations

import pytest

from nlu.acts import only_a_place
from nlu.entities import extract


@pytest.mark.parametrize("text", [
    "Es en Hidalgo 100, frente a la farmacia",
    "Hidalgo 100 col Centro",
    "en la esquina de Juárez y Morelos",
    "calle Allende 77 entre Ocampo y Abasolo",
    "Madero 45 col. Centro",
    "frente al oxxo de la colonia Centro",
])
def test_a_place_alone_is_not_a_report(parser, text: str) -> None:
    reading = parser.parse(text)
    assert not reading.understood and reading.problems == ()
    assert any(e.type in ("address", "street", "landmark", "colonia") for e in reading.entities)  # kept as a place


@pytest.mark.parametrize("text, category", [
    ("hay un bache en Hidalgo 100 col Centro", "pothole"),
    ("lámpara fundida en Hidalgo 100", "streetlight"),
    ("no pasó la basura en Morelos 20 col Obrera", "garbage_collection"),
    ("fuga de agua frente a la farmacia de Juárez 12", "water_leak"),
])
def test_a_problem_beside_its_place_is_still_a_report(parser, text: str, category: str) -> None:
    reading = parser.parse(text)
    assert reading.understood and reading.intent == category


def test_only_a_place_needs_a_place() -> None:
    assert not only_a_place("gracias", extract("gracias"))
    assert not only_a_place("hay un bache", extract("hay un bache"))
