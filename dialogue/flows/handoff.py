"""A conversation handed to a person, from the conversation side: wanting a person ("persona", the NLU's
``human_handoff``), what a message does while the conversation waits for staff, and handing it back to the bot.
Starting a handoff (on request, on the escalation lexicon, after two misunderstood messages) is
``dialogue.flows.escalate``.

A handoff is never a trap: the citizen is told when a person will answer (``dialogue.staff_hours``: staff hours
from the catalog, "mañana a las 9:00" outside them); an unsent report is kept as ``slots["draft"]`` for staff
(and for the bot again); "menú", "cancelar" always reach the bot, and so do a new report or a folio while no
staff member has taken or answered the conversation; and when nobody has answered within the catalog's
``handoff_timeout_minutes`` (counted in staff hours: after hours the clock starts at the next opening, as the
citizen was told) the bot takes the conversation back, saying so (on the next message, or proactively
from the scheduler: ``dialogue.handoff.expire_handoffs``).

The staff side (queue, replies, handing back) is ``dialogue.handoff``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from dialogue import handoff_log
from dialogue.flows import report_questions
from dialogue.staff_hours import StaffHours
from dialogue.text import CANCEL_WORDS, HANDOFF_WORDS, MENU_WORDS
from dialogue.turn import Turn
from dialogue.understanding import (
    FOLIO_LIKE,
    asks_for_person,
    asks_if_there,
    asks_to_repeat,
    folio_in,
    intent,
    parse,
    refuses_person,
)
from nlu.api import SERVICE_INTENTS
from ticketing.models import ConversationMode

log = logging.getLogger("reporta.dialogue")

#: Going back to the bot without the menu: "mejor no", "regresar", "ya no quiero esperar".
BACK_WORDS = frozenset({"volver", "regresar", "bot", "asistente", "seguir con el bot", "mejor no", "no gracias",
                        "ya no quiero hablar con nadie", "ya no quiero esperar", "no quiero esperar"})
_BACK = re.compile(r"\b(?:regresar|volver|regresame|salir|menu|inicio|cancelar|mejor\s+no|ya\s+no\s+quiero\s+"
                   r"(?:esperar|hablar)|no\s+quiero\s+esperar|olvidalo|seguir\s+con\s+el\s+(?:bot|asistente))\b")


#: The NLU alone hands the conversation to a person only this sure ("perdón me distraje, ¿qué me preguntabas?" was
#: human_handoff 0.52); a person named in words ("¿no me pasas con un asesor?") needs no confidence.
HANDOFF_CONFIDENCE = 0.6


def wants_person(turn: Turn) -> bool:
    if turn.folded in HANDOFF_WORDS:
        return True
    if refuses_person(turn) or asks_to_repeat(turn):
        return False
    if asks_for_person(turn):
        return True
    reading = parse(turn)
    return intent(turn) == "human_handoff" and reading.confidence >= HANDOFF_CONFIDENCE


# --- while the conversation waits for staff -------------------------------------------------------------


def timed_out(conv: Any, now: datetime, timeout_minutes: int, hours: StaffHours | None = None) -> bool:
    """Nobody from staff answered within the timeout since the handoff started. With ``hours``, the timeout counts
    staff minutes only: a request at 18:30 (told "te responderá mañana a las 9:00") times out at 9:30 the next
    working day, not at 19:00 when nobody could have answered."""
    requested = conv.handoff_requested_at
    if requested is None or (conv.slots or {}).get("staff_replied_at"):
        return False
    if requested.tzinfo is None:  # SQLite returns naive UTC
        from datetime import UTC

        requested = requested.replace(tzinfo=UTC)
    if hours is None:
        return now - requested >= timedelta(minutes=timeout_minutes)
    return now >= staff_deadline(requested, timeout_minutes, hours)


def staff_deadline(requested: datetime, timeout_minutes: int, hours: StaffHours) -> datetime:
    """When ``timeout_minutes`` of staff hours have passed since ``requested``."""
    remaining = timedelta(minutes=timeout_minutes)
    moment = requested
    for _ in range(60):  # a few weeks of openings at most (holidays included)
        moment = hours.next_opening(moment)
        local = hours.calendar.local(moment)
        closes = datetime.combine(local.date(), hours.hours.closes, tzinfo=hours.calendar.tz)
        if moment + remaining <= closes:
            return moment + remaining
        remaining -= closes - moment
        moment = closes
    return moment + remaining


def _leaving(turn: Turn) -> str | None:
    """ "menu" for menú / cancelar / salir (or their buttons), "back" for "mejor no", "regresar", "ya no quiero
    esperar" (the bot again, the unsent report resumed), None otherwise."""
    folded = turn.folded
    payload = turn.inbound.button_payload or ""
    if folded in MENU_WORDS or folded in CANCEL_WORDS or payload.startswith(("menu:", "cancel")):
        return "menu"
    if folded in BACK_WORDS or (len(folded.split()) <= 6 and _BACK.search(folded)):
        return "back"
    if refuses_person(turn) or asks_to_repeat(turn):  # "no no, no quiero persona, solo dime q me preguntaste"
        return "back"
    return None


