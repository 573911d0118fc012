import pytest

from nlu.api import Entity
from nlu.entities import extract
from ticketing.folio import damm_check_digit, is_valid_folio


def spans(text: str, kind: str) -> list[str]:
    return [text[e.start : e.end] for e in extract(text) if e.type == kind]


def test_damm_known_values() -> None:
    assert damm_check_digit("572") == 4
    assert is_valid_folio("12345671")
    assert not is_valid_folio("12345678")


@pytest.mark.parametrize(
    "text, start",
    [
        ("mi folio es 1234-5671", 12),
        ("folio 4571 0937 como va", 6),
        ("30548817", 0),
        ("Folio: 5203-1196.", 7),
    ],
)
def test_valid_folios_in_all_spellings(text: str, start: int) -> None:
    folios = [e for e in extract(text) if e.type == "folio"]
    assert len(folios) == 1
    e = folios[0]
    assert e.start == start
    assert e.value.replace("-", "") == "".join(c for c in text[e.start : e.end] if c.isdigit())
    assert len(e.value) == 9 and e.value[4] == "-"


def test_invalid_check_digit_and_phone_numbers_are_not_folios() -> None:
    assert spans("mi folio es 1234-5678", "folio") == []
    assert spans("mi cel 8112345671", "folio") == []


def test_landmark_span_exact() -> None:
    text = "ai un oyo enorme frente al oxxo de morelos"
    ents = extract(text)
    assert Entity("landmark", "frente al oxxo de morelos", 17, 42) in ents


def test_landmark_a_un_lado() -> None:
    assert spans("Hay un bache a un lado de la primaria, urge", "landmark") == ["a un lado de la primaria"]


def test_street_and_number() -> None:
    text = "Bache en Calle Morelos #123, col. Centro"
    assert spans(text, "street") == ["Calle Morelos"]
    assert spans(text, "number") == ["123"]
    assert spans(text, "address") == ["Calle Morelos #123"]
    assert spans(text, "colonia") == ["Centro"]


def test_corner_and_between() -> None:
    text = "la luminaria de av. Juárez esquina con Hidalgo no prende"
    assert spans(text, "street") == ["av. Juárez"]
    assert spans(text, "cross_street") == ["Hidalgo"]
    text2 = "fuga entre Zaragoza y Allende"
    assert spans(text2, "cross_street") == ["Zaragoza", "Allende"]


def test_counts_are_not_house_numbers() -> None:
    assert spans("la luminaria de mi calle lleva 3 días apagada", "number") == []


def test_spans_index_the_original_text_with_accents_and_emoji() -> None:
    text = "💡💡 Árbol caído frente a la Iglesia de San José"
    for e in extract(text):
        assert text[e.start : e.end] == e.value
    assert spans(text, "landmark") == ["frente a la Iglesia de San José"]


def test_long_message_entities_are_capped_and_spans_exact() -> None:
    import time

    from nlu.entities import extract

    filler = "la verdad ya estamos cansados de esperar y nadie hace nada, " * 90
    text = "Hay un bache en calle Morelos 120 frente al Oxxo. " + filler + "Mi folio anterior es 1234-5671 gracias"
    assert len(text) > 5000
    t0 = time.process_time()
    ents = extract(text)
    assert time.process_time() - t0 < 0.05
    for e in ents:
        assert text[e.start : e.end] == e.value
    kinds = {e.type for e in ents}
    assert {"address", "landmark", "folio"} <= kinds
    assert [e.value for e in ents if e.type == "folio"] == ["1234-5671"]


