"""Parts of one message read on their own: the corrected clause of a correction ("perdón, me equivoqué, no es
bache, es una lámpara fundida" -> streetlight) and a second problem joined by "y además" / "y también" /
"aparte" ("hay un bache y además la lámpara está fundida" -> pothole, then streetlight).

The NLU reads the whole message first (``Parse.problems``); these readings are the dialogue's fallback for what
the whole-message reading cannot say: which of two named categories the citizen *means*, and a second problem
when the NLU reports only one. Each clause is parsed with the real parser (``pending=None``).
"""

from __future__ import annotations

import logging
import re

from dialogue.text import fold
from dialogue.turn import Turn
from dialogue.understanding import NLU_MAX_CHARS, lexicon_categories, parse
from nlu.acts import is_consequence
from nlu.api import SERVICE_INTENTS, Parse

log = logging.getLogger("reporta.dialogue")

#: A correction anywhere near the start: "perdón", "me equivoqué", "ah no, es…", "no es bache, es…".
_CUE = re.compile(
    r"^(?:(?:ah|ay|oh|uy|oye|este|mmm?|no|disculpa|disculpe|perdona|perdone|ups)\b[\s,.!]*)*"
    r"(?:no\s*,?\s*(?:es|esta|era|fue)\b|me\s+equivoque|me\s+confundi|perdon\b|mejor\b|corrijo|correccion|"
    r"en\s+realidad|mas\s+bien|error\b|equivocad[oa]|es\s+en\b|esta\s+en\b|no\s+era\b|no\s+no\b)"
)
_CUE_ANYWHERE = re.compile(r"\b(?:me\s+equivoque|me\s+confundi|no\s+es\s+(?:un|una|el|la)?\s*\w+\s*,?\s*(?:es|sino))\b")
#: "no es bache": the category the citizen takes back (dropped before reading what they mean).
_NEGATED = re.compile(r"\bno\s+(?:es|era|fue)\s+(?:(?:un|una|el|la|lo|del|de)\s+)?[\wñ]+(?:\s+de\s+[\wñ]+)?", re.I)
#: Where the corrected words start: the last "es", "sino", "mejor", "más bien", "en realidad".
_MEANT = re.compile(r"(?:^|[\s,.;:!])(?:sino|mejor|m[aá]s\s+bien|en\s+realidad|es|son|era)\s+", re.I)
#: What joins a second problem: "y además", "y también", "aparte", "otra cosa", "y otra".
_SECOND = re.compile(
    r"(?:[,.;]\s*|\s+)(?:y\s+)?(?:adem[aá]s|tambi[eé]n|aparte|otra\s+cosa|por\s+otro\s+lado|y\s+otr[oa]\s+(?:cosa|problema))"
    r"\b[\s,:]*(?:de\s+eso\s+|de\s+que\s+)?",
    re.I,
)


_PLAIN_JOINT = re.compile(r"\s+(?:y|e)\s+(?!(?:además|ademas|también|tambien)\b)|\s*[,;]\s*(?=\S)", re.I)
MAX_PLAIN_JOINTS = 3
PLAIN_MIN_CONFIDENCE = 0.6
PLAIN_HESITATION = 0.15
PLAIN_WHOLE_SHARE = 0.2


#: Two categories one problem is told in, when a plain comma or "y" joins them (no "además"): the catalog's
#: garbage collection is "el camión de la basura no pasó", so "hay basura acumulada, no pasó el camión" tells the
#: garbage left (street cleaning, read alone) and why (collection): one report, of the category named first here.
_ONE_PROBLEM = {frozenset({"street_cleaning", "garbage_collection"}): "garbage_collection"}


def _one_problem(found: list[tuple[str, str]], text: str) -> list[tuple[str, str]]:
    """``found`` with the clauses of one problem merged (see ``_ONE_PROBLEM``) into one entry: the whole text."""
    if len(found) != 2:
        return found
    merged = _ONE_PROBLEM.get(frozenset(code for code, _ in found))
    return [(merged, text)] if merged else found


def _distinct(a: Parse | None, b: Parse | None) -> bool:
    """Two clearly different problems: each sure of itself, neither hesitating towards the other's category
    ("hay basura tirada, huele horrible" is one report whichever of the garbage categories wins)."""
    if a is None or b is None or min(a.confidence, b.confidence) < PLAIN_MIN_CONFIDENCE:
        return False
    top_a = {name for name, conf in a.ranking[:3] if conf >= PLAIN_HESITATION}
    top_b = {name for name, conf in b.ranking[:3] if conf >= PLAIN_HESITATION}
    return a.intent not in top_b and b.intent not in top_a


def is_correction(turn: Turn) -> bool:
    folded = fold(turn.text)
    return bool(_CUE.match(folded) or _CUE_ANYWHERE.search(folded))


def parse_clause(turn: Turn, text: str) -> Parse | None:
    """A part of the message read on its own (None when too short or the NLU fails)."""
    text = text.strip(" ,.;:!¡?¿")
    if len(text) < 3:
        return None
    try:
        return turn.services.parser.parse(text[:NLU_MAX_CHARS])
    except Exception:
        log.exception("dialogue: the NLU failed on a clause; ignored")
        return None


