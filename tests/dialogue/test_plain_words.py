"""Issue 13 items 8, 9, 10: dates said as a person would, urgency from the citizen's words (catalog cues and the
shorter commitment), plain and kind Spanish: gender-neutral, "¿Dónde está el bache?", opt-out phrasing
offers BAJA, out-of-scope questions point to the office that can help, a greeting at any step keeps the step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dialogue.formatting import date_text
from dialogue.urgency import urgent_cue
from tests.dialogue.conftest import World
from tests.dialogue.test_addresses import finish
from ticketing.catalog import CatalogError, load_catalog, parse_catalog

# One database is enough here: the table exercises the NLU and the dialogue; the store runs on both elsewhere.
pytestmark = pytest.mark.sqlite_only

CHANNELS = ["sms", "whatsapp", "telegram"]
TZ = "America/Monterrey"
NOW = datetime(2026, 12, 1, 17, 8, tzinfo=UTC)  # Tuesday 11:08 in Monterrey


# --- item 8: dates -------------------------------------------------------------------------------------------

def test_a_due_time_is_said_only_within_the_day_and_rounded_up() -> None:
    assert date_text(NOW + timedelta(hours=4), TZ, with_time=True, now=NOW) == "hoy a las 15:30"
    assert date_text(NOW + timedelta(hours=4, minutes=22), TZ, with_time=True, now=NOW) == "hoy a las 15:30"
    assert date_text(NOW + timedelta(hours=14), TZ, with_time=True, now=NOW) == "mañana"
    assert date_text(NOW + timedelta(days=2, hours=8), TZ, with_time=True, now=NOW) == "jueves 3 de diciembre"
    assert "01:29" not in date_text(datetime(2026, 12, 3, 7, 29, tzinfo=UTC), TZ, with_time=True, now=NOW)


# --- item 9: urgency from the words ---------------------------------------------------------------------------

URGENT = [
    ("se cayó un árbol en Hidalgo 12 col Centro y está tapando el paso", "tree"),
    ("un árbol cayó sobre un carro en Morelos 40 col Centro", "tree"),
    ("hay una rama enorme sobre los cables en Juárez 10 col Centro", "tree"),
    ("un arbol se cayo encima del poste en Hidalgo 30 col Centro", "tree"),
    ("se cayó un árbol y tiró los cables, en Juárez 15 col Centro", "tree"),
    ("el drenaje está tapado en Allende 5 col Centro y se está inundando la calle", "sewer"),
]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, category", URGENT, ids=[t for t, _ in URGENT])
def test_urgent_words_give_the_shorter_commitment(world: World, channel: str, text: str, category: str) -> None:
    chat = world.chat(channel)
    chat.send(text)
    finish(chat)
    chat.send("sí")
    ticket = chat.tickets()[-1]
    cat = world.catalog.categories[category]
    assert ticket.category_code == category and cat.urgent_sla_hours
    assert ticket.due_at - ticket.created_at <= timedelta(hours=cat.urgent_sla_hours, minutes=1)
    assert "urgente" in chat.text.lower()


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_report_without_urgent_words_keeps_the_usual_commitment(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un árbol seco en Hidalgo 12 col Centro")
    finish(chat)
    chat.send("sí")
    ticket = chat.tickets()[-1]
    assert ticket.due_at - ticket.created_at > timedelta(days=3) and "urgente" not in chat.text.lower()


def test_urgent_cues_match_whole_words_without_accents(world: World) -> None:
    tree = world.catalog.categories["tree"]
    assert urgent_cue(tree, "ya CAYÓ SOBRE UN CARRO") == "cayo sobre un carro"
    assert urgent_cue(tree, "está tapando el pasote") is None
    assert urgent_cue(world.catalog.categories["noise"], "tapando el paso") is None  # no cues: never urgent


def test_the_catalog_fields_are_optional_and_validated(world: World) -> None:
    raw = __import__("yaml").safe_load(Path(world.settings.catalog_path).read_text(encoding="utf-8"))
    for key in ("staff_hours", "handoff_timeout_minutes", "offices"):
        raw.pop(key)
    for category in raw["categories"].values():
        category.pop("urgent_cues", None)
        category.pop("urgent_sla_hours", None)
    older = parse_catalog(raw)  # an older catalog still loads, with defaults
    assert older.offices == () and older.handoff_timeout_minutes == 30
    assert older.staff_service_hours == older.business_hours
    raw["categories"]["tree"]["urgent_cues"] = ["tapando el paso"]
    with pytest.raises(CatalogError, match="urgent_cues and urgent_sla_hours go together"):
        parse_catalog(raw)
    raw["categories"]["tree"]["urgent_sla_hours"] = 8
    raw["offices"] = [{"name": "Tesorería", "topics": [], "contact": "070"}]
    with pytest.raises(CatalogError, match=r"offices\.0"):
        parse_catalog(raw)
    assert load_catalog(world.settings.catalog_path).offices


# --- item 10: plain, kind Spanish ----------------------------------------------------------------------------

WHERE_QUESTIONS = [
    ("no pasó la basura", "¿En qué calle no pasó el camión de la basura?"),
    ("hay un bache enorme", "¿Dónde está el bache?"),
    ("se cayó un árbol", "¿Dónde está el árbol?"),
    ("la lámpara no prende", "¿Dónde está la luminaria?"),
]


@pytest.mark.parametrize("channel", ["whatsapp", "telegram"])
@pytest.mark.parametrize("text, question", WHERE_QUESTIONS, ids=[t for t, _ in WHERE_QUESTIONS])
def test_the_location_question_names_the_problem_in_words(world: World, channel: str, text: str,
                                                          question: str) -> None:
    chat = world.chat(channel)
    chat.send(text)
    assert chat.text.startswith(question) and "(" not in chat.text.split("?")[0]


def test_a_category_without_its_own_question_is_named(world: World) -> None:
    """A municipality's own category (no line in report_where_question.j2) still gets a question that names it."""
    text = world.renderer.render("report_ask_location", "whatsapp", category="Mercado municipal", code="market")
    assert text.startswith("¿Dónde está el problema de mercado municipal?")


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["ya no me manden mensajes", "dejen de mandarme mensajes",
                                  "no quiero recibir más mensajes", "quiero darme de baja"])