# Round 3: house numbers are not part of the street name; interiors, letters, bare intersections, colonias.
@pytest.mark.parametrize(
    "text, expected",
    [
        ("calle Morelos 120", {"address": ["calle Morelos 120"], "street": ["calle Morelos"], "number": ["120"]}),
        (
            "Av. Juárez #45 col. Centro",
            {"address": ["Av. Juárez #45"], "street": ["Av. Juárez"], "number": ["45"], "colonia": ["Centro"]},
        ),
        ("Hidalgo y Zaragoza", {"address": ["Hidalgo y Zaragoza"], "cross_street": ["Hidalgo", "Zaragoza"]}),
        (
            "esquina de Madero con Allende",
            {"address": ["esquina de Madero con Allende"], "cross_street": ["Madero", "Allende"]},
        ),
        (
            "entre Reforma y 5 de Mayo",
            {"address": ["entre Reforma y 5 de Mayo"], "cross_street": ["Reforma", "5 de Mayo"]},
        ),
        ("frente al Oxxo de la Morelos", {"landmark": ["frente al Oxxo de la Morelos"], "address": []}),
        ("a un lado de la primaria Benito Juárez", {"landmark": ["a un lado de la primaria Benito Juárez"]}),
        ("en la colonia Las Flores", {"colonia": ["Las Flores"], "address": []}),
        ("por el parque de la Col. Del Valle", {"landmark": ["por el parque"], "colonia": ["Del Valle"]}),
        (
            "Privada de los Pinos 12-B",
            {"address": ["Privada de los Pinos 12-B"], "street": ["Privada de los Pinos"], "number": ["12-B"]},
        ),
        (
            "Blvd. Díaz Ordaz 300 int 4",
            {"address": ["Blvd. Díaz Ordaz 300 int 4"], "street": ["Blvd. Díaz Ordaz"], "number": ["300 int 4"]},
        ),
        (
            "calle morelos 120 col centro",
            {"address": ["calle morelos 120"], "street": ["calle morelos"], "number": ["120"], "colonia": ["centro"]},
        ),
        (
            "CALLE MORELOS 120 COL. CENTRO",
            {"street": ["CALLE MORELOS"], "number": ["120"], "colonia": ["CENTRO"]},
        ),
        ("bache en hidalgo y zaragoza", {"cross_street": ["hidalgo", "zaragoza"]}),
        ("la lámpara de Hidalgo y Zaragoza no prende", {"address": ["Hidalgo y Zaragoza"]}),
        ("vivo en av 16 de septiembre 45", {"street": ["av 16 de septiembre"], "number": ["45"]}),
        ("fuga en la calle 10 num 25", {"street": ["calle 10"], "number": ["25"]}),
        ("calle 60 x 47 centro", {"street": ["calle 60"], "cross_street": ["47"]}),
        ("el semáforo de Av. Revolución y Calle 10", {"street": ["Av. Revolución"], "cross_street": ["Calle 10"]}),
        ("bachesote en la Morelos y Guerrero cuidado", {"cross_street": ["Morelos", "Guerrero"]}),
        ("sobre Av. Tecnológico 1450, a la altura de la gasolinera", {"number": ["1450"],
                                                                      "landmark": ["a la altura de la gasolinera"]}),
    ],
)
def test_address_spans(text: str, expected: dict[str, list[str]]) -> None:
    ents = extract(text)
    for e in ents:
        assert text[e.start : e.end] == e.value
    for kind, values in expected.items():
        assert spans(text, kind) == values, (kind, [(e.type, e.value) for e in ents])


@pytest.mark.parametrize(
    "text",
    ["Juan y María vinieron ayer", "PERROS Y GATOS EN LA CALLE", "hay luz y agua en la casa", "bache en pinos y cedros",
     "la luminaria lleva 3 días apagada y 2 noches", "lo de la basura y el drenaje"],
)
def test_no_false_intersections(text: str) -> None:
    assert spans(text, "cross_street") == [] and spans(text, "number") == []


# Round 5: landmarks next to addresses, multiword colonias, English addresses.
@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "hay un bache enorme frente al oxxo de la calle morelos 120 col centro",
            {"landmark": ["frente al oxxo"], "address": ["calle morelos 120"], "street": ["calle morelos"],
             "number": ["120"], "colonia": ["centro"]},
        ),
        (
            "bache frente al oxxo de morelos 120",
            {"landmark": ["frente al oxxo"], "address": ["morelos 120"], "street": ["morelos"], "number": ["120"]},
        ),
        ("frente al Oxxo de la Morelos", {"landmark": ["frente al Oxxo de la Morelos"], "address": []}),
        ("col valle del mirador", {"colonia": ["valle del mirador"]}),
        ("basura en la col. Valle del Mirador desde el lunes", {"colonia": ["Valle del Mirador"]}),
        ("colonia Lomas de San Francisco", {"colonia": ["Lomas de San Francisco"]}),
        ("fracc. Jardines de la Silla", {"colonia": ["Jardines de la Silla"]}),
        (
            "colonia Las Flores calle Hidalgo 20",
            {"colonia": ["Las Flores"], "address": ["calle Hidalgo 20"]},
        ),
        (
            "there is a huge pothole on juarez street 100",
            {"address": ["juarez street 100"], "street": ["juarez street"], "number": ["100"]},
        ),
        ("the street light is broken on morelos 20", {"address": ["morelos 20"], "number": ["20"]}),
        ("the light has been out on morelos for 3 days", {"address": [], "number": []}),
        ("a un lado de la tienda de don Pepe 3 casas antes", {"number": []}),
    ],
)
def test_round5_place_spans(text: str, expected: dict[str, list[str]]) -> None:
    ents = extract(text)
    for e in ents:
        assert text[e.start : e.end] == e.value
    for kind, values in expected.items():
        assert spans(text, kind) == values, (kind, [(e.type, e.value) for e in ents])
