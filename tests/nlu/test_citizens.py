"""Round 7 (issue 12): the error classes found on real citizens' reports, several phrasings each.

None of these sentences is a training example (``test_regression_sentences_are_not_training_examples``), so each
test checks that a *class* of message is read right, not that a sentence was memorised.
"""

from __future__ import annotations

import pytest

from nlu.acts import CANCEL_RE, core_text, mask_places
from nlu.api import FALLBACK_INTENT, HARMFUL_ACTS, PENDING_KINDS, SERVICE_INTENTS
from nlu.data import load_training_data
from nlu.normalize import fold, normalize
from reporta.settings import DEFAULT_DATA_DIR
from tests.nlu.conftest import DATA

THANK_YOU_TAILS = [
    ("hay un bache enorme en la esquina, muchas gracias por su atención", "pothole"),
    ("la luminaria de mi calle no prende, gracias de antemano", "streetlight"),
    ("se tapó el drenaje y huele horrible. Gracias", "sewer"),
    ("no ha pasado el camión de la basura en toda la semana, saludos y gracias", "garbage_collection"),
    ("hay un perro atropellado en la esquina gracias", "stray_animal"),
    ("hay una fuga de agua en la banqueta de enfrente, se los agradecería mucho", "water_leak"),
]
REMOVAL_VERBS = [
    ("retirar el sillón viejo que dejaron en la esquina", "illegal_dumping"),
    ("favor de retirar el coche abandonado de mi calle", "abandoned_vehicle"),
    ("eliminar las pintas de la barda de la escuela", "graffiti"),
    ("eliminar pintadas en la fachada del mercado", "graffiti"),
    ("quiten el escombro que está tirado en la banqueta", "illegal_dumping"),
    ("borren el grafiti del puente peatonal", "graffiti"),
    ("retiren la rama que cayó sobre la banqueta", "tree"),
]
CANCELS = ["cancelar", "cancela mi reporte por favor", "ya no quiero seguir", "mejor olvídalo todo",
           "mejor ya no, olvidalo", "stop"]
ROAD_DAMAGE = [
    "la calle de mi casa está intransitable",
    "la privada está hecha pedazos desde las lluvias",
    "las calles de la colonia están desechas",
    "el camino está en muy mal estado, no se puede pasar",
    "la avenida está destrozada, puro hoyo y piedra",
]
MORPHOLOGY = [
    "no han bacheado mi calle",
    "bachearon la semana pasada y ya se abrió otra vez",
    "un megabache en la lateral",
    "hay un bacho en la entrada del fraccionamiento",
    "urge que bacheen la avenida principal",
]
CAUSES = [
    ("hay baches por una fuga de agua que nunca repararon", "pothole"),
    ("se hicieron baches por la fuga de agua de la esquina", "pothole"),
    ("la tapa de la alcantarilla hace mucho ruido cuando pasan los carros", "sewer"),
    ("la tapa de la coladera truena toda la noche al pasar los camiones", "sewer"),
]
PLACES = [
    ("hay basura regada en la calle Sierra de las Pintas 12", "graffiti"),
    ("la lámpara del poste no prende en col. Villa del Parque", "park"),
    ("hay un bache enorme en calle Árbol de Picea 20", "tree"),
    ("se tapó la coladera en la colonia Jardines del Parque", "park"),
    ("perro muerto frente al parque de la colonia", "park"),
]
TWO_PROBLEMS = [
    ("hay un bache en mi calle y además la lámpara del poste está fundida", ("pothole", "streetlight")),
    ("la luminaria no prende. También hay un bache enorme en la esquina", ("streetlight", "pothole")),
    ("se tapó la coladera y también hay basura tirada en el baldío", ("sewer", "illegal_dumping")),
    ("hay grafiti en la barda de la escuela, además el semáforo de la esquina no funciona",
     ("graffiti", "traffic_signal")),
]
ADDRESS_ONLY = ["calle Morelos 120 col. Centro", "Av. Juárez 450 esquina con Hidalgo", "frente al Oxxo de la colonia",
                "col. Las Flores"]
FURNITURE_AND_ANIMALS = [
    ("hay una lavadora abandonada frente a mi casa", "illegal_dumping"),
    ("un sofá abandonado en la banqueta desde hace días", "illegal_dumping"),
    ("dejaron un colchón abandonado en el camellón", "illegal_dumping"),
    ("hay una rata muerta en la banqueta de la tienda", "stray_animal"),
    ("un gato muerto en la banqueta de enfrente", "stray_animal"),
]


