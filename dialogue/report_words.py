"""What a message says to the report flow besides its slots, read from the citizen's words: dropping the report
("mejor no, olvídalo"), the place of an earlier report ("en el mismo lugar de la otra vez"), a question or a
complaint that is no place ("¿y cuánto se tardan?", "ya van 3 días"), no photo ("no tengo foto"), a yes with a
correction ("sí, pero es el 45, no el 54") and a house number corrected ("es el 45 no el 54").

Each reader takes folded text (``dialogue.text.fold``); the flow checks that the NLU found no place in the
message before it trusts a reading that says "this is not a place".
"""

from __future__ import annotations

import re

from dialogue.text import fold

#: "mejor no, olvídalo", "ya no, olvídalo", "mejor no lo mandes", "ya no quiero reportar", "cancélalo": the citizen
#: drops the report. Narrower than the NLU's cancel ("me equivoqué" is a correction here, not a cancel).
_DROP = re.compile(
    r"\b(?<!me\s)(?<!se\s)(?:olvid(?:a|alo|elo|enlo|ate|ense)|can[cs]el(?:a|alo|ar|en|enlo|e)|anul(?:a|alo|ar|enlo)|"
    r"(?:mejor\s+)?no\s+lo\s+(?:mandes|envies|manden|envien|registres|registren|reportes|levantes|metas)|"
    r"mejor\s+no\s+lo\s+\w+|mejor\s+ya\s+no|ya\s+no\s+(?:quiero|lo\s+quiero|deseo|es\s+necesario|hace\s+falta)|"
    r"no\s+quiero\s+(?:reportar|mandar|enviar|seguir|continuar)|ya\s+no\s+lo\s+(?:mandes|envies|reportes))\b|"
    r"^no\W+ya\s+no$"
)


def drops_report(folded: str) -> bool:
    """The citizen takes the report back ("mejor no, olvídalo")."""
    return bool(_DROP.search(folded))


#: "en el mismo lugar de la otra vez", "la misma que ya les había reportado", "ahí mismo", "donde la vez pasada".
_SAME_PLACE = re.compile(
    r"\b(?:(?:el|la|en\s+el|en\s+la)\s+)?mism[oa]\s+(?:lugar|direccion|calle|sitio|ubicacion|esquina|cuadra|punto|"
    r"domicilio|parte|lado|de\s+(?:la\s+)?(?:otra\s+vez|antes|vez\s+pasada))\b|"
    r"\b(?:ahi|alli|aqui|aca)\s+mismo\b|\bdonde\s+mismo\b|"
    r"^(?:en\s+)?(?:el|la|lo)\s+mism[oa]\b|"
    r"\b(?:de|que)\s+la\s+otra\s+vez\b|\b(?:la|aquella)\s+vez\s+pasada\b|\b(?:el|la)\s+de\s+antes\b|"
    r"\bque\s+ya\s+(?:les\s+|le\s+)?(?:habia|habiamos|he|hemos)\s+reportado\b|\bque\s+ya\s+(?:les\s+)?reporte\b"
)


#: "mándalo", "siempre sí, mándalo xfa", "ntp, envíalo", "noo q lo mandes!!", "que sí lo registren": send it.
_SEND = re.compile(
    r"\b(?:mand|envi|registr|levant)(?:alo|ala|elo|ela|enlo|enla|amelo|amela)\b|"
    r"\b(?:que|q)\s+(?:si\s+)?(?:lo|la)\s+(?:mandes|envies|manden|envien|registres|registren|levantes|levanten)\b|"
    r"\bsiempre\s+si\b")
#: What takes a "send" back: "no quiero que lo mandes", "ya no", "mejor no", "todavía no", "espérate".
_SEND_HELD = re.compile(r"\b(?:no\s+(?:quiero|quieras|lo|la|los|las)|ya\s+no|mejor\s+no|todavia\s+no|aun\s+no|"
                        r"esperate|espera|aguanta)\b")


def says_send(folded: str) -> bool:
    """At the summary: the citizen says to send the report, in words ("bueno no, siempre sí, mándalo")."""
    if not _SEND.search(folded):
        return False
    return not _SEND_HELD.search(folded) or bool(re.search(r"\bsiempre\s+si\b", folded))


#: "mmm sabes qué, mejor no, ya le pusieron una tabla": the citizen has second thoughts (asked what to do).
_SECOND_THOUGHTS = re.compile(r"\bmejor\s+no\b(?!\s+(?:es|era|esta|en|son)\b)")


def has_second_thoughts(folded: str) -> bool:
    return bool(_SECOND_THOUGHTS.search(folded))


def means_same_place(folded: str) -> bool:
    """The citizen points to the place of an earlier report instead of writing it."""
    return bool(_SAME_PLACE.search(folded))


