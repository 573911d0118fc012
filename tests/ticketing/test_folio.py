"""Folios: format, Damm check digit, normalisation of what people type."""

from __future__ import annotations

import re

import pytest

from ticketing.folio import damm_check_digit, is_valid_folio, new_folio, normalise_folio


def test_known_damm_value() -> None:
    # the textbook example: 572 -> check digit 4
    assert damm_check_digit("572") == 4
    assert damm_check_digit("5724") == 0


def test_new_folio_format_and_check_digit() -> None:
    folios = {new_folio() for _ in range(2000)}
    assert len(folios) > 1990  # random, not a counter stuck on a value
    for f in folios:
        assert re.fullmatch(r"[1-9]\d{3}-\d{4}", f), f
        assert is_valid_folio(f)
        assert normalise_folio(f) == f


def test_folios_are_not_sequential() -> None:
    a, b = (int(new_folio().replace("-", "")) for _ in range(2))
    c = int(new_folio().replace("-", ""))
    assert not (b - a == 1 and c - b == 1)


@pytest.mark.parametrize("typed", ["57240000", "5724-0000", "5724 0000", " 5724 - 0000 ", "5724.0000",
                                   "Folio: 5724-0000", "#57240000", "FOLIO 5724 0000"])
def test_normalise_accepts_typed_forms(typed: str) -> None:
    body = "5724000"
    folio = body[:4] + "-" + body[4:] + str(damm_check_digit(body))
    typed = typed.replace("5724-0000", folio).replace("57240000", folio.replace("-", ""))
    typed = typed.replace("5724 0000", folio.replace("-", " ")).replace("5724.0000", folio.replace("-", "."))
    assert normalise_folio(typed) == folio


@pytest.mark.parametrize("bad", ["", "1234", "123456789", "1234-567", "abcd-efgh", "١٢٣٤٥٦٧٨", "1234-5678 extra",
                                 None, 12345678])
def test_normalise_rejects_malformed(bad) -> None:
    assert normalise_folio(bad) is None
    if isinstance(bad, str):
        assert not is_valid_folio(bad)


def test_every_single_digit_typo_and_adjacent_swap_is_caught() -> None:
    for _ in range(50):
        digits = new_folio().replace("-", "")
        for i in range(8):
            for d in "0123456789":
                if d != digits[i]:
                    assert normalise_folio(digits[:i] + d + digits[i + 1:]) is None
        for i in range(7):
            if digits[i] != digits[i + 1]:
                swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]
                assert normalise_folio(swapped) is None
