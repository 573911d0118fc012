"""Issue 13 items 4, 5, 6: two problems in one message are both filed, one after the other; a correction of the
category, place or detail at any step takes effect; below the NLU threshold the bot asks with the top
candidates and never files a guess. Whole conversations on SMS, WhatsApp and Telegram.
"""

from __future__ import annotations

import pytest

from nlu.api import Parse
from tests.dialogue.conftest import Chat, World
from tests.dialogue.test_addresses import finish

# One database is enough here: the table exercises the NLU and the dialogue; the store runs on both elsewhere.
pytestmark = pytest.mark.sqlite_only

CHANNELS = ["sms", "whatsapp", "telegram"]


# --- item 4: two problems ------------------------------------------------------------------------------------

TWO_PROBLEMS = [
    ("hay un bache y además la lámpara está fundida", ("pothole", "streetlight")),
    ("hay un bache en Morelos 20 y también hay una fuga de agua", ("pothole", "water_leak")),
    ("no pasó la basura, aparte hay un perro muerto en la calle", ("garbage_collection", "stray_animal")),
    ("la lámpara no prende y además hay grafiti en la barda", ("streetlight", "graffiti")),
    ("bache y lámpara fundida en Hidalgo 5 col Centro", ("pothole", "streetlight")),
    ("hay dos problemas: un bache y una lámpara fundida en Hidalgo 5", ("pothole", "streetlight")),
]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["Hay un bache enorme en calle Hidalgo 120 col. Centro, ya se cayó una moto",
                                  "hay un bache en Juárez 30 col Centro y está muy profundo",
                                  "la lámpara está fundida y el poste está chueco en Juárez 30"])
def test_one_problem_with_more_words_is_one_report(world: World, channel: str, text: str) -> None:
    chat = world.chat(channel)
    chat.send(text)
    assert "problemas" not in chat.text and not chat.conversation().slots.get("queued")


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, expected", TWO_PROBLEMS, ids=[t for t, _ in TWO_PROBLEMS])
def test_two_problems_are_both_filed_one_after_the_other(world: World, channel: str, text: str,
                                                         expected: tuple[str, str]) -> None:
    chat = world.chat(channel)
    chat.send(text)
    assert "problemas" in chat.replies[0].text  # said at once: both will be filed
    if chat.conversation().step == "location":
        chat.send("Hidalgo 100 col Centro")
    finish(chat)
    chat.send("sí")
    first = chat.tickets()[-1]
    # The second report starts at once, in the same place (the summary lets the citizen change it).
    assert chat.conversation().flow == "report" and chat.conversation().slots["category"] == expected[1]
    summary = finish(chat)
    assert (first.address or first.landmark or "")[:6].lower() in summary.lower() or first.lat is not None
    chat.send("sí")
    tickets = chat.tickets()
    assert [t.category_code for t in tickets[-2:]] == list(expected)
    assert tickets[-1].folio in chat.text and chat.conversation().flow is None


class ProblemsParser:
    """The real parser, except that one phrase reports two problems (what the NLU's ``Parse.problems`` gives)."""

    def __init__(self, real, phrase: str, problems: tuple[str, ...], *, understood: bool = True) -> None:
        self.real, self.phrase, self.problems, self.understood = real, phrase, problems, understood

    def parse(self, text: str, *, pending: str | None = None) -> Parse:
        parsed = self.real.parse(text, pending=pending)
        if text != self.phrase:
            return parsed
        return Parse(text=text, intent=self.problems[0], confidence=0.55,
                     ranking=[(self.problems[0], 0.55), (self.problems[1], 0.40), ("deny", 0.01)],
                     entities=parsed.entities, understood=self.understood, problems=self.problems)


@pytest.mark.parametrize("channel", CHANNELS)
def test_three_problems_are_all_filed(world: World, channel: str) -> None:
    """Round 12 walkthrough: a list after a colon, one clause starting ", hay" (the lamp was dropped)."""
    chat = world.chat(channel)
    chat.send("buenas, en mi cuadra hay 3 cosas: la lampara del poste esta fundida, hay un bache enorme y los vecinos "
              "tiran basura en el terreno baldio. es en calle Pino 14 col. Bosques")
    assert "problemas" in chat.replies[0].text and "tres" in chat.replies[0].text.replace("3", "tres")
    for _ in range(3):
        if chat.conversation().step == "location":
            chat.send("calle Pino 14 col. Bosques")
        finish(chat)
        chat.send("sí")
    assert [t.category_code for t in chat.tickets()] == ["streetlight", "pothole", "illegal_dumping"]
    assert all("Pino 14" in (t.address or "") for t in chat.tickets())


@pytest.mark.parametrize("channel", CHANNELS)
def test_two_problems_from_the_nlu_without_a_conjunction(world: World, channel: str) -> None:
    phrase = "bache enorme, lámpara fundida, Hidalgo 100 col Centro"
    world.engine.parser = ProblemsParser(world.engine.parser, phrase, ("pothole", "streetlight"))
    chat = world.chat(channel)
    chat.send(phrase)
    finish(chat)
    chat.send("sí")
    finish(chat)
    chat.send("1")
    assert [t.category_code for t in chat.tickets()] == ["pothole", "streetlight"]
    assert all("Hidalgo 100" in (t.address or "") for t in chat.tickets())