#: A question: "¿y cuánto se tardan en venir?", "cuando vienen", "a qué hora pasan".
_QUESTION_START = re.compile(
    r"^(?:(?:y|oiga|oigan|oye|pero|este|disculpe|una\s+pregunta)\b[\s,]*)*"
    r"(?:cuant[oa]s?|cuando|para\s+cuando|que|como|por\s*que|quien|quienes|a\s+que\s+hora|sabe|saben|se\s+puede|"
    r"pueden|puedo|van\s+a|vienen|tardan|hay\s+que)\b"
)
#: A question about when the crew comes: answered with the commitment, given with the folio.
_WHEN = re.compile(r"\b(?:cuanto\s+(?:tiempo|dias?)|cuando|tarda\w*|vienen|vendran|van\s+a\s+venir|a\s+que\s+hora)\b")
#: A question about a charge: "¿cuánto cuesta?", "¿hay que pagar?", "¿me van a cobrar?".
_COST = re.compile(r"\b(?:cuesta\w*|costo|cobr\w*|pag(?:ar|o|a|amos)|precio|gratis)\b")
#: How long it has been: "ya van 3 días", "lleva una semana", "desde hace un mes", "ya pasó una semana".
_WAITING = re.compile(
    r"\b(?:ya\s+)?(?:van|llevan?|lleva|llevamos|tiene|tienen|hace|paso|pasaron|desde\s+hace)\s+(?:como\s+|mas\s+de\s+)?"
    r"(?:\d+|un|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|quince|varios|varias|muchos|muchas)\s+"
    r"(?:dias?|semanas?|mes(?:es)?|horas?|anos?)\b|"
    r"\bque\s+poca\b|\bno\s+hacen\s+nada\b|\bnunca\s+vienen\b|\bnadie\s+(?:hace|viene|contesta|hace\s+caso)\b|"
    r"\bnadie\s+(?:ha\s+venido|vino|ha\s+pasado|paso)\b|\bno\s+(?:han|ha)\s+(?:venido|pasado|hecho\s+nada)\b|"
    r"\b(?:no|ni|nunca)\s+vinieron\b"
)


QUESTION_MIN_WORDS = 3


#: Question words no place name holds, a few words in: "oiga y eso cuánto cuesta", "y luego cuándo vienen".
_QUESTION_WORD = re.compile(r"^(?:\S+\s+){0,3}(?:cuant[oa]s?|cuando|por\s?que|a\s+que\s+hora|para\s+cuando)\b")


def is_question(text: str, folded: str) -> bool:
    """A question ("¿y cuánto se tardan?"); a bare "¿Juárez?" is not one."""
    if _QUESTION_START.match(folded) or _QUESTION_WORD.match(folded):
        return True
    return "?" in text and len(folded.split()) >= QUESTION_MIN_WORDS


def asks_when(folded: str) -> bool:
    return bool(_WHEN.search(folded))


def asks_cost(folded: str) -> bool:
    return bool(_COST.search(folded))


def is_complaint(folded: str) -> bool:
    """How long it has been, or that nobody came: worth keeping in the report, never a place."""
    return bool(_WAITING.search(folded))


#: Words of a description or of chatter that no street, colonia or landmark name holds ("desde el sábado está ahí
#: y ya apesta", "es bien grande como de un metro y ya se han ponchado varias llantas").
_TALK_WORDS = frozenset({
    "ya", "esta", "estan", "estaba", "ahi", "alli", "aqui", "aca", "muy", "bien", "mucho", "mucha", "muchos", "se",
    "han", "ha", "hay", "habia", "tiene", "tienen", "tenia", "desde", "apesta", "huele", "sigue", "siguen", "pero",
    "porque", "xq", "pq", "como", "nada", "nadie", "nunca", "todavia", "aun", "siempre", "grande", "grandes", "feo",
    "horrible", "peligroso", "peligrosa", "lo", "le", "les", "me", "nos", "dije", "digo", "ayer", "hoy", "anoche",
    "sabado", "domingo", "lunes", "martes", "miercoles", "jueves", "viernes", "semana", "dias", "noche", "tarde",
    "llantas", "carros", "coches", "gente", "ninos", "mas", "menos", "cada", "vez", "puede", "pueden", "quiero",
    "necesito", "urge", "favor", "neta", "oigan", "oiga", "tambien", "fue", "era", "son", "sale", "salen", "cayo",
    "ponchado", "ponchan", "metro", "metros", "hondo", "profundo", "tapa", "apestoso", "pasa", "pasan", "ve", "veo",
})
TALK_MIN_WORDS = 4


def describes(folded: str) -> bool:
    """A description or chatter, not a place: four words or more, at least a third of them (two at least) words
    no place name holds."""
    words = re.findall(r"[a-zñ0-9]+", folded)
    talk = sum(w in _TALK_WORDS for w in words)
    return len(words) >= TALK_MIN_WORDS and talk >= 2 and talk * 3 >= len(words)