def test_opting_out_in_words_offers_baja_and_keeps_the_step(world: World, channel: str, text: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache")
    chat.send(text)
    assert "BAJA" in chat.text and chat.conversation().step == "location"
    chat.send("BAJA")
    with world.factory() as session:
        from ticketing.models import Citizen

        assert session.query(Citizen).one().opted_out_at is not None


OUT_OF_SCOPE = [("¿cuánto cuesta el predial?", "Tesorería"), ("donde pago una multa de transito", "Tránsito"),
                ("necesito una copia de mi acta de nacimiento", "Registro Civil"),
                ("cómo saco la licencia de construcción", "Desarrollo Urbano")]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, office", OUT_OF_SCOPE, ids=[t for t, _ in OUT_OF_SCOPE])
def test_an_out_of_scope_question_points_to_who_can_help(world: World, channel: str, text: str,
                                                         office: str) -> None:
    from dialogue.render import to_gsm7

    chat = world.chat(channel)
    chat.send(text)
    assert to_gsm7(office) in to_gsm7(chat.text) and "teléfono" in chat.text.replace("telefono", "teléfono")


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("greeting", ["hola", "buenas tardes", "Hola!!", "buenos días"])
def test_a_greeting_at_any_step_is_answered_and_the_step_kept(world: World, channel: str, greeting: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache")
    chat.send(greeting)
    assert chat.text.startswith("¡Hola!") and "no te entend" not in chat.text.lower()
    conversation = chat.conversation()
    assert conversation.step == "location" and conversation.misunderstood_count == 0
    chat.send("Hidalgo 100 col Centro")
    if channel != "sms":
        chat.send(greeting)
        assert chat.conversation().step == "photo"


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("thanks", ["gracias", "muchas gracias", "gracias!!"])
def test_thanks_at_the_summary_is_answered_and_the_report_kept(world: World, channel: str, thanks: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache en Hidalgo 100 col Centro, gracias")
    finish(chat)
    replies = chat.send(thanks)
    assert "gusto" in replies[0].text.lower() and "no te entend" not in chat.text.lower()
    assert chat.conversation().step == "confirm" and chat.conversation().misunderstood_count == 0
    chat.send("sí")
    assert len(chat.tickets()) == 1
    assert "gusto" in chat.send("gracias")[0].text.lower()  # after the receipt: a farewell


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", ["Hay un bache muy grande en Madero 500, muchas gracias por su atención",
                                  "Buen día, les reporto una lámpara fundida en Allende 300 col Centro. Saludos",
                                  "hay una fuga de agua en Madero 40, gracias de antemano"])
def test_a_report_wrapped_in_courtesy_is_a_report(world: World, channel: str, text: str) -> None:
    chat = world.chat(channel)
    chat.send(text)
    conversation = chat.conversation()
    assert conversation.flow == "report" and conversation.slots["category"] is not None
    finish(chat)
    chat.send("sí")
    assert len(chat.tickets()) == 1