def _all_sentences() -> list[str]:
    out = [t for t, _ in THANK_YOU_TAILS + REMOVAL_VERBS + CAUSES + PLACES + FURNITURE_AND_ANIMALS]
    return out + CANCELS + ROAD_DAMAGE + MORPHOLOGY + [t for t, _ in TWO_PROBLEMS] + ADDRESS_ONLY + POTHOLE_CONTEXT


def test_regression_sentences_are_not_training_examples() -> None:
    data = load_training_data(DEFAULT_DATA_DIR / "nlu", real=False)
    trained = {normalize(t) for t, _ in data.examples}
    copied = [t for t in _all_sentences() if normalize(t) in trained and t not in CANCELS[:1] + CANCELS[-1:]]
    assert not copied


@pytest.mark.parametrize("text, intent", THANK_YOU_TAILS)
def test_a_report_ending_in_thanks_is_a_report(parser, text: str, intent: str) -> None:
    result = parser.parse(text)
    assert result.intent == intent, result.ranking
    assert result.problems[:1] == (intent,)


@pytest.mark.parametrize("text, intent", REMOVAL_VERBS)
def test_verbs_of_removal_are_reports_not_cancel(parser, text: str, intent: str) -> None:
    result = parser.parse(text)
    assert result.intent == intent, result.ranking


@pytest.mark.parametrize("text", CANCELS)
def test_cancel_phrasing_still_cancels(parser, text: str) -> None:
    assert CANCEL_RE.search(fold(text))
    assert parser.parse(text).intent == "cancel"


def test_every_cancel_training_example_has_cancel_phrasing() -> None:
    """Cancel is accepted only with CANCEL_RE phrasing: the training examples of cancel must all have it."""
    data = load_training_data(DEFAULT_DATA_DIR / "nlu", real=False)
    missing = [t for t, y in data.examples if y == "cancel" and not CANCEL_RE.search(fold(t))]
    assert not missing


@pytest.mark.parametrize("text", ["retirar", "eliminar pintadas", "quitar la basura", "borrar las pintas"])
def test_removal_verbs_are_not_cancel_phrasing(text: str) -> None:
    assert not CANCEL_RE.search(fold(text))


@pytest.mark.parametrize("text", ROAD_DAMAGE + MORPHOLOGY)
def test_road_damage_and_bache_morphology_are_potholes(parser, text: str) -> None:
    result = parser.parse(text)
    assert result.intent == "pothole", result.ranking


@pytest.mark.parametrize("text, intent", CAUSES)
def test_the_problem_not_its_cause(parser, text: str, intent: str) -> None:
    assert parser.parse(text).intent == intent, parser.parse(text).ranking


@pytest.mark.parametrize("text, wrong", PLACES)
def test_place_names_do_not_vote(parser, text: str, wrong: str) -> None:
    result = parser.parse(text)
    assert result.intent in SERVICE_INTENTS and result.intent != wrong, result.ranking


def test_mask_keeps_a_problem_the_entity_rule_swallowed() -> None:
    # Lowercase "calle llena de baches" is not a sure place: the problem word stays for the classifier.
    assert "baches" in mask_places("calle llena de baches")
    assert "Pintas" not in mask_places("basura en la calle Sierra de las Pintas 12")
    assert "Parque" not in mask_places("lámpara fundida en col. Villa del Parque")


@pytest.mark.parametrize("text, problems", TWO_PROBLEMS)
def test_two_problems_in_one_message(parser, text: str, problems: tuple[str, ...]) -> None:
    result = parser.parse(text)
    assert result.problems == problems, (result.problems, result.ranking)
    assert result.intent == problems[0] or result.intent in problems


@pytest.mark.parametrize("text", ["hay un bache en mi calle", "la lámpara está fundida y lleva así una semana",
                                  "hay un bache enorme y ya se cayeron dos motos"])
def test_one_problem_is_one_entry(parser, text: str) -> None:
    assert len(parser.parse(text).problems) == 1


@pytest.mark.parametrize("text", ADDRESS_ONLY)
def test_an_address_alone_is_not_a_report(parser, text: str) -> None:
    result = parser.parse(text)
    assert not (result.understood and result.intent in SERVICE_INTENTS), result.ranking


