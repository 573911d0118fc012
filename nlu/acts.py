"""Dialogue acts apart from service reports: how the classifier's ranking becomes a reading of the conversation.

The classifier (:mod:`nlu.model`) scores every intent on the whole message; this module decides, in the light of
what the conversation is waiting for (``pending``, one of :data:`nlu.types.PENDING_KINDS` or ``None``):

* **Place names do not vote.** Streets, colonias and landmarks found by :mod:`nlu.entities` are cut out of the text
  the classifier sees ("basura en la calle Sierra de las Pintas 12" is not graffiti, "lámpara fundida en col. Villa
  del Parque" is not park), when the span is a sure place: an address with a number or a cross street, a colonia, a
  landmark, or a capitalised typed street (a lowercase "calle llena de baches" is not a place).
* **A report is a report.** The *core* of a message is the message without its courtesy (greetings, "gracias por su
  atención", "saludos", "por favor") and, when no question is pending, without a leading answer word or count
  ("sí", "no", "1 mueble de salón"). When the whole message reads as a dialogue act but its core reads as a service
  category, the message is that report: "hay un bache, gracias" is a pothole, "no han bacheado" a pothole.
* **Answers need a question.** A leading "sí"/"no"/"1"/"2" is an answer only when ``pending`` is ``yes_no``,
  ``choice`` or ``photo``; then it decides the act ("no, sigue el bache" at a survey is ``deny``, with the pothole
  still listed in ``problems``). A bare number with no question pending is not understood.
* **"¿Ya quedó?" answered in words** (round 10, :func:`worded_answer`, which the survey asks): "ya taparon el
  bache" is yes, "ya lo taparon pero se volvió a abrir" and "sí, sigue ahí" are no. Only that question: at "¿lo
  registro?" a "sí, sigue ahí" is a yes.
* **An answer needs a question** in other words too (round 10): with none pending, "sigue el pozo, nadie vino" or "el
  bache sigue igual" (deny by the classifier) name a problem by its category's words, so they are that report.
* **Cancel needs cancel phrasing** (:data:`CANCEL_RE`: cancelar, olvídalo, ya no quiero, stop...), not any verb
  of removal: "retirar el sofá de la acera", "eliminar pintadas" are reports.
* **Two problems in one message**: the core is split at connectors ("y", "además", "también", sentence ends) and
  every part that reads as a service category with confidence (and names it through its ``kw_*`` lexicon) is
  listed in ``problems``, in order.
* **A consequence is not a second problem**: "…, ya se cayó una moto", "ya chocaron dos carros", "me caí" tell what
  the problem caused (:data:`CONSEQUENCE_RE`); the vehicle or person named there is no report of its own. And the
  dot of an abbreviation ("col. Centro", "av. Juárez", "no. 12") ends no sentence.
* **A question about a report is no new report** (round 12, ``Reading.about``): "¿ya taparon el bache?", "qué pasó
  con lo de la coladera" read as ``check_status`` about that category; news of the fix with nothing asked ("ya quedó
  el bache", "ya arreglaron la fuga, gracias") as ``thanks`` about it; "cuándo van a venir a tapar el bache",
  "siguen sin tapar el bache" stay reports with ``about`` set (the dialogue looks for the report already made).
* **The threshold is respected**: below it the message is not understood and the ranking carries the candidates,
  except when the whole is split between two problems its clauses each name with confidence (then both are listed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nlu.normalize import fold
from nlu.types import DIALOGUE_ACTS, FALLBACK_INTENT, SERVICE_INTENTS, Entity

Ranking = list[tuple[str, float]]
#: ``rank(text) -> (ranking best first, known, tags)``: the classifier's view of a text.
RankFn = Callable[[str], tuple[Ranking, bool, Sequence[str]]]

#: What may be pending when news of a fix is read as such: nothing, or a menu's options (not a question it could
#: answer: at "¿ya quedó?" the survey reads the words itself).
NEWS_PENDING = frozenset({None, "choice"})
#: Questions a bare "sí" / "no" / "1" answers.
ANSWER_PENDING = frozenset({"yes_no", "choice", "photo"})
#: The dialogue acts that answer a question.
ANSWER_ACTS = frozenset({"affirm", "deny"})
#: A clause names a problem of its own with at least this confidence and its category's lexicon ("hay basura tirada
#: en el baldío": illegal_dumping 0.499 vs street_cleaning 0.48 is still a second problem to offer; the message's own
#: intent keeps the full threshold)...
SECOND_PROBLEM_CONFIDENCE = 0.4
#: Clauses read for problems of their own, from the first ``CLAUSE_CHARS`` of the core (a 5,000-character rant
#: costs what a short report does).
MAX_CLAUSES = 4
CLAUSE_CHARS = 600
#: The rest of an answer ("no, [sigue el bache]") names a problem with this confidence and the category's lexicon.
NAMED_PROBLEM_CONFIDENCE = 0.3
#: ...or, without its lexicon, with at least this confidence.
SURE_PROBLEM_CONFIDENCE = 0.85

_YES = r"(?:si|sip|sii+|simon|ok|okey|okay|vale|claro|correcto|de acuerdo|afirmativo|yes|dale|va|andale|orale)"
_NO = r"(?:no|nop|nel|negativo|nope)"
_ANSWER_RE = re.compile(rf"^\s*(?:(?P<yes>{_YES})|(?P<no>{_NO})|(?P<num>\d{{1,2}}))\b[\s,.;:!)-]*")
_BARE_NUMBER_RE = re.compile(r"^\s*\d{1,3}\s*[.)]?\s*$")
_GREETING_RE = re.compile(
    r"^\s*(?:(?:hola|holi|buen(?:os|as)?\s+(?:dias?|tardes?|noches?)|buenas|buen\s+dia|que\s+tal|saludos|"
    r"oigan|oiga|disculpe(?:\s+la\s+molestia)?|una\s+pregunta|good\s+(?:morning|afternoon|evening)|hi|hello)"
    r"\b[\s,.;:!¡]*)+"
)
_COURTESY_RE = re.compile(
    r"(?:\b(?:muchas\s+|mil\s+|de\s+antemano\s+|)gracias(?:\s+de\s+antemano)?(?:\s+por\s+(?:su|tu|la|el|todo)"
    r"(?:\s+(?:atencion|ayuda|tiempo|apoyo|respuesta|pronta\s+respuesta|amabilidad))?)?"
    r"|\b(?:saludos(?:\s+cordiales)?|un\s+saludo|atentamente|atte\.?|bendiciones|quedo\s+atent[oa]|"
    r"(?:que\s+)?tenga(?:n)?\s+(?:un\s+)?(?:buen|bonito|excelente)\s+dia|por\s+favor|porfa(?:vor)?|xfa|"
    r"se\s+(?:los|lo|les)\s+agradecer(?:e|ia)|se\s+agradece|thanks?(?:\s+you)?|thank\s+you)\b)[\s,.;:!]*"
)
#: What says "cancel": stop the report or the messages. Verbs of removal ("retirar", "eliminar", "quitar", "borrar
#: las pintas") do not, unless they take the report or the messages as object.
_CANCEL_ANYWHERE = (
    r"\b(?:(?:cancel|kancel|cansel)\w*|anul(?:a|ar|alo|en|enlo)\b|olvid(?:a|alo|elo|enlo|ate|ense)\b|"
    r"dej(?:a|e|en)lo(?:\s+asi)?\b|dejalo|"
    r"ya\s+no\s+(?:quiero|deseo|necesito|me\s+interesa|sigas?|sigan|lo\s+\w+|reportes|mandes|manden|envies|envien)|"
    r"no\s+(?:sigas|sigan|lo\s+registren|me\s+manden|me\s+envien|quiero\s+(?:seguir|continuar|reportar|mas\s+mensajes))|"
    r"mejor\s+no\s+lo\s+\w+|"
    r"dej(?:a|e|en|ar)\s+de\s+(?:mandar|enviar|escribir|recibir)\w*|"
    r"(?:elimin|retir|borr|quit|anul)\w*\s+(?:el\s+|la\s+|mi\s+|este\s+|ese\s+|esta\s+|esa\s+)?"
    r"(?:reporte|queja|solicitud|denuncia|mensaje)s?|"
    r"stop|unsubscribe|quit|never\s*mind|forget\s+(?:it|about\s+it)|scratch\s+that|desisto|"
    r"(?:dar|darme|darse|doy|de)\s+de\s+baja|reinici\w*|(?:empezar|comenzar)\s+de\s+nuevo|volver\s+a\s+empezar|"
    r"borr(?:alo|elo|enlo)|borr\w*\s+(?:todo|eso)|no\s+importa|me\s+equivoque|"
    r"ya\s+no\s+(?:es\s+necesario|hace\s+falta|me\s+escrib\w+)|mejor\s+ya\s+no|(?:para|basta)\s+ya|"
    r"(?:quiero\s+)?salir\s+del\s+chat|quiero\s+salir|"
    r"(?:deten|paren|para|termina|terminar|detener)\s+(?:el|mi|este)\s+reporte)\b"
)
#: Words that cancel only as the whole message ("para", "alto", "ya estuvo"; "para que limpien" is no cancel).
_CANCEL_ALONE = (
    r"^\s*(?:ya\s+)?(?:para|parar|paren|parale|alto|sal|salir|basta|detente|detener|baja|termina|terminar|ya\s+estuvo|"
    r"ya\s+no|nada\s+mas|eso\s+es\s+todo|error)\b[\s,.!]*(?:gracias)?[\s.!]*$"
)
#: What says "cancel": stop the report or the messages. Verbs of removal ("retirar", "eliminar", "quitar", "borrar
#: las pintas") do not, unless they take the report or the messages as object ("elimina mi reporte").
CANCEL_RE = re.compile(f"{_CANCEL_ANYWHERE}|{_CANCEL_ALONE}")
_CLAUSE_RE = re.compile(
    r"(?:[.;!?\n]+|:\s+|,\s*(?:y|e|ademas|tambien|aparte|otra\s+cosa)\b|,\s*(?=hay\b)|"
    r"\s(?:y|e)\s+(?:tambien|ademas|aparte|otra\s+cosa)\b|\s(?:ademas|tambien|aparte|asimismo|otra\s+cosa)\b|"
    r"\s(?:y|e)\s+(?=(?:hay|esta|estan|la|el|las|los|un|una|sigue|siguen|todavia)\b))"
)


#: Round 10: an answer to "¿ya quedó?" in words, without a leading sí or no. Done: "ya taparon el bache", "ya quedó",
#: "ya lo arreglaron, gracias", "quedó bien". Not done (wins over done and over a leading "sí": "sí, sigue ahí la
#: basura", "ya lo taparon pero quedó mal, se volvió a abrir", "nadie vino", "sigue igual").
_FIX_STEMS = ("tap", "arregl", "repar", "compus", "limpi", "recog", "levant", "retir", "quit", "cambi", "pus", "prend",
              "encend", "pod", "bache", "rellen", "paviment", "atend", "resolv", "soluci", "destap", "desazolv", "cort",
              "pint", "borr")
#: Fixing verbs that also tell a problem when nothing was asked: "ya levantaron el piso", "ya pintaron la barda", "ya
#: quitaron la tapa", "ya retiraron el contenedor".
_DAMAGE_STEMS = frozenset({"levant", "retir", "quit", "pint"})
_FIX_VERBS = rf"(?:{'|'.join(_FIX_STEMS)})\w*"
FIXED_RE = re.compile(
    rf"\bya\s+(?:vino|vinieron|paso|pasaron)\s+a\s+{_FIX_VERBS}|"
    rf"\bya\s+(?:(?:lo|la|los|las|me|nos|se)\s+)?(?:{_FIX_VERBS}|quedo|quedaron|esta\s+(?:bien|listo|arreglad\w*|"
    rf"reparad\w*|tapad\w*|limpi\w*)|funciona\w*|sirve\w*|prendi\w*|prende\w*)\b|"
    r"\b(?:quedo|quedaron)\s+(?:bien|perfecto|excelente|muy\s+bien|arreglad\w*|list[oa]s?)\b"
)
NOT_FIXED_RE = re.compile(
    r"\b(?:sigue|siguen|todavia|aun|continua|continuan|otra\s+vez|de\s+nuevo|nadie\s+(?:vino|ha\s+venido|paso)|"
    rf"no\s+(?:(?:lo|la|los|las|me|nos)\s+)?(?:(?:han|ha|hemos)\s+)?(?:{_FIX_VERBS}|venido|vinieron|pasado|pasaron|"
    r"hecho\s+nada|hicieron\s+nada)|(?:quedo|quedaron|esta|estan)\s+(?:mal|igual|peor)|"
    r"mal\s+hech\w*|(?:se\s+)?(?:volvi\w*|vuelve\w*)\s+a\b|no\s+quedo|no\s+sirve|no\s+funciona|sin\s+arreglar|"
    r"ni\s+vinieron|nunca\s+vinieron)\b"
)


#: A second thought after the news: "ya arreglaron la fuga, pero dejaron el hoyo" still reports the hole.
_CONTRAST_RE = re.compile(r"\b(?:pero|aunque|sin\s+embargo|ahora|en\s+cambio|solo\s+que)\b")
_THANKS_RE = re.compile(r"\b(?:gracias|grax|thx|thanks)\b")
#: News that the crew fixed it, told at intake: "ya (lo) arreglaron", "ya vinieron a cortar" — a fixing verb (not one
#: of ``_DAMAGE_STEMS``) in the plural past. Narrower than ``FIXED_RE`` (read at "¿ya quedó?"): "ya está tapado" and
#: "ya se tapó" are problems when nothing was asked.
_NEWS_STEMS = "|".join(s for s in _FIX_STEMS if s not in _DAMAGE_STEMS)
_FIXED_NEWS_RE = re.compile(
    rf"\bya\s+(?:(?:lo|la|los|las|me|nos)\s+)?(?:vinieron\s+a\s+)?(?:{_NEWS_STEMS})\w*(?:aron|ieron|ar|er|ir)\b"
)
#: Round 12: news of a fix in the words only a fix uses, with no thank-you needed ("ya quedó el bache", "ya prendió
#: la lámpara", "ya pasaron por la basura", "ya vinieron y taparon el bache", "ya funciona el semáforo"). Read only
#: in a short message that says nothing else (see :func:`_fix_news`).
_BARE_NEWS_RE = re.compile(
    rf"\bya\s+(?:(?:lo|la|los|las|me|nos)\s+)?(?:(?:vinieron|pasaron|vino)\s+(?:a|y)\s+(?:{_NEWS_STEMS})\w*|"
    r"(?:vino|paso|pasaron)\s+(?:el\s+)?(?:camion|carro|recolector)\b|"
    r"pasaron\s+por\s+(?:la|las|los)\s+(?:basura|bolsas|botes)|"
    rf"(?:{_NEWS_STEMS})\w*(?:aron|ieron)\b|"
    r"quedo\b|quedaron\b|prendi\w*|encendi\w*|funciona\w*|sirve\w*|hay\s+luz\b|esta\s+(?:arreglad|reparad|list)\w*)"
)
#: What a fix never says: a negation, a new or second problem ("ya cortaron el árbol y dejaron las ramas"), a state
#: after "quedó" that is damage ("ya quedó inundada la calle"), or what something was blocked with ("ya taparon la
#: coladera con tierra").
_NOT_NEWS_RE = re.compile(
    r"\b(?:no|ni|nunca|nadie|otro|otra|otros|otras|nuevo|nueva|tambien|ademas|dejaron|hay\s+(?!luz\b))\b|"
    r"\bquedo\s+(?:\w+\s+)?(?:tapad|inundad|destroz|rot|abiert|suci|peor|mal|igual|fe[ao]|hundid|lodo|tirad)\w*|"
    r"\bcon\s+(?:tierra|basura|piedra|escombro|lodo|hojas|ramas|cemento|bolsas)\w*"
)
_NEWS_JOINT_RE = re.compile(rf"\s(?:y|e)\s+(?!(?:ya\s+)?(?:{_NEWS_STEMS})\w*(?:aron|ieron)\b)")
#: Most words news of a fix takes when it comes without a thank-you.
BARE_NEWS_WORDS = 10
#: Round 12: a status question about a problem, in words that ask about a report already made ("qué pasó con lo de
#: la coladera", "¿y mi reporte de la lámpara?", "sigue pendiente lo de la fuga").
_STATUS_WORDS_RE = re.compile(
    r"(?:^|[,.;:!]\s*|\by\s+)(?:que\s+(?:paso|ha\s+pasado)\s+con|que\s+(?:resolvieron|hicieron)\s+(?:de|con)|"
    r"como\s+va|como\s+vamos\s+con|en\s+que\s+(?:va|quedo))\s+(?:con\s+)?(?:lo\s+de|lo\s+del|el|la|los|las|mi|mis)\b|"
    r"\bsigue\s+pendiente|\b(?:mi|nuestro)\s+reporte\s+(?:del?|de\s+la|sobre)\b"
)
#: Words that a report was made before ("el bache que reporté", "ya lo reporté y no vienen"): also how a report is
#: worded (by phone, or in an app), so the reading stays the category and ``about`` says the dialogue may answer
#: with the report already made.
_REPORTED_BEFORE_RE = re.compile(
    r"\b(?:que|lo\s+que)\s+(?:ya\s+)?(?:les\s+)?(?:reporte|reportamos|habia\s+reportado|habiamos\s+reportado)\b|"
    r"\bya\s+(?:lo|la|los|las)\s+(?:habia\s+|habiamos\s+|he\s+|hemos\s+)?report\w*"
)
#: When it will be fixed, which is also how a report is worded ("¿cuándo van a venir a tapar el bache?"): as above.
_WHEN_FIXED_RE = re.compile(
    rf"\b(?:cuando|para\s+cuando)\s+(?:van|vienen|piensan|vendran|va|viene)\s+(?:a\s+)?(?:venir\s+a\s+|pasar\s+a\s+)?"
    rf"(?:{_NEWS_STEMS})\w*"
)
#: That it is still not fixed, which is also how a report is worded ("nadie ha venido a lo de la fuga", "siguen sin
#: tapar el bache"): as above. Not "hay basura todavía" alone: the words must say nobody came or fixed it.
_STILL_NOT_FIXED_RE = re.compile(
    rf"\b(?:nadie\s+(?:ha\s+venido|vino|viene|ha\s+pasado|paso)|no\s+(?:han|ha)\s+(?:venido|pasado|hecho\s+nada)|"
    rf"no\s+(?:vinieron|vino)|siguen?\s+sin\s+(?:{_NEWS_STEMS})\w*|(?:todavia|aun)\s+no\s+(?:lo\s+|la\s+)?"
    rf"(?:{_NEWS_STEMS})\w*|ni\s+(?:vinieron|han\s+venido))"
)
#: "¿y lo del bache?", "lo de la fuga??": a short question about a thing already spoken of.
_THAT_OF_RE = re.compile(r"(?:^|\by\s+|[,.;:!]\s*)lo\s+(?:del|de\s+la|de\s+los|de\s+las)\b")
#: A question whether it was fixed: "¿ya taparon el bache?", "ya vinieron a arreglar la fuga o todavía no".
_ASKED_FIX_RE = re.compile(
    rf"\bya\s+(?:(?:lo|la|los|las)\s+)?(?:(?:vinieron|vino|pasaron|fueron)\s+a\s+)?(?:(?:{_NEWS_STEMS})\w*"
    r"(?:aron|ieron|ar|er|ir)|quedo|quedaron)\b"
)
#: Most words of a status question read as one (a long report may hold a question mark or "sigue pendiente").
ASKED_FIX_WORDS = 15
_QUESTION_TAIL_RE = re.compile(r"\bo\s+(?:todavia\s+|aun\s+)?(?:no|que|como|cuando)\s*$")


#: Round 12: fixed only in part, at "¿ya quedó?" ("más o menos, ya no sale agua pero dejaron todo el cochinero").
_PARTLY_FIXED_RE = re.compile(
    r"\b(?:mas\s+o\s+menos|a\s+medias|medio\s+(?:arreglad|tapad|hech)\w*|no\s+del\s+todo|"
    r"(?:pero|y)\s+(?:nos\s+)?dejaron\s+(?:todo\s+)?(?:el|la|los|las|un|una|mucho|mucha|tirad\w*|regad\w*)?\s*"
    r"(?:cochinero|tiradero|basura|escombro|hoyo|desorden|tierra|ramas|regad\w*|tirad\w*|sucio|mugrero|batidero)|"
    # "sí ya lo taparon pero quedó todo disparejo", "ya vinieron pero quedó chueco": done, but badly
    r"pero\s+(?:\w+\s+){0,4}?(?:disparej\w*|desnivel\w*|chuec\w*|hundid\w*|se\s+hunde\w*|abultad\w*|"
    r"(?:parece|como)\s+(?:un\s+)?tope|(?:quedo|quedaron|esta|estan|sigue|siguen)\s+(?:\w+\s+)?mal|"
    r"falt(?:o|a|an|aron)\b|no\s+(?:sirve|funciona|prende|jala|enciende)))\b"
)


def worded_answer(text: str) -> str | None:
    """``"deny"`` when ``text`` says the problem is still there (or was fixed only in part), ``"affirm"`` when it
    says it was fixed (the answer to "¿ya quedó?" in words), else None."""
    f = fold(text)
    if NOT_FIXED_RE.search(f) or _PARTLY_FIXED_RE.search(f):
        return "deny"
    return "affirm" if FIXED_RE.search(f) else None


#: The dot of an address abbreviation ("col. Centro", "av. Juárez", "esq. Ocampo", "no. 12") ends no clause.
_ABBREVIATION_DOT_RE = re.compile(
    r"\b(col|cols|av|avda|ave|blvd|calz|priv|cda|pza|prol|fracc|fracto|esq|mz|mza|lt|int|ext|depto|dpto|sr|sra|dr|"
    r"lic|ing|gral|c|sta|sto|snt|num|nro|no(?=\.\s*\d))\.")
#: What a problem caused, not a problem of its own: a vehicle or a person fell, crashed, got stuck or hurt ("ya se
#: cayó una moto", "se han caído dos señoras", "me caí", "ya chocaron dos carros", "se me ponchó la llanta"). A
#: tree, a pole or a lamp that fell is still a problem ("se cayó un árbol").
_VICTIM = (r"(?:moto\w*|carro\w*|coche\w*|auto\w*|bici\w*|ciclista\w*|motociclista\w*|camion\w*|taxi\w*|"
           r"vehiculo\w*|senor\w*|senora\w*|persona\w*|nin[oa]\w*|gente|vecin\w*|alguien|peaton\w*|abuel\w*|"
           r"muchach\w*|chav\w*|joven\w*|adult\w*|mujer\w*|hombre\w*|llanta\w*|rin\w*)")
CONSEQUENCE_RE = re.compile(
    r"\b(?:(?:se|me|nos|le|les)\s+(?:(?:me|le|les|nos)\s+)?(?:ha\s+|han\s+|hayan\s+|haya\s+)?"
    r"(?:cay\w*|caid[oa]s?|ponch\w*|atasc\w*|ator\w*|lastim\w*|accident\w*|volc\w*|dan[oó]\w*)"
    rf"(?:\s+(?:ya\s+)?(?:un|una|unos|unas|dos|tres|varios|varias|muchos|muchas|el|la|los|las|mi|su|otro|otra)?\s*"
    rf"{_VICTIM}\b|\s*$|\s+(?:ahi|alli|en\s+el|en\s+la|por|con|ayer|hoy|anoche))|"
    rf"\bchoc\w*|\baccidentes?\b|\bme\s+cai\b|\bnos\s+caimos\b|\b{_VICTIM}\s+(?:se\s+)?(?:cay\w*|caen|choc\w*))"
)


#: Words that name nothing: what is left of "no, es en la calle Hidalgo 300" once the place is masked.
_FUNCTION_WORDS = frozenset({
    "a", "al", "ante", "bajo", "con", "de", "del", "desde", "el", "en", "entre", "es", "esta", "estan", "era",
    "fue", "hacia", "hasta", "la", "las", "le", "lo", "los", "mas", "me", "mejor", "mi", "no", "o", "para",
    "pero", "perdon", "por", "que", "se", "si", "sobre", "son", "su", "sus", "te", "tu", "un", "una", "unos",
    "unas", "y", "ya", "ahi", "alli", "aqui", "aca", "ese", "esa", "eso", "este", "esto", "calle", "numero",
    "casi", "frente", "lado", "esquina"
})


def names_something(text: str) -> bool:
    """Some word of ``text`` (folded, places masked) is more than a function word."""
    return any(w not in _FUNCTION_WORDS for w in re.findall(r"[a-z]+", fold(text)))


#: The entity types that are places (``nlu.entities``).
PLACE_TYPES = frozenset({"address", "street", "number", "cross_street", "colonia", "landmark"})
#: Words that only frame a place: what is left of "Hidalgo 100 col Centro, frente a la farmacia" once the
#: places the entity rules found are taken out.
_PLACE_WORDS = frozenset({
    "col", "colonia", "fracc", "fraccionamiento", "barrio", "sector", "av", "avenida", "blvd", "bulevar",
    "boulevard", "calzada", "privada", "cerrada", "andador", "carretera", "km", "cp", "num", "no", "esq", "entre",
    "hay", "ubicado", "ubicada", "ubicacion", "direccion", "domicilio", "donde", "cerca", "enfrente", "atras",
    "junto", "afuera", "dentro", "altura", "cruce", "cruza", "con",
})


def only_a_place(text: str, entities: Sequence[Entity]) -> bool:
    """The message gives a place and nothing else ("Hidalgo 100 col Centro", "Es en Hidalgo 100, frente a la
    farmacia"): every word outside the places found is a function or place-framing word. Such a message names no
    problem, however confident the classifier is about the street's words."""
    places = [e for e in entities if e.type in PLACE_TYPES]
    if not places:
        return False
    rest, last = [], 0
    for e in sorted(places, key=lambda e: e.start):
        if e.start >= last:
            rest.append(text[last:e.start])
            last = e.end
        else:
            last = max(last, e.end)
    rest.append(text[last:])
    words = re.findall(r"[a-z]+", fold(" ".join(rest)))
    return all(w in _FUNCTION_WORDS or w in _PLACE_WORDS for w in words)


def is_consequence(text: str) -> bool:
    """A clause that tells what the problem caused ("ya se cayó una moto"), not a problem of its own."""
    return bool(CONSEQUENCE_RE.search(fold(text)))


@dataclass(frozen=True, slots=True)
class Reading:
    """The decision for one message (the fields of :class:`nlu.types.Parse` it sets)."""

    intent: str
    confidence: float
    ranking: Ranking
    understood: bool
    problems: tuple[str, ...]
    about: str | None = None


_TYPED_STREET_RE = re.compile(
    r"(?:calle|c/|c\.|avenida|av\.?|avda\.?|ave\.?|blvd\.?|boulevard|bulevar|calzada|calz\.?|privada|priv\.?|"
    r"andador|cerrada|cda\.?|circuito|prolongacion|paseo|carretera|camino|callejon|retorno|periferico|plaza|pza\.?|"
    r"glorieta|ronda|travesia)\s"
)


def _sure_place(text: str, e: Entity, inner: Sequence[Entity]) -> bool:
    """A span that is surely a place name: a colonia, a landmark, or an address that starts with a street type and
    has a house number, a cross street or a capitalised name ("calle Sierra de las Pintas 12"; ``inner`` are its
    parts). Addresses found without a street type ("en rio orinoco farola 1") are not masked: the rule may have
    taken the problem in."""
    if e.type in ("colonia", "landmark"):
        return True
    if e.type != "address" or not _TYPED_STREET_RE.match(fold(e.value)):
        return False
    if any(p.type in ("number", "cross_street") for p in inner):
        return True
    words = [w for w in re.findall(r"[^\W\d_]+", e.value) if len(w) > 3]
    return not text.isupper() and len(words) > 1 and all(w[:1].isupper() for w in words[1:2])


def mask_places(text: str, entities: Sequence[Entity] | None = None) -> str:
    """``text`` with its sure place names blanked (the relation word of a landmark is kept: "frente al")."""
    if entities is None:
        from nlu.entities import extract

        entities = extract(text)
    spans = []
    ents = sorted(entities, key=lambda x: (x.start, -x.end))
    for i, e in enumerate(ents):
        inner = []
        for p in ents[i + 1 :]:  # an address's parts follow it (sorted by start)
            if p.start >= e.end:
                break
            inner.append(p)
        if not _sure_place(text, e, inner):
            continue
        start = e.start
        if e.type == "landmark":  # keep "frente al", blank the place itself
            m = re.match(r"(?:\S+\s+){1,4}?(?:al|a\s+la|del|de\s+la|de|a|el|la|los|las)\s+", fold(e.value))
            start = e.start + (m.end() if m else 0)
        spans.append((start, e.end))
    if not spans:
        return text
    out, pos = [], 0
    for s, t in sorted(spans):
        if s < pos:
            s = pos
        out.append(text[pos:s])
        out.append(" ")
        pos = max(pos, t)
    out.append(text[pos:])
    return "".join(out)


def core_text(text: str, pending: str | None) -> tuple[str, str | None]:
    """The message without courtesy and (no question pending) without a leading answer word or count, and the
    leading answer when one is allowed: ``"affirm"``, ``"deny"`` or None."""
    f = fold(text)
    m = _GREETING_RE.match(f)
    pos = m.end() if m else 0
    answer = None
    a = _ANSWER_RE.match(f, pos)
    if a:
        if pending in ANSWER_PENDING:
            if a.group("yes") or a.group("num") == "1":
                answer = "affirm"
            elif a.group("no") or a.group("num") == "2":
                answer = "deny"
        # "no, sigue el bache" and "1 mueble" lose the answer word; at a question "no hay luz" keeps its "no"
        no_answer = a.group("no") and (re.match(r"\s*[,.;:!]", f[a.end("no") :]) or pending not in ANSWER_PENDING)
        if a.group("yes") or a.group("num") or no_answer:
            pos = a.end()
    rest = _COURTESY_RE.sub(" ", f[pos:])
    return " ".join(rest.split()).strip(" ,.;:!"), answer


def clauses(core: str) -> list[str]:
    """The parts of a (folded) core text that may each report a problem."""
    core = _ABBREVIATION_DOT_RE.sub(r"\1 ", core)
    return [p.strip(" ,") for p in _CLAUSE_RE.split(core) if p and len(p.split()) >= 2]


def _drop(ranking: Ranking, intent: str) -> Ranking:
    return [(c, p) for c, p in ranking if c != intent] + [(intent, 0.0)]


def decide(
    text: str,
    pending: str | None,
    rank: RankFn,
    threshold: float,
    lexicon: Callable[[str], Sequence[str]] | None = None,
    prefetch: Callable[[Sequence[str]], object] | None = None,
) -> Reading:
    """Read one message (place names already masked) with the classifier ``rank``; ``lexicon(text)`` gives the
    ``kw_*`` tags of a text (cheap), so clauses without a category word skip the classifier.  ``prefetch(texts)`` is
    first told every text ``rank`` may be asked about (the sentence encoder reads them in one batch)."""
    folded = fold(text)
    core, answer = core_text(text, pending)
    if prefetch is not None:
        prefetch(_texts_to_rank(text, core or folded, lexicon))
    ranking, known, tags = rank(text)
    top, _conf = ranking[0]
    core_ranking: Ranking | None = None
    core_known = False
    core_tags: Sequence[str] = ()
    # The core is read only when it can change the answer: the whole is not a service, or an answer leads.
    if core and core != " ".join(folded.split()) and (top not in SERVICE_INTENTS or answer is not None):
        core_ranking, core_known, core_tags = rank(core)
    # 1. A report is a report: the whole reads as an act, the core as a confident service category.
    if top not in SERVICE_INTENTS and core_ranking is not None and core_known:
        c_top, c_conf = core_ranking[0]
        if c_top in SERVICE_INTENTS and c_conf >= threshold and (top in DIALOGUE_ACTS or c_conf > _conf):
            ranking, known = core_ranking, True
    # 2. Cancel needs cancel phrasing.
    if ranking[0][0] == "cancel" and not CANCEL_RE.search(folded):
        ranking = _drop(ranking, "cancel")
    # 2b. Round 10: with no question pending, a yes or no phrased as a sentence is no answer when the message names a
    # problem by its category's words ("sigue el pozo, nadie vino" was deny 0.78): the report it names is what is
    # left (below the threshold, the ranking offers it).
    if (answer is None and pending not in ANSWER_PENDING and ranking[0][0] in ANSWER_ACTS
            and any(t[3:] in SERVICE_INTENTS for t in tags)):
        ranking = _drop(ranking, ranking[0][0])
    # 2c. Round 11: with nothing asked, thanks for a fix ("ya arreglaron el bache, gracias", "ya vinieron a cortar el
    # árbol, gracias") is no new report: it reads as thanks, unless it goes on to another problem ("..., pero dejaron
    # el hoyo"), says it is back ("se vuelve a abrir") or asks ("¿ya recogieron la basura?"). Round 12: also without
    # the thank-you when the news is short and says nothing else ("ya quedó el bache", "ya prendió la lámpara"), and
    # with a menu's options pending (``NEWS_PENDING``).
    about: str | None = None
    about_only = False  # the message asks about (or tells news of) ``about`` and reports nothing new of it
    if (pending in NEWS_PENDING and answer is None and ranking[0][0] in SERVICE_INTENTS
            and _fix_news(text, folded, core or folded)):
        about, about_only = ranking[0][0], True
        ranking = _promote(ranking, "thanks")
        known = True
    # 2d. Round 12: a status question about a problem is no new report ("¿ya taparon el bache?", "cuándo van a venir a
    # tapar el bache", "qué pasó con lo de la coladera"): check_status, about that category.
    elif answer is None and (asked := _asked_about(text, folded, ranking, tags)) is not None:
        about, about_only = asked
        if about_only:
            ranking = _promote(ranking, "check_status")
            known = True
    # 3. A leading answer decides the act when a question is pending; a bare number needs one.
    if answer is not None:
        conf = max(dict(ranking).get(answer, 0.0), 0.95)
        ranking = [(answer, conf), *[(c, p) for c, p in ranking if c != answer]]
        known = True
    elif pending not in ANSWER_PENDING and _BARE_NUMBER_RE.match(text) and ranking[0][0] in ("affirm", "deny"):
        known = False
    intent, confidence = ranking[0]
    understood = known and confidence >= threshold
    problems = _problems(
        core or folded,
        ranking,
        (core_ranking, core_tags) if core_known and answer is not None else None,
        understood,
        rank,
        lexicon,
    ) if understood else ()  # not understood: the ranking carries the candidates, nothing is listed as reported
    # 4. Two problems share the whole message's ranking ("hay un bache y además la lámpara está fundida": pothole
    # 0.497, streetlight 0.499): below the threshold on the whole, the message is understood when its clauses each
    # name a different problem with confidence.
    if not understood and known and answer is None and intent in SERVICE_INTENTS:
        split = dict(_clause_problems(core or folded, rank, lexicon))
        if len(split) >= 2 and intent in split and min(split.values()) >= threshold:
            # the reading is the clauses': as sure as the least sure of them
            understood, problems, confidence = True, tuple(split), min(split.values())
    if about_only:  # the problem asked about (or fixed) is no new report; a second one still is
        problems = tuple(c for c in problems if c != about)
    return Reading(
        intent=intent if understood else FALLBACK_INTENT,
        confidence=confidence,
        ranking=ranking,
        understood=understood,
        problems=problems,
        about=about if understood else None,
    )


def _promote(ranking: Ranking, intent: str) -> Ranking:
    """``intent`` first, at least as sure as the rules that decided it (0.9)."""
    return [(intent, max(dict(ranking).get(intent, 0.0), 0.9)), *[(c, p) for c, p in ranking if c != intent]]


def _fix_news(text: str, folded: str, core: str) -> bool:
    """News that the crew fixed the problem, told when nothing was asked: a fixing verb in the plural past and a
    thank-you, or (no thank-you) the words only a fix uses in a short message; never with a question, a "but", a
    negation, a second clause or words that it is back."""
    if ("?" in text or "¿" in text or NOT_FIXED_RE.search(folded) or _CONTRAST_RE.search(folded)
            or _NOT_NEWS_RE.search(core) or _NEWS_JOINT_RE.search(core)):
        return False
    if _THANKS_RE.search(folded) and _FIXED_NEWS_RE.search(folded):
        return True
    # Round 13: the short news with a thank-you too ("oigan ya prendió la lámpara, gracias!!", "ya quedó la luz,
    # gracias"): the thank-you never makes the news a report.
    words = len(_THANKS_RE.sub(" ", core).split())
    return words <= BARE_NEWS_WORDS and bool(_BARE_NEWS_RE.search(core))


def _asked_about(text: str, folded: str, ranking: Ranking, tags: Sequence[str]) -> tuple[str, bool] | None:
    """(category, sure) when the message asks about a problem's report, else None. Sure (a short message): a
    question whether it was fixed ("¿ya taparon el bache?"), the words of a status question ("qué pasó con lo de…",
    "¿y lo del bache?"), or a message read as ``check_status`` that names a category by its lexicon ("¿y mi reporte
    de la lámpara?"). Not sure (also how a report is worded): when it will be fixed ("cuándo van a venir a tapar el
    bache"), that it was reported before ("el árbol que reporté") or is still not fixed ("siguen sin tapar…")."""
    top = ranking[0][0]
    if top == "check_status":
        named = next((c for c, _ in ranking if c in SERVICE_INTENTS and f"kw_{c}" in tags), None)
        return (named, True) if named else None
    if top not in SERVICE_INTENTS:
        return None
    asked = "?" in text or "¿" in text or bool(_QUESTION_TAIL_RE.search(folded.strip(" .!")))
    short = len(folded.split()) <= ASKED_FIX_WORDS
    if short and (_STATUS_WORDS_RE.search(folded) or (asked and _ASKED_FIX_RE.search(folded))):
        return top, True
    if short and asked and _THAT_OF_RE.search(folded):  # "¿y lo del bache?"
        return top, True
    if (_STATUS_WORDS_RE.search(folded) or _REPORTED_BEFORE_RE.search(folded) or _WHEN_FIXED_RE.search(folded)
            or _STILL_NOT_FIXED_RE.search(folded)):
        return top, False
    return None


def _texts_to_rank(text: str, core: str, lexicon: Callable[[str], Sequence[str]] | None) -> list[str]:
    """What :func:`decide` will likely hand the classifier for a message: the message and the clauses of ``core``
    (the folded text the clauses are read from) that name a category (read whenever the message is understood).
    The core itself is left out: it is read only when the whole is no service category or an answer leads (short
    messages, as a rule), and it is nearly the whole message otherwise."""
    out = [text]
    parts = clauses(core[:CLAUSE_CHARS])
    if len(parts) > 1:
        out.extend(
            p for p in parts[:MAX_CLAUSES] if lexicon is None or any(t[3:] in SERVICE_INTENTS for t in lexicon(p))
        )
    return out


def _clause_problems(
    core: str, rank: RankFn, lexicon: Callable[[str], Sequence[str]] | None
) -> list[tuple[str, float]]:
    """(category, confidence) of each clause of a message of several clauses that names a problem of its own."""
    found: list[tuple[str, float]] = []
    parts = clauses(core[:CLAUSE_CHARS])
    if len(parts) > 1:
        for i, part in enumerate(parts[:MAX_CLAUSES]):
            if i and is_consequence(part):
                continue  # "…, ya se cayó una moto": what the problem caused, not a second problem
            if lexicon is not None and not any(t[3:] in SERVICE_INTENTS for t in lexicon(part)):
                continue  # no word of any category: no problem of its own (and no classifier call)
            r, known, tags = rank(part)
            c, p = r[0]
            named = f"kw_{c}" in tags or p >= SURE_PROBLEM_CONFIDENCE
            if known and named and c in SERVICE_INTENTS and p >= SECOND_PROBLEM_CONFIDENCE and c not in dict(found):
                found.append((c, p))
    return found


def _problems(
    core: str,
    ranking: Ranking,
    core_reading: tuple[Ranking, Sequence[str]] | None,
    understood: bool,
    rank: RankFn,
    lexicon: Callable[[str], Sequence[str]] | None,
) -> tuple[str, ...]:
    """Service categories the message reports, in order: its confident clauses that name their category, and the
    message's own category when it is one."""
    found = [c for c, _ in _clause_problems(core, rank, lexicon)]
    main = ranking[0][0]
    if understood and main in SERVICE_INTENTS and main not in found:
        found.insert(0, main)
    elif core_reading is not None and not found:  # an answer that names a problem: "no, sigue el bache"
        c, p = next(((c, p) for c, p in core_reading[0] if c in SERVICE_INTENTS), ("", 0.0))
        named = f"kw_{c}" in core_reading[1] and p >= NAMED_PROBLEM_CONFIDENCE
        if c in SERVICE_INTENTS and (named or (p >= SURE_PROBLEM_CONFIDENCE and names_something(core))):
            found.append(c)
    return tuple(dict.fromkeys(found))
