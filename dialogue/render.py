"""Rendering what a citizen reads: Jinja2 templates in ``data/templates/<locale>/`` with channel variants,
and GSM-7 arithmetic for SMS (how many segments a text costs).

Lookup order for template ``name`` on channel ``sms``: ``name.sms.j2``, then ``name.j2``.
SMS renders pass through ``to_gsm7`` so accents outside GSM-7 (á í ó ú) don't force UCS-2.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

# GSM 03.38 basic character set and the extension table (extension characters cost two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
_GSM_REPLACEMENTS = {"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "…": "...", "•": "-",
                     "\u00a0": " ", "º": "o", "ª": "a"}


_GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION


def is_gsm7(text: str) -> bool:
    return _GSM7_ALL.issuperset(text)


def sentence(text: str | None) -> str:
    """``text`` as a sentence the next one can follow: a final period added when it ends without one ("Se tapó
    el bache con asfalto" → "Se tapó el bache con asfalto.")."""
    text = (text or "").strip()
    if text and text[-1] not in ".!?…:;)\"'»":
        text += "."
    return text


def to_gsm7(text: str) -> str:
    """Replace characters outside GSM-7 with their closest GSM-7 form (á→a, Í→I, “→"), keep é ñ ü ¿ ¡."""
    if _GSM7_ALL.issuperset(text):  # most texts: nothing to replace (one C-level pass)
        return text
    out: list[str] = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
        elif ch in _GSM_REPLACEMENTS:
            out.append(_GSM_REPLACEMENTS[ch])
        else:
            base = unicodedata.normalize("NFD", ch)[0]
            out.append(base if base in GSM7_BASIC else ("" if unicodedata.category(ch).startswith("S") else "?"))
    return "".join(out)


def sms_segments(text: str) -> int:
    """Segments an SMS costs: GSM-7 160/153 septets, else UCS-2 70/67 UTF-16 units."""
    if not text:
        return 1
    if is_gsm7(text):
        septets = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


_BLANKS = re.compile(r"\n{3,}")
log = logging.getLogger(__name__)


class Renderer:
    """Renders citizen-facing text from templates; one instance per process (templates are cached).

    ``auto_reload=False`` (the default): a template is read and compiled once, and which file a (name,
    channel) pair resolves to is remembered, so a render touches no file (Jinja2's default checks the file's
    mtime at every render and looks for the missing channel variant every time). ``auto_reload=True`` picks up
    edited templates (development).

    A municipality's templates (``reporta init`` copies them) may be older than this release: a template file or a
    label they lack is taken from the bundled defaults (``defaults_dir``, default: the package's own ``templates``),
    with a warning once, instead of a message that cannot be written.
    """

    def __init__(self, templates_dir: Path, locale: str = "es-MX", *, auto_reload: bool = False,
                 defaults_dir: Path | None = None) -> None:
        self.root = Path(templates_dir) / locale
        self.auto_reload = auto_reload
        if defaults_dir is None:
            from reporta.settings import DEFAULT_DATA_DIR

            defaults_dir = DEFAULT_DATA_DIR / "templates"
        defaults_root = Path(defaults_dir) / locale
        same = not defaults_root.is_dir() or (self.root.is_dir() and defaults_root.samefile(self.root))
        #: The bundled templates, for what a municipality's copy lacks (None: this is the bundled copy).
        self._defaults = None if same else Renderer(defaults_dir, locale, auto_reload=auto_reload,
                                                    defaults_dir=defaults_dir)
        self._warned: set[tuple[str, str]] = set()
        self.env = Environment(
            auto_reload=auto_reload,
            cache_size=-1,  # every template stays compiled (there are a few dozen)
            loader=FileSystemLoader(str(self.root)),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters["gsm7"] = to_gsm7
        self.env.filters["sentence"] = sentence
        self._labels: dict[str, Any] = {}
        self._resolved: dict[tuple[str, str | None], Any] = {}  # (name, channel) -> template (auto_reload off)
        self._label_text: dict[tuple[str, str | None], str] = {}  # labels asked without values

    def _warn_once(self, kind: str, name: str, where: Path) -> None:
        """Log, once per process and name, that the municipality's copy lacks a template or label."""
        if (kind, name) not in self._warned:
            self._warned.add((kind, name))
            log.warning("%s has no %s %r: the bundled one is used (compare it with the defaults)", where, kind, name)

    def has(self, name: str, channel: str | None = None) -> bool:
        try:
            self._template(name, channel)
        except TemplateNotFound:
            return False
        return True

    def _template(self, name: str, channel: str | None):
        key = (name, channel)
        template = self._resolved.get(key)
        if template is None:
            names = ([f"{name}.{channel}.j2"] if channel else []) + [f"{name}.j2"]
            try:
                template = self.env.select_template(names)
            except TemplateNotFound:
                if self._defaults is None:
                    raise
                template = self._defaults._template(name, channel)  # raises TemplateNotFound when neither has it
                self._warn_once("template", name, self.root)
            if not self.auto_reload:
                self._resolved[key] = template
        return template

    def label(self, name: str, channel: str | None = None, /, **context: Any) -> str:
        """A short label (button title, option) defined with ``{% set name = "…" %}`` in ``labels[.channel].j2``."""
        if not context:
            cached = self._label_text.get((name, channel))
            if cached is not None:
                return cached
        key = channel or ""
        module = self._labels.get(key)
        if module is None:
            module = self._template("labels", channel).make_module({"channel": channel})
            self._labels[key] = module
        try:
            value = getattr(module, name)
        except AttributeError:
            if self._defaults is None:
                raise KeyError(f"no label {name!r} in {self.root / 'labels.j2'}") from None
            self._warn_once("label", name, self.root / "labels.j2")
            return self._defaults.label(name, channel, **context)
        text = str(value).format(**context) if context else str(value)
        text = to_gsm7(text) if channel == "sms" else text
        if not context and not self.auto_reload:
            self._label_text[(name, channel)] = text
        return text

    def render(self, name: str, channel: str | None = None, /, **context: Any) -> str:
        """Render ``name`` for ``channel`` (its variant when there is one) with ``context``."""
        text = self._template(name, channel).render(channel=channel, **context)
        text = _BLANKS.sub("\n\n", text.strip())
        if channel == "sms":
            text = to_gsm7(text)
        return text


_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_TOKEN = re.compile(r"[0-9a-zñ]+")


def _tokens(sentence: str) -> list[str]:
    decomposed = unicodedata.normalize("NFD", sentence.lower().replace("ñ", "\x00"))
    folded = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").replace("\x00", "ñ")
    return _TOKEN.findall(folded)


def drop_repeated_sentences(text: str) -> str:
    """``text`` without a sentence that says again what an earlier sentence said (all its words, at least four,
    already in one earlier sentence): templates and catalog explanations written apart ("Ya les enviamos tu
    reporte.") never reach a citizen twice. Line breaks are kept."""
    seen: list[set[str]] = []
    out_lines = []
    for line in text.split("\n"):
        kept = []
        for m in _SENTENCE.finditer(line):
            sentence = m.group(0)
            words = _tokens(sentence)
            if len(words) >= 4 and any(set(words) <= earlier for earlier in seen):
                continue
            if words:
                seen.append(set(words))
            kept.append(sentence)
        joined = "".join(kept).strip()
        if joined or not line.strip():
            out_lines.append(joined if kept else line)
    result = "\n".join(out_lines)
    return re.sub(r"\n{3,}", "\n\n", result).strip()