_PLACE_TYPES = frozenset({"address", "street", "number", "cross_street", "colonia", "landmark"})
_FILLER = frozenset({"es", "en", "la", "el", "de", "del", "calle", "no", "si", "y", "a", "al", "esta", "sobre", "por",
                     "perdon", "mejor", "me", "equivoque", "ah", "ay", "oye", "era", "los", "las", "un", "una"})


def _names_a_problem(reading: Parse) -> bool:
    """Words left besides the place ("en la calle Hidalgo 300" names no problem; "es una fuga" does)."""
    text = reading.text
    for e in sorted((e for e in reading.entities if e.type in _PLACE_TYPES), key=lambda e: -e.start):
        text = text[:e.start] + " " + text[e.end:]
    return any(w not in _FILLER for w in re.findall(r"[a-zñ]+", fold(text)))


def names_a_problem(turn: Turn) -> bool:
    """The message says something besides a place (its category is the citizen's, not the classifier's guess)."""
    return _names_a_problem(parse(turn))


def service_of(reading: Parse | None, catalog_codes: set[str]) -> str | None:
    """The service category a clause names (not only a place), if any."""
    if reading is None or not reading.understood or not _names_a_problem(reading):
        return None
    if reading.intent in SERVICE_INTENTS and reading.intent in catalog_codes:
        return reading.intent
    return None


#: A correction's category without a word of its lexicon needs this confidence ("es que no hay luz" 0.91 names the
#: streetlight; "es en toda la colonia, no es una sola calle" is streetlight 0.51 and names no problem at all).
CORRECTION_CONFIDENCE = 0.6


def _named(turn: Turn, reading: Parse | None, code: str) -> bool:
    """``code`` is named in ``reading``'s text: a word of its lexicon, or the classifier sure of it."""
    if reading is None:
        return False
    if code in lexicon_categories(turn, reading.text):
        return True
    return dict(reading.ranking).get(code, 0.0) >= CORRECTION_CONFIDENCE


def corrected_category(turn: Turn, current: str | None) -> str | None:
    """The category a correction means, when it differs from ``current``: the clause after the last "es" /
    "sino" / "mejor" (with "no es bache" removed) read on its own, else the whole message's reading. A category
    must be named (its lexicon or a sure reading): "no es una sola calle" is no correction of the category."""
    codes = set(turn.services.catalog.categories)
    text = turn.text[:NLU_MAX_CHARS]
    without_negated = _NEGATED.sub(" ", text)
    starts = [m.end() for m in _MEANT.finditer(without_negated)]
    candidates = [without_negated[starts[-1]:]] if starts else []
    candidates.append(without_negated)
    for clause in candidates:
        reading = parse_clause(turn, clause)
        found = service_of(reading, codes)
        if found and found != current and _named(turn, reading, found):
            return found
    whole = parse(turn)
    found = service_of(whole, codes)
    if found and found != current and _named(turn, whole, found):
        return found
    negated = {service_of(parse_clause(turn, re.sub(r"^no\s+\w+\s+", "", m.group(0))), codes)
               for m in _NEGATED.finditer(text)}
    if not _names_a_problem(whole):
        return None  # "no, es en la calle Hidalgo 300": only a place, whatever the classifier makes of "no, es en la"
    for name in whole.problems:
        if name != current and name in codes and name not in negated and _named(turn, whole, name):
            return name
    return None


def problems(turn: Turn) -> list[tuple[str, str]]:
    """Every problem the message reports, in order, as (category, the citizen's words for it): the NLU's
    ``Parse.problems`` when it reports two or more, else the whole message's category plus a second one read from
    the clause after "y además" / "y también" / "aparte". One entry (or none) for a single report."""
    codes = set(turn.services.catalog.categories)
    reading = parse(turn)
    text = turn.text[:NLU_MAX_CHARS]
    found = list(dict.fromkeys(p for p in reading.problems if p in codes))
    m = _SECOND.search(text)
    if len(found) >= 2:
        if m is not None and len(found) == 2:
            return [(found[0], text[:m.start()].strip()), (found[1], text[m.end():].strip())]
        return _one_problem([(code, turn.text) for code in found], turn.text)
    if m is not None:
        first = service_of(parse_clause(turn, text[:m.start()]), codes) or (found[0] if found else None)
        second = None if is_consequence(text[m.end():]) else service_of(parse_clause(turn, text[m.end():]), codes)
        if first and second and first != second:
            return [(first, text[:m.start()].strip()), (second, text[m.end():].strip())]
    # A plain "y" / comma ("bache y lámpara fundida en Hidalgo 5"): two problems only when the whole message is
    # split between two categories (each with a fair share of the ranking) and both sides, read on their own, are
    # those two ("hay un bache y está muy profundo", "…, ya se cayó una moto" are one report).
    split = {name for name, conf in reading.ranking if conf >= PLAIN_WHOLE_SHARE}
    for joint in (list(_PLAIN_JOINT.finditer(text))[:MAX_PLAIN_JOINTS] if len(split) >= 2 else []):
        left, right = text[:joint.start()], text[joint.end():]
        if is_consequence(right):
            continue  # "…, ya se cayó una moto": what the problem caused
        a = parse_clause(turn, left)
        first = service_of(a, codes)
        b = parse_clause(turn, right) if first else None
        second = service_of(b, codes)
        if first and second and first != second and {first, second} <= split and _distinct(a, b):
            return _one_problem([(first, left.strip()), (second, right.strip())], turn.text)
    return [(code, turn.text) for code in found]