@pytest.mark.parametrize("text, intent", FURNITURE_AND_ANIMALS)
def test_one_word_does_not_override_the_message(parser, text: str, intent: str) -> None:
    assert parser.parse(text).intent == intent, parser.parse(text).ranking


@pytest.mark.parametrize("text", ["no se, algo de la calle", "no sé, algo por aquí", "algo raro en mi calle, no sé"])
def test_vague_messages_are_not_understood(parser, text: str) -> None:
    result = parser.parse(text)
    assert not result.understood and result.intent == FALLBACK_INTENT
    assert len(result.ranking) >= 3 and result.problems == ()


def test_the_threshold_is_respected_everywhere(parser) -> None:
    texts = [*_all_sentences(), "si", "no", "1", "gracias", "hola", "algo pasa", "ayuda", "oigan", "la calle"]
    for text in texts:
        for pending in (None, *PENDING_KINDS):
            r = parser.parse(text, pending=pending)
            assert r.understood == (r.intent != FALLBACK_INTENT)
            if r.understood:
                assert r.confidence >= parser.threshold, (text, pending, r)
            else:
                assert r.problems == ()
            assert r.ranking == sorted(r.ranking, key=lambda x: -x[1])


@pytest.mark.parametrize("text, intent", [("1 mueble de salón tirado en la calle", "illegal_dumping"),
                                          ("2 perros muertos en la banqueta", "stray_animal"),
                                          ("1 lámpara fundida en la esquina", "streetlight")])
def test_a_leading_count_is_not_an_answer(parser, text: str, intent: str) -> None:
    assert parser.parse(text).intent == intent


def test_bare_answers_need_a_pending_question(parser) -> None:
    assert parser.parse("1", pending="choice").intent == "affirm"
    assert parser.parse("2", pending="yes_no").intent == "deny"
    assert not parser.parse("1").understood  # a number with no question pending is no answer
    assert not parser.parse("1", pending="location").understood
    for word, act in (("sí", "affirm"), ("no", "deny"), ("ok", "affirm")):
        assert parser.parse(word, pending="yes_no").intent == act
        assert parser.parse(word).intent == act  # still the act: the dialogue decides what to do with it


@pytest.mark.parametrize("text", ["no, sigue el bache", "no, el bache sigue igual", "no, la lámpara sigue apagada"])
def test_pending_decides_an_answer_that_names_the_problem(parser, text: str) -> None:
    at_question = parser.parse(text, pending="yes_no")
    assert at_question.intent == "deny" and len(at_question.problems) == 1


@pytest.mark.parametrize("text", ["no, sigue el bache", "no, la lámpara sigue apagada"])
def test_with_no_question_pending_a_leading_no_is_not_an_answer(parser, text: str) -> None:
    free = parser.parse(text)
    assert free.intent in SERVICE_INTENTS and free.problems == (free.intent,)


@pytest.mark.parametrize("text", ["sigue el bache, nadie vino", "el bache sigue igual", "sigue el pozo, nadie vino",
                                  "sigue igual la lámpara, nadie ha venido"])
def test_with_no_question_pending_a_sentence_that_names_a_problem_is_no_answer(parser, text: str) -> None:
    # Round 10: the classifier read these as deny; with no question pending they report the problem (or, unsure,
    # offer it), never an answer. At the survey's question they say "not fixed" (the survey reads worded_answer).
    from nlu.api import worded_answer

    free = parser.parse(text)
    assert free.intent not in ("affirm", "deny")
    assert free.intent in SERVICE_INTENTS or free.ranking[0][0] in SERVICE_INTENTS
    assert parser.parse(text, pending="yes_no").intent != "affirm" and worded_answer(text) == "deny"


@pytest.mark.parametrize("text", ["sí, y también hay un bache en la esquina", "si, ademas hay una fuga de agua"])
def test_yes_with_a_new_problem(parser, text: str) -> None:
    result = parser.parse(text, pending="yes_no")
    assert result.intent == "affirm" and len(result.problems) == 1


def test_core_text_drops_courtesy_and_counts() -> None:
    assert core_text("Hola buenas tardes, hay un bache, gracias por su atención", None) == ("hay un bache", None)
    assert core_text("1 mueble de salón", None) == ("mueble de salon", None)
    assert core_text("1", "choice") == ("", "affirm")
    assert core_text("no, sigue el bache", "yes_no") == ("sigue el bache", "deny")


