"""Urgency from the citizen's words: a category's ``urgent_cues`` (catalog) found in the report's description
("tapando el paso", "cayó sobre un carro", "se está inundando") make that one report urgent, so it gets the
category's shorter ``urgent_sla_hours`` commitment and the citizen is told so.

Cues are whole-word phrases compared on folded text (lower case, no accents), like the escalation lexicon.
"""

from __future__ import annotations

import re
from functools import lru_cache

from dialogue.text import fold
from ticketing.catalog import Category


@lru_cache(maxsize=64)
def _pattern(cues: tuple[str, ...]) -> re.Pattern[str] | None:
    folded = sorted({fold(c) for c in cues if fold(c)}, key=len, reverse=True)
    if not folded:
        return None
    return re.compile(r"(?<![\wñ])(?:" + "|".join(re.escape(c).replace(r"\ ", r"\s+") for c in folded) + r")(?![\wñ])")


def urgent_cue(category: Category, text: str | None) -> str | None:
    """The first of the category's urgent cues found in ``text`` (folded), or None."""
    if not text or category.urgent_sla_hours is None:
        return None
    pattern = _pattern(tuple(category.urgent_cues))
    m = pattern.search(fold(text)) if pattern is not None else None
    return m.group(0) if m else None
