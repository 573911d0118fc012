"""Places in the citizen's words: what the NLU found about a place (address, colonia, landmark, precise or
vague), the landmark phrase the NLU may miss ("frente al oxxo"), what is *not* a place ("no sé", "jajaja"),
and the written address of a report's slots.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dialogue.text import LAUGHTER, UNSURE_WORDS, fold, starts_with_one_of
from dialogue.turn import Turn
from dialogue.understanding import NLU_MAX_CHARS, intent, is_control_word, is_short, parse

if TYPE_CHECKING:
    from ticketing.models import Ticket

#: A landmark phrase ("frente al oxxo", "a un lado de la primaria"), used when the NLU found a street but no
#: landmark: the citizen's reference must not be lost from the report.
_LANDMARK_START = re.compile(
    r"\b(?:(?:justo\s+|casi\s+)?(?:en\s*frente|frente)\s+(?:a|al|de|del)"
    r"|(?:a\s+un|al|a)\s+(?:lado|costado)\s+(?:de|del)"
    r"|a\s+(?:\d+|una|dos|tres|cuatro|cinco|media)\s+cuadras?\s+(?:de|del)|junto\s+(?:a|al|de|del)|a\s+la\s+altura\s+(?:de|del)"
    r"|(?:atr[aá]s|detr[aá]s|cerca|enseguida|afuera|fuera|a\s+espaldas)\s+(?:de|del|al))\s+\S",
    re.IGNORECASE,
)
_LANDMARK_TAIL = re.compile(r"(?:\s+(?:de|del|en|la|el|los|las|sobre|por|y|calle|av|avenida|col|colonia))+\s*$",
                            re.IGNORECASE)
_LANDMARK_STOP = re.compile(r"[,.;:!?\n]")
LANDMARK_MAX_CHARS = 80
#: A landmark that only the citizen can find: "frente a mi casa", "afuera de nuestro negocio", "junto a mi trabajo".
#: It stays in the report's words but does not tell a crew where to go, so the place is still asked for.
_OWN_PLACE = re.compile(r"\b(?:a|al|de|del)\s+(?:mi|mis|nuestr[oa]s?|tu|su)\s+\w+(?:\s+\w+)?$")


def is_own_place(landmark: str) -> bool:
    """Is this landmark relative to the citizen's own place ("frente a mi casa"), not to one others can find?"""
    return bool(_OWN_PLACE.search(fold(landmark).strip()))


def landmark_phrase(text: str, entity_starts: Sequence[int]) -> str | None:
    """ "frente al oxxo" out of "frente al oxxo de la calle morelos 120": up to the next place entity or comma."""
    m = _LANDMARK_START.search(text)
    if m is None:
        return None
    start = m.start()
    end = min([len(text), start + LANDMARK_MAX_CHARS, *(s for s in entity_starts if s > start)])
    stop = _LANDMARK_STOP.search(text, m.end() - 1, end)
    if stop:
        end = stop.start()
    phrase = _LANDMARK_TAIL.sub("", text[start:end]).strip()
    return phrase if len(phrase) > m.end() - 1 - start else None


_ADDRESS_TYPES = ("address", "street", "number", "cross_street")
#: What may stand between two parts of one written address: "Allende 77 [entre] Ocampo y Abasolo" is one place.
_ADDRESS_GLUE = re.compile(r"^[\s,;#]*(?:(?:y|e|con|entre|esquina|esq\.?|casi|a\s+la\s+altura\s+de)\b[\s,]*)?$",
                           re.IGNORECASE)
_COLONIA_WORD = re.compile(r"(?:\b(?:en\s+(?:la\s+)?)?(?:colonia|col\.?|fraccionamiento|fracc?\.?|barrio|sector)\s*)$",
                           re.IGNORECASE)
#: Words around a written place that are not part of it: "es en", "está en la", "por favor", "gracias".
_LEAD_FILLER = re.compile(r"^(?:(?:es|est[aá]|queda|ser[ií]a)\s+)?(?:en\s+)?(?:(?:la|el)\s+(?=calle\b))?",
                          re.IGNORECASE)
#: Chatter before a place: "ya te dije en la Juárez", "como les dije, en la Hidalgo", "pues ya les había dicho que…".
_CHATTER_LEAD = re.compile(
    r"^\W*(?:(?:ya|pues|pero|oiga|oigan|oye|como|te|le|les|lo|se|que|q|si|no|ya\s+se)\b[\s,]*)*"
    r"(?:dije|digo|dijimos|he\s+dicho|habia\s+dicho|hab[ií]a\s+dicho|puse|escrib[ií]|expliqu[eé]|mencion[eé])\b"
    r"[\s,.!¡]*(?:que\s+|q\s+)?",
    re.IGNORECASE)
_TAIL_FILLER = re.compile(
    r"(?:[\s,.;:!]+(?:por\s+favor|porfa|gracias|muchas\s+gracias|saludos|urge|y|e|,))+[\s,.;:!]*$", re.IGNORECASE)
