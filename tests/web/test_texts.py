"""What citizens and staff read on the public site, the dashboards and the open data pages comes from templates
(``public/labels.j2``, ``public/notices.j2``, ``dashboards/labels.j2``, ``opendata/notices.j2``,
``opendata/open311.j2``) and the open data's words from ``web/opendata/dictionary.yml``: the Python of those
packages builds no Spanish text (nor that of the console, of the web chat channel ``bot/web.py`` and of the privacy
commands ``dialogue/flows/privacy.py``), every key it uses has its text, statuses have one wording everywhere, and a
municipality's own templates change the wording."""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from dialogue.flows import privacy
from dialogue.render import Renderer
from notifications.updates import update_word
from ticketing.models import TicketStatus
from web.dashboards import pages as dashboard_pages
from web.dashboards.tables import FIGURE_COLUMNS, TABLE_KEYS, Words
from web.opendata import open311, report
from web.opendata.dictionary import DICTIONARY, STATUS_LABELS, STATUSES_TEMPLATE, dictionary, status_words
from web.opendata.rows import COLUMNS
from web.public import pages as public_pages
from web.public.figures import LABELS, Figures
from web.templating import TEMPLATES_DIR, Pages

WEB = Path(public_pages.__file__).resolve().parent.parent
PACKAGES = ("dashboards", "opendata", "public")
DATA_TEMPLATES = WEB.parent / "data" / "templates"

_ACCENTED = re.compile(r"[áéíóúñü¿¡]", re.IGNORECASE)
#: Spanish words that English text, codes and identifiers do not have (as whole words of a multi-word string).
_SPANISH_WORDS = {
    "de", "del", "la", "las", "el", "los", "y", "en", "por", "para", "sin", "con", "que", "es", "una", "al", "se",
    "su", "tu", "tus", "ya", "hay", "muy", "pocos", "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio",
    "agosto", "septiembre", "octubre", "noviembre", "diciembre",
}
#: Capitalised words that are not Spanish UI text (GeoJSON types).
_NOT_UI = {"Point", "Feature"}


def looks_spanish(text: str) -> bool:
    """A string a person would read in Spanish: an accented letter, ¿ or ¡; a Spanish function word in a
    multi-word string (XML attribute names aside), or a month's name; or a capitalised word or phrase
    ("Reportes", "En proceso"). A heuristic: codes in Spanish ("servicios", "juzgados_a_tiempo") are not text."""
    if _ACCENTED.search(text):
        return True
    words = re.sub(r"[\w-]+=", "", text)
    if " " in words and any(w in _SPANISH_WORDS for w in re.findall(r"\w+", words)):
        return True
    if len(text) > 3 and text in _SPANISH_WORDS:  # a month's name
        return True
    return text not in _NOT_UI and bool(re.fullmatch(r"[A-Z][a-z]+( [a-z]+)*", text.strip()))


def spanish_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant (f-string parts too) that looks Spanish, docstrings aside."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return sorted((node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                  and looks_spanish(node.value))


def test_the_scanner_finds_spanish_and_leaves_english_and_codes() -> None:
    found = spanish_strings('"""Módulo: sin casos."""\n'
                            'A = "Elige una foto antes de enviar."\nB = ["Reportes", "En proceso"]\n'
                            'C = f"{n} de 5"\nD = "📍 Ubicación enviada"\nE = ("enero", "pocos datos todavía")\n'
                            'F = "service_code is required"\nG = ["servicios", "juzgados_a_tiempo", "%Y-%m-%d"]\n'
                            'H = f\'<text x="{x}" y="20">N</text>\'\nI = {"type": "Point"}\n')
    assert [line for line, _ in found] == [2, 3, 3, 4, 5, 6, 6]


@pytest.mark.parametrize("package", PACKAGES)
def test_the_python_builds_no_spanish_text(package: str) -> None:
    found = [f"{path.relative_to(WEB)}:{line}: {text!r}"
             for path in sorted((WEB / package).rglob("*.py"))
             for line, text in spanish_strings(path.read_text(encoding="utf-8"))]
    assert not found, "Spanish text in Python (move it to a template):\n" + "\n".join(found)


#: Modules outside those packages whose words people read come from templates too, with what each may keep: the
#: console (a CLI prompt, a cookie attribute, a code value a form may send), the web chat channel, the privacy
#: commands (the words citizens type, folded, to recognise a command; not text shown).
OTHER_MODULES = {
    "web/console": {"Password", "Secure", "sí"},
    "bot/web.py": set(),
    "dialogue/flows/privacy.py": set(privacy.NOTICE_WORDS | privacy.ACCESS_WORDS),
}


