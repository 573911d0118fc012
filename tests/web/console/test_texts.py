"""The console's Spanish texts live in templates (``console/notices.j2``, ``console/labels.j2``,
``console/refused.html``): every code the Python code uses has its text, and an unknown link code says nothing."""

from __future__ import annotations

import re
from pathlib import Path

from ticketing.models import TicketStatus
from web.console import desk, pages
from web.templating import Pages

CONSOLE = Path(desk.__file__).resolve().parent


def _source() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(CONSOLE.glob("*.py")))


def test_every_notice_and_page_error_code_has_its_text() -> None:
    source = _source()
    notices = set(re.findall(r"aviso=(\w+)", source))
    # the codes of ValueError("...") (web.console.inbox) and those ``_error_code`` gives for other exceptions
    errors = set(re.findall(r'ValueError\("(\w+)"\)', source))
    errors |= {"reveal_reason", "not_waiting", "location_needed", "category_needed", "refused"}
    assert len(notices) >= 6 and len(errors) >= 10
    texts = Pages()
    for code in notices:
        assert texts.macro_text(pages.NOTICES, "notice", code), code
    for code in errors:
        assert texts.macro_text(pages.NOTICES, "error", code), code
    # a link cannot make a console page say something else
    assert texts.macro_text(pages.NOTICES, "notice", "<b>hola</b>") == ""
    assert texts.macro_text(pages.NOTICES, "error", "salida") == ""


def test_labels_and_the_refused_page() -> None:
    texts = Pages()
    statuses = desk.labels(texts, "status", desk.STATUS_CODES)
    assert set(statuses) == {s.value for s in TicketStatus} and statuses["not_resolved"] == "Cerrado sin resolver"
    assert desk.labels(texts, "channel", desk.CHANNEL_CODES)["walk_in"] == "En persona"
    assert texts.macro_text(pages.LABELS, "event", "some_new_kind") == "some_new_kind"
    assert texts.macro_text(pages.LABELS, "event", "satisfaction") == "Calificación ciudadana"
    # plain text: the page that shows a label escapes it once
    assert texts.macro_text(pages.LABELS, "channel", "<x>") == "<x>"
    page = texts.render_text("console/refused.html", key="form_expired")
    assert "<h1>Solicitud rechazada</h1>" in page and "El formulario venció o no es válido." in page
    assert "El envío es demasiado grande." in texts.render_text("console/refused.html", key="too_large")
    locked = texts.macro_text(pages.NOTICES, "login", "locked", until="10:15")
    assert locked.endswith("podrás intentar de nuevo a las 10:15.")
    assert texts.macro_text(pages.NOTICES, "sms_segments", 1) == "El SMS ocupará 1 segmento."