def test_cancelling_the_first_of_two_problems_drops_both(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache y además la lámpara está fundida")
    chat.send("cancelar")
    assert chat.conversation().flow is None and chat.tickets() == []


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("words, target", [("Ubicación", "location"), ("la dirección", "location"),
                                           ("tipo de problema", "category"), ("Corregir", "fix")])
def test_fix_options_typed_in_words(world: World, channel: str, words: str, target: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache en Hidalgo 100 col Centro")
    finish(chat)
    chat.send(words)
    expected = {"location": "location", "category": "category", "fix": "fix"}[target]
    assert chat.conversation().step == expected and "no te entend" not in chat.text.lower()


# --- item 5: corrections at any step -------------------------------------------------------------------------

CATEGORY_CORRECTIONS = [
    "perdón, me equivoqué, no es bache, es una lámpara fundida",
    "ah no, perdón, es una lámpara fundida",
    "me equivoqué, no es un bache, es la luminaria que no prende",
    "no es bache, es una lámpara apagada",
    "mejor es una lámpara fundida",
]


def _at(chat: Chat, step: str) -> None:
    chat.send("hay un bache")
    if step == "location":
        return
    chat.send("Morelos 12 col Centro")
    if step == "photo":
        assert chat.conversation().step == "photo"
        return
    finish(chat)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", CATEGORY_CORRECTIONS)
def test_a_category_correction_takes_effect_at_any_step(world: World, channel: str, text: str) -> None:
    step = "photo" if channel != "sms" else "confirm"
    for where in ("location", step):
        chat = world.chat(channel)
        _at(chat, where)
        chat.send(text)
        assert chat.conversation().slots["category"] == "streetlight", (where, chat.text)
        if chat.conversation().step == "location":
            chat.send("Morelos 12 col Centro")
        summary = finish(chat)
        assert "Alumbrado" in summary
        chat.send("sí")
        assert chat.tickets()[-1].category_code == "streetlight"


PLACE_CORRECTIONS = [
    ("perdón, es en Juárez 54", "Juárez 54"),
    ("no, es en la calle Hidalgo 300", "Hidalgo 300"),
    ("me equivoqué, es en Allende 77 entre Ocampo y Abasolo", "Allende 77 entre Ocampo y Abasolo"),
    ("mejor es en la calle hidalgo 40 col centro", "hidalgo 40"),
]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, place", PLACE_CORRECTIONS, ids=[t for t, _ in PLACE_CORRECTIONS])
def test_a_place_correction_replaces_the_place(world: World, channel: str, text: str, place: str) -> None:
    chat = world.chat(channel)
    chat.send("la lámpara no prende en Morelos 12")
    chat.send(text)
    finish(chat)
    chat.send("sí")
    ticket = chat.tickets()[-1]
    assert place.lower() in (ticket.address or "").lower() and "morelos 12" not in (ticket.address or "").lower()
    assert ticket.category_code == "streetlight"


@pytest.mark.parametrize("channel", ["whatsapp", "telegram"])
def test_a_detail_correction_at_the_photo_step_joins_the_description_and_is_acknowledged(world: World,
                                                                                         channel: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache en morelos 12")
    chat.send("me equivoqué, son dos baches grandes")
    assert "corregí" in chat.replies[0].text and "Sigo esperando" not in chat.text
    finish(chat)
    chat.send("sí")
    assert "son dos baches grandes" in chat.tickets()[-1].description


def test_a_correction_is_said_back_before_the_next_question(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("hay un bache en morelos 12")
    chat.send("perdón, me equivoqué, no es bache, es una lámpara fundida")
    assert "Alumbrado público" in chat.replies[0].text and chat.conversation().step == "photo"


# --- item 6: below the threshold, ask ------------------------------------------------------------------------


class BelowThresholdParser:
    """The real parser, except that one phrase falls below the threshold (``understood`` False)."""

    def __init__(self, real, phrase: str) -> None:
        self.real, self.phrase = real, phrase

    def parse(self, text: str, *, pending: str | None = None) -> Parse:
        parsed = self.real.parse(text, pending=pending)
        if text != self.phrase:
            return parsed
        ranking = [("street_cleaning", 0.448), ("pothole", 0.21), ("sidewalk", 0.14), ("deny", 0.05)]
        return Parse(text=text, intent="nlu_fallback", confidence=0.448, ranking=ranking, entities=[],
                     understood=False, problems=())


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("phrase", ["no se, algo de la calle", "esta fea la calle", "ayuda con la calle de aqui"])
def test_below_the_threshold_the_top_candidates_are_offered(world: World, channel: str, phrase: str) -> None:
    world.engine.parser = BelowThresholdParser(world.engine.parser, phrase)
    chat = world.chat(channel)
    replies = chat.send(phrase)
    assert chat.conversation().step == "category" and chat.conversation().slots["category"] is None
    assert [b.payload for b in replies[-1].buttons][:3] == ["cat:street_cleaning", "cat:pothole", "cat:sidewalk"]
    chat.send("2")
    assert chat.conversation().slots["category"] == "pothole" and chat.tickets() == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_bare_place_at_the_summary_changes_the_place_not_the_category(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("la lámpara no prende en Morelos 12")
    finish(chat)
    chat.send("es en la calle Hidalgo 300")
    finish(chat)
    chat.send("sí")
    ticket = chat.tickets()[-1]
    assert "hidalgo 300" in (ticket.address or "").lower() and ticket.category_code == "streetlight"
