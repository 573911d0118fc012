"""Small text helpers of the dialogue: a comparison form of what the citizen typed, fixed command words
(STOP/BAJA/ALTA, menú, ayuda, cancelar), yes/no words and the mapping of a reply back to an offered option.

The NLU classifies free text; these word lists only cover short, fixed answers where a classifier would be
overkill or where the law asks for an exact keyword (opting out of messages).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

_SPACES = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\s.,;:!¡?¿\"'()\-*_#]+|[\s.,;:!¡?¿\"'()\-*_]+$")

OPT_OUT_WORDS = frozenset({"stop", "baja", "alto", "stopall", "unsubscribe", "darme de baja", "dar de baja"})
OPT_IN_WORDS = frozenset({"alta", "start", "darme de alta", "unstop"})
MENU_WORDS = frozenset({"menu", "inicio", "menu principal", "opciones", "empezar", "comenzar"})
HELP_WORDS = frozenset({"ayuda", "help", "auxilio", "que puedo hacer", "como funciona", "instrucciones",
                        "necesito ayuda", "ayudame", "ayuda por favor", "como le hago", "como se usa"})
CANCEL_WORDS = frozenset({"cancelar", "cancela", "cancelalo", "cancelar reporte", "salir", "olvidalo",
                          "ya no", "dejalo", "nada", "cancel"})
YES_WORDS = frozenset({"si", "sip", "simon", "claro", "ok", "okay", "va", "vale", "dale", "correcto", "asi es",
                       "de acuerdo", "confirmo", "confirmar", "si ya quedo", "si quedo", "ya quedo", "esta bien",
                       "perfecto", "afirmativo", "si por favor", "si gracias", "exacto", "yes", "👍"})
NO_WORDS = frozenset({"no", "nop", "nel", "negativo", "no gracias", "para nada", "todavia no", "aun no",
                      "no ha quedado", "no quedo", "sigue igual", "no es"})
UNSURE_WORDS = frozenset({"no se", "nose", "ni idea", "no estoy seguro", "no estoy segura", "quien sabe",
                          "no lo se", "no he visto", "no he pasado"})
NO_PHOTO_WORDS = frozenset({"no tengo", "no tengo foto", "sin foto", "no puedo", "no", "omitir", "saltar",
                            "siguiente", "no tengo fotos", "no puedo tomar foto", "no traigo", "ahorita no",
                            "no gracias", "paso", "continuar", "despues", "mas tarde", "al rato", "luego te la mando",
                            "luego la mando", "ahorita no puedo", "no hay foto", "sin fotos", "ninguna", "nel",
                            "nop", "asi esta bien", "no tengo camara", "no se", "nose", "no se como"})
SKIP_WORDS = frozenset({"no", "omitir", "saltar", "siguiente", "nada mas", "eso es todo", "ninguno", "ninguna",
                        "no gracias", "asi esta bien", "continuar"})
#: The start of a correction of what the bot understood: "no, es en la calle Hidalgo", "me equivoqué, es una fuga".
CORRECTION_START = re.compile(
    r"^(?:no\s*,?\s*(?:es|esta|era|fue)\b|me\s+equivoque|me\s+confundi|perdon\b|mejor\b|corrijo|correccion|"
    r"en\s+realidad|mas\s+bien|error\b|equivocad[oa]|es\s+en\b|esta\s+en\b)"
)
#: "no sé": the citizen does not know (the place, the answer); never taken as a place or a description.
LAUGHTER = re.compile(r"^(?:j[aeiou]){2,}j?$|^(?:[aeiou]?j){2,}[aeiou]?$|^(?:ha){2,}h?$")

HANDOFF_WORDS = frozenset({"persona", "humano", "agente", "asesor", "operador", "operadora", "hablar con alguien",
                           "una persona", "hablar con una persona", "con una persona"})

ORDINALS = {
    "uno": 1, "una": 1, "primero": 1, "primera": 1, "el primero": 1, "la primera": 1, "el 1": 1, "la 1": 1,
    "dos": 2, "segundo": 2, "segunda": 2, "el segundo": 2, "la segunda": 2, "el 2": 2, "la 2": 2,
    "tres": 3, "tercero": 3, "tercera": 3, "el tercero": 3, "la tercera": 3, "el 3": 3, "la 3": 3,
    "cuatro": 4, "cuarto": 4, "cuarta": 4, "el cuarto": 4, "la cuarta": 4,
    "cinco": 5, "quinto": 5, "quinta": 5, "el quinto": 5, "la quinta": 5,
    "seis": 6, "sexto": 6, "sexta": 6, "siete": 7, "septimo": 7, "ocho": 8, "octavo": 8,
    "nueve": 9, "noveno": 9, "diez": 10, "decimo": 10,
}
_OPTION_PREFIX = re.compile(r"^(?:opcion|opc|op|numero|num|no)\.?\s*")


def fold(text: str | None) -> str:
    """Lower case, no accents (ñ kept), single spaces, no punctuation at the edges: the form we compare."""
    if not text:
        return ""
    return _fold(text)


@lru_cache(maxsize=1024)  # one turn folds the same text a dozen times (commands, yes/no, options, lexicon)
def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.lower().replace("ñ", "\x00"))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").replace("\x00", "ñ")
    stripped = _SPACES.sub(" ", stripped).strip()
    return _EDGE_PUNCT.sub("", stripped)


def is_one_of(text: str | None, words: frozenset[str]) -> bool:
    return fold(text) in words


def is_correction(text: str | None) -> bool:
    return bool(CORRECTION_START.match(fold(text)))


def starts_with_one_of(text: str | None, words: frozenset[str]) -> bool:
    """``text`` is one of ``words``, possibly followed by more words ("no, sigue el hoyo")."""
    folded = fold(text)
    if folded in words:
        return True
    head = re.split(r"[,.;:!]", folded, maxsplit=1)[0].strip()
    if head in words:
        return True
    return any(folded.startswith(w + " ") for w in words if " " not in w and len(w) > 1)


def option_index(text: str | None, payload: str | None, options: Sequence[Sequence[str]]) -> int | None:
    """Which offered option (``[payload, title]`` pairs, in order) a reply picks, 0-based, or None.

    A pressed button's payload, a number ("2", "#2", "opción 2"), a word ("dos", "el segundo") or the
    option's title ("bache") all count.
    """
    if not options:
        return None
    if payload:
        for i, (opt_payload, _title) in enumerate(options):
            if opt_payload == payload:
                return i
    folded = fold(text)
    if not folded:
        return None
    folded = _OPTION_PREFIX.sub("", folded).strip(" .)#")
    number: int | None = None
    if folded.isdigit():
        number = int(folded)
    elif folded in ORDINALS:
        number = ORDINALS[folded]
    if number is not None:
        return number - 1 if 1 <= number <= len(options) else None
    for i, (_payload, title) in enumerate(options):
        if fold(title) == folded:
            return i
    return None
