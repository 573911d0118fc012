"""The duplicate check of reports without a pin: two places written in words are the same place."""

from __future__ import annotations

import pytest

from ticketing.written_places import place_words, same_place

SAME = [
    ("calle morelos frente a la tiendita de don pepe col. las flores",
     "la Morelos, frente a la tienda de Don Pepe, colonia Las Flores"),
    ("Hidalgo 120, col. Centro", "calle Hidalgo 120 colonia centro"),
    ("esquina de Reforma y 16 de Septiembre", "Reforma esquina con 16 de septiembre"),
]
DIFFERENT = [
    ("Hidalgo 120, col. Centro", "Hidalgo 12, col. Centro"),  # another house number
    ("calle Morelos, col. Las Flores", "calle Juárez, col. Las Flores"),
    ("col. Centro", "col. Centro"),  # a colonia alone says too little
    ("frente al Oxxo", "a un lado del Oxxo de Juárez"),  # one word in common of three
]


@pytest.mark.parametrize("a, b", SAME)
def test_the_same_place_in_other_words(a: str, b: str) -> None:
    assert same_place(a, b) and same_place(b, a)


@pytest.mark.parametrize("a, b", DIFFERENT)
def test_other_places(a: str, b: str) -> None:
    assert not same_place(a, b)


def test_place_words_drop_the_small_words_and_diminutives() -> None:
    assert place_words("Calle Morelos #12, frente a la tiendita") == {"morelos", "12", "tienda"}
