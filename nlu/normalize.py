"""Text normalisation for the NLU: what the classifier sees, and a span-preserving fold for entity regexes.

Two views of a message:

* :func:`fold` keeps the length of the original text (one output character per input character): lower case,
  accents removed.  Entity regexes run on it so that match offsets are offsets into the *original* text.
* :func:`normalize` is the classifier's view: folded, emoji mapped to words, SMS spellings expanded
  (``q``, ``xq``, ``porfa``, ``x favor``...), repeated letters squeezed ("holaaaa" → "hola"), punctuation dropped,
  and a light Spanish phonetic folding (b/v, s/z/c, y/ll, silent h, qu/k) so that "ai un oyo" and "hay un hoyo"
  look alike.  Long messages are truncated (head and tail kept) so a 5,000-character rant still parses fast.
"""

from __future__ import annotations

import re
import unicodedata

#: Characters of the original message the classifier looks at: the head (where the complaint usually is) and a
#: bit of the tail.
HEAD_CHARS = 700
TAIL_CHARS = 200

_FOLD_CACHE: dict[str, str] = {}


def _fold_char(c: str) -> str:
    r = _FOLD_CACHE.get(c)
    if r is None:
        if c.isascii():
            r = c.lower()
        else:
            base = unicodedata.normalize("NFD", c)[0].lower()
            r = base if len(base) == 1 else c
        _FOLD_CACHE[c] = r
    return r


