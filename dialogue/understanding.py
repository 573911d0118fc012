"""What a citizen's message says, as the flows ask it: the NLU's reading (cached per turn), the option picked,
yes / no, a folio, and whether a short answer is only a control word (sí, ok, 1, gracias).
"""

from __future__ import annotations

import logging
import re

from dialogue.text import NO_WORDS, ORDINALS, SKIP_WORDS, UNSURE_WORDS, YES_WORDS, option_index, starts_with_one_of
from dialogue.turn import Turn
from nlu.api import FALLBACK_INTENT, SERVICE_INTENTS, Entity, Parse
from ticketing.folio import normalise_folio

log = logging.getLogger("reporta.dialogue")

#: Something typed like a folio (8 digits, maybe split 4-4): checked with the Damm digit before use.
FOLIO_LIKE = re.compile(r"(?<!\d)\d{4}[\s\-.]?\d{4}(?!\d)")
#: Characters of a message the NLU sees (the whole text is still kept as the report's description).
NLU_MAX_CHARS = 1000


#: What each step waits for, as the NLU is told (``nlu.api.PENDING_KINDS``).
_PENDING = {
    ("report", "category"): "choice", ("report", "location"): "location", ("report", "location_detail"): "location",
    ("report", "photo"): "photo", ("report", "description"): "detail", ("report", "confirm"): "yes_no",
    ("report", "fix"): "choice", ("report", "duplicate"): "yes_no", ("survey", "answer"): "yes_no",
    ("survey", "rating"): "choice", ("survey", "photo"): "photo", ("relocate", "location"): "location",
    ("status", "choose"): "choice", ("followup", "answer"): "detail",
}


def pending(turn: Turn) -> str | None:
    """What the conversation waits for when this message arrives (None: no question pending)."""
    conv = turn.conv
    kind = _PENDING.get((conv.flow or "", conv.step or ""))
    if kind is None and turn.slots.get("options"):
        kind = "choice"  # the menu's numbered options
    return kind


def parse(turn: Turn) -> Parse:
    """The NLU's reading of the text (cached per turn); a parser failure reads as "not understood"."""
    if turn.parse_cache is None:
        text = turn.text[:NLU_MAX_CHARS]
        if not text:
            turn.parse_cache = Parse(text="", intent=FALLBACK_INTENT, confidence=0.0, ranking=[], entities=[],
                                     understood=False)
        else:
            try:
                turn.parse_cache = _without_courtesy(turn, turn.services.parser.parse(text, pending=pending(turn)))
            except Exception:
                log.exception("dialogue: the NLU failed; treating the message as not understood")
                turn.parse_cache = Parse(text=text, intent=FALLBACK_INTENT, confidence=0.0, ranking=[],
                                         entities=[], understood=False)
    return turn.parse_cache


#: Courtesy around a report: "Buenas noches, …", "…, muchas gracias por su atención", "… de antemano gracias".
_LEADING_COURTESY = re.compile(
    r"^\W*(?:(?:hola|buen[oa]s?\s+(?:d[ií]as?|tardes|noches)|buenas|qu[eé]\s+tal|saludos|disculpe|disculpa|"
    r"una\s+pregunta|oiga|oigan|perd[oó]n\s+la\s+molestia)\b[\s,.!¡]*)+", re.IGNORECASE)
_TRAILING_COURTESY = re.compile(
    r"[\s,.;:!]*(?:(?:y\s+)?(?:muchas\s+|mil\s+)?gracias(?:\s+de\s+antemano|\s+por\s+(?:su|la|tu)\s+"
    r"(?:atenci[oó]n|ayuda|apoyo))?|de\s+antemano(?:\s+gracias)?|saludos(?:\s+cordiales)?|bendiciones|"
    r"que\s+tengan?\s+(?:buen|bonito)\s+d[ií]a|por\s+favor|porfa(?:vor)?|quedo\s+atent[oa]|atentamente)"
    r"[\s,.;:!]*$", re.IGNORECASE)
