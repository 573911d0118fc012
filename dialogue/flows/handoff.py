"""Handing a conversation to a person from the conversation side: on request ("persona", the NLU's
``human_handoff``), on the escalation lexicon, or after two misunderstood messages in a row; and what a message
does while the conversation waits for staff.

A handoff is never a trap: the citizen is told when a person will answer (``dialogue.staff_hours``: staff hours
from the catalog, "mañana a las 9:00" outside them); an unsent report is kept as ``slots["draft"]`` for staff
(and for the bot again); "menú", "cancelar", a new report or a folio always reach the bot; and when nobody has
answered within the catalog's ``handoff_timeout_minutes`` the bot takes the conversation back, saying so (on the
next message, or proactively from the scheduler: ``dialogue.handoff.expire_handoffs``).

The staff side (queue, replies, handing back) is ``dialogue.handoff``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from dialogue.staff_hours import StaffHours
from dialogue.text import CANCEL_WORDS, HANDOFF_WORDS, MENU_WORDS
from dialogue.turn import Turn
from dialogue.understanding import FOLIO_LIKE, folio_in, intent, parse
from nlu.api import SERVICE_INTENTS
from ticketing.models import ConversationMode

log = logging.getLogger("reporta.dialogue")

#: How many consecutive misunderstood messages send the conversation to a person.
MISUNDERSTOOD_LIMIT = 2
#: Slots of an unsent report kept as the draft (what staff read, what the bot resumes).
DRAFT_KEYS = ("category", "description", "address", "colonia", "landmark", "lat", "lon", "location_ok",
              "location_followup", "photos", "photo_state", "description_asked", "queued")
#: A leaving word: the menu, a cancel, "salir", "ya no quiero hablar con nadie".
LEAVE_WORDS = MENU_WORDS | CANCEL_WORDS | frozenset({"volver", "regresar", "bot", "asistente", "seguir con el bot",
                                                      "ya no quiero hablar con nadie", "mejor no", "no gracias"})


def start(turn: Turn, reason: str) -> None:
    """Hand the conversation to staff (``reason`` ∈ requested | not_understood | abusive | anguished)."""
    conv = turn.conv
    unsent_report = conv.flow == "report"
    draft = {k: turn.slots.get(k) for k in DRAFT_KEYS if turn.slots.get(k) not in (None, [], "")} \
        if unsent_report else None
    if draft is not None:
        draft["step"] = conv.step
    elif reason == "anguished":
        draft = _draft_of_message(turn)  # "hay un herido, se cayó un árbol en Juárez 10": staff get the report
    turn.end_flow()
    conv.mode = ConversationMode.HANDOFF
    conv.handoff_reason = reason
    conv.handoff_requested_at = turn.now
    conv.handoff_staff_id = None
    turn.misunderstood = False
    if draft:
        turn.slots = {"draft": draft}
    hours = StaffHours(turn.services.catalog, turn.services.settings.timezone)
    open_now = hours.is_open(turn.now)
    turn.say("handoff_started", reason=reason, unsent_report=unsent_report, kept_draft=bool(draft),
             open_now=open_now, hours=hours.hours_text(),
             next_opening=None if open_now else hours.next_opening_text(turn.now),
             timeout_minutes=turn.services.catalog.handoff_timeout_minutes)
    log.info("dialogue: conversation %s handed to staff (%s)", conv.id, reason)


def _draft_of_message(turn: Turn) -> dict[str, Any] | None:
    """The report a message carries (category, the citizen's words, the place), kept for staff, or None."""
    from dialogue.places import location_parts

    category = intent(turn)
    if category not in SERVICE_INTENTS or category not in turn.services.catalog.categories:
        return None
    parts = location_parts(turn)
    draft = {"category": category, "description": turn.text[:4000], "photos": turn.photos}
    draft.update({k: parts[k] for k in ("address", "colonia", "landmark") if parts.get(k)})
    if turn.inbound.location is not None:
        draft.update(lat=turn.inbound.location.lat, lon=turn.inbound.location.lon, location_ok=True)
    elif parts["precise"]:
        draft["location_ok"] = True
    draft["step"] = None
    return {k: v for k, v in draft.items() if v not in (None, [], "")} | {"step": None}


def wants_person(turn: Turn) -> bool:
    if turn.folded in HANDOFF_WORDS:
        return True
    return intent(turn) == "human_handoff"


def count_misunderstood(turn: Turn) -> bool:
    """Count a message the bot did not understand; the second in a row goes to a person (True: handed off,
    nothing else to say)."""
    if (turn.conv.misunderstood_count or 0) + 1 >= MISUNDERSTOOD_LIMIT:
        start(turn, "not_understood")
        return True
    turn.misunderstood = True
    return False


# --- while the conversation waits for staff -------------------------------------------------------------


def timed_out(conv: Any, now: datetime, timeout_minutes: int) -> bool:
    """Nobody from staff answered within the timeout since the handoff started."""
    requested = conv.handoff_requested_at
    if requested is None or (conv.slots or {}).get("staff_replied_at"):
        return False
    if requested.tzinfo is None:  # SQLite returns naive UTC
        from datetime import UTC

        requested = requested.replace(tzinfo=UTC)
    return now - requested >= timedelta(minutes=timeout_minutes)


def _wants_the_bot(turn: Turn) -> bool:
    """Menú, cancelar, salir, a menu button, a new report or a status question: the bot answers."""
    folded = turn.folded
    if folded in LEAVE_WORDS or (turn.inbound.button_payload or "").startswith(("menu:", "cancel")):
        return True
    if not turn.text:
        return False
    if folio_in(turn) or FOLIO_LIKE.search(turn.text) or intent(turn) == "check_status":
        return True
    reading = parse(turn)
    return reading.understood and reading.intent in SERVICE_INTENTS


def hand_back(turn: Turn, why: str) -> None:
    """Back to the bot: ``why`` ∈ menu (with the menu's options) | left (the message goes on) | timeout. The
    draft (an unsent report) is resumed on a time-out."""
    conv = turn.conv
    draft = dict(turn.slots.get("draft") or {})
    conv.mode = ConversationMode.BOT
    conv.handoff_reason = None
    conv.handoff_requested_at = None
    conv.handoff_staff_id = None
    conv.misunderstood_count = 0
    turn.end_flow()
    category = turn.services.category_name(draft.get("category"))
    if why == "timeout" and draft:
        step = draft.pop("step", None) or "location"
        turn.start_flow("report", step, {"candidates": [], "photos": [], **draft})
    hours = StaffHours(turn.services.catalog, turn.services.settings.timezone)
    name = "handoff_timeout" if why == "timeout" else "handoff_left"
    context = {"draft": bool(draft), "category": category, "hours": hours.hours_text()}
    if why == "menu":
        turn.say_menu(name, **context)
    else:
        turn.say(name, **context)
    log.info("dialogue: conversation %s back to the bot (%s)", conv.id, why)


def while_handed_off(turn: Turn, escalation: str | None) -> bool:
    """A message while staff have the conversation. True: taken (the bot stays silent for staff); False: the
    conversation is the bot's again and the message goes on through the usual precedence."""
    if escalation == "anguished":
        turn.say("emergency")  # danger first, even while waiting for staff
    if timed_out(turn.conv, turn.now, turn.services.catalog.handoff_timeout_minutes):
        hand_back(turn, "timeout")
        return False
    if turn.folded in LEAVE_WORDS or (turn.inbound.button_payload or "") in ("menu:cancel", "cancel"):
        hand_back(turn, "menu")  # "menú", "cancelar", "salir": the wait is over, the menu follows
        return True
    if _wants_the_bot(turn):
        hand_back(turn, "left")
        return False
    if escalation != "anguished":
        turn.silent = True  # staff answer; the message is in the log for them
    return True