_PLACE_NOUN_START = re.compile(
    r"^(?:(?:la|el)\s+)?(?:escuela|primaria|secundaria|kinder|jard[ií]n\s+de\s+niños|prepa|preparatoria|iglesia"
    r"|parroquia|templo|mercado|plaza|parque|cl[ií]nica|hospital|centro\s+de\s+salud|oxxo|gasolinera|pante[oó]n"
    r"|deportivo|cancha|farmacia|tienda|biblioteca|colegio|guarder[ií]a)\b", re.IGNORECASE)
PLACE_MAX_WORDS = 12
_CROSSING = re.compile(r"\b(?:esquina|esq|entre|cruce|y)\b|\bc/", re.IGNORECASE)


def _spans_text(text: str, spans: list[tuple[int, int]]) -> list[str]:
    """The citizen's words for each run of address parts (parts separated only by "y", "entre", a comma... join)."""
    runs: list[list[int]] = []
    for start, end in sorted(spans):
        if runs and (start <= runs[-1][1] or _ADDRESS_GLUE.match(text[runs[-1][1]:start])):
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    return [text[a:b].strip(" ,;") for a, b in runs]


def location_parts(turn: Turn) -> dict[str, Any]:
    """What the NLU found about a place: address (street, number, cross streets in the citizen's words),
    colonia, landmark and whether it is precise."""
    return _parts(turn.text[:NLU_MAX_CHARS], parse(turn).entities)


def clause_location_parts(turn: Turn, text: str) -> dict[str, Any]:
    """``location_parts`` of a part of the message (one of two problems: "un bache en Hidalgo 10 col Centro")."""
    text = text[:NLU_MAX_CHARS]
    try:
        entities = turn.services.parser.parse(text).entities if text.strip() else []
    except Exception:
        entities = []
    return _parts(text, entities)


def _parts(text: str, found: Sequence[Any]) -> dict[str, Any]:
    entities = [e for e in found if e.type in (*_ADDRESS_TYPES, "colonia", "landmark")]
    address_spans = [(e.start, e.end) for e in entities if e.type == "address"]
    address_spans += [(e.start, e.end) for e in entities if e.type in ("street", "cross_street", "number")
                      and not any(a <= e.start and e.end <= b for a, b in address_spans)]
    landmarks = list(dict.fromkeys(e.value.strip() for e in entities if e.type == "landmark"))
    colonias = [_colonia_with_kind(text, e.start, e.value.strip()) for e in entities if e.type == "colonia"]
    starts = [e.start for e in entities]
    if entities and not landmarks:
        landmark = landmark_phrase(text, starts)
        if landmark:
            landmarks = [landmark]
    elif len(landmarks) == 1:
        # "a 2 cuadras de la clínica del IMSS": the whole phrase up to the landmark, when the NLU kept only "imss"
        end = max(e.end for e in entities if e.type == "landmark")
        phrase = landmark_phrase(text[:end], [e.start for e in entities if e.type != "landmark"])
        if phrase and fold(landmarks[0]) in fold(phrase):
            landmarks = [phrase]
    runs = [r for r in _spans_text(text, address_spans) if r] if address_spans else []
    address = ", ".join(dict.fromkeys(runs)) or None
    landmark = ", ".join(landmarks) or None
    precise = bool(address or any(not is_own_place(lm) for lm in landmarks))
    colonia = colonias[0] if colonias else None
    if colonia and not fold(colonia).startswith(("col", "fracc", "barrio", "sector", "unidad", "residencial")):
        colonia = f"col. {colonia}"
    return {"address": address, "colonia": colonia, "landmark": landmark, "precise": precise,
            "any": bool(entities), "first_start": min(starts) if starts else None}


_COLONIA_KIND = re.compile(r"\b(barrio|fraccionamiento|fracc\.?|sector|unidad|residencial|ejido)\s*$", re.IGNORECASE)


def _colonia_with_kind(text: str, start: int, value: str) -> str:
    """ "barrio de San Juan", not "col. de San Juan": the citizen's word for the kind of place, when the NLU left it
    out of the colonia's name."""
    m = _COLONIA_KIND.search(text[max(0, start - 20):start])
    if m and not fold(value).startswith(fold(m.group(1)).rstrip(".")):
        return f"{m.group(1)} {value}"
    return value


def names_another_place(turn: Turn, ticket: Ticket) -> bool:
    """The message names a place that is not the ticket's ("hay un bache en Juárez 5" after a Hidalgo report)."""
    parts = location_parts(turn)
    written = fold(" ".join(p for p in (parts["address"], parts["landmark"]) if p))
    return bool(written) and written not in fold(" ".join(p for p in (ticket.address, ticket.landmark) if p))