def fold(text: str) -> str:
    """Lower-case and strip accents, one character out per character in (so spans stay valid)."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(c) for c in text)


# Emoji (and a few symbols) that carry meaning in a complaint; every other emoji is dropped.
_EMOJI_WORDS = {
    "💡": " foco ",
    "🔦": " luz ",
    "🌑": " oscuro ",
    "🗑": " basura ",
    "🚮": " basura ",
    "🚯": " basura tirada ",
    "💧": " agua ",
    "💦": " agua ",
    "🚰": " agua ",
    "🚿": " agua ",
    "🌊": " agua ",
    "🌳": " arbol ",
    "🌲": " arbol ",
    "🌴": " arbol ",
    "🐕": " perro ",
    "🐶": " perro ",
    "🐈": " gato ",
    "🐱": " gato ",
    "🚦": " semaforo ",
    "🚥": " semaforo ",
    "🚧": " obra ",
    "🕳": " hoyo ",
    "🔊": " ruido ",
    "📢": " ruido ",
    "🎶": " musica ",
    "🎵": " musica ",
    "🚗": " carro ",
    "🚙": " carro ",
    "🎨": " pintas ",
    "🤢": " olor ",
    "🤮": " olor ",
    "👍": " si ",
    "👌": " ok ",
    "✅": " si ",
    "👎": " no ",
    "❌": " no ",
    "🙏": " gracias ",
    "👋": " hola ",
    "🆘": " ayuda ",
    "❓": " ? ",
}

# Whole-token rewrites applied after folding (SMS spellings, frequent misspellings, abbreviations).
_TOKEN_MAP = {
    "q": "que",
    "k": "que",
    "ke": "que",
    "qe": "que",
    "xq": "porque",
    "xk": "porque",
    "pq": "porque",
    "porq": "porque",
    "xque": "porque",
    "x": "por",
    "xfa": "por favor",
    "xfavor": "por favor",
    "porfa": "por favor",
    "porfis": "por favor",
    "porfavor": "por favor",
    "plis": "por favor",
    "pliss": "por favor",
    "pls": "por favor",
    "plz": "por favor",
    "tmb": "tambien",
    "tb": "tambien",
    "tmbn": "tambien",
    "d": "de",
    "dl": "del",
    "pa": "para",
    "pal": "para el",
    "xa": "para",
    "bn": "bien",
    "nd": "nada",
    "nda": "nada",
    "grax": "gracias",
    "grx": "gracias",
    "grs": "gracias",
    "gracs": "gracias",
    "ty": "thanks",
    "thx": "thanks",
    "msj": "mensaje",
    "dnd": "donde",
    "cdo": "cuando",
    "cuadno": "cuando",
    "hrs": "horas",
    "hr": "hora",
    "ntp": "no te preocupes",
    "sta": "esta",
    "stan": "estan",
    "toy": "estoy",
    "ta": "esta",
    "tan": "estan",
    "aki": "aqui",
    "aka": "aca",
    "ai": "hay",
    "ahi": "ahi",
    "kiero": "quiero",
    "qiero": "quiero",
    "cll": "calle",
    "c": "calle",
    "col": "colonia",
    "fracc": "fraccionamiento",
    "av": "avenida",
    "ave": "avenida",
    "esq": "esquina",
    "blvd": "bulevar",
    "num": "numero",
    "tel": "telefono",
    "wey": "guey",
    "we": "guey",
    "sip": "si",
    "sii": "si",
    "simon": "si",
    "nop": "no",
    "nel": "no",
    "nelson": "no",
    "ok": "ok",
    "oki": "ok",
    "okey": "ok",
    "okay": "ok",
    "okas": "ok",
    "okis": "ok",
    "okei": "ok",
    "okidoki": "ok",
    "va": "va",
    "ntc": "no te creas",
    "hla": "hola",
    "ola": "hola",
    "bno": "bueno",
    "bnas": "buenas",
    "bns": "buenas",
    "dias": "dias",
    "xfis": "por favor",
    "gob": "gobierno",
    "mpio": "municipio",
}

_EMOJI_RE = re.compile("|".join(re.escape(e) for e in sorted(_EMOJI_WORDS, key=len, reverse=True)))
_TOKEN_RE = re.compile(r"[a-zñ]+|\d+")
_VOWEL_RUN = re.compile(r"([aeiou])\1+")
_LETTER_RUN = re.compile(r"([a-zñ])\1{2,}")
_SENTENCE_RE = re.compile(r"(?<=[.!?\n])\s+")
_FOLIO_LIKE = re.compile(r"\b\d{4}[\s\-.]?\d{4}\b")


def _phonetic(word: str) -> str:
    """A light Spanish phonetic key: spellings that sound alike map to the same string."""
    if word.isdigit() or len(word) <= 1:
        return word
    w = word.replace("ch", "\x01").replace("h", "").replace("\x01", "ch")
    w = w.replace("qu", "k").replace("ll", "y").replace("v", "b").replace("z", "s").replace("w", "gu")
    w = re.sub(r"c(?=[ei])", "s", w)
    w = re.sub(r"c(?!h)", "k", w)
    w = re.sub(r"([a-z])\1+", r"\1", w)
    return w or word


def truncate(text: str) -> str:
    """The part of a long message the classifier looks at (head and tail)."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    # Copy-pasted or repeated sentences add nothing: keep each sentence once, in order.
    seen: set[str] = set()
    parts = []
    for sentence in _SENTENCE_RE.split(text[: 8 * (HEAD_CHARS + TAIL_CHARS)]):
        key = sentence.strip().lower()
        if key and key not in seen:
            seen.add(key)
            parts.append(sentence.strip())
    text = " ".join(parts)
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + " " + text[-TAIL_CHARS:]


def normalize(text: str) -> str:
    """The classifier's view of a message (see the module docstring)."""
    s = fold(truncate(text))
    s = _EMOJI_RE.sub(lambda m: _EMOJI_WORDS[m.group(0)], s)
    s = _FOLIO_LIKE.sub(" folionum ", s)
    s = _LETTER_RUN.sub(r"\1", s)
    s = _VOWEL_RUN.sub(r"\1", s)
    out: list[str] = []
    for tok in _TOKEN_RE.findall(s):
        tok = _TOKEN_MAP.get(tok, tok)
        if tok.isdigit():
            # Numbers matter as menu choices ("1", "2") but not as house numbers or counts.
            out.append(tok if len(tok) == 1 else "num")
            continue
        for part in tok.split():
            out.append(_phonetic(part))
    return " ".join(out)