def test_reports_are_not_read_as_dialogue_acts(parser) -> None:
    reports = [t for t, _ in THANK_YOU_TAILS + REMOVAL_VERBS + CAUSES + FURNITURE_AND_ANIMALS]
    reports += ROAD_DAMAGE + MORPHOLOGY
    for text in reports:
        assert parser.parse(text).intent not in HARMFUL_ACTS, text


POTHOLE_CONTEXT = [
    "hay un hoyo enorme en la calle y cuando llueve se llena de agua",
    "el bache de la esquina ya está lleno de basura",
    "hay un hoyo enorme debajo del poste de la luz, ya se cayó un señor",
    "se hundió el pavimento junto a la coladera",
]
MORE_ADDRESS_ONLY = ["calle Reforma 233 entre Juárez y Allende", "Blvd. Kino 1020 col. Pitic",
                     "esquina de Rosales y Veracruz"]


def _pothole_set() -> list[tuple[str, str]]:
    from nlu.data import read_labelled

    return read_labelled(DATA / "pothole_freetext.yml")


def test_pothole_set_is_not_training_data() -> None:
    data = load_training_data(DEFAULT_DATA_DIR / "nlu", real=False)
    trained = {normalize(t) for t, _ in data.examples}
    held = _pothole_set()
    assert len(held) >= 80 and {y for _, y in held} == {"pothole"}
    assert not [t for t, _ in held if normalize(t) in trained]
    assert sum("bache" not in t.lower() for t, _ in held) >= 60  # most of it without the word


def test_pothole_free_text_floor(parser) -> None:
    import yaml

    from nlu.data import _block_items

    doc = yaml.safe_load((DATA / "pothole_freetext.yml").read_text(encoding="utf-8"))
    free = [t for item in doc["nlu"] if item["metadata"]["block"] == "free_text"
            for t in _block_items(item["examples"])]
    right = [parser.parse(t).intent == "pothole" for t in free]
    assert sum(right) / len(right) >= 0.9  # issue 12: >= 0.90 on free-text pothole reports
    assert not [t for t, _ in _pothole_set() if parser.parse(t).intent in HARMFUL_ACTS]


@pytest.mark.parametrize("text", POTHOLE_CONTEXT)
def test_road_damage_with_water_trash_or_lights_as_context_is_a_pothole(parser, text: str) -> None:
    assert parser.parse(text).intent == "pothole", parser.parse(text).ranking


@pytest.mark.parametrize("text", MORE_ADDRESS_ONLY)
def test_more_addresses_alone_are_not_reports(parser, text: str) -> None:
    result = parser.parse(text)
    assert not (result.understood and result.intent in SERVICE_INTENTS), result.ranking


@pytest.mark.parametrize(("text", "answer"), [
    ("ya taparon el bache, gracias", "affirm"), ("ya quedó", "affirm"), ("ya prendió la lámpara", "affirm"),
    ("sí, sigue ahí la basura", "deny"), ("ya lo taparon pero quedó mal, se volvió a abrir", "deny"),
    ("nadie vino", "deny"), ("no lo arreglaron", "deny"), ("hay un bache en la esquina", None), ("no sé", None),
])
def test_worded_answer_to_was_it_fixed(text: str, answer: str | None) -> None:
    from nlu.api import worded_answer

    assert worded_answer(text) == answer


#: Round 11: thanks for a fix, with nothing asked, is no new report; a second thought, a relapse, a clogged drain
#: ("ya se tapó") or a question is.
FIXED_NEWS = [
    ("ya arreglaron el bache, gracias", "thanks"), ("ya vinieron a cortar el arbol, muchas gracias", "thanks"),
    ("ya prendieron la luminaria de mi calle, gracias", "thanks"),
    ("ya recogieron la basura de la esquina, gracias", "thanks"),
]
STILL_REPORTS = [
    ("ya taparon el hoyo dos veces y se vuelve a abrir, gracias", "pothole"),
    ("la coladera ya se tapo otra vez, gracias", "sewer"),
    ("el desague ya esta tapado y huele feo, gracias", "sewer"),
    ("ya pintaron grafiti en mi barda, gracias", "graffiti"),
    ("ya quitaron la tapa de la coladera, gracias", "sewer"),
    ("ya arreglaron la fuga, pero el hoyo que dejaron sigue abierto", "pothole"),
    ("ya bachearon pero la tuberia sigue tirando agua", "water_leak"),
    ("ya vinieron a tapar el bache pero quedo mal", "pothole"),
    ("ya se cayo el arbol encima de un carro", "tree"),
]