_COURTESY_INTENTS = frozenset({"thanks", "greet", "goodbye", "affirm", FALLBACK_INTENT})


def _without_courtesy(turn: Turn, reading: Parse) -> Parse:
    """A report wrapped in courtesy ("Hay un bache en Madero 500, muchas gracias por su atención") read as the
    courtesy (thanks): read again without it; entity spans still index the whole text."""
    if reading.understood and reading.intent not in _COURTESY_INTENTS:
        return reading
    text = reading.text
    core = _TRAILING_COURTESY.sub("", text)
    lead = _LEADING_COURTESY.match(core)
    offset = lead.end() if lead else 0
    core = core[offset:]
    if core == text or len(core.split()) < 3:
        return reading
    again = turn.services.parser.parse(core, pending=pending(turn))
    if not (again.understood and again.intent in SERVICE_INTENTS | {"check_status", "report_problem"}):
        return reading
    entities = [Entity(e.type, e.value, e.start + offset, e.end + offset) for e in again.entities]
    return Parse(text=text, intent=again.intent, confidence=again.confidence, ranking=again.ranking,
                 entities=entities, understood=True, problems=again.problems, about=again.about)


def intent(turn: Turn) -> str | None:
    """The NLU's intent when it understood the message."""
    reading = parse(turn)
    return reading.intent if reading.understood else None


def read_choice(turn: Turn) -> None:
    """Set ``turn.choice`` from the offered options ("2", "dos", the title, a pressed button) or a button of an
    older message."""
    offered = turn.slots.get("options") or []
    index = option_index(turn.text, turn.inbound.button_payload, offered)
    if index is not None:
        turn.choice = offered[index][0]
    elif turn.inbound.button_payload:
        turn.choice = turn.inbound.button_payload  # a button from an older message
        turn.stale_choice = True


def is_short(turn: Turn, max_words: int = 5) -> bool:
    return 0 < len(turn.folded.split()) <= max_words


def is_yes(turn: Turn) -> bool:
    if turn.choice is not None:
        return turn.choice == "yes"
    if starts_with_one_of(turn.text, YES_WORDS) and not starts_with_one_of(turn.text, NO_WORDS):
        return True
    return is_short(turn) and intent(turn) == "affirm"


def is_no(turn: Turn) -> bool:
    if turn.choice is not None:
        return turn.choice == "no"
    if starts_with_one_of(turn.text, NO_WORDS):
        return True
    return is_short(turn) and intent(turn) == "deny"


def folio_in(turn: Turn) -> str | None:
    """A valid folio (Damm-checked) anywhere in the message."""
    for entity in parse(turn).entities:
        if entity.type == "folio":
            folio = normalise_folio(entity.value)
            if folio:
                return folio
    return normalise_folio(turn.text) if turn.text else None


def is_control_word(turn: Turn) -> bool:
    """A short answer (sí, no, ok, 1, gracias...) that is never part of the citizen's description."""
    folded = turn.folded
    if not folded or folded.isdigit() or folded in ORDINALS:
        return True
    if folded in YES_WORDS or folded in NO_WORDS or folded in SKIP_WORDS or folded in UNSURE_WORDS:
        return True
    return is_short(turn, 3) and intent(turn) in (
        "affirm", "deny", "thanks", "greet", "goodbye", "cancel", "help")