#: "no tengo foto", "no traigo cámara", "sin foto", "ahorita no tengo fotos".
_NO_PHOTO = re.compile(
    r"^(?:(?:y|pero|este|ahorita|ahora|es\s+que|pues|la\s+verdad|perdon)\b[\s,]*)*(?:no|sin|ni)\b(?:\s+\w+){0,3}?\s+"
    r"(?:fotos?|fotografias?|imagen|imagenes|camara)\b")


def declines_photo(folded: str) -> bool:
    return bool(_NO_PHOTO.search(folded))


#: The "no" / "no tengo foto" a photo answer starts with: "no pz no tengo foto, el árbol está tapando el paso".
_DECLINE_LEAD = re.compile(
    r"^\W*(?:(?:no|nop|nel|sin|ni|pz|pues|pos|la\s+verdad|ahorita|ahora|perd[oó]n|este|mmm*|sorry)\b[\s,.!]*)*"
    r"(?:(?:no\s+)?(?:tengo|tngo|traigo|hay|pude|puedo|tom[eé]|saqu[eé]|alcanc[eé])\b[\s,]*(?:(?:a\s+)?tomar\s+)?)?"
    r"(?:(?:una|la|las|ninguna|ni)\s+)?(?:fotos?|fotograf[ií]as?|im[aá]gen(?:es)?|c[aá]mara)?\b[\s,.;:!]*",
    re.IGNORECASE)
#: Why there is no photo ("xq es de noche", "porque no traigo cel"): about the photo, not the problem.
_PHOTO_REASON = re.compile(r"^(?:xq|pq|porque|por\s+que|ya\s+que|es\s+que|se\s+me|no\s+tengo|no\s+traigo)\b")
PHOTO_REST_MIN_WORDS = 3


def after_photo_decline(text: str) -> str | None:
    """The words after a leading "no" / "no tengo foto" that say something about the problem ("el árbol está
    tapando el paso"), kept for the report; None when there are none (or only why there is no photo)."""
    m = _DECLINE_LEAD.match(text)
    rest = text[m.end():].strip() if m else text.strip()
    words = re.findall(r"\w+", rest)
    if len(words) < PHOTO_REST_MIN_WORDS:
        return None
    folded = fold(rest)
    if _PHOTO_REASON.match(folded) and len(words) <= 6 and not re.search(r"\b(?:pero|y)\b", folded):
        return None
    return rest


#: "sí, pero…", "ok nada más que…": a yes that goes on with a correction.
_YES_BUT = re.compile(
    r"^(?:si|sip|ok|okey|va|vale|claro|correcto|aja|dale|si\s+si)\b[\s,.!]*"
    r"(?:pero|nada\s+mas\s+que|solo\s+que|aunque|namas|nomas|excepto|salvo)\b"
)


def yes_but(folded: str) -> bool:
    return bool(_YES_BUT.match(folded))


_NUMBER = r"(?:el\s+)?(?:(?:numero|num|no\.?|#)\s*)?(\d{1,5}[a-z]?)"
#: "es el 45 no el 54", "45, no 54": the new number first.
_NEW_NOT_OLD = re.compile(rf"\b(?:es\s+)?{_NUMBER}\s*,?\s*(?:y\s+)?no\s+{_NUMBER}\b")
#: "no es el 54, es el 45", "no es 54 sino 45": the old number first.
_NOT_OLD_BUT_NEW = re.compile(rf"\bno\s+(?:es\s+)?{_NUMBER}\s*,?\s*(?:sino|es|si\s+no|mas\s+bien)\s+{_NUMBER}\b")
#: "el número es 45", "es el número 45": the new number only.
_NEW_NUMBER = re.compile(r"\b(?:el\s+numero\s+(?:es|era)|es\s+el\s+numero|el\s+bueno\s+es\s+el)\s+(\d{1,5}[a-z]?)\b")


def number_fix(folded: str) -> tuple[str | None, str] | None:
    """A house number corrected: (old number or None when not said, new number)."""
    m = _NOT_OLD_BUT_NEW.search(folded)
    if m:
        return m.group(1), m.group(2)
    m = _NEW_NOT_OLD.search(folded)
    if m:
        return m.group(2), m.group(1)
    m = _NEW_NUMBER.search(folded)
    if m:
        return None, m.group(1)
    return None


def replace_number(address: str, old: str | None, new: str) -> str | None:
    """The address with ``old`` (or its only number) replaced by ``new`` (unchanged when ``new`` is in it
    already); None when it has no such number."""
    numbers = re.findall(r"(?<![\w])\d{1,5}[a-zA-Z]?(?![\w])", address)
    if new.lower() in (n.lower() for n in numbers) and (old is None or old.lower() not in (n.lower() for n in numbers)):
        return address
    if old is None:
        if len(numbers) != 1:
            return None
        old = numbers[0]
    pattern = re.compile(rf"(?<![\w]){re.escape(old)}(?![\w])", re.IGNORECASE)
    if not pattern.search(address):
        return None
    return pattern.sub(new, address, count=1)