def written_place(turn: Turn) -> dict[str, Any]:
    """The answer to "¿Dónde está?": what the NLU found, plus the words it could not read as a place part
    (a street without a number, a misspelt name, a landmark: "Hidalgo col Centro", "escuela primaria 5"), so
    nothing the citizen wrote about the place is lost."""
    parts = location_parts(turn)
    text = turn.text[:NLU_MAX_CHARS]
    if parts["address"]:
        landmark = lead_landmark(turn, parts)  # "la barda de la secundaria técnica 5 en la calle Guerrero"
        return {**parts, "landmark": landmark, "precise": True} if landmark else parts
    lead = text[:parts["first_start"]] if parts["any"] else text
    lead = _COLONIA_WORD.sub("", lead)
    lead = _CHATTER_LEAD.sub("", lead.strip(" ,;:.!¡?¿\n"))
    lead = _TAIL_FILLER.sub("", _LEAD_FILLER.sub("", lead.strip(" ,;:.!¡?¿\n"))).strip(" ,;:.!¡?¿\n")
    if not lead or len(lead.split()) > PLACE_MAX_WORDS or not any(ch.isalnum() for ch in lead):
        return parts
    folded_lead = fold(lead)
    if parts["any"] and any(folded_lead == w or folded_lead.startswith(w + " ") for w in UNSURE_WORDS):
        return parts  # "no sé la dirección exacta, es por la escuela": the landmark only
    if _PLACE_NOUN_START.match(lead) and not parts["landmark"]:
        parts = {**parts, "landmark": lead, "precise": True, "any": True}
    elif not parts["address"]:
        parts = {**parts, "address": lead, "any": True,
                 "precise": parts["precise"] or any(ch.isdigit() for ch in lead) or bool(_CROSSING.search(lead))}
    return parts


#: A place named in words before the street ("la barda de la secundaria técnica 5 en la calle Guerrero").
_PLACE_NOUN = re.compile(
    r"\b(?:escuela|primaria|secundaria|kinder|prepa|preparatoria|iglesia|parroquia|templo|mercado|plaza|parque"
    r"|cl[ií]nica|hospital|centro\s+de\s+salud|oxxo|gasolinera|pante[oó]n|deportivo|cancha|farmacia|tienda"
    r"|biblioteca|colegio|guarder[ií]a|barda|puente|glorieta|m[oó]dulo|presidencia|universidad|tecnol[oó]gico)\b",
    re.IGNORECASE)
#: What names the part being corrected: "la ubicación, es…", "el lugar es…", "cambia la dirección:".
FIX_PLACE_PREFIX = re.compile(
    r"^\W*(?:(?:corrige|corregir|cambia|cambiar|corrijo)\s+)?(?:la\s+|el\s+)?(?:ubicaci[oó]n|direcci[oó]n|lugar)\b"
    r"(?:\s+(?:es|era|seria|correcta|bien))*[\s,.:;-]*",
    re.IGNORECASE)


def lead_landmark(turn: Turn, parts: dict[str, Any]) -> str | None:
    """The place named in words before the street, when the NLU found no landmark: "la barda de la secundaria
    técnica 5" out of "la ubicación, es la barda de la secundaria técnica 5 en la calle Guerrero y Aldama"."""
    if parts["landmark"] or parts["first_start"] is None:
        return None
    lead = FIX_PLACE_PREFIX.sub("", turn.text[:parts["first_start"]])
    lead = _CHATTER_LEAD.sub("", lead.strip(" ,;:.!¡?¿\n"))
    lead = _TAIL_FILLER.sub("", _LEAD_FILLER.sub("", lead.strip(" ,;:.!¡?¿\n"))).strip(" ,;:.!¡?¿\n")
    lead = re.sub(r"\s+(?:en|sobre|por)(?:\s+(?:la|el))?$", "", lead, flags=re.IGNORECASE).strip()
    if not lead or len(lead.split()) > PLACE_MAX_WORDS or not _PLACE_NOUN.search(lead):
        return None
    return lead[:LANDMARK_MAX_CHARS]


BARE_NUMBER = re.compile(r"\s*#?\s*\d{1,5}\s*[.)]?\s*")


def is_not_a_place(turn: Turn) -> bool:
    """ "no sé", "ok", "jajaja", "gracias", emojis, a bare number ("1", an answer to an older menu): not a written
    place (no place words, and no digit but a house number's beside them)."""
    if BARE_NUMBER.fullmatch(turn.text):
        return True
    if location_parts(turn)["any"] or any(ch.isdigit() for ch in turn.text):
        return False
    folded = turn.folded
    if not any(ch.isalpha() for ch in folded) or LAUGHTER.match(folded.replace(" ", "")):
        return True
    if starts_with_one_of(turn.text, UNSURE_WORDS):
        return True
    return is_control_word(turn) or (is_short(turn, 4) and intent(turn) in (
        "affirm", "deny", "thanks", "greet", "goodbye", "help"))


def address_text(s: dict[str, Any]) -> str | None:
    """The written address and colonia of a report's slots (the colonia once)."""
    parts = [p for p in (s.get("address"), s.get("colonia")) if p]
    if len(parts) == 2 and fold(parts[1]) in fold(parts[0]):
        parts = parts[:1]
    return ", ".join(parts) or None


def has_location(s: dict[str, Any]) -> bool:
    return s.get("lat") is not None or bool(s.get("address") or s.get("landmark") or s.get("colonia"))