@pytest.mark.parametrize("where", sorted(OTHER_MODULES))
def test_the_python_of_the_console_the_web_chat_and_privacy_builds_no_spanish_text(where: str) -> None:
    root = WEB.parent / where
    paths = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    assert paths
    allowed = OTHER_MODULES[where]
    found = [f"{path.relative_to(WEB.parent)}:{line}: {text!r}" for path in paths
             for line, text in spanish_strings(path.read_text(encoding="utf-8")) if text not in allowed]
    assert not found, "Spanish text in Python (move it to a template):\n" + "\n".join(found)


def test_the_web_chats_refusals_and_the_channel_names_have_their_text() -> None:
    source = Path(report.__file__).resolve().parents[2].joinpath("bot", "web.py").read_text(encoding="utf-8")
    keys = set(re.findall(r'FormRefused\("(\w+)"', source))
    assert len(keys) == 8
    pages = Pages()
    fallback = pages.macro_text(report.NOTICES, "form_error", "some_new")
    texts = {key: pages.macro_text(report.NOTICES, "form_error", key, length=1001, maximum=1000) for key in keys}
    assert fallback not in texts.values() and len(set(texts.values())) == len(keys)
    assert texts["text_too_long"] == "Tu mensaje es muy largo (1001 caracteres); el máximo es 1000."
    renderer = Renderer(DATA_TEMPLATES)
    for channel in (None, "sms"):
        for code in ("telegram", "whatsapp", "sms", "simulator", "web"):
            assert renderer.label(f"channel_{code}", channel), (code, channel)
    assert renderer.label("channel_web") == "chat web"


def test_every_key_the_python_uses_has_its_text() -> None:
    pages = Pages()
    words = Words(pages)
    for key in TABLE_KEYS:
        assert words.text("table", key)
    assert words.text("chart", "escalaciones") == ""  # a table without a chart
    for key in ("reports", "on_time", "time_to_resolve", "reopened", "confirmed", "satisfaction", "rerouted",
                "escalations"):
        assert words.text("kpi", key) and words.text("kpi_note", key, "1")
    source = Path(dashboard_pages.__file__).with_name("tables.py").read_text(encoding="utf-8")
    columns = set(FIGURE_COLUMNS)
    for call in re.findall(r'table\("\w+", ([^=]*)raw_columns=', source):
        columns |= set(re.findall(r'"(\w+)"', call))
    assert len(columns) >= 20
    for key in columns:
        assert words.text("column", key), key
    query = Path(dashboard_pages.__file__).read_text(encoding="utf-8")
    errors = set(re.findall(r'say\("query_error", "(\w+)"', query))
    assert errors == {"bad_date", "swapped", "too_long", "unknown_department"}
    assert len({words.text("query_error", key) for key in errors}) == len(errors)
    # the web report chat's refusals: each key its own text ("bad_form" is also the fallback)
    chat = Path(report.__file__).read_text(encoding="utf-8")
    refusals = set(re.findall(r'refuse\(request, \d+, "(\w+)"', chat)) | set(re.findall(r'refusal\("(\w+)"', chat))
    assert len(refusals) == 7
    fallback = pages.macro_text(report.NOTICES, "refusal", "bad_form")
    for key in refusals - {"bad_form"}:
        assert pages.macro_text(report.NOTICES, "refusal", key, max_mb=10) not in ("", fallback), key
    assert pages.macro_text(report.NOTICES, "sent", "location") == "📍 Ubicación enviada"
    assert pages.macro_text(report.NOTICES, "sent", "text") == ""
    public = Path(public_pages.__file__).read_text(encoding="utf-8")
    lookups = set(re.findall(r'"lookup_error", "(\w+)"', public))
    assert lookups == {"rate_limited", "invalid", "not_found"}
    assert pages.macro_text(public_pages.NOTICES, "lookup_error", "not_found", folio="1234-5678") == (
        "No encontramos el folio 1234-5678. Revisa los números de tu mensaje de confirmación.")
    assert pages.macro_text(open311.TEXTS, "service_notice", "1234-5678", "2026-12-15") == (
        "Folio 1234-5678. Fecha comprometida: 2026-12-15.")


def test_figures_words() -> None:
    fig = Figures(Pages())
    assert fig.date_text(date(2026, 3, 9)) == "9 de marzo de 2026"
    moment = datetime(2026, 3, 9, 18, 5, tzinfo=UTC)
    assert fig.local_datetime(moment, "America/Monterrey") == "9 de marzo de 2026, 12:05"
    assert fig.short_date(datetime(2026, 9, 9, 18, tzinfo=UTC), "America/Monterrey") == "9 sep"
    assert fig.hours(4.0) == "4 h hábiles" and fig.hours(8.0) == "1 día hábil" and fig.hours(20.0) == "2.5 días hábiles"
    assert fig.few == "pocos datos todavía"
    assert fig.status("not_resolved") == "Cerrado sin resolver" and fig.status("some_new") == "some_new"
    assert fig.status_explanation("some_new") == "" and fig.channel("walk_in") == "En persona"
    # plain text: the page that shows it escapes it once
    assert fig.channel("<x>") == "<x>"


