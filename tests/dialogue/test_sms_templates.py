"""Every citizen-facing dialogue template rendered for SMS with realistic (long) values: one GSM-7 segment.

Numbered options are appended the way the SMS channel does (``bot.render_options.format_options``).
Documented exceptions (``MAX_SEGMENTS``): texts that cannot be shorter without losing what the citizen needs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.render_options import format_options
from dialogue.render import Renderer, is_gsm7, sms_segments, to_gsm7
from reporta.messages import Button
from reporta.settings import Settings
from ticketing.catalog import load_catalog

SETTINGS = Settings(_env_file=None)
RENDERER = Renderer(SETTINGS.templates_dir)
CATALOG = load_catalog(SETTINGS.catalog_path)
STREET = "Prolongación Avenida General Ignacio Zaragoza 1234, col. Valle del Mirador"
FOLIO = "4821-7730"
DUE = "miércoles 24 de diciembre a las 15:30"
BASE = {"municipality": "Municipio de San Pedro Garza García", "privacy_url": "https://sanpedro.gob.mx/privacidad"}


def labels(*names: str) -> list[Button]:
    return [Button(RENDERER.label(n, "sms"), n) for n in names]


def category_buttons() -> list[Button]:
    return [Button(c.name, code) for code, c in CATALOG.categories.items()]


MENU = labels("menu_report", "menu_status", "menu_handoff")
# name -> list of (context, buttons[, max segments for that case]) cases.
CASES: dict[str, list[tuple]] = {
    "welcome": [({}, [])],
    "menu": [({"greeting": True}, MENU), ({}, MENU), ({"dropped_report": True}, MENU)],
    "help": [({}, [])],
    "opted_out": [({}, []), ({"unsent": True, "category": "Vehículo abandonado", "open_count": 2}, []),
                  ({"unsent": True, "category": "", "open_count": 0}, [])],
    "opted_in": [({}, [])],
    "cancelled": [({"had_flow": True, "was_report": True}, MENU), ({"had_flow": False, "was_report": False}, MENU)],
    "old_button": [({}, [])],
    "idle_restart": [({}, [])],
    "error_generic": [({}, [])],
    "not_understood": [({}, MENU)],
    "not_understood_step": [({}, [])],
    "out_of_scope": [({}, []), ({"office": CATALOG.offices[0].name, "contact": CATALOG.offices[0].contact}, [])],
    "farewell": [({"thanks": True}, []), ({"thanks": False}, [])],
    "media_unsupported": [({"kind": "voice"}, [])],
    "media_rejected": [({"too_big": True, "max_mb": 10}, []), ({"too_big": False, "max_mb": 10}, [])],
    "report_ask_category": [({"candidates": True}, [Button("Alumbrado público", "a"), Button("Semáforo", "b"),
                                                      Button("Barrido de calles", "c"), *labels("other")]),
                            ({"candidates": False}, category_buttons())],
    "report_ask_location": [
        ({"category": "Vehículo abandonado", "code": "abandoned_vehicle", "can_pin": False}, []),
        ({"category": "Recolección de basura", "code": "garbage_collection", "can_pin": False}, []),
    ],
    "report_ask_location_detail": [({"place": "por mi casa"}, [])],
    "report_location_unsure": [({"can_pin": False}, [])],
    "report_ask_description": [({"category": "Recolección de basura"}, labels("skip"))],
    "report_summary": [({"category": "Recolección de basura", "place": STREET, "has_pin": False, "photos": 0,
                         "description": "El camión no ha pasado desde el lunes y ya huele muy..."},
                        labels("confirm", "fix", "cancel")),
                       ({"category": "Recolección de basura", "place": STREET, "has_pin": False, "photos": 0,
                         "description": "El camión no ha pasado desde el lunes", "same_as": FOLIO},
                        labels("confirm", "fix", "cancel"))],
    "report_place_aside": [({"kind": kind, "sla": "5 días hábiles", "place": STREET}, [])
                           for kind in ("no_photo", "when", "cost", "question", "complaint", "same_unknown", "known")]
                          + [({"kind": "no_photo", "ask_place": False}, [])],
    "report_already_reported": [({"folio": FOLIO, "category": "Recolección de basura",
                                  "status": "asignado al área responsable"}, labels("cancel_this", "confirm")),
                                ({"folio": None}, labels("cancel_this", "confirm"))],
    "report_ask_fix": [({}, labels("fix_category", "fix_location", "fix_description", "cancel"))],
    "report_duplicate": [({"folio": FOLIO, "distance": "40 m", "status": "asignado al área responsable",
                           "category": "Bache"}, labels("duplicate_follow", "duplicate_new")),
                         ({"folio": FOLIO, "distance": None, "status": "asignado al área responsable",
                           "category": "Bache"}, labels("duplicate_follow", "duplicate_new"))],
    "report_subscribed": [({"folio": FOLIO, "status": "asignado al área responsable", "due": DUE}, [])],
    "report_created": [({"folio": FOLIO, "category": "Recolección de basura",
                         "department": "Secretaría de Servicios Públicos", "due": DUE, "urgent": False,
                         "referral": None}, []),
                       ({"folio": FOLIO, "category": "Árbol", "department": "Secretaría de Servicios Públicos",
                         "due": "hoy a las 17:30", "urgent": False, "urgent_words": "tapando el paso",
                         "referral": None}, []),
                       # A referral (water, sewer: a state utility) adds its explanation: up to 3 segments.
                       ({"folio": FOLIO, "category": "Fuga de agua", "department": "Dirección de Atención Ciudadana",
                         "due": DUE, "urgent": True, "referral": CATALOG.categories["water_leak"].referral.explanation},
                        [], 3)],
    "lookup_status": [({"folio": FOLIO, "category": "Recolección de basura", "status": "in_progress",
                        "status_text": "en proceso", "is_open": True, "reason": None, "note": None, "due": DUE,
                        "overdue": False, "revised": False, "department": "Secretaría de Servicios Públicos",
                        "place": STREET}, []),
                      # A reason's explanation comes from the catalog (up to ~250 characters): up to 3 segments.
                      ({"folio": FOLIO, "category": "Fuga de agua", "status": "not_resolved",
                        "status_text": "cerrado sin resolver", "is_open": False, "note": None, "due": DUE,
                        "reason": CATALOG.reasons["out_of_jurisdiction"].explain(
                            referred_to="Servicios de Agua y Drenaje", agency_contact="Teléfono 073, las 24 horas"),
                        "overdue": False, "revised": False, "department": "Dirección de Atención Ciudadana",
                        "place": STREET}, [], 3)],
    "lookup_list": [({"count": 5, "tickets": []},
                     [Button(f"{FOLIO} Recolección de basura"[:40], "x") for _ in range(5)]),
                    # In the middle of a report (no options: the report's are kept): the folios only.
                    ({"count": 5, "side": True, "tickets": [{"folio": FOLIO}] * 5}, [], 1)],
    "lookup_none": [({}, [])],
    "report_pending": [({"category": "Recolección de basura", "confirm": True}, labels("confirm", "fix", "cancel")),
                       ({"category": "Recolección de basura", "confirm": True, "greeting": True},
                        labels("confirm", "fix", "cancel")),
                       ({"category": "Recolección de basura", "confirm": True, "thanks": True},
                        labels("confirm", "fix", "cancel")),
                       ({"category": "Recolección de basura", "confirm": False}, [])],
    "lookup_ask_folio": [({}, [])],
    "lookup_not_found": [({"folio": FOLIO}, [])],
    "lookup_bad_folio": [({"typed": "4821-7731"}, [])],
    "lookup_none_about": [({"category": "Recolección de basura"}, [])],
    "lookup_fixed_news": [({"folio": FOLIO, "category": "Recolección de basura"}, [])],
    "lookup_noted": [({"folio": FOLIO}, [])],
    "fixed_news_thanks": [({}, [])],
    "handoff_started": [({"reason": "anguished", "open_now": True}, []),
                        ({"reason": "requested", "open_now": False, "unsent_report": True, "kept_draft": True,
                          "next_opening": "el miércoles 24 de diciembre a las 9:00"}, [])],
    "handoff_left": [({}, MENU)],
    "handoff_waiting": [({"open_now": True}, []),
                        ({"open_now": False, "hours": "lunes a viernes de 9 a 17 h",
                          "next_opening": "el miércoles 24 de diciembre a las 9:00"}, [])],
    "repeat_question": [({}, [])],
    "notice_place_unknown": [({"folio": FOLIO, "category": "Bache"}, [])],
    "notice_reply_staff": [({"folio": FOLIO, "category": "Bache"}, [])],
    "handoff_timeout": [({"hours": "lunes a viernes de 9 a 17 h", "draft": True,
                          "category": "Recolección de basura"}, []),
                        ({"hours": "lunes a viernes de 9 a 17 h", "draft": False, "category": ""}, []),
                        *[({"hours": "lunes a viernes de 9 a 17 h", "draft": True, "category": "Recolección de basura",
                            "code": "garbage_collection", "step": step}, [])
                          for step in ("category", "location", "photo", "description", "confirm")]],
    "emergency": [({}, [])],
    "frustrated": [({}, MENU), ({"going_on": True}, [])],
    "greeting_brief": [({}, [])],
    "opt_out_offer": [({}, []), ({"unsent": True, "category": "Vehículo abandonado", "open_count": 2}, [])],
    "followup_ok": [({"folio": FOLIO}, [])],
    "followup_no_ticket": [({}, [])],
    "report_corrected": [({"what": "category", "category": "Recolección de basura"}, []),
                         ({"what": "place", "place": STREET}, []), ({"what": "description"}, [])],
    "report_two_problems": [({"categories": ["Recolección de basura", "Vehículo abandonado"],
                              "first": "Recolección de basura"}, [])],
    "report_next_problem": [({"category": "Vehículo abandonado"}, [])],
    "handoff_staff_reply": [({"staff_name": "Ana", "text": "Ya pedimos a la cuadrilla que revise hoy."}, [])],
    "handoff_closed": [({"staff_name": "Ana"}, []), ({"staff_name": "Ana", "draft": True, "category": "Bache"}, []),
                       ({"staff_name": None, "draft": True, "category": ""}, []),
                       *[({"staff_name": "Ana", "draft": True, "category": "Recolección de basura",
                           "code": "garbage_collection", "step": step}, [])
                         for step in ("category", "location", "location_detail", "photo", "description", "confirm",
                                      "fix")]],
    "survey_question": [({"folio": FOLIO, "category": "Recolección de basura", "place": STREET},
                         labels("yes", "no", "unsure"))],
    "survey_ask_rating": [({"folio": FOLIO}, [])],
    "survey_rating_thanks": [({"score": 5}, []), ({"score": 5, "said": 10}, [])],
    "survey_rating_scale": [({"score": 8}, [])],
    "survey_reopened": [({"folio": FOLIO, "due": DUE, "ask_photo": False, "asked_words": True}, [])],
    "survey_unsure": [({"folio": FOLIO}, [])],
    "relocate_ask": [({"folio": FOLIO}, []),
                     ({"folio": FOLIO, "note": "Recorrimos la calle Hidalgo y no vimos el bache."}, [])],
    "relocate_done": [({"folio": FOLIO, "due": DUE}, [])],
}
#: Where one segment is not possible, and why.
MAX_SEGMENTS = {
    # Fifteen categories as numbered options; SMS citizens usually describe the problem in words instead.
    "report_ask_category": 3,
    # The lookup list carries up to five folios with their category.
    "lookup_list": 3,
    # The place is echoed back in full so the citizen can check it.
    "report_summary": 2,
}
#: Not rendered for citizens on their own (the note is stored on the ticket; labels are checked via buttons).
NOT_MESSAGES = {"labels", "relocate_note", "report_where_question", "report_resume_question"}  # pieces of messages
#: Never sent on SMS (no photos on SMS), so not measured.
NOT_ON_SMS = {"report_ask_photo", "report_photo_reminder", "report_photo_received", "report_photo_wait"}
NOT_OURS = ("status_", "survey_reminder", "sla_", "privacy_")


def dialogue_templates() -> set[str]:
    root = Path(SETTINGS.templates_dir) / "es-MX"
    names = {p.name.split(".", 1)[0] for p in root.glob("*.j2")}
    return {n for n in names if not n.startswith(NOT_OURS)} - NOT_MESSAGES - NOT_ON_SMS


def test_every_dialogue_template_has_an_sms_case() -> None:
    assert dialogue_templates() == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_sms_template_fits(name: str) -> None:
    for context, buttons, *limit in CASES[name]:
        text = RENDERER.render(name, "sms", **{**BASE, **context})
        # The engine folds button titles to GSM-7 on SMS (catalog names have á í ó ú).
        full = format_options(text, [Button(to_gsm7(b.title), b.payload) for b in buttons], "sms")
        assert is_gsm7(full), f"{name}: not GSM-7: {full!r}"
        segments = sms_segments(full)
        allowed = limit[0] if limit else MAX_SEGMENTS.get(name, 1)
        assert segments <= allowed, f"{name}: {segments} segments, {len(full)} chars: {full!r}"