def _wants_the_bot(turn: Turn) -> bool:
    """A new report, a folio or a status question: the bot answers it."""
    if not turn.text:
        return False
    if folio_in(turn) or FOLIO_LIKE.search(turn.text) or intent(turn) == "check_status":
        return True
    return _new_report(turn)


#: While staff have the conversation, a message leaves for a new report only when the NLU is this sure of it: a
#: hesitant reading ("en Hidalgo", an answer to the staff member's "¿en qué calle?") stays with staff.
NEW_REPORT_CONFIDENCE = 0.6


def _new_report(turn: Turn) -> bool:
    reading = parse(turn)
    return reading.understood and reading.intent in SERVICE_INTENTS and reading.confidence >= NEW_REPORT_CONFIDENCE


def _attended(conv: Any) -> bool:
    """A staff member has taken the conversation or answered it: what the citizen writes is for them (staff can
    make the report from the conversation); only menú / cancelar / regresar take it back to the bot."""
    return conv.handoff_staff_id is not None or bool((conv.slots or {}).get("staff_replied_at"))


def hand_back(turn: Turn, why: str) -> None:
    """Back to the bot: ``why`` ∈ menu (the menu's options; an unsent report is dropped, and said so) | back (the
    unsent report resumed at its question) | left (the message goes on: a new report, a folio) | timeout (said
    so; the unsent report resumed)."""
    conv = turn.conv
    draft = dict(turn.slots.get("draft") or {})
    conv.mode = ConversationMode.BOT
    conv.handoff_reason = None
    conv.handoff_requested_at = None
    conv.handoff_staff_id = None
    conv.misunderstood_count = 0
    handoff_log.closed(turn.session, conv.id, "timeout" if why == "timeout" else "citizen", turn.now)
    turn.end_flow()
    category = turn.services.category_name(draft.get("category"))
    resumed = bool(draft) and why in ("timeout", "back")
    if resumed:
        step = draft.pop("step", None) or "location"
        turn.start_flow("report", step, {"candidates": [], "photos": [], **draft})
    hours = StaffHours(turn.services.catalog, turn.services.settings.timezone)
    name = "handoff_timeout" if why == "timeout" else "handoff_left"
    context = {"draft": bool(draft), "category": category, "hours": hours.hours_text(), "resumed": resumed}
    if why == "menu" or (why == "back" and not resumed):
        turn.say_menu(name, **context)
    else:
        turn.say(name, **context)
    if resumed:

        report_questions.reask(turn)
    log.info("dialogue: conversation %s back to the bot (%s)", conv.id, why)


def while_handed_off(turn: Turn, escalation: str | None) -> bool:
    """A message while staff have the conversation. True: taken (the bot stays silent for staff, or it went back
    to the bot and answered); False: the conversation is the bot's again and the message goes on through the usual
    precedence."""
    if escalation == "anguished":
        turn.say("emergency")  # danger first, even while waiting for staff
    hours = StaffHours(turn.services.catalog, turn.services.settings.timezone)
    if timed_out(turn.conv, turn.now, turn.services.catalog.handoff_timeout_minutes, hours):
        hand_back(turn, "timeout")
        return bool(turn.conv.flow)  # a resumed report waits for its answer; otherwise the message goes on
    leaving = _leaving(turn)
    if leaving:
        hand_back(turn, leaving)
        return True
    if _wants_the_bot(turn) and not _attended(turn.conv):
        new_report = _new_report(turn)
        if turn.slots.get("draft") and not new_report:
            hand_back(turn, "back")  # "mejor no, envía mi reporte": the unsent report first
            return True
        hand_back(turn, "left")
        return False
    if asks_if_there(turn) and not _attended(turn.conv):  # "holaaa?? sigues ahí?": when a person will answer
        hours = StaffHours(turn.services.catalog, turn.services.settings.timezone)
        open_now = hours.is_open(turn.now)
        turn.say("handoff_waiting", open_now=open_now, hours=hours.hours_text(),
                 next_opening=None if open_now else hours.next_opening_text(turn.now))
        return True
    if escalation != "anguished":
        turn.silent = True  # staff answer; the message is in the log for them
    return True
