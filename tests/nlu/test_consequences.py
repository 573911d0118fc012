"""A consequence is not a second problem ("…, ya se cayó una moto"), an abbreviation's dot ends no clause
("col. Centro"), and a place alone after "no," names no category."""

from __future__ import annotations

import pytest

from nlu.acts import clauses, is_consequence


@pytest.mark.parametrize("text", ["ya se cayo una moto", "ya se han caido dos motos", "me cai", "las motos se caen",
                                  "ya chocaron dos carros", "se me poncho la llanta"])
def test_what_a_problem_caused_is_a_consequence(text: str) -> None:
    assert is_consequence(text)


@pytest.mark.parametrize("text", ["se cayo un arbol", "se cayo el poste", "la moto tirada en la banqueta",
                                  "hay una moto abandonada"])
def test_a_fallen_tree_or_an_abandoned_moto_is_a_problem(text: str) -> None:
    assert not is_consequence(text)


def test_an_abbreviation_dot_ends_no_clause() -> None:
    assert clauses("hay un bache en col. centro, ya se cayo una moto. hay una lampara fundida en av. juarez") == [
        "hay un bache en col  centro, ya se cayo una moto", "hay una lampara fundida en av  juarez"]


@pytest.mark.parametrize("text", ["Hay un bache enorme en calle Hidalgo 120 col. Centro, ya se cayó una moto",
                                  "hay un bache enorme. ya se cayeron dos motos"])
def test_one_problem_and_its_consequence(parser, text: str) -> None:
    result = parser.parse(text)
    assert result.intent == "pothole" and result.problems == ("pothole",), result


@pytest.mark.parametrize("pending", ["yes_no", "photo"])
def test_no_then_only_a_place_lists_no_problem(parser, pending: str) -> None:
    assert parser.parse("no, es en la calle Hidalgo 300", pending=pending).problems == ()


def test_two_problems_splitting_the_whole_ranking_are_both_understood(parser) -> None:
    result = parser.parse("hay un bache en mi calle y además la lámpara del poste está fundida")
    assert result.understood and result.confidence >= parser.threshold
    assert result.problems == ("pothole", "streetlight")


def test_escombro_tirado_is_illegal_dumping(parser) -> None:
    assert parser.parse("por favor retiren el escombro tirado en Allende 77 entre Ocampo y Abasolo").intent == \
        "illegal_dumping"
