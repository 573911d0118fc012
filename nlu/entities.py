"""Rule-based entity extraction with exact character spans: folios, street addresses, colonias, landmarks.

Regexes run on :func:`nlu.normalize.fold` of the message (same length as the original, lower case, no accents), so
every span is a span of the original text and every value is the original text, trimmed.

* ``folio``: 8 digits typed as ``12345678``, ``1234-5678``, ``1234 5678`` or ``folio 1234-5678``; accepted only when
  the 8th digit is the Damm check digit of the first 7 (``ticketing.folio``, the store's format); value
  ``NNNN-NNNN``.
* ``address``: a street with a house number and/or cross streets ("calle Morelos 123", "Juárez esquina con
  Hidalgo", "entre Zaragoza y Allende"); inside it ``street``, ``number`` and ``cross_street``.
* ``colonia``: "col. Centro", "colonia Las Flores", "fracc. Los Pinos".
* ``landmark``: a relative place, relation included: "frente al Oxxo", "a un lado de la primaria".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from nlu.normalize import fold
from nlu.types import Entity
from ticketing.folio import is_valid_folio  # the format is the ticket store's (a pure module, no database)

# --- folios -----------------------------------------------------------------------------------------------------

_FOLIO_RE = re.compile(r"(?<![\d\-])(?:folio\s*(?:no\.?|num(?:ero)?\.?|#)?\s*:?\s*)?(\d{4})[\s\-.]?(\d{4})(?![\d\-])")

# --- places -----------------------------------------------------------------------------------------------------

_STREET_TYPE = (
    r"(?:calle|c\.|cll\.?|avenida|av\.?|ave\.?|blvd\.?|boulevard|bulevar|bulevard|calzada|calz\.?|privada|priv\.?"
    r"|andador|and\.|cerrada|cda\.?|circuito|cto\.?|prolongacion|prol\.?|paseo|carretera|camino|callejon|retorno"
    r"|periferico|libramiento)"
)
# Words that end a street / place name.
_STOP = (
    r"(?:y|e|o|con|en|de\s+la\s+col|frente|enfrente|junto|cerca|entre|esquina|esq|por|para|que|porque|pero|ya|hay|"
    r"esta|estan|lleva|tiene|desde|hace|casi|a|al|del|numero|num|no|colonia|col|fracc|fraccionamiento|sector|"
    r"barrio|donde|cuando|se|le|lo|la|las|los|el|un|una|sobre|mismo|misma|todo|toda|muy|mas|tambien|favor|"
    r"porfa|x|q|me|nos|mi|su|sus|tienen|hasta|atras|detras|lado|ahi|alli|aqui|aca|este|esta|esa|ese|como|"
    r"son|es|fue|era|pasa|paso|solo|manden|mandar|vengan|urge|gracias|saludos|hola|buenas|buenos|"
    r"int|interior|depto|dpto|departamento|local|lote|lt|manzana|mz|mza|cp|c\.p)"
)
# A house number: digits, optionally a letter ("12-B", "12B", "12 B") and an interior ("300 int 4", "depto 3").
_HOUSE = (
    r"\d{1,5}(?:\s?-\s?[a-z]\b|[a-z]\b|\s[b-d]\b(?!\s*(?:de|del)\b))?"
    r"(?:\s*,?\s*(?:int\.?|interior|depto\.?|dpto\.?|departamento|local|lote|lt\.?)\s*#?\s*[a-z]?\d{1,4}[a-z]?\b)?"
)
_WORD_CHARS = r"[a-zñ0-9][a-zñ0-9'.]*"
_NAME_WORD = rf"(?!{_STOP}\b){_WORD_CHARS}"
# Words after the first may not be a bare number: "calle Morelos 120" is street "calle Morelos" + number "120";
# a leading number stays in the name ("5 de Mayo", "calle 10", "16 de Septiembre").
_NEXT_WORD = rf"(?!{_STOP}\b)(?!\d+(?:\s?-\s?[a-z]|[a-z])?\b)(?!s/n\b){_WORD_CHARS}"
_NAME = rf"{_NAME_WORD}(?:\s+(?:de\s+(?:la\s+|los\s+|las\s+)?)?{_NEXT_WORD}){{0,3}}"
_NUMBER = (
    rf"(?:#\s*|no\.\s*|num\.?\s*|numero\s+|n[°º]\s*)?({_HOUSE}|s/n\b)"
    r"(?!\s*(?:dias|dia|horas|hrs|semanas|meses|anos|min|minutos|metros|mts|cuadras|casas|carros|perros|veces"
    r"|days?|hours?|weeks?|months?|years?|times|blocks?|meters|feet|am|pm)\b)"
)

_STREET_TYPED_RE = re.compile(rf"\b(?P<street>{_STREET_TYPE}\s+(?:de\s+(?:la\s+|los\s+|las\s+)?)?{_NAME})")
# English "on/at Juárez street 100" too.
_STREET_SOBRE_RE = re.compile(
    rf"\b(?:sobre|en|por|on|at)\s+(?:la\s+|el\s+|the\s+)?(?P<street>{_NAME})\s+(?=#|no\.|num|numero|\d)"
)
_NUMBER_AFTER_RE = re.compile(rf"\s*,?\s*{_NUMBER}")
_CORNER_RE = re.compile(
    rf"\s*,?\s*(?:casi\s+)?(?:esquina|esq\.?)\s*(?:con|c/|y|de)?\s+(?:(?:la|el)\s+)?(?:{_STREET_TYPE}\s+)?(?P<x>{_NAME})"
)
# Yucatán-style crossings of numbered streets: "calle 60 x 47", "calle 60 por 47".
_CROSS_NUMBER_RE = re.compile(
    r"\s*,?\s*(?:x|por)\s+(?:calle\s+)?(?P<x>\d{1,3}[a-z]?)\b(?!\s*(?:dias|dia|horas|semanas|meses))"
)
# "... y Zaragoza" right after a street: a cross street only when it looks like a street name (see _street_like).
_AND_RE = re.compile(
    rf"\s*,?\s+(?:y|e|con)\s+(?:(?:la|el)\s+)?(?P<x>(?P<typed>{_STREET_TYPE}\s+)?{_NAME_WORD}"
    rf"(?:\s+(?:de\s+)?{_NEXT_WORD}){{0,2}})"
)
# A bare intersection "Hidalgo y Zaragoza" (no "esquina", no street type): see _bare_corner_ok.
_SHORT_NAME = rf"{_NAME_WORD}(?:\s+(?:de\s+)?{_NEXT_WORD}){{0,2}}"
_BARE_CORNER_RE = re.compile(
    rf"(?:\b(?P<prep>en|sobre|por|de|del|hasta|cruce\s+de|cruzando|calles|altura\s+de)\s+|^|(?<=[,;:(\n]))\s*"
    rf"(?:(?:la|el)\s+)?(?P<a>{_SHORT_NAME})\s+(?:y|e|con)\s+(?:(?:la|el)\s+)?(?P<b>{_SHORT_NAME})"
)
#: Street names common all over Mexico (folded): lowercase "hidalgo y zaragoza" is an intersection on their strength.
_COMMON_STREETS = (
    "hidalgo morelos juarez zaragoza allende madero reforma independencia revolucion guerrero aldama matamoros "
    "victoria abasolo obregon carranza zapata bravo galeana mina iturbide degollado ocampo lerdo cuauhtemoc "
    "insurgentes constitucion colon corregidora xicotencatl escutia pino negrete arteaga escobedo comonfort "
    "rayon villa cardenas benito miguel vicente ignacio venustiano emiliano francisco alvaro lazaro nicolas "
    "josefa leona javier mariano jose ninos heroes libertad progreso periferico nacional central juventud "
    "ferrocarril universidad tecnologico suarez ortiz dominguez"
)
COMMON_STREETS = frozenset(_COMMON_STREETS.split())


def _sound(word: str) -> str:
    """A spelling-blind key of a folded word: silent h, b/v, s/z/c(e,i), y/ll, k/c/qu, doubled letters."""
    w = re.sub(r"(?<!c)h", "", word).replace("ll", "y").replace("v", "b").replace("z", "s").replace("qu", "k")
    w = re.sub(r"c(?=[ei])", "s", w).replace("c", "k")
    return re.sub(r"(.)\1", r"\1", w)


_COMMON_SOUNDS = frozenset(_sound(w) for w in COMMON_STREETS)


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by at most one inserted, deleted or replaced letter."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)):] == b[i + 1:] if i < len(b) else True


def is_common_street(word: str) -> bool:
    """A well-known street name, misspelt or not ("idalgo", "juares", "morelso" for Hidalgo, Juárez, Morelos)."""
    if word in COMMON_STREETS:
        return True
    if len(word) < 4 or not word.isalpha():
        return False
    key = _sound(word)
    if key in _COMMON_SOUNDS:
        return True
    return len(word) >= 6 and any(_one_edit(key, k) for k in _COMMON_SOUNDS if abs(len(k) - len(key)) <= 1)
_BETWEEN_RE = re.compile(
    rf"\b(?:entre|entra)\s+(?:(?:la|las|el|calles?)\s+)?(?:{_STREET_TYPE}\s+)?(?P<a>{_NAME})\s+[ye]\s+(?:(?:la|el)\s+)?"
    rf"(?:{_STREET_TYPE}\s+)?(?P<b>{_NAME})"
)
_CORNER_ALONE_RE = re.compile(
    rf"\b(?:esquina\s+de|esq\.?\s+de)\s+(?:(?:la|el)\s+)?(?:{_STREET_TYPE}\s+)?(?P<a>{_NAME})\s+(?:y|con)\s+"
    rf"(?:(?:la|el)\s+)?(?:{_STREET_TYPE}\s+)?(?P<b>{_NAME})"
)
_GLUED_CORNER_RE = re.compile(
    rf"(?:\b(?P<prep>en|sobre|por)\s+(?:la\s+|el\s+)?|^\s*|(?<=[,;:\n])\s*)(?P<s>{_NAME_WORD}(?:\s+{_NAME_WORD})?)(?=\s*,?\s*(?:esquina|esq\.?)\s)"
)
# Colonia names run longer than street names and join with "del" too: "Valle del Mirador", "Lomas de San Francisco".
_COLONIA_RE = re.compile(
    r"\b(?:colonia|col\.?|fraccionamiento|fracc?\.?|barrio|unidad\s+habitacional|infonavit|residencial|sector)\s+"
    rf"(?P<c>(?:(?:el|la|los|las|san|santa|del|de\s+la|de\s+los|de\s+las)\s+)?{_NAME_WORD}"
    rf"(?:\s+(?:(?:de|del)\s+(?:la\s+|los\s+|las\s+|el\s+)?)?{_NEXT_WORD}){{0,4}})"
)
_RELATION = (
    r"(?:(?:justo\s+|casi\s+|exactamente\s+)?(?:en\s*frente|frente)\s+(?:a|al|de|del)"
    r"|(?:a\s+un|al|a)\s+(?:lado|costado)\s+(?:de|del)"
    r"|junto\s+(?:a|al|de|del)|a\s+la\s+altura\s+(?:de|del)"
    r"|(?:atras|detras|a\s+espaldas|a\s+la\s+espalda|alrededor|afuera|fuera|dentro|cerca|enseguida|despues|"
    r"antes|adelante|a\s+la\s+vuelta|a\s+media\s+cuadra|a\s+una\s+cuadra|a\s+dos\s+cuadras)\s+(?:de|del|al)"
    r"|rumbo\s+(?:a|al)|por\s+(?:el|la)\s+(?=(?:oxxo|seven|7|primaria|secundaria|kinder|iglesia|parroquia|mercado|"
    r"plaza|parque|clinica|hospital|imss|issste|escuela|prepa|panteon|tianguis|gasolinera|deportivo|cancha)))"
)
_LANDMARK_RE = re.compile(
    rf"\b(?P<lm>(?P<head>{_RELATION}\s*(?:(?:la|el|los|las|un|una|mi|nuestra|nuestro)\s+)?{_NAME_WORD})"
    rf"(?:\s+(?:(?:de|del)\s+(?:la\s+|los\s+|las\s+|el\s+)?)?{_NAME_WORD}){{0,3}})"
)
# The street of a landmark: "frente al Oxxo de Morelos 120" is landmark "frente al Oxxo" + address "Morelos 120"
# (only with a house number: "frente al Oxxo de la Morelos" stays one landmark).
_LANDMARK_STREET_RE = re.compile(
    rf"\s+(?:de|del|en|sobre)\s+(?:la\s+|el\s+)?(?P<street>{_NAME})(?=\s*,?\s*(?:#|no\.|num|numero)?\s*\d)"
)
# A street written without "calle" before its number: "Hidalgo 100 col Centro", "retiren el carro de Juárez 45".
_STREET_BARE_RE = re.compile(rf"(?P<street>{_NAME})(?=\s*,?\s*(?:#\s*|no\.\s*|num\.?\s*|numero\s+|n[°º]\s*)?\d)")
# What may follow the number of such a street for a name that is not a well-known one: the end, punctuation or
# another part of the address ("Rio Bravo 200 col Centro"; not "Reporte 2 lámparas").
_AFTER_BARE_NUMBER = re.compile(
    r"\s*(?:$|[,;:.!?()\n]|(?:col|colonia|fracc|fraccionamiento|entre|esquina|esq|y|frente|enfrente|junto|cerca|casi"
    r"|a\s+un\s+lado|al\s+lado|atras|detras|por|en|int|interior|cp|c\.p|gracias|porfa|por\s+favor)\b)"
)
_BARE_START = re.compile(r"(?:^|[,;:(\n]\s*|\b(?:en|sobre|por|de|del|hasta)\s+(?:la\s+|el\s+)?)$")
_WORD_START_RE = re.compile(r"(?<![a-zñ0-9'.])[a-zñ]")
# Places people name without "frente a": "Escuela Primaria Benito Juárez", "el Oxxo de la esquina".
_PLACE_NOUNS = (
    r"(?:escuela|primaria|secundaria|kinder|jardin\s+de\s+ninos|preparatoria|prepa|universidad|iglesia|parroquia"
    r"|templo|capilla|mercado|plaza|parque|plazuela|clinica|hospital|centro\s+de\s+salud|oxxo|seven|7\s*eleven"
    r"|gasolinera|panteon|deportivo|unidad\s+deportiva|cancha|farmacia|tienda|abarrotes|super|soriana|walmart"
    r"|bodega\s+aurrera|heb|biblioteca|presidencia\s+municipal|palacio\s+municipal|central\s+de\s+autobuses"
    r"|estacion|tianguis|kiosko|kiosco|glorieta|puente|fabrica|imss|issste|dif|cbtis|conalep|colegio|guarderia"
    r"|auditorio|gimnasio|cementerio|monumento|museo|teatro|hotel|restaurante|banco|cajero)"
)
_PLACE_NOUN_RE = re.compile(rf"\b(?P<noun>{_PLACE_NOUNS})\b")
_CLAUSE_START = re.compile(r"(?:^|[,;:(\n])\s*(?:(?:la|el|en\s+la|en\s+el)\s+)?$")
_BRANDS = frozenset({"oxxo", "seven", "soriana", "walmart", "heb", "imss", "issste", "dif", "cbtis", "conalep"})
#: Words of a problem that may stand right before a street: never its first word ("bache Morelos 88").
_PROBLEM_WORDS = frozenset({
    "bache", "baches", "hoyo", "hoyos", "fuga", "fugas", "lampara", "lamparas", "luminaria", "luminarias", "foco",
    "basura", "arbol", "arboles", "rama", "ramas", "poste", "postes", "coladera", "coladeras", "drenaje", "semaforo",
    "grafiti", "graffiti", "carro", "perro", "perros", "ruido", "banqueta", "escombro", "tiradero", "reporte",
    "reporto", "hay", "esta", "urge",
})
_CONNECTORS = frozenset({"de", "del", "la", "las", "los", "el", "y"})
# Words after a colonia's name that are the start of something else: "col Centro tapando el paso".
_NOT_A_NAME = re.compile(r"(?:[a-zñ]+(?:ando|iendo|yendo)|lleno|llena|roto|rota|tirado|tirada|caido|caida|tapado"
                         r"|tapada|fundido|fundida|apagado|apagada|sucio|sucia|feo|fea|bien|mal|desde|hoy|ayer)$")
# Words a landmark or colonia cut short before an address may not end with: "frente al Oxxo de la [calle ...]".
_DANGLING = re.compile(r"(?:\s+(?:de|del|la|el|los|las|en|sobre|por|y|a|al))+\s*$")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " \t\n,.;:":
        start += 1
    while end > start and text[end - 1] in " \t\n,.;:!?":
        end -= 1
    return start, end


def _ent(text: str, kind: str, start: int, end: int) -> Entity:
    start, end = _trim(text, start, end)
    return Entity(type=kind, value=text[start:end], start=start, end=end)


def _street_like(text: str, f: str, start: int, end: int, *, caps_ok: bool) -> bool:
    """Does ``text[start:end]`` look like a street name? A well-known name ("Hidalgo"), a date name ("5 de Mayo"),
    or (``caps_ok``) a capitalised word ("Pinos"; not an all-caps one, which says nothing in an all-caps message)."""
    first = f[start:end].split()[0] if f[start:end].split() else ""
    if is_common_street(first) or (first.isdigit() and " de " in f[start:end]):
        return True
    word = text[start : start + len(first)]
    return caps_ok and word[:1].isupper() and not (len(word) > 1 and word.isupper())


_WORD_RE = re.compile(r"\S+")


def _name_end(text: str, f: str, start: int, end: int) -> int:
    """End of a bare street name: after the first word, only words that look like more of a name are kept
    ("Benito Juárez", "5 de Mayo", "Díaz Ordaz"), so "Morelos y Guerrero cuidado" stops at "Guerrero"."""
    words = list(_WORD_RE.finditer(f, start, end))
    stop = words[0].end() if words else end
    after_de = False
    for w in words[1:]:
        word, orig = w.group(), text[w.start() : w.end()]
        if word == "de":
            after_de = True
            continue
        if not (after_de or is_common_street(word) or (orig[:1].isupper() and not orig.isupper())):
            break
        stop, after_de = w.end(), False
    return stop


_TYPED_BEFORE_RE = re.compile(rf"{_STREET_TYPE}\s+(?:de\s+(?:la\s+|los\s+|las\s+)?)?{_NAME}\s*,?\s*$")


def _street_before(text: str, f: str, pos: int) -> tuple[int, int] | None:
    """The street written just before "entre X y Y" ("calle Hidalgo entre…", "en Hidalgo entre…"), or None."""
    lo = max(0, pos - 60)
    head = f[lo:pos]
    typed = None
    for m in _TYPED_BEFORE_RE.finditer(head):
        typed = m
        break
    if typed is not None and typed.end() == len(head):
        start, end = lo + typed.start(), lo + len(head.rstrip(" ,"))
        return (start, end)
    words = list(_WORD_RE.finditer(head))
    for k in (2, 1):
        if len(words) < k:
            continue
        chosen = words[-k:]
        if any(re.fullmatch(_STOP, w.group()) for w in chosen):
            continue
        start, end = lo + chosen[0].start(), lo + chosen[-1].end()
        before = f[max(0, start - 20):start]
        clause_start = bool(_BARE_START.search(before))
        if _street_like(text, f, start, end, caps_ok=clause_start) and (
                k == 1 or _street_like(text, f, lo + chosen[1].start(), end, caps_ok=True)):
            return (start, lo + chosen[-1].end() - (1 if f[lo + chosen[-1].end() - 1] == "," else 0))
    return None


def _bare_street_ok(text: str, f: str, span: tuple[int, int], first: str) -> bool:
    """A street without a type word before its number: a well-known name (misspelt too) anywhere; another name
    only at the start of a clause or after "en"/"sobre"/"de", capitalised or not, and followed by the end or more
    of the address ("Rio Bravo 200, col Centro")."""
    if first.isdigit() or first in ("s/n",):
        return False
    number = _NUMBER_AFTER_RE.match(f, span[1])
    if number is None:
        return False
    if first in _PROBLEM_WORDS:
        return False  # "bache Morelos 88": the street starts after the problem
    if is_common_street(first):
        return True
    if not _BARE_START.search(f[max(0, span[0] - 20):span[0]]):
        return False
    word = text[span[0]:span[0] + len(first)]
    if word.isupper() and len(word) > 1 and not text.isupper():
        return False
    names = text[span[0]:span[1]].split()
    if len({w[:1].isupper() for w in names if w.lower() not in _CONNECTORS}) > 1:
        return False  # "reporto Morelos 5": a name is capitalised all through, or not at all
    return bool(_AFTER_BARE_NUMBER.match(f, number.end(1)))


def _colonia_end(text: str, f: str, start: int, end: int) -> int:
    """End of a colonia's name: words after the first are kept while they look like more of the name
    (capitalised like it, a connector and its word, or, in a lowercase message, not a verb or a description)."""
    words = list(_WORD_RE.finditer(f, start, end))
    if not words:
        return end
    capitalised = text[words[0].start()][:1].isupper() and not text[words[0].start():words[0].end()].isupper()
    stop = words[0].end()
    after_connector = f[words[0].start():words[0].end()] in _CONNECTORS
    for w in words[1:]:
        word, orig = w.group(), text[w.start():w.end()]
        if word in _CONNECTORS:
            after_connector = True
            continue
        if not after_connector:
            if capitalised and not orig[:1].isupper():
                break
            if _NOT_A_NAME.match(word):
                break
        stop, after_connector = w.end(), False
    return stop


def _place_name_end(text: str, f: str, pos: int, *, lower_ok: bool = False) -> int:
    """End of the proper name after a place noun: "Escuela [Primaria Benito Juárez]", "iglesia [de San José]",
    "Secundaria [Técnica 5]": capitalised words (any word with ``lower_ok``, at the start of a clause), numbers
    and the connectors between them, up to punctuation or a street (empty when there is none)."""
    stop = last = pos
    for count, w in enumerate(_WORD_RE.finditer(f, pos)):
        if f[last:w.start()].strip() or count >= 8:
            break  # punctuation between words: the name ended
        word = w.group().rstrip(",.;:!?")
        orig = text[w.start():w.start() + len(word)]
        last = w.start() + len(word)
        if word in _CONNECTORS:
            if len(word) < len(w.group()):
                break
            continue
        if re.fullmatch(_STOP, word) or re.fullmatch(_STREET_TYPE, word):
            break
        if not ((orig[:1].isupper() and not orig.isupper()) or word.isdigit() or (lower_ok and word.isalpha())):
            break
        stop = last
        if len(word) < len(w.group()):
            break
    return stop


def extract_folios(text: str, folded: str | None = None) -> list[Entity]:
    """Folio numbers with a valid Damm check digit, as ``NNNN-NNNN``; span covers the digits only."""
    folded = fold(text) if folded is None else folded
    out: list[Entity] = []
    for m in _FOLIO_RE.finditer(folded):
        digits = m.group(1) + m.group(2)
        if is_valid_folio(digits):
            out.append(Entity("folio", f"{digits[:4]}-{digits[4:]}", m.start(1), m.end(2)))
    return out


def _overlaps(span: tuple[int, int], taken: Iterable[tuple[int, int]]) -> bool:
    return any(span[0] < e and s < span[1] for s, e in taken)


def extract_places(text: str, folded: str | None = None) -> list[Entity]:
    """Addresses (with street/number/cross_street parts), colonias and landmarks."""
    f = fold(text) if folded is None else folded
    out: list[Entity] = []
    taken: list[tuple[int, int]] = []

    def add_address(street: tuple[int, int] | None, start: int) -> None:
        end = street[1] if street else start
        parts: list[Entity] = []
        if street:
            parts.append(_ent(text, "street", *street))
        m = _NUMBER_AFTER_RE.match(f, end)
        if m and street:
            parts.append(_ent(text, "number", m.start(1), m.end(1)))
            end = m.end(1)
        m = _CORNER_RE.match(f, end)
        if not m and street and re.fullmatch(rf"{_STREET_TYPE}\s+\d{{1,3}}[a-z]?", f[street[0] : street[1]]):
            m = _CROSS_NUMBER_RE.match(f, end)
        if m:
            parts.append(_ent(text, "cross_street", m.start("x"), m.end("x")))
            end = m.end("x")
        else:
            m = _AND_RE.match(f, end)
            if m and street and (m.group("typed") or _street_like(text, f, m.start("x"), m.end("x"), caps_ok=True)):
                x_end = m.end("x") if m.group("typed") else _name_end(text, f, m.start("x"), m.end("x"))
                parts.append(_ent(text, "cross_street", m.start("x"), x_end))
                end = x_end
        if street and len(parts) == 1 and not _STREET_TYPED_RE.match(f, street[0]):
            return
        out.append(_ent(text, "address", start, end))
        out.extend(parts)
        taken.append((start, end))

    for rx in (_BETWEEN_RE, _CORNER_ALONE_RE):  # "entre X y Y", then a bare "X esquina con Y"
        for m in rx.finditer(f):
            if _overlaps(m.span(), taken):
                continue
            street = _street_before(text, f, m.start()) if rx is _BETWEEN_RE else None
            if street is not None:  # "Hidalgo entre Morelos y Allende": the street itself is kept too
                out.append(_ent(text, "address", street[0], m.end()))
                out.append(_ent(text, "street", *street))
            else:
                out.append(_ent(text, "address", m.start(), m.end()))
            out.append(_ent(text, "cross_street", m.start("a"), m.end("a")))
            out.append(_ent(text, "cross_street", m.start("b"), m.end("b")))
            taken.append((street[0] if street else m.start(), m.end()))
    for rx in (_STREET_TYPED_RE, _STREET_SOBRE_RE):
        for m in rx.finditer(f):
            span = m.span("street")
            if _overlaps(span, taken) or f[span[0] : span[1]].startswith(("c. p", "c.p")):
                continue
            if rx is _STREET_SOBRE_RE and _PLACE_NOUN_RE.match(f, span[0]):
                continue  # "en la Secundaria 5" is a place, not a street: a landmark below
            add_address(span, span[0])
    for w in _WORD_START_RE.finditer(f):
        if _overlaps((w.start(), w.start() + 1), taken):
            continue
        m = _STREET_BARE_RE.match(f, w.start())
        if m is None:
            continue
        span = m.span("street")
        first = f[span[0]:span[1]].split()[0]
        if _overlaps(span, taken) or _PLACE_NOUN_RE.match(f, span[0]) or not _bare_street_ok(text, f, span, first):
            continue
        add_address(span, span[0])

    def cut(start: int, end: int, min_end: int) -> int | None:
        """End of ``[start, end)`` cut before the first place already found inside it (and a dangling "de la"),
        or None when the cut would leave less than ``[start, min_end)`` or ``start`` is inside a found place."""
        if any(s <= start < e for s, e in taken):
            return None
        end = min([end, *(s for s, _ in taken if start < s < end)])
        end = start + len(_DANGLING.sub("", f[start:end]))
        return end if end >= min_end else None

    for m in _COLONIA_RE.finditer(f):
        end = cut(m.start("c"), _colonia_end(text, f, m.start("c"), m.end("c")), m.start("c") + 1)
        if end is None:
            continue
        out.append(_ent(text, "colonia", m.start("c"), end))
        taken.append((m.start("c"), end))
    for m in _LANDMARK_RE.finditer(f):
        start, end = m.span("lm")
        street = _LANDMARK_STREET_RE.search(f, m.end("head"))
        if street and street.start() < end and not _overlaps(street.span("street"), taken):
            add_address(street.span("street"), street.start("street"))
        end = cut(start, end, m.end("head"))
        if end is None:
            continue
        out.append(_ent(text, "landmark", start, end))
        taken.append((start, end))
    for m in _PLACE_NOUN_RE.finditer(f):
        start = m.start("noun")
        clause_start = bool(_CLAUSE_START.search(f[max(0, start - 12):start]))
        end = _place_name_end(text, f, m.end("noun"), lower_ok=clause_start)
        named = end > m.end("noun") or m.group("noun") in _BRANDS
        if not named or _overlaps((start, end), taken):
            continue
        end = cut(start, end, m.end("noun"))
        if end is None:
            continue
        out.append(_ent(text, "landmark", start, end))
        taken.append((start, end))
    # Street names glued to a cross street without a type word: "Juárez esquina con Hidalgo".
    for m in _GLUED_CORNER_RE.finditer(f):
        span = m.span("s")
        if _overlaps(span, taken):
            continue
        if m.group("prep") is None and not _street_like(text, f, span[0], span[1], caps_ok=False):
            continue  # at the start of a clause, only a name that looks like a street: "Morelos esquina Zaragoza"
        add_address(span, span[0])
    # Bare intersections: "Hidalgo y Zaragoza", "en hidalgo y zaragoza". Both names must look like streets: well
    # known or date names, or capitalised when a place preposition ("en", "sobre", "de"...) comes before them.
    pos = 0
    while (m := _BARE_CORNER_RE.search(f, pos)) is not None:
        pos = m.end()
        start = m.start("a")
        caps_ok = m.group("prep") is not None
        if _overlaps((start, m.end("b")), taken) or not all(
            _street_like(text, f, m.start(g), m.end(g), caps_ok=caps_ok) for g in ("a", "b")
        ):
            pos = start + 1  # "la lámpara de Hidalgo y Zaragoza": retry from the next word
            continue
        a_end = _name_end(text, f, *m.span("a"))
        if a_end != m.end("a"):  # "a" must run up to the "y": otherwise it is not a name followed by a crossing
            pos = start + 1
            continue
        b_end = _name_end(text, f, *m.span("b"))
        out.append(_ent(text, "address", start, b_end))
        out.append(_ent(text, "cross_street", start, a_end))
        out.append(_ent(text, "cross_street", m.start("b"), b_end))
        taken.append((start, b_end))
    return out


#: Entity rules look at the first ``ENTITY_HEAD_CHARS`` and the last ``ENTITY_TAIL_CHARS`` characters of a long
#: message (where addresses and folios are written), so a 5,000-character rant costs what a 2,500-character one does.
ENTITY_HEAD_CHARS = 2000
ENTITY_TAIL_CHARS = 500


def extract(text: str) -> list[Entity]:
    """All entities of a message, ordered by position (address before its parts)."""
    if len(text) > ENTITY_HEAD_CHARS + ENTITY_TAIL_CHARS:
        # Cut at whitespace so no word is split; spans of the tail are shifted back into the original text.
        head_end = text.rfind(" ", 0, ENTITY_HEAD_CHARS) if " " in text[:ENTITY_HEAD_CHARS] else ENTITY_HEAD_CHARS
        tail_start = len(text) - ENTITY_TAIL_CHARS
        space = text.find(" ", tail_start)
        tail_start = space + 1 if 0 <= space < len(text) - 1 else tail_start
        head = _extract(text[:head_end])
        tail = [
            Entity(e.type, e.value, e.start + tail_start, e.end + tail_start) for e in _extract(text[tail_start:])
        ]
        return head + tail
    return _extract(text)


def _extract(text: str) -> list[Entity]:
    folded = fold(text)
    ents = extract_folios(text, folded)
    folio_spans = [(e.start, e.end) for e in ents]
    ents += [e for e in extract_places(text, folded) if not _overlaps((e.start, e.end), folio_spans)]
    order = {"address": 0, "street": 1, "number": 2, "cross_street": 3, "colonia": 4, "landmark": 5, "folio": 6}
    ents.sort(key=lambda e: (e.start, order.get(e.type, 9), -e.end))
    return ents