@pytest.mark.parametrize("text, act", FIXED_NEWS)
def test_news_that_it_was_fixed_is_no_new_report(parser, text: str, act: str) -> None:
    result = parser.parse(text)
    assert result.intent == act and not result.problems, result.ranking


@pytest.mark.parametrize("text, intent", STILL_REPORTS)
def test_fixed_but_still_a_problem_is_a_report(parser, text: str, intent: str) -> None:
    result = parser.parse(text)
    assert result.intent == intent and intent in result.problems, result.ranking


def test_a_question_about_the_fix_is_not_news(parser) -> None:
    from nlu.acts import worded_answer

    assert worded_answer("ya recogieron la basura?") == "affirm"  # the words alone would say so
    assert parser.parse("ya recogieron la basura?").intent not in ("affirm", "thanks")


def test_round_11_sentences_are_not_training_examples() -> None:
    data = load_training_data(DEFAULT_DATA_DIR / "nlu", real=False)
    trained = {normalize(t) for t, _ in data.examples}
    assert not [t for t, _ in FIXED_NEWS + STILL_REPORTS if normalize(t) in trained]


# Round 12: a status question or news of a fix, about a problem, is no new report of it (``Parse.about``).
STATUS_QUESTIONS = [
    ("¿ya taparon el bache?", "pothole"), ("ya vinieron a arreglar la fuga?", "water_leak"),
    ("ya recogieron la basura o todavia no", "garbage_collection"),
    ("sigue pendiente lo de la coladera?", "sewer"), ("oigan, que paso con lo de la lampara", "streetlight"),
    ("como va lo del arbol caido", "tree"),
]
#: When it will be fixed, or that it was reported before: worded as reports too, so the category may stay the intent
#: (the classifier alone may read check_status: "para cuándo vienen a arreglar la lámpara"); ``about`` is set.
WHEN_FIXED = [
    ("cuando van a venir a tapar el bache", "pothole"), ("para cuando vienen a arreglar la lampara", "streetlight"),
    ("el arbol que reporte sigue tirado en la calle", "tree"),
    ("nadie ha venido a lo de la fuga, sigue tirando agua", "water_leak"),
    ("siguen sin tapar el bache de la esquina", "pothole"),
]
BARE_NEWS = [
    ("ya quedo el bache", "pothole"), ("ya prendio la lampara de la esquina", "streetlight"),
    ("ya pasaron por la basura", "garbage_collection"), ("ya vinieron y taparon el bache", "pothole"),
    ("ya funciona el semaforo", "traffic_signal"), ("ya repararon la fuga de la esquina", "water_leak"),
]
STILL_NEWS_OF_A_PROBLEM = [
    ("ya taparon la coladera con tierra", "sewer"), ("ya vinieron a ver el bache", "pothole"),
    ("ya cortaron el arbol y dejaron las ramas tiradas", "tree"), ("ya se tapo la coladera", "sewer"),
    ("ya pasaron dos semanas y sigue el bache", "pothole"), ("ya no prende la lampara", "streetlight"),
    ("ya funciona el semaforo pero la lampara sigue apagada", "traffic_signal"),
]


@pytest.mark.parametrize("text, about", STATUS_QUESTIONS)
def test_a_status_question_about_a_problem(parser, text: str, about: str) -> None:
    result = parser.parse(text)
    assert (result.intent, result.about, result.problems) == ("check_status", about, ()), result.ranking


@pytest.mark.parametrize("text, about", WHEN_FIXED)
def test_when_it_will_be_fixed_stays_a_report_about_it(parser, text: str, about: str) -> None:
    result = parser.parse(text)
    assert result.about == about and result.intent in (about, "check_status"), result.ranking
    assert result.problems == ((about,) if result.intent == about else ()), result.problems