#: Asking for a person inside a sentence ("¿no me pasas con un asesor porfa?", "quiero hablar con alguien del
#: municipio", "comunícame con una persona").
_ASKS_PERSON = re.compile(
    r"\b(?:pas(?:a|as|e|en|ame|eme|ar|arme)|comunic\w*|contact\w*|conect\w*|transfier\w*|canaliz\w*|hablar|"
    r"platicar)\s+"
    r"(?:me\s+|nos\s+)?con\s+(?:un|una|el|la|algun|alguna)?\s*"
    r"(?:asesor\w*|persona|humano|agente|operador\w*|ejecutiv\w*|alguien|encargad\w*|licenciad\w*)\b|"
    r"\b(?:quiero|necesito|ocupo|pueden?\s+pasar(?:me)?\s+con)\s+(?:un|una|a\s+un|a\s+una)?\s*"
    r"(?:asesor\w*|persona|humano|agente|operador\w*|ejecutiv\w*)\b"
)
#: Not wanting a person ("no no, no quiero persona", "no quiero hablar con nadie", "no necesito un asesor").
_REFUSES_PERSON = re.compile(
    r"\bno\s+(?:quiero|necesito|ocupo|pedi)\s+(?:hablar\s+con\s+|que\s+me\s+pases\s+con\s+)?(?:a\s+)?"
    r"(?:un|una|el|la|ninguna?|ningun)?\s*(?:persona|asesor\w*|humano|agente|operador\w*|nadie)\b|"
    r"\bno\s+(?:te\s+)?(?:pedi|dije\s+que\s+me\s+pasaras)\b"
)
#: Asking for the question again ("perdón, me distraje, ¿qué me preguntabas?", "¿qué me dijiste?", "repite").
_ASKS_TO_REPEAT = re.compile(
    r"\b(?:que|q|k)\s+(?:me\s+)?(?:preguntabas|preguntaste|preguntas|pregunto|pediste|pedias|decias|dijiste|"
    r"estabas\s+preguntando)\b|\b(?:repite|repitelo|repitemelo|repetir|repiteme|me\s+repites|puedes\s+repetir)\b|"
    r"\bcual\s+era\s+la\s+pregunta\b|\bno\s+vi\s+(?:la\s+pregunta|lo\s+que\s+(?:me\s+)?(?:preguntaste|dijiste))\b"
)
#: Checking the bot is still there ("holaaa?? sigues ahí?", "¿hay alguien?", "bueno??").
_ARE_YOU_THERE = re.compile(
    r"^(?:(?:hola+|oye|oiga|bueno+|ey+|hey+)\s*)*(?:sigue[sn]?\s+ahi|esta[sn]?\s+ahi|hay\s+alguien(?:\s+ahi)?|"
    r"me\s+(?:lees|escuchas|oyes)|bueno+|hola+)$"
)
#: A message with no words: dots, an ellipsis, invisible characters, question marks ("...", "\u200b", "??").
_NO_WORDS = re.compile(r"^[\s.,;:…\-_·•~*'\"`´?¿!¡\u200b-\u200f\u2060\ufeff\u00ad]*$")


def asks_for_person(turn: Turn) -> bool:
    """A person asked for inside a sentence, and not refused ("no no, no quiero persona")."""
    folded = turn.folded
    return bool(_ASKS_PERSON.search(folded)) and not refuses_person(turn)


def refuses_person(turn: Turn) -> bool:
    return bool(_REFUSES_PERSON.search(turn.folded))


def asks_to_repeat(turn: Turn) -> bool:
    """ "¿qué me preguntabas?": the pending question again (not a handoff, not "no te entendí")."""
    return bool(turn.text) and len(turn.folded.split()) <= 12 and bool(_ASKS_TO_REPEAT.search(turn.folded))


def asks_if_there(turn: Turn) -> bool:
    return bool(turn.text) and bool(_ARE_YOU_THERE.match(" ".join(re.sub(r"[^\w\s]", " ", turn.folded).split())))


def no_words(turn: Turn) -> bool:
    """Only dots, invisible characters or question marks (and no pin, no photo)."""
    return bool(turn.text) and not turn.inbound.location and not turn.photos and bool(_NO_WORDS.match(turn.text))


def lexicon_categories(turn: Turn, text: str) -> frozenset[str]:
    """The categories whose lexicon (``kw_*``) words ``text`` holds; none when the parser has no lexicon (Rasa) or it
    fails on the text."""
    lexicon = getattr(turn.services.parser, "lexicon_categories", None)
    if lexicon is None:
        return frozenset()
    try:
        return frozenset(lexicon(text))
    except Exception:
        log.exception("dialogue: the NLU lexicon failed on a message; ignored")
        return frozenset()
