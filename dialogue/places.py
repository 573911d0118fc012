"""Places in the citizen's words: what the NLU found about a place (address, colonia, landmark, precise or
vague), the landmark phrase the NLU may miss ("frente al oxxo"), what is *not* a place ("no sé", "jajaja"),
and the written address of a report's slots.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from dialogue.text import LAUGHTER, UNSURE_WORDS, fold, starts_with_one_of
from dialogue.turn import Turn
from dialogue.understanding import NLU_MAX_CHARS, intent, is_control_word, is_short, parse

#: A landmark phrase ("frente al oxxo", "a un lado de la primaria"), used when the NLU found a street but no
#: landmark: the citizen's reference must not be lost from the report.
_LANDMARK_START = re.compile(
    r"\b(?:(?:justo\s+|casi\s+)?(?:en\s*frente|frente)\s+(?:a|al|de|del)"
    r"|(?:a\s+un|al|a)\s+(?:lado|costado)\s+(?:de|del)|junto\s+(?:a|al|de|del)|a\s+la\s+altura\s+(?:de|del)"
    r"|(?:atr[aá]s|detr[aá]s|cerca|enseguida|afuera|fuera|a\s+espaldas)\s+(?:de|del|al))\s+\S",
    re.IGNORECASE,
)
_LANDMARK_TAIL = re.compile(r"(?:\s+(?:de|del|en|la|el|los|las|sobre|por|y|calle|av|avenida|col|colonia))+\s*$",
                            re.IGNORECASE)
_LANDMARK_STOP = re.compile(r"[,.;:!?\n]")
LANDMARK_MAX_CHARS = 80


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


def location_parts(turn: Turn) -> dict[str, Any]:
    """What the NLU found about a place: address, colonia, landmark and whether it is precise."""
    found: dict[str, str] = {}
    starts: list[int] = []
    for entity in parse(turn).entities:
        if entity.type in ("address", "street", "number", "cross_street", "colonia", "landmark"):
            found.setdefault(entity.type, entity.value.strip())
            starts.append(entity.start)
    if found and not found.get("landmark"):
        landmark = landmark_phrase(turn.text[:NLU_MAX_CHARS], starts)
        if landmark:
            found["landmark"] = landmark
    address = found.get("address")
    if not address and found.get("street"):
        address = found["street"] + (f" {found['number']}" if found.get("number") else "")
    if found.get("cross_street") and (not address or fold(found["cross_street"]) not in fold(address)):
        address = f"{address} esquina con {found['cross_street']}" if address else found["cross_street"]
    precise = bool(address or found.get("number") or found.get("landmark"))
    colonia = found.get("colonia")
    if colonia and not fold(colonia).startswith(("col", "fracc", "barrio", "sector", "unidad", "residencial")):
        colonia = f"col. {colonia}"
    return {"address": address, "colonia": colonia, "landmark": found.get("landmark"),
            "precise": precise, "any": bool(found)}


def is_not_a_place(turn: Turn) -> bool:
    """ "no sé", "ok", "jajaja", "gracias", emojis: not a written place (no place words, no digit)."""
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