@pytest.mark.parametrize("text, about", BARE_NEWS)
def test_news_of_a_fix_without_thanks(parser, text: str, about: str) -> None:
    result = parser.parse(text)
    assert (result.intent, result.about, result.problems) == ("thanks", about, ()), result.ranking


@pytest.mark.parametrize("text, intent", STILL_NEWS_OF_A_PROBLEM)
def test_news_of_a_problem_is_a_report(parser, text: str, intent: str) -> None:
    result = parser.parse(text)
    assert result.intent == intent and result.about is None and intent in result.problems, result.ranking


def test_a_question_about_the_fix_at_a_pending_question_is_not_news(parser) -> None:
    """At "¿ya quedó?" the survey reads the words; the parser's news rule waits for no question at all."""
    assert parser.parse("ya quedo el bache", pending="yes_no").intent != "thanks"


def test_round_12_two_problems_joined_by_y_sigue(parser) -> None:
    assert parser.parse("se hizo un hoyo por la fuga y sigue tirando agua").problems == ("pothole", "water_leak")
    assert set(parser.parse("la lampara esta fundida y la basura no paso").problems) == {
        "streetlight", "garbage_collection"}


def test_round_12_sentences_are_not_training_examples() -> None:
    data = load_training_data(DEFAULT_DATA_DIR / "nlu", real=False)
    trained = {normalize(t) for t, _ in data.examples}
    lists = STATUS_QUESTIONS + WHEN_FIXED + BARE_NEWS + STILL_NEWS_OF_A_PROBLEM
    assert not [t for t, _ in lists if normalize(t) in trained]


# --- round 13 (walkthrough 13) -------------------------------------------------------------------------------

#: F17: short news of a fix with a thank-you reads as thanks about the category, as it does without one.
NEWS_WITH_THANKS = [
    ("oigan ya prendio la lampara, gracias!!", "streetlight"),
    ("ya quedó la luz, gracias", "streetlight"),
    ("ya prendió el foco de la calle, muchas gracias", "streetlight"),
    ("ya funciona el semaforo gracias", "traffic_signal"),
    ("ya pasaron por la basura, mil gracias", "garbage_collection"),
]
#: Still reports, thank-you or not: damage after "quedó", a second problem, what it was blocked with.
STILL_REPORTS_WITH_THANKS = [
    ("ya quedo inundada la calle, gracias", "sewer"),
    ("ya se tapo la coladera otra vez, gracias", "sewer"),
]


@pytest.mark.parametrize("text, about", NEWS_WITH_THANKS)
def test_round_13_news_of_a_fix_with_thanks(parser, text: str, about: str) -> None:
    result = parser.parse(text)
    assert (result.intent, result.about, result.problems) == ("thanks", about, ()), result.ranking


@pytest.mark.parametrize("text, intent", STILL_REPORTS_WITH_THANKS)
def test_round_13_a_report_with_thanks_stays_a_report(parser, text: str, intent: str) -> None:
    result = parser.parse(text)
    assert result.intent == intent and result.about is None, result.ranking


#: F10: garbage in an "arroyo" is the catalog's illegal dumping ("…tirados en la vía pública, un baldío o un arroyo");
#: the roadway's damage ("arroyo vehicular") stays a pothole.
ARROYO = [
    ("hay basura tirada en el arroyo de la calle sauce 8", "illegal_dumping"),
    ("la gente tira basura al arroyo de la calle", "illegal_dumping"),
    ("el arroyo vehicular de la avenida esta muy deteriorado", "pothole"),
]


@pytest.mark.parametrize("text, intent", ARROYO)
def test_round_13_garbage_in_the_arroyo(parser, text: str, intent: str) -> None:
    assert parser.parse(text).intent == intent, parser.parse(text).ranking


def test_round_13_lexicon_categories(parser) -> None:
    """What the dialogue asks before taking a correction's category (walk13 F9)."""
    assert parser.lexicon_categories("una coladera sin tapa") == {"sewer"}
    assert parser.lexicon_categories("es en toda la colonia no es una sola calle") == frozenset()


def test_round_13_sentences_are_not_training_examples() -> None:
    data = load_training_data(DEFAULT_DATA_DIR / "nlu", real=False)
    trained = {normalize(t) for t, _ in data.examples}
    assert not [t for t, _ in NEWS_WITH_THANKS + STILL_REPORTS_WITH_THANKS + ARROYO if normalize(t) in trained]
