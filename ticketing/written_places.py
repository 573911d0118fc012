"""Whether two places written in words are the same place ("calle Morelos frente a la tiendita de don Pepe, col. Las
Flores" and "la morelos, frente a la tienda de don pepe, colonia las flores"): the duplicate check for reports
without a map pin. Words are folded and stripped of the small words of addresses; two places are the same when
their words mostly coincide and their house numbers, if both have one, agree.
"""

from __future__ import annotations

import re
import unicodedata

#: Words every written place uses: they say nothing about which place.
_FILLER = frozenset({
    "calle", "c", "av", "avenida", "avda", "ave", "blvd", "boulevard", "bulevar", "calz", "calzada", "privada", "priv",
    "col", "colonia", "fracc", "fraccionamiento", "barrio", "sector", "la", "el", "los", "las", "de", "del", "y", "e",
    "a", "al", "en", "por", "frente", "enfrente", "esquina", "esq", "casi", "con", "entre", "junto", "lado", "un",
    "una", "cerca", "afuera", "fuera", "numero", "num", "no", "n", "mero", "aqui", "ahi", "alli", "sobre",
})
#: Share of the words of the shorter place that the other must hold.
SAME_PLACE_SHARE = 0.75
#: Fewest words a place needs to be compared (a bare "centro" matches too much).
MIN_WORDS = 2


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def place_words(text: str | None) -> frozenset[str]:
    """The words of a written place that tell it apart, folded; diminutives read as the word ("tiendita")."""
    words = set()
    for word in re.findall(r"[a-z0-9ñ]+", _fold(text or "")):
        if word in _FILLER:
            continue
        for ending, plain in (("ita", "a"), ("ito", "o"), ("itas", "as"), ("itos", "os")):
            if word.endswith(ending) and len(word) > len(ending) + 3:
                word = word[: -len(ending)] + plain
                break
        words.add(word)
    return frozenset(words)


def same_place(a: str | None, b: str | None) -> bool:
    """``a`` and ``b`` name the same place (see the module docstring)."""
    return same_words(place_words(a), place_words(b))


def same_words(wa: frozenset[str], wb: frozenset[str]) -> bool:
    """:func:`same_place` on words already read by :func:`place_words` (one place compared with many)."""
    if min(len(wa), len(wb)) < MIN_WORDS:
        return False
    numbers_a, numbers_b = {w for w in wa if w.isdigit()}, {w for w in wb if w.isdigit()}
    if numbers_a and numbers_b and not numbers_a & numbers_b:
        return False
    shorter, longer = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    return len(shorter & longer) >= SAME_PLACE_SHARE * len(shorter)