def test_one_wording_of_statuses_everywhere() -> None:
    """The console, the public site, the open data, the chat and the status updates name a status alike: the
    pages read statuses.j2; the citizen messages (a municipality's editable data/templates) must agree with it."""
    codes = {s.value for s in TicketStatus}
    words = status_words()
    assert set(words) == codes and len(set(words.values())) == len(codes)
    pages = Pages()
    assert {c: pages.macro_text("console/labels.j2", "status", c) for c in codes} == words
    assert {c: Figures(pages).status(c) for c in codes} == words
    assert words == STATUS_LABELS
    renderer = Renderer(DATA_TEMPLATES)
    for channel in (None, "sms", "whatsapp", "telegram"):
        module = renderer.env.get_template("labels.sms.j2" if channel == "sms" else "labels.j2").module
        chat = {c: str(getattr(module, f"status_{c}")) for c in codes}
        assert {c: w[0].upper() + w[1:] for c, w in chat.items()} == words, channel
    for code in codes:  # a WhatsApp status update's word ({{2}}) is the status's own
        assert update_word(renderer, f"status_{code}") == words[code].lower()
    assert update_word(renderer, "status_scheduled") == "programado"
    assert update_word(renderer, "nothing") == "" and update_word(renderer, "nothing", other=True) == "actualizado"


@pytest.mark.parametrize("decimals, words", [
    (3, "3 decimales: una cuadrícula de unos 110 m"), (2, "2 decimales: una cuadrícula de unos 1.1 km"),
    (1, "1 decimal: una cuadrícula de unos 11 km"), (5, "5 decimales: una cuadrícula de unos 1.1 m"),
])
def test_the_dictionary_says_the_coordinates_decimals_of_the_setting(decimals: int, words: str) -> None:
    described = dictionary(decimals)
    assert described["lat"][1] == f"Latitud redondeada ({words})."
    assert described["long"][1] == f"Longitud redondeada ({words.split(':')[0]})."
    assert tuple(described) == COLUMNS and described["status_description"] == DICTIONARY["status_description"]


def test_the_open_data_words_are_one_data_file() -> None:
    assert tuple(DICTIONARY) == COLUMNS
    assert set(STATUS_LABELS) == {"received", "assigned", "in_progress", "resolved", "not_resolved", "closed"}
    assert DICTIONARY["status_description"][1] == "Estado detallado: " + ", ".join(STATUS_LABELS.values()) + "."


def test_a_municipalitys_templates_change_the_wording(tmp_path: Path) -> None:
    own = tmp_path / "public"
    own.mkdir()
    text = (TEMPLATES_DIR / LABELS).read_text(encoding="utf-8")
    own.joinpath("labels.j2").write_text(text.replace('"few": "pocos datos todavía"', '"few": "aún sin datos"'),
                                         encoding="utf-8")
    assert Figures(Pages(extra_dirs=[tmp_path])).few == "aún sin datos"
    assert Figures(Pages()).few == "pocos datos todavía"
    # the statuses' wording is one file for every page
    tmp_path.joinpath(STATUSES_TEMPLATE).write_text((TEMPLATES_DIR / STATUSES_TEMPLATE).read_text(
        encoding="utf-8").replace('"resolved": "Atendido"', '"resolved": "Arreglado"'), encoding="utf-8")
    own_pages = Pages(extra_dirs=[tmp_path])
    assert Figures(own_pages).status("resolved") == "Arreglado"
    assert own_pages.macro_text("console/labels.j2", "status", "resolved") == "Arreglado"
    assert Figures(Pages()).status("resolved") == "Atendido"
    assert STATUS_LABELS["resolved"] == "Atendido"  # the published words are not a municipality's
    (tmp_path / "opendata").mkdir()
    (tmp_path / "opendata" / "open311.j2").write_text(
        (TEMPLATES_DIR / open311.TEXTS).read_text(encoding="utf-8").replace(
            "a la dirección de atención ciudadana", "a soporte@municipio.gob.mx"), encoding="utf-8")
    assert "soporte@municipio.gob.mx" in Pages(extra_dirs=[tmp_path]).macro_text(open311.TEXTS, "key_service")
